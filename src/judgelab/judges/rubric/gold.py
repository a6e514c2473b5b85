"""Weighted rubrics composed of criteria (verifiers-style), and the controlled gold rubric "gold".

Reads and writes nothing. ``Rubric.score(meta, response)`` returns ``(score, trace)``: the score is
on 1-10 (``1 + 9 * clamp(total / max_total, 0, 1)``, rounded to 0.1) and the trace holds one
``CriterionResult`` per criterion, applicable or not, in table order (docs/gold_rubric.md).
``render_pointwise`` / ``render_pairwise`` turn traces into the text the judge parsers read, in the
rubric's ``style``: "compact" (rubric "gold", the default: only what cost points, or what differs
between A and B, one short line each -- short enough for a 135M judge to learn and generate within
a ~200-token completion cap) or "verbose" (rubric "gold-verbose": every criterion, both responses).
Both styles score identically; only the trace text differs.
"""

from __future__ import annotations

import re

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from judgelab.judges.rubric import criteria as C
from judgelab.judges.rubric.text import Analysis

CriterionKind = Literal["adherence", "quality", "penalty"]
Style = Literal["compact", "verbose"]
CriterionFn = Callable[[Analysis, dict[str, Any]], "C.Outcome | None"]

SCALE = (1, 10)

# Compact trace: at most this many per-criterion lines in a pairwise trace (biggest point
# differences first); the rest are summarised as "(+N smaller differences)".
PAIRWISE_MAX_LINES = 5
# Compact pointwise trace: at most this many deduction lines (largest first); the rest are summed
# into "(+N smaller deductions -X.X)". Only very poor responses (whose score is floored anyway)
# lose more on more criteria than this.
POINTWISE_MAX_LINES = 5
# A criterion is "not at its max" / "differs" when its points differ by at least this much
# (half the 0.1 display precision, so a shown line never reads "(-0.0)").
_EPS = 0.05

# Form/audience a family implies when a caller passes a family but no constraints.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "poem": {"form": "poem"},
    "persuasive_letter": {"form": "letter"},
    "advice": {"form": "list"},
    "explain_to_child": {"audience": "child"},
}


@dataclass(frozen=True)
class Criterion:
    name: str
    fn: CriterionFn
    weight: float
    kind: CriterionKind
    label: str = ""  # short name in compact traces ("length" for length_band); defaults to name


@dataclass(frozen=True)
class CriterionResult:
    """One line of the gold trace. ``points = weight * value``; ``max_points`` is 0 for penalties
    and for criteria that do not apply (``applicable=False``)."""

    name: str
    kind: str
    applicable: bool
    value: float
    points: float
    max_points: float
    detail: str
    short: str = ""  # compact detail ("96w > 80 max"); "" for criteria that do not apply

    @property
    def deficit(self) -> float:
        """Points lost against this criterion's maximum (>= 0; a fired penalty's lost points)."""
        return max(0.0, self.max_points - self.points)

    def line(self) -> str:
        if not self.applicable:
            return f"- {self.name}: n/a"
        if self.kind == "penalty":
            return f"- {self.name}: {self.detail} ({self.points:+.2f})"
        return f"- {self.name}: {self.detail} ({self.points:+.2f}/{self.max_points:.2f})"


class Rubric:
    """A named, versioned list of weighted criteria."""

    def __init__(self, name: str, criteria: list[Criterion], version: str, tie_margin: float = 0.5,
                 style: Style = "compact"):
        self.name = name
        self.criteria = criteria
        self.version = version
        self.tie_margin = tie_margin  # pairwise: |score_a - score_b| below this is a tie
        self.style = style  # trace text only; scores do not depend on it

    def variant(self, name: str, style: Style) -> "Rubric":
        """The same criteria (hence the same scores) under another name and trace style."""
        return Rubric(name, self.criteria, self.version, self.tie_margin, style)

    def label(self, criterion_name: str) -> str:
        for cr in self.criteria:
            if cr.name == criterion_name:
                return cr.label or cr.name
        return criterion_name

    def evaluate(self, meta: Any, response: str) -> list[CriterionResult]:
        constraints = constraints_of(meta)
        a = Analysis(response)
        out = []
        for cr in self.criteria:
            o = cr.fn(a, constraints)
            if o is None:
                out.append(CriterionResult(cr.name, cr.kind, False, 0.0, 0.0, 0.0, "n/a"))
                continue
            mx = 0.0 if cr.kind == "penalty" else cr.weight
            out.append(CriterionResult(cr.name, cr.kind, True, round(o.value, 4), round(cr.weight * o.value, 4), mx,
                                       o.detail, o.short or o.detail))
        return out

    @staticmethod
    def total(trace: list[CriterionResult]) -> tuple[float, float]:
        return sum(r.points for r in trace), sum(r.max_points for r in trace)

    def score(self, meta: Any, response: str) -> tuple[float, list[CriterionResult]]:
        trace = self.evaluate(meta, response)
        got, best = self.total(trace)
        frac = max(0.0, min(1.0, got / best)) if best > 0 else 0.0
        return round(SCALE[0] + (SCALE[1] - SCALE[0]) * frac, 1), trace

    def identity(self) -> dict[str, Any]:
        return {"rubric": self.name, "version": self.version, "tie_margin": self.tie_margin, "style": self.style}


def constraints_of(meta: Any) -> dict[str, Any]:
    """Constraints from a PromptRecord/ResponseRecord, an item ``meta`` dict ({"family", "constraints"}),
    a bare constraints dict, or None (generic criteria only)."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        fam = getattr(meta, "family", "") or ""
        cons = getattr(meta, "constraints", None) or {}
        meta = {"family": fam, "constraints": cons}
    if "constraints" in meta or "family" in meta:
        cons = dict(meta.get("constraints") or {})
        fam = meta.get("family") or ""
    else:
        from judgelab.data.prompts import CONSTRAINT_KEYS

        cons = {k: v for k, v in meta.items() if k in CONSTRAINT_KEYS}
        fam = ""
    if not cons and fam in FAMILY_DEFAULTS:
        cons = dict(FAMILY_DEFAULTS[fam])
    return cons


def _criteria(kind: CriterionKind, *rows: tuple[CriterionFn, float, str]) -> list[Criterion]:
    """One kind's criteria from (function, weight, trace label) rows; each is named by its function."""
    return [Criterion(fn.__name__, fn, weight, kind, label) for fn, weight, label in rows]


GOLD = Rubric(
    "gold",
    [
        *_criteria("adherence", (C.required_elements, 3.0, "required"), (C.length_band, 2.0, "length"),
                   (C.form, 1.5, "form"), (C.completeness, 1.0, "ending"), (C.audience_fit, 1.0, "audience")),
        *_criteria("quality", (C.lexical_diversity, 1.5, "diversity"), (C.concreteness, 1.0, "concrete"),
                   (C.tone, 1.5, "tone")),
        *_criteria("penalty", (C.repetition, 3.0, "repetition"), (C.keyword_stuffing, 1.5, "stuffing"),
                   (C.judge_directed, 6.0, "judge-directed"), (C.meta_chatter, 1.5, "chatter")),
    ],
    # gold-3: role markers and invisible characters are judge-directed (gold-2: compact traces by default,
    # scores unchanged from gold-1). Bump on any change to
    # scores or trace text, since it is part of every cached verdict's key.
    version="gold-3",
)
GOLD_VERBOSE = GOLD.variant("gold-verbose", "verbose")


def render_pointwise(score: float, trace: list[CriterionResult], rubric: Rubric = GOLD) -> str:
    """``<think>`` trace + ``Score: N`` in the rubric's style."""
    got, best = Rubric.total(trace)
    if rubric.style == "verbose":
        lines = [r.line() for r in trace]
        lines.append(f"total {got:.2f} of {best:.2f} -> {score:.1f} on {SCALE[0]}-{SCALE[1]}")
    else:
        # Only what cost points, largest loss first: everything else is at its maximum.
        lost = sorted((r for r in trace if r.applicable and r.deficit >= _EPS), key=lambda r: -r.deficit)
        lines = [f"{rubric.label(r.name)}: {r.short} (-{r.deficit:.1f})" for r in lost[:POINTWISE_MAX_LINES]]
        rest = lost[POINTWISE_MAX_LINES:]
        if rest:
            lines.append(f"(+{len(rest)} smaller deductions -{sum(r.deficit for r in rest):.1f})")
        if not lost:
            lines.append("all criteria met")
        lines.append(f"total {score:.1f}")
    return "<think>\n" + "\n".join(lines) + "\n</think>\nScore: " + f"{score:.1f}"


def pairwise_label(score_a: float, score_b: float, tie_margin: float) -> str:
    """'A', 'B' or 'C' (tie). Symmetric, so the rubric is always swap-consistent."""
    if abs(score_a - score_b) < tie_margin:
        return "C"
    return "A" if score_a > score_b else "B"


def _side(r: CriterionResult) -> str:
    """One response's compact state on a criterion, for a pairwise line."""
    if not r.applicable:
        return "n/a"
    return "ok" if r.kind == "penalty" and r.deficit < _EPS else r.short


def render_pairwise(score_a: float, trace_a: list[CriterionResult], score_b: float,
                    trace_b: list[CriterionResult], rubric: Rubric = GOLD) -> str:
    """``<think>`` trace + ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie) in the rubric's style."""
    label = pairwise_label(score_a, score_b, rubric.tie_margin)
    diff = score_a - score_b
    if rubric.style == "verbose":
        lines = ["Response A:", *(r.line() for r in trace_a), f"A scores {score_a:.1f}",
                 "Response B:", *(r.line() for r in trace_b), f"B scores {score_b:.1f}"]
        if label == "C":
            lines.append(f"difference {diff:+.1f} is within the tie margin {rubric.tie_margin:g}: tie")
        else:
            lines.append(f"difference {diff:+.1f}: {'A' if label == 'A' else 'B'} is better")
    else:
        # Only criteria where A and B differ, biggest point difference first; the gap in points
        # says how much each line weighs, the final line states both scores.
        diffs = sorted(((ra.points - rb.points, ra, rb) for ra, rb in zip(trace_a, trace_b)
                        if abs(ra.points - rb.points) >= _EPS), key=lambda t: -abs(t[0]))
        lines = [f"{rubric.label(ra.name)}: A {_side(ra)}; B {_side(rb)} -> {'A' if d > 0 else 'B'}"
                 for d, ra, rb in diffs[:PAIRWISE_MAX_LINES]]
        if len(diffs) > PAIRWISE_MAX_LINES:
            lines.append(f"(+{len(diffs) - PAIRWISE_MAX_LINES} smaller differences)")
        if not diffs:
            lines.append("no criterion differs")
        lines.append(f"A {score_a:.1f} vs B {score_b:.1f}")
    return "<think>\n" + "\n".join(lines) + f"\n</think>\n[[{label}]]"


_SCORE_LINE = re.compile(r"^(total [\d.]+|A [\d.]+ vs B [\d.]+|\(\+\d+ smaller (deductions|differences).*\))$")


def names_only_trace(trace: str) -> str:
    """The trace-information ablation: a compact rubric trace with the criterion *names* kept and
    every deduction, count and score removed ("Length band: 60w > 40 (-4.0)" -> "Length band";
    "Length band: A ok; B 60w -> A" -> "Length band -> A"; "total 6.4" and "A 6.4 vs B 5.2" dropped).
    A line without a ':' is kept as it is. What a judge distilled from it can learn is which
    criteria matter, not the scoring program."""
    out = []
    for line in trace.strip().splitlines():
        line = line.strip()
        if not line or _SCORE_LINE.match(line):
            continue
        if ":" in line:
            name, rest = line.split(":", 1)
            side = re.search(r"->\s*([AB])\s*$", rest)
            line = name.strip() + (f" -> {side.group(1)}" if side else "")
        out.append(line)
    return "\n".join(out) or "no criterion named"
