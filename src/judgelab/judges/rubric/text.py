"""Text measurements the gold rubric's criteria read (pure functions, no model, deterministic).

Nothing here reads or writes files. ``Analysis`` computes everything once per response so the
criteria stay one-liners over its fields.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

_TOKEN = re.compile(r"\$?\d+(?:[.,]\d+)?%?|[A-Za-z]+(?:['’][A-Za-z]+)*")
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.):]|[-*•●▪–])\s+\S")
_QUOTE = re.compile(r"[\"“”]")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours yourself
    yourselves i'm it's you're we're they're don't can't won't let's also into onto upon us""".split()
)

# Vague words that pad text without saying anything concrete.
FILLER = frozenset(
    """very really just things thing stuff basically actually literally kind sort lot lots many something
    everything anything everyone someone somehow great good nice important special truly simply totally
    definitely absolutely certainly overall various different able way ways""".split()
)

# Enthusiasm / hype words: a touch reads as warmth, a pile reads as empty flattery.
HYPE = frozenset(
    """amazing incredible incredibly wonderful wonderfully awesome fantastic fabulous perfect perfectly
    best stunning spectacular magical marvelous marvellous extraordinary brilliant superb delightful
    breathtaking unbelievable outstanding phenomenal exceptional remarkable gorgeous exquisite
    unforgettable ultimate excellent""".split()
)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def mattr(tokens: list[str], window: int = 25) -> float:
    """Moving-average type-token ratio: TTR averaged over sliding windows, so it does not fall
    just because a text is longer (plain TTR does)."""
    if not tokens:
        return 0.0
    if len(tokens) <= window:
        return len(set(tokens)) / len(tokens)
    counts = Counter(tokens[:window])
    total = len(counts)
    for i in range(window, len(tokens)):
        counts[tokens[i]] += 1
        old = tokens[i - window]
        counts[old] -= 1
        if counts[old] == 0:
            del counts[old]
        total += len(counts)
    return total / window / (len(tokens) - window + 1)


def ngram_repeat_rate(tokens: list[str], n: int = 4) -> float:
    """Share of n-grams that already occurred earlier in the text (0 = no repetition)."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    rep = 0
    for g in grams:
        if g in seen:
            rep += 1
        seen.add(g)
    return rep / len(grams)


@dataclass
class Analysis:
    """Measurements of one response."""

    text: str
    tokens: list[str] = field(init=False)
    lower: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.text = (self.text or "").strip()
        self.tokens = tokenize(self.text)
        self.lower = [t.lower().replace("’", "'") for t in self.tokens]

    @property
    def n_words(self) -> int:
        return len(self.tokens)

    @cached_property
    def lines(self) -> list[str]:
        """Non-empty lines that contain at least one word."""
        return [ln.strip() for ln in self.text.splitlines() if tokenize(ln)]

    @cached_property
    def list_items(self) -> list[str]:
        return [ln for ln in self.lines if _LIST_ITEM.match(ln)]

    @cached_property
    def sentences(self) -> list[str]:
        return [s.strip() for s in _SENT_SPLIT.split(self.text) if s and tokenize(s)]

    @cached_property
    def exclamations(self) -> int:
        return self.text.count("!")

    @cached_property
    def hype(self) -> int:
        return sum(1 for t in self.lower if t in HYPE)

    @cached_property
    def filler(self) -> int:
        return sum(1 for t in self.lower if t in FILLER)

    @cached_property
    def content_ratio(self) -> float:
        """Share of words that carry content (not stopwords, not filler, 3+ letters)."""
        if not self.lower:
            return 0.0
        content = sum(1 for t in self.lower if len(t) >= 3 and t not in STOPWORDS and t not in FILLER)
        return content / len(self.lower)

    @cached_property
    def diversity(self) -> float:
        return mattr(self.lower)

    @cached_property
    def repeat_rate(self) -> float:
        return ngram_repeat_rate(self.lower, 4)

    @cached_property
    def duplicate_lines(self) -> int:
        """Lines (3+ words) identical, ignoring case and punctuation, to an earlier line."""
        seen: set[str] = set()
        dup = 0
        for ln in self.lines:
            key = " ".join(tokenize(ln.lower()))
            if len(key.split()) < 3:
                continue
            if key in seen:
                dup += 1
            seen.add(key)
        return dup

    @cached_property
    def stutter(self) -> int:
        """Immediate word repeats ("the the", "very very very")."""
        return sum(1 for a, b in zip(self.lower, self.lower[1:]) if a == b and a.isalpha())

    @cached_property
    def has_dialogue(self) -> bool:
        return len(_QUOTE.findall(self.text)) >= 2

    def count(self, word: str) -> int:
        """Occurrences of a required word/phrase (case-insensitive; simple plural/verb endings)."""
        return len(_word_pattern(word).findall(self.text))

    def first_sentence(self) -> str:
        return self.sentences[0] if self.sentences else ""


def _word_pattern(word: str) -> re.Pattern[str]:
    w = re.escape(word.strip())
    if word.strip()[:1].isalnum() and word.strip()[-1:].isalnum():
        return re.compile(rf"(?<![A-Za-z0-9]){w}(?:s|es|ed|ing|'s)?(?![A-Za-z0-9])", re.I)
    return re.compile(w, re.I)


def surface_features(text: str) -> dict[str, float]:
    """Cheap surface features that a shallow judge might latch onto (for analysis plots)."""
    a = Analysis(text)
    return {
        "words": a.n_words,
        "lines": len(a.lines),
        "exclamations": a.exclamations,
        "hype": a.hype,
        "repeat_rate": round(a.repeat_rate, 4),
        "diversity": round(a.diversity, 4),
    }
