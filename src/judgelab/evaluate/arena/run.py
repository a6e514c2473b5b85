"""``judgelab arena``: Arena-Hard-style evaluation of any models against a baseline, by any judges.

Contestants (``evaluate.arena.contestants``) are response files, checkpoints or served models.
Every contestant's answer to a prompt is judged against the baseline's answer to the same prompt,
in both orders, by every judge (``load_judge`` specs); verdicts become battles as Arena-Hard-Auto
makes them (one per order; a strong verdict ``[[A>>B]]`` counts ``strong_weight`` = 3 times; a pair
with a failed order is dropped and counted), and ``evaluate.arena.tables`` turns them into
leaderboards (per judge and pooled) with prompt-clustered bootstrap CIs and style control.

Reads: response files and prompt sets (see ``contestants``). Writes into ``out``:
``answers/<name>.jsonl`` (generated answers), ``judgments.sqlite`` (the judgment store: a rerun
judges nothing twice), ``arena.json`` (schema ``judgelab.arena/v2``, ``evaluate.arena.results``),
``leaderboard.csv`` and ``leaderboard.md``. Warnings of the fit are returned, not logged
(``judgelab arena`` prints each once).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena.battles import Battle
from judgelab.evaluate.arena.config import ArenaRunConfig
from judgelab.evaluate.arena.contestants import (
    Contestant,
    arena_prompts,
    generate_answers,
    load_contestants,
    prompt_coverage,
)
from judgelab.evaluate.arena.leaderboard import leaderboard_markdown, leaderboard_rows
from judgelab.evaluate.arena.results import write_arena_result
from judgelab.evaluate.arena.style import StyleFeatures, resolve_style, style_features
from judgelab.evaluate.arena.tables import arena_report
from judgelab.judges.aggregate import arena_outcomes
from judgelab.judges.base import Judge
from judgelab.judges.types import PairwiseItem, PointwiseItem
from judgelab.progress import progress_bar

StyleOf = Callable[[Contestant, str], StyleFeatures]


def _score_outcome(va: Any, vb: Any) -> list[tuple[float, float]]:
    """One battle from two pointwise verdicts: the higher score wins, equal scores tie; none when
    either failed."""
    if not (va.ok and vb.ok) or va.score is None or vb.score is None:
        return []
    return [(1.0 if va.score > vb.score else 0.0 if va.score < vb.score else 0.5, 1.0)]


def _style_lookup(tokenizer: str | None, token_len: bool = False) -> StyleOf:
    """Style features of a contestant's answer, computed once each. ``token_len``: every answer
    carries Arena-Hard-Auto's own token count (tiktoken), used as the length (the same unit as a
    published leaderboard's style control)."""
    tok = None
    if tokenizer:
        from transformers import AutoTokenizer

        from judgelab.models.loading import resolve_model_path

        tok = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer))
    cache: dict[tuple[str, str], StyleFeatures] = {}

    def style_of(c: Contestant, pid: str) -> StyleFeatures:
        if (c.name, pid) not in cache:
            # one length unit for everyone (generation counts of different tokenizers would not compare)
            ans = c.answers[pid]
            cache[(c.name, pid)] = style_features(ans["response"], tok, ans.get("token_len") if token_len else None)
        return cache[(c.name, pid)]

    return style_of


def _judge_field(judge: Judge, base: Contestant, others: list[Contestant], prompt_rows: list[dict[str, Any]],
                 config: ArenaRunConfig, style_of: StyleOf, st: dict[str, Any]) -> list[Battle]:
    """Every contestant against the baseline by one judge; counts go into ``st``."""
    # A judge that only scores (a reward model, a pointwise-trained judge) referees by comparing
    # its scores of the two answers: one battle per prompt (no position to swap), no strength.
    by_scores = "pairwise" not in judge.modes
    meta = {r["prompt_id"]: r for r in prompt_rows}
    battles: list[Battle] = []
    for c in others:
        pids = [p for p in (r["prompt_id"] for r in prompt_rows) if p in c.answers and p in base.answers]
        st["missing_answers"] += len(prompt_rows) - len(pids)
        items: list[Any] = []
        for pid in pids:
            pr = meta[pid]
            m = {"prompt_id": pid, "family": pr.get("family", ""), "constraints": pr.get("constraints") or {}}
            if by_scores:
                items += [PointwiseItem(id=f"arena:{who.name}:{pid}", prompt=pr["prompt"],
                                        response=who.answers[pid]["response"], meta=m) for who in (c, base)]
                continue
            it = PairwiseItem(id=f"arena:{c.name}:{base.name}:{pid}", prompt=pr["prompt"],
                              response_a=c.answers[pid]["response"], response_b=base.answers[pid]["response"], meta=m)
            items += [it, it.swapped()]
        with progress_bar(len(items), f"judge {c.name} vs {base.name} ({judge.name})") as advance:
            verdicts = judge.judge(items, on_result=lambda *_: advance(1))
        for k, pid in enumerate(pids):
            ab, ba = verdicts[2 * k], verdicts[2 * k + 1]
            rows = _score_outcome(ab, ba) if by_scores else arena_outcomes(ab, ba, strong_weight=config.strong_weight)
            st["pairs"] += 1
            st["failed_pairs"] += not rows
            st["verdicts"] += len(rows)
            st["strong_verdicts"] += sum(w > 1 for _, w in rows)
            battles += [Battle(c.name, base.name, p, judge=judge.name, prompt_id=pid, weight=w,
                               style_a=style_of(c, pid), style_b=style_of(base, pid)) for p, w in rows]
    return battles


def _judge_all(judges: list[Any], base: Contestant, others: list[Contestant], prompt_rows: list[dict[str, Any]],
               config: ArenaRunConfig, style_of: StyleOf, out: Path) -> tuple[list[Battle], dict[str, dict[str, Any]]]:
    """Battles of every judge (through the judgment store in ``out``) and each judge's counts."""
    from judgelab.data.rundir import STORE_FILE
    from judgelab.data.store import JudgmentStore
    from judgelab.judges.registry import load_judge

    store = JudgmentStore(out / STORE_FILE)
    battles: list[Battle] = []
    stats: dict[str, dict[str, Any]] = {}
    loaded = []
    try:
        for spec in judges:
            judge = load_judge(spec, store=store)
            loaded.append(judge)
            if "pairwise" not in judge.modes and "pointwise" not in judge.modes:
                raise ConfigError(f"judge {judge.name!r} neither compares nor scores answers", where=str(spec),
                                  hint="the arena needs a pairwise judge or one that scores (pointwise)")
            if judge.name in stats:
                raise ConfigError(f"two judges named {judge.name!r}", where=str(spec), hint="give them distinct names")
            st = stats[judge.name] = {"pairs": 0, "failed_pairs": 0, "strong_verdicts": 0, "verdicts": 0,
                                      "missing_answers": 0}
            battles += _judge_field(judge, base, others, prompt_rows, config, style_of, st)
    finally:
        for j in loaded:
            j.close()
        store.close()
    return battles, stats


def _write_leaderboards(out: Path, report: dict[str, Any]) -> None:
    rows = leaderboard_rows(report)
    with open(out / "leaderboard.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "leaderboard.md").write_text(leaderboard_markdown(report))


def run_arena(config: ArenaRunConfig, baseline: str, contestants: list[str], judges: list[Any], out_dir: str | Path,
              *, prompts: str | None = None, split: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Run the arena; returns the arena.json content (also written, with the CSV and markdown)."""
    if not judges:
        raise ConfigError("no judge given", hint="pass --judge SPEC (repeatable), e.g. --judge rubric-gold")
    if not contestants:
        raise ConfigError("no contestant besides the baseline", hint="pass --model [NAME=]SOURCE (repeatable)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    field_ = load_contestants(baseline, contestants, config.decoding)
    prompt_rows = arena_prompts(field_, prompts, split, limit)
    for c in field_:
        if c.kind != "responses":
            generate_answers(c, prompt_rows, config, out)
    base, others = field_[0], field_[1:]
    coverage = prompt_coverage(base, others, prompt_rows)
    # Arena-Hard-Auto answer files carry their tiktoken length: use it when every contestant has it
    # (one unit for everyone; otherwise the proxy or --tokenizer for all).
    token_len = all(c.kind == "responses" and all("token_len" in a for a in c.answers.values()) for c in field_)
    battles, stats = _judge_all(judges, base, others, prompt_rows, config, _style_lookup(config.tokenizer, token_len), out)
    if not battles:
        raise DataError("no usable verdict: every pair failed", where=str(out),
                        hint="check the judges (parse failures, server errors) in the log")
    report = arena_report(battles, baseline=base.name, style=resolve_style(config.style, judges), centering=config.centering,
                          missing_style=config.missing_style, n_boot=config.bootstrap, alpha=config.alpha,
                          seed=config.seed, log_warnings=False)
    for name, t in report["judges"].items():
        t["verdicts"] = stats[name]
    result = write_arena_result(out / "arena.json", {
        "baseline": base.name, "contestants": [c.name for c in field_],
        "sources": {c.name: {"kind": c.kind, "source": c.source, "base_url": c.base_url} for c in field_},
        "n_prompts": len(prompt_rows), "coverage": coverage, "settings": config.model_dump(mode="json"),
        "length_unit": f"tokens of {config.tokenizer}" if config.tokenizer else "proxy tokens (words + punctuation)",
        **report})
    _write_leaderboards(out, report)
    return result.model_dump(by_alias=True, exclude_unset=True)
