"""Arena-Hard-Auto's own judgment files as arena battles, so that a published leaderboard can be
rebuilt (and extended with new models) without calling its judge. Reads judgment files; writes
nothing.

Layouts (https://github.com/lmarena/arena-hard-auto, ``data/<bench>/model_judgment/<judge>/<model>.jsonl``;
one row per (model, question), written by ``gen_judgment.py``):

- v0.1 (before the v2.0 release): ``{question_id, model, judge, games: [{user_prompt, judgment,
  score}, x2]}``; the baseline is not in the row (``show_result.py --baseline``, default gpt-4-0314).
- v2.0 (its ``gen_judgment.py``; the v0.1 data was re-issued in this shape with category
  ``arena-hard-v0.1``): ``{uid, category, judge, model, baseline, games: [{score, judgment,
  prompt}, x2]}``; a game is null when the judge's API call failed.

In both, game 1 shows the baseline as assistant A and game 2 the model as A; ``score`` is the
verdict label the judge wrote (``A>>B`` ... ``B>>A``). How a game becomes a battle is the peer's
(v0.1 ``show_result.py:get_battles_from_row``, v2.0 ``show_result.py:load_judgments``): one
battle per game, model vs baseline, outcome 1 / 0.5 / 0 for the model, a strong label (``>>`` or
``<<``) weighing ``strong_weight`` (their default 3, ours ``ArenaSettings.strong_weight``).
What each layout drops is the peer's too: v0.1 drops a single game whose score is null or a
label it does not know (only ``A>>B, A>B, A=B, B>A, B>>A`` count); v2.0 drops the whole row when
either game or score is null and also knows ``A<B, A<<B, B=A, B<A, B<<A``. A score that is not a
verdict label at all (not made of ``A``, ``B``, ``<``, ``>``, ``=``) is a DataError naming
file:line, as are non-JSON rows and rows without two games.

One leaderboard has one baseline: v2.0 rows name theirs (o3-mini-2025-01-31 for hard_prompt,
gemini-2.0-flash-001 for creative_writing: ``utils/judge_utils.py``), so rows of one category are
used (``category``; several and none chosen: hard_prompt, ``show_result.py``'s default).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena.battles import Battle

# utils/judge_utils.py JUDGE_SETTINGS (v2.0) and show_result.py --baseline (v0.1)
BASELINES = {"arena-hard-v0.1": "gpt-4-0314", "hard_prompt": "o3-mini-2025-01-31", "coding": "o3-mini-2025-01-31",
             "math": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
V01_BASELINE = "gpt-4-0314"
DEFAULT_CATEGORY = "hard_prompt"  # show_result.py --category default (v2.0)

# label -> (P(assistant A wins), strong); v2.0 show_result.py label_to_score (weight = list length)
LABELS_V2 = {"A>B": (1.0, False), "A>>B": (1.0, True), "A=B": (0.5, False), "A<<B": (0.0, True), "A<B": (0.0, False),
             "B>A": (0.0, False), "B>>A": (0.0, True), "B=A": (0.5, False), "B<<A": (1.0, True), "B<A": (1.0, False)}
# v0.1 get_battles_from_row: these five; any other label weighs 0
LABELS_V01 = {k: LABELS_V2[k] for k in ("A>>B", "A>B", "A=B", "B>A", "B>>A")}
_VERDICT = re.compile(r"[AB<>=]+")  # what Arena-Hard's verdict regex (\[\[([AB<>=]+)\]\]) can capture


@dataclass
class PublishedJudgments:
    """The battles of a set of Arena-Hard judgment files (one category, one baseline) and what was
    left out. ``battles`` carry no style yet (``run`` adds it from the answer files)."""

    battles: list[Battle]
    baseline: str
    category: str | None
    files: list[str]
    judges: list[str]
    models: list[str]
    prompt_ids: list[str]  # every uid judged, in file order
    layouts: list[str]
    rows: int = 0  # rows used
    null_rows: int = 0  # v2.0: a null game or score drops the row
    dropped_games: int = 0  # v0.1: a null score or a label v0.1 ignores drops the game
    ignored_labels: dict[str, int] = field(default_factory=dict)
    other_categories: dict[str, int] = field(default_factory=dict)  # rows of categories not used
    self_rows: int = 0  # the baseline judged against itself: skipped
    source_of: dict[str, str] = field(default_factory=dict)  # model -> first file with its judgments

    def summary(self) -> dict[str, Any]:
        """The ``published`` block of arena.json: the fields of its typed model (``results``), but
        ``prompts`` (counted) and ``notes`` (the caller's)."""
        from judgelab.evaluate.arena.results import PublishedJudgments as Published

        return {"prompts": len(self.prompt_ids),
                **{k: getattr(self, k) for k in Published.model_fields if k not in ("prompts", "notes")}}

    def notes(self) -> list[str]:
        """What a reader should know about the rebuilt leaderboard (lines for the CLI)."""
        out = [f"rebuilt from {self.rows} Arena-Hard judgment rows ({', '.join(self.layouts)} layout) by "
               f"{', '.join(self.judges)}" + (f", category {self.category}" if self.category else "")
               + f", baseline {self.baseline}"]
        if self.null_rows:
            out.append(f"{self.null_rows} row(s) with a null game or score dropped (as Arena-Hard v2.0's load_judgments)")
        if self.dropped_games:
            lab = ", ".join(f"{k} x{v}" for k, v in self.ignored_labels.items())
            out.append(f"{self.dropped_games} game(s) with a null score or a label v0.1 ignores"
                       + (f" ({lab})" if lab else "") + " dropped (as Arena-Hard v0.1's get_battles_from_row)")
        if self.other_categories:
            cats = ", ".join(f"{k} ({v} rows)" for k, v in self.other_categories.items())
            out.append(f"category {self.category} only: {cats} left out (choose with --category)")
        if self.self_rows:
            out.append(f"{self.self_rows} row(s) judging the baseline against itself skipped")
        return out


def judgment_files(paths: list[str]) -> list[Path]:
    """The ``.jsonl`` files named or found below the folders named (sorted), each once."""
    out: list[Path] = []
    for s in paths:
        p = Path(s)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.jsonl") if f.is_file())
            if not found:
                raise DataError("no .jsonl judgment file in this folder", where=str(p),
                                hint="give data/<bench>/model_judgment/<judge>/ or its .jsonl files")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DataError("judgment file or folder not found", where=str(p),
                            hint="give data/<bench>/model_judgment/<judge>/ or its .jsonl files")
    return list(dict.fromkeys(out))


def _row_fields(row: dict[str, Any], where: str, judge_dir: str) -> tuple[str, str, str, str, str | None, str | None]:
    """(layout, judge, model, uid, category, baseline named by the row) of one judgment row."""
    layout = "v2.0" if "uid" in row else "v0.1" if "question_id" in row else None
    if layout is None:
        raise DataError("judgment row without uid (v2.0) or question_id (v0.1)", where=where,
                        hint="expected an Arena-Hard-Auto model_judgment row: {uid, model, judge, games, ...}")
    model = row.get("model")
    if not isinstance(model, str) or not model:
        raise DataError("judgment row without a model name", where=where, hint="each row needs 'model'")
    judge = row.get("judge") or judge_dir
    category = row.get("category") if layout == "v2.0" else row.get("category", "arena-hard-v0.1")
    base = row.get("baseline")
    uid = str(row["uid" if layout == "v2.0" else "question_id"])
    # v2.0's show_result.py shows a model by the last part of its path
    return layout, str(judge), model.split("/")[-1], uid, category, (str(base) if base else None)


def _games(row: dict[str, Any], where: str) -> list[Any]:
    games = row.get("games")
    if not isinstance(games, list) or len(games) != 2:
        got = "no 'games'" if games is None else f"'games' is {type(games).__name__}" + \
            (f" of {len(games)}" if isinstance(games, list) else "")
        raise DataError(f"judgment row has {got}, not 2 games", where=where,
                        hint="rows need games: [baseline as A, model as A], each with a 'score' label like A>B")
    for k, g in enumerate(games, 1):
        if g is not None and (not isinstance(g, dict) or "score" not in g):
            raise DataError(f"game {k} has no 'score'", where=where,
                            hint="each game is {score: 'A>B' | 'A>>B' | 'A=B' | 'B>A' | 'B>>A', judgment: ...}")
        s = None if g is None else g["score"]
        if s is not None and (not isinstance(s, str) or not _VERDICT.fullmatch(s)):
            raise DataError(f"game {k}'s score {s!r} is not a verdict label", where=where,
                            hint="Arena-Hard labels are A>>B, A>B, A=B, B>A, B>>A (v2.0 also A<B, A<<B, B=A, B<A, B<<A)")
    return games


def _pick_category(cats: Counter, category: str | None, paths: list[str]) -> str:
    """The category to rank (one leaderboard has one baseline): the one asked for, the only one, or
    Arena-Hard's default."""
    if category is None:
        if len(cats) == 1:
            return next(iter(cats))
        if DEFAULT_CATEGORY in cats:
            return DEFAULT_CATEGORY
        raise ConfigError(f"the judgments hold several categories ({', '.join(f'{k}: {v} rows' for k, v in cats.items())})",
                          hint="one leaderboard has one baseline: choose a category with --category")
    if category not in cats:
        raise ConfigError(f"no judgment of category {category!r}", where=", ".join(paths),
                          hint=f"categories in these files: {', '.join(str(c) for c in cats)}")
    return category


def read_judgments(paths: list[str], *, category: str | None = None, baseline: str | None = None,
                   strong_weight: float = 3.0) -> PublishedJudgments:
    """Battles (model vs baseline, one per game) of Arena-Hard-Auto judgment files or folders.

    ``baseline``: the baseline's name, for v0.1 rows (which do not record it; default gpt-4-0314)
    and checked against v2.0 rows' own ``baseline``. ``category``: the rows to use (see the module
    docstring)."""
    from judgelab.data.jsonl import iter_jsonl

    rows: list[tuple[str, dict[str, Any], tuple]] = []
    for f in judgment_files(paths):
        for lineno, row in iter_jsonl(f):
            where = f"{f}:{lineno}"
            rows.append((where, row, _row_fields(row, where, f.parent.name)))
    if not rows:
        raise DataError("the judgment files hold no row", where=", ".join(paths),
                        hint="give Arena-Hard-Auto's data/<bench>/model_judgment/<judge>/*.jsonl")
    cats = Counter(fields[4] for _, _, fields in rows)
    category = _pick_category(cats, category, paths)
    out = PublishedJudgments([], "", category, [], [], [], [], [],
                             other_categories={str(k): v for k, v in cats.items() if k != category})
    seen: dict[tuple[str, str, str], str] = {}
    uids: dict[str, None] = {}
    for where, row, (layout, judge, model, uid, cat, row_base) in rows:
        if cat != category:
            continue
        base = baseline or row_base or BASELINES.get(str(cat)) or V01_BASELINE
        if row_base and row_base != base:
            raise DataError(f"this row's baseline is {row_base}, not {base}", where=where,
                            hint="one leaderboard has one baseline: give judgments against the same one")
        if out.baseline and base != out.baseline:
            raise DataError(f"this row's baseline is {base}, the rows before it {out.baseline}", where=where,
                            hint="one leaderboard has one baseline: choose one category with --category")
        out.baseline = base
        games = _games(row, where)
        key = (judge, model, uid)
        if key in seen:
            raise DataError(f"{model} on {uid} judged twice by {judge} (first at {seen[key]})", where=where,
                            hint="remove the duplicate row (Arena-Hard would count it twice)")
        seen[key] = where
        if model == base:
            out.self_rows += 1
            continue
        labels = LABELS_V2 if layout == "v2.0" else LABELS_V01
        scores = [None if g is None else g["score"] for g in games]
        if layout == "v2.0" and None in scores:
            out.null_rows += 1
            continue
        if layout == "v2.0" and any(s not in labels for s in scores):
            bad = next(s for s in scores if s not in labels)
            raise DataError(f"unknown verdict label {bad!r}", where=where,
                            hint=f"Arena-Hard v2.0 knows {', '.join(LABELS_V2)}")
        used = 0
        for gi, s in enumerate(scores):
            if s not in labels:  # v0.1: weight 0
                out.dropped_games += 1
                if s is not None:
                    out.ignored_labels[s] = out.ignored_labels.get(s, 0) + 1
                continue
            p_a, strong = labels[s]
            # game 1 shows the baseline as A, game 2 the model as A
            out.battles.append(Battle(model, base, p_a if gi == 1 else 1.0 - p_a, judge=judge, prompt_id=uid,
                                      weight=strong_weight if strong else 1.0))
            used += 1
        out.rows += used > 0
        uids.setdefault(uid)
        for lst, v in ((out.layouts, layout), (out.judges, judge), (out.models, model)):
            if v not in lst:
                lst.append(v)
        file = where.rsplit(":", 1)[0]
        out.source_of.setdefault(model, file)
        if file not in out.files:
            out.files.append(file)
    if not out.battles:
        raise DataError(f"no usable judgment in category {category}", where=", ".join(paths),
                        hint="every row was null, ignored or the baseline's own")
    out.prompt_ids = list(uids)
    return out


def answer_folder(paths: list[str]) -> Path | None:
    """Arena-Hard's ``model_answer`` folder beside the judgments (``data/<bench>/model_answer`` for
    ``data/<bench>/model_judgment/<judge>/...``), if there is one."""
    for s in paths:
        p = Path(s).resolve()
        for d in [p, *p.parents][:4]:
            if (d / "model_answer").is_dir():
                return d / "model_answer"
    return None
