"""``judgelab arena``: Arena-Hard-style evaluation of any models against a baseline, by any judges.

Contestants (``evaluate.arena.contestants``) are response files, checkpoints or served models.
Every contestant's answer to a prompt is judged against the baseline's answer to the same prompt,
in both orders, by every judge (``load_judge`` specs); verdicts become battles as Arena-Hard-Auto
makes them (one per order; a strong verdict ``[[A>>B]]`` counts ``strong_weight`` = 3 times; a pair
with a failed order is dropped and counted), and ``evaluate.arena.tables`` turns them into
leaderboards (per judge and pooled) with prompt-clustered bootstrap CIs and style control.

With ``judgments`` (``run_on_judgments``): Arena-Hard-Auto's own judgment files become the
battles (``evaluate.arena.arena_hard``), no judge called; new models given beside them are judged
against the same baseline and join the same leaderboard.

Reads: response files and prompt sets (see ``contestants``), Arena-Hard judgment and answer files.
Writes into ``out``:
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

from judgelab.data.rundir import writable_dir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena.battles import Battle
from judgelab.evaluate.arena.config import ArenaRunConfig
from judgelab.evaluate.arena.contestants import (
    Contestant,
    arena_prompts,
    generate_answers,
    load_contestants,
    parse_contestant,
    prompt_coverage,
    read_responses,
)
from judgelab.evaluate.arena.leaderboard import leaderboard_markdown, leaderboard_rows
from judgelab.evaluate.arena.results import write_arena_result
from judgelab.evaluate.arena.style import (
    StyleFeatures,
    StyleMode,
    resolve_style,
    style_features,
)
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
    carries Arena-Hard-Auto's own token count (tiktoken), used as the length with its markdown
    counts where the answer file has them (the same features as a published leaderboard's style
    control)."""
    tok = None
    if tokenizer:
        from transformers import AutoTokenizer

        from judgelab.models.loading import resolve_model_path

        tok = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer))
    cache: dict[tuple[str, str], StyleFeatures] = {}

    def style_of(c: Contestant, pid: str) -> StyleFeatures:
        if (c.name, pid) not in cache:
            # one length unit for everyone (generation counts of different tokenizers would not compare)
            ans = c.answers.get(pid)
            if ans is None:  # a published model's answer file lacks this prompt: imputed, and counted, by the fit
                cache[(c.name, pid)] = StyleFeatures()
            elif token_len and "md_counts" in ans:  # Arena-Hard's own counts, as its show_result.py reads them
                cache[(c.name, pid)] = StyleFeatures(float(ans["token_len"]), *ans["md_counts"])
            else:
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


def _write_leaderboards(out: Path, report: dict[str, Any], notes: list[str]) -> None:
    rows = leaderboard_rows(report)
    with open(out / "leaderboard.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    head = "".join(f"> {n}\n" for n in notes) + ("\n" if notes else "")
    (out / "leaderboard.md").write_text(head + leaderboard_markdown(report))


def _length_unit(config: ArenaRunConfig, token_len: bool) -> str:
    if token_len:
        return "Arena-Hard token_len (tiktoken) and markdown counts from the answer files"
    return f"tokens of {config.tokenizer}" if config.tokenizer else "proxy tokens (words + punctuation)"


def _uses_token_len(field_: list[Contestant]) -> bool:
    """Arena-Hard-Auto answer files carry their tiktoken length: use it when every contestant has it
    (one unit for everyone; otherwise the proxy or --tokenizer for all)."""
    return all(c.kind == "responses" and all("token_len" in a for a in c.answers.values()) for c in field_)


def _finish(out: Path, config: ArenaRunConfig, battles: list[Battle], stats: dict[str, dict[str, Any]], baseline: str,
            style: StyleMode, content: dict[str, Any], notes: list[str] | None = None) -> dict[str, Any]:
    """Fit the tables, write arena.json, leaderboard.csv and leaderboard.md; returns arena.json's content."""
    report = arena_report(battles, baseline=baseline, style=style, centering=config.centering,
                          missing_style=config.missing_style, n_boot=config.bootstrap, alpha=config.alpha,
                          seed=config.seed, log_warnings=False)
    for name, t in report["judges"].items():
        if name in stats:
            t["verdicts"] = stats[name]
    result = write_arena_result(out / "arena.json", {**content, "settings": config.model_dump(mode="json"), **report})
    _write_leaderboards(out, report, notes or [])
    return result.model_dump(by_alias=True, exclude_unset=True)


def run_arena(config: ArenaRunConfig, baseline: str | None, contestants: list[str], judges: list[Any],
              out_dir: str | Path, *, prompts: str | None = None, split: str | None = None, limit: int | None = None,
              judgments: list[str] | None = None, answers: str | None = None,
              category: str | None = None) -> dict[str, Any]:
    """Run the arena; returns the arena.json content (also written, with the CSV and markdown).
    With ``judgments`` (Arena-Hard-Auto judgment files or folders) see ``run_on_judgments``."""
    if judgments:
        return run_on_judgments(config, judgments, baseline, contestants, judges, out_dir, prompts=prompts,
                                split=split, limit=limit, answers=answers, category=category)
    if baseline is None:
        raise ConfigError("no baseline given", hint="pass --baseline [NAME=]SOURCE (or --judgments DIR to rebuild "
                                                    "an Arena-Hard-Auto leaderboard)")
    if not judges:
        raise ConfigError("no judge given", hint="pass --judge SPEC (repeatable), e.g. --judge rubric-gold")
    if not contestants:
        raise ConfigError("no contestant besides the baseline", hint="pass --model [NAME=]SOURCE (repeatable)")
    out = writable_dir(out_dir, "--out")  # before any answer is generated or judged
    field_ = load_contestants(baseline, contestants, config.decoding)
    prompt_rows = arena_prompts(field_, prompts, split, limit)
    for c in field_:
        if c.kind != "responses":
            generate_answers(c, prompt_rows, config, out)
    base, others = field_[0], field_[1:]
    coverage = prompt_coverage(base, others, prompt_rows)
    token_len = _uses_token_len(field_)
    battles, stats = _judge_all(judges, base, others, prompt_rows, config, _style_lookup(config.tokenizer, token_len), out)
    if not battles:
        raise DataError("no usable verdict: every pair failed", where=str(out),
                        hint="check the judges (parse failures, server errors) in the log")
    return _finish(out, config, battles, stats, base.name, resolve_style(config.style, judges), {
        "baseline": base.name, "contestants": [c.name for c in field_],
        "sources": {c.name: {"kind": c.kind, "source": c.source, "base_url": c.base_url} for c in field_},
        "n_prompts": len(prompt_rows), "coverage": coverage, "length_unit": _length_unit(config, token_len)})


def _names_only(spec: str) -> bool:
    """A --baseline that is a bare model name (with --judgments): no NAME=, no file, no server."""
    return "=" not in spec and not spec.endswith(".jsonl") and not spec.startswith("openai:") and not Path(spec).exists()


def run_on_judgments(config: ArenaRunConfig, judgments: list[str], baseline: str | None, contestants: list[str],
                     judges: list[Any], out_dir: str | Path, *, prompts: str | None = None, split: str | None = None,
                     limit: int | None = None, answers: str | None = None,
                     category: str | None = None) -> dict[str, Any]:
    """A leaderboard from Arena-Hard-Auto's judgment files (``arena_hard``): the published battles
    as they are, no judge called; with ``contestants`` and ``judges``, each new model is judged
    against the same baseline (both orders, every judge) on the prompts the judgments cover, and
    one leaderboard is fitted on the published battles and the new ones.

    ``baseline``: its name or ``[NAME=]answers.jsonl`` (default: the judgments' baseline, its
    answers looked up in ``answers``). ``answers``: Arena-Hard's ``model_answer`` folder (default:
    the one beside the judgments), read for the baseline's answers (to judge new models) and for
    every model's style metadata (style control). ``config.style`` 'auto' is 'none' here, as
    ``show_result.py`` without ``--control-features``."""
    # long: one command's flow (baseline, published battles, answers for style, new models judged,
    # one fit) whose steps share a dozen locals; to be split into read / judge / fit helpers.
    from judgelab.evaluate.arena.arena_hard import answer_folder, read_judgments

    if contestants and not judges:
        raise ConfigError("--model with --judgments needs a judge: the new answers are judged against the baseline's",
                          hint="pass --judge SPEC, or drop --model to rebuild the published leaderboard alone")
    if judges and not contestants:
        raise ConfigError("--judge with --judgments but no --model: nothing to judge",
                          hint="the published judgments are used as they are; add --model NAME=answers.jsonl")
    out = writable_dir(out_dir, "--out")
    base: Contestant | None = None
    if baseline and not _names_only(baseline):
        base = parse_contestant(baseline)
        if base.kind != "responses":
            raise ConfigError("with --judgments the baseline is the published one", where=baseline,
                              hint="give its name or its answer file: --baseline NAME=model_answer/NAME.jsonl")
        read_responses(base, config.decoding)
    pub = read_judgments(judgments, category=category, baseline=base.name if base else baseline,
                         strong_weight=config.strong_weight)
    folder = Path(answers) if answers else answer_folder(judgments)
    if answers and not folder.is_dir():
        raise DataError("answer folder not found", where=answers, hint="give Arena-Hard's data/<bench>/model_answer")
    where = f" in {folder}" if folder else " (no model_answer folder beside the judgments)"

    def from_folder(name: str) -> Contestant | None:
        f = folder / f"{name}.jsonl" if folder else None
        if f is None or not f.is_file():
            return None
        c = Contestant(name, "responses", str(f))
        read_responses(c, None)
        c.name = name
        return c

    style: StyleMode = "none" if config.style == "auto" else config.style
    if base is None and (contestants or style != "none"):
        base = from_folder(pub.baseline)
        if base is None:
            why = "to judge new models against" if contestants else "for style control"
            raise ConfigError(f"the baseline's ({pub.baseline}) answers are needed {why}: none found{where}",
                              hint=f"pass --baseline {pub.baseline}=PATH/{pub.baseline}.jsonl or --answers DIR "
                                   "(Arena-Hard's model_answer folder)")
    published: dict[str, Contestant] = {}
    if style != "none":
        missing = []
        for m in pub.models:
            c = from_folder(m)
            if c is None:
                missing.append(m)
            else:
                published[m] = c
        if missing:
            raise ConfigError(f"style control needs every model's answers; none found for {', '.join(missing)}{where}",
                              hint="pass --answers DIR (Arena-Hard's model_answer folder, with metadata) or --style none")
    new = [parse_contestant(s) for s in contestants]
    for c in new:
        if c.kind == "responses":
            read_responses(c, config.decoding)
    names = [pub.baseline, *pub.models, *(c.name for c in new)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{', '.join(dup)} already in the published judgments (or given twice)",
                          hint="name the new model differently: --model NEW_NAME=answers.jsonl")
    stats: dict[str, dict[str, Any]] = {}
    new_battles: list[Battle] = []
    coverage: dict[str, Any] = {}
    prompt_rows: list[dict[str, Any]] = []
    field_ = [c for c in (base, *published.values(), *new) if c is not None]
    if new:
        assert base is not None
        judged = set(pub.prompt_ids)
        # the published judgments' prompts only (one category: its baseline), the limit after that
        prompt_rows = [r for r in arena_prompts([base, *new], prompts, split, None) if r["prompt_id"] in judged]
        if not prompt_rows:
            raise DataError(f"none of the {len(judged)} judged prompts is among the prompts"
                            + (f" of {prompts}" if prompts else f" of the baseline's answers ({base.source})"),
                            hint="give the benchmark's question.jsonl with --prompts, or the baseline's answer file")
        if limit:
            from judgelab.data.prompts import balanced_subset

            prompt_rows = balanced_subset(prompt_rows, limit)
        for c in new:
            if c.kind != "responses":
                generate_answers(c, prompt_rows, config, out)
        coverage = prompt_coverage(base, new, prompt_rows)
    token_len = _uses_token_len(field_)
    style_of = _style_lookup(config.tokenizer, token_len)
    if style != "none":
        assert base is not None
        for b in pub.battles:
            b.style_a, b.style_b = style_of(published[b.model_a], b.prompt_id), style_of(base, b.prompt_id)
    if new:
        assert base is not None
        new_battles, stats = _judge_all(judges, base, new, prompt_rows, config, style_of, out)
    notes = pub.notes()
    other = [j for j in stats if j not in pub.judges]
    if other:
        notes.append(f"{', '.join(c.name for c in new)} judged by {', '.join(other)}, the published models by "
                     f"{', '.join(pub.judges)}: the pooled table compares judges as well as models "
                     "(each judge's own table follows it)")
    sources = {m: {"kind": "judgments", "source": pub.source_of[m], "base_url": None} for m in pub.models}
    sources[pub.baseline] = ({"kind": "responses", "source": base.source, "base_url": None} if base
                             else {"kind": "judgments", "source": pub.files[0], "base_url": None})
    sources.update({c.name: {"kind": c.kind, "source": c.source, "base_url": c.base_url} for c in new})
    result = _finish(out, config, pub.battles + new_battles, stats, pub.baseline, style, {
        "baseline": pub.baseline, "contestants": names, "sources": sources,
        "n_prompts": len(pub.prompt_ids), **({"coverage": coverage} if new else {}),
        "length_unit": _length_unit(config, token_len), "published": {**pub.summary(), "notes": notes}}, notes)
    return result
