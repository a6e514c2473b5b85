"""``judgelab arena``: Arena-Hard-style evaluation of any models against a baseline, by any judges.

Contestants are response files, checkpoints (generated here through ``judgelab.lm.local``) or
models served over an OpenAI-compatible API (through the ``openai`` text backend). Every
contestant's answer to a prompt is judged against the baseline's answer to the same prompt, in
both orders, by every judge (``load_judge`` specs); verdicts become battles as Arena-Hard-Auto
makes them (one per order; a strong verdict ``[[A>>B]]`` counts ``strong_weight`` = 3 times; a pair
with a failed order is dropped and counted), and ``judgelab.evaluate.arena`` turns them into
leaderboards (per judge and pooled) with prompt-clustered bootstrap CIs and style control.

Reads: response files (JSONL rows ``prompt_id``, ``response``, optional ``prompt``, ``model``,
``family``, ``constraints``; a run's ``eval/policies/<p>/samples-step-N.jsonl`` works as is),
prompt sets (``judgelab.data.prompts.load_prompts``). Writes into ``out``: ``answers/<name>.jsonl``
(generated answers, reused by a rerun with the same settings), ``judgments.sqlite`` (the judgment
store: a rerun judges nothing twice), ``arena.json`` (schema ``judgelab.arena/v2``),
``leaderboard.csv`` and ``leaderboard.md``.

Coverage: each contestant is rated on the prompts that it and the baseline both answered;
``arena.json``'s ``coverage`` counts them per contestant (``judgelab arena`` prints a note for any
with missing answers). A contestant sharing no prompt with the baseline stops the run (DataError
naming both files) before anything is judged. Warnings of the fit are returned, not logged
(``judgelab arena`` prints each once).
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.errors import ConfigError, DataError
from judgelab.data.prompts import balanced_subset
from judgelab.evaluate.arena import Battle, arena_report, leaderboard_markdown, leaderboard_rows, style_features
from judgelab.judges.aggregate import arena_outcomes
from judgelab.judges.types import PairwiseItem, PointwiseItem
from judgelab.progress import progress_bar

log = logging.getLogger(__name__)

SCHEMA = "judgelab.arena/v2"


class ArenaRunConfig(StrictModel):
    """Settings of one ``judgelab arena`` run (contestants and judges are given separately)."""

    style: Literal["none", "length", "markdown", "both"] = Field(
        "both", description="Style features controlled for: token length, markdown (headers, lists, bold), both, none.")
    centering: Literal["none", "mean"] = Field(
        "none", description="'mean' centres the style features as Arena-Hard-Auto does (ratings at the average style "
                            "difference); 'none' rates at equal style.")
    missing_style: Literal["impute", "drop"] = Field(
        "impute", description="A response without a length: impute its model's mean, or drop its battles from the fit.")
    strong_weight: float = Field(3.0, ge=1, description="Battles a strong verdict counts as (Arena-Hard-Auto: 3).")
    bootstrap: int = Field(200, ge=0, description="Bootstrap resamples of the prompts.")
    alpha: float = Field(0.05, gt=0, lt=1, description="CI level = 1 - alpha.")
    seed: int = 0
    tokenizer: str | None = Field(None, description="HF tokenizer for lengths in tokens (None: the documented proxy).")
    max_new_tokens: int = Field(512, ge=1, description="Answer length cap for generated contestants.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature of generated answers (0: greedy).")
    batch_size: int = Field(8, ge=1, description="Generation batch size for checkpoints.")
    device: str = "auto"
    decoding: str | None = Field(None, description="Which rows of an eval samples file to use ('greedy' or "
                                                   "'sampled'; None: greedy when present). Sample index 0.")


@dataclass
class Contestant:
    """One model in the arena: where its answers come from."""

    name: str
    kind: Literal["responses", "checkpoint", "served"]
    source: str
    base_url: str | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # prompt_id -> row


def parse_contestant(spec: str) -> Contestant:
    """``[NAME=]SOURCE``: a ``.jsonl`` response file, ``openai:MODEL@BASE_URL`` (served), or a
    checkpoint folder / model id / offline alias."""
    name, _, source = spec.partition("=") if "=" in spec and not spec.startswith("openai:") and not Path(spec).exists() else ("", "", spec)
    if source.startswith("openai:"):
        model, _, url = source[len("openai:"):].partition("@")
        if not model or not url:
            raise ConfigError(f"bad served contestant {spec!r}", hint="write openai:MODEL@http://host:port/v1")
        return Contestant(name or model, "served", model, url)
    if source.endswith(".jsonl"):
        if not Path(source).is_file():
            raise DataError("response file not found", where=source, hint="give a JSONL of prompt_id/response rows")
        return Contestant(name, "responses", source)
    return Contestant(name or Path(source.rstrip("/")).name, "checkpoint", source)


def read_responses(c: Contestant, decoding: str | None) -> None:
    """Fill ``c.answers`` from its response file (and its name from the rows' ``model`` field)."""
    from judgelab.data.jsonl import iter_jsonl

    rows = list(iter_jsonl(c.source))
    if not rows:
        raise DataError("response file is empty", where=c.source)
    decodings = {r.get("decoding") for _, r in rows if r.get("decoding")}
    want = decoding or ("greedy" if "greedy" in decodings or not decodings else sorted(decodings)[0])
    for lineno, r in rows:
        where = f"{c.source}:{lineno}"
        if "prompt_id" not in r or "response" not in r:
            raise DataError("row lacks prompt_id or response", where=where,
                            hint="rows need prompt_id and response (prompt, model optional)")
        if not isinstance(r["response"], str):
            raise DataError(f"response is {type(r['response']).__name__}, not text", where=where)
        if decodings and (r.get("decoding") != want or int(r.get("sample_index", 0)) != 0):
            continue
        pid = str(r["prompt_id"])
        if pid in c.answers:
            raise DataError(f"prompt {pid!r} answered twice", where=where,
                            hint="one answer per prompt_id (eval samples: choose --decoding)")
        c.answers[pid] = {**r, "prompt_id": pid, "line": lineno}
        if not c.name and r.get("model"):
            c.name = str(r["model"])
    if not c.answers:
        raise DataError(f"no rows with decoding {want!r} and sample_index 0", where=c.source)
    if not c.name:
        c.name = Path(c.source).stem


def _generate(c: Contestant, prompts: list[dict[str, Any]], cfg: ArenaRunConfig, out: Path) -> None:
    """Answers of a checkpoint or served model, cached in out/answers/<name>.jsonl."""
    from judgelab.data.jsonl import atomic_write_text, iter_jsonl

    settings = {"kind": c.kind, "source": c.source, "base_url": c.base_url, "max_new_tokens": cfg.max_new_tokens,
                "temperature": cfg.temperature, "seed": cfg.seed}
    path = out / "answers" / f"{c.name}.jsonl"
    if path.exists():
        cached = [r for _, r in iter_jsonl(path)]
        ok = {r["prompt_id"]: r for r in cached if not r.get("error")}
        if cached and all(r.get("settings") == settings for r in cached) and \
                set(ok) >= {p["prompt_id"] for p in prompts}:
            c.answers = ok  # failed answers are generated again, never judged as empty text
            return
    from judgelab.lm.types import SamplingParams

    params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed)
    messages = [[{"role": "user", "content": p["prompt"]}] for p in prompts]
    if c.kind == "checkpoint":
        from judgelab.lm.local import LocalGenerator

        gen = LocalGenerator.from_spec(c.source, device=cfg.device)
        gens = []
        try:
            with progress_bar(len(prompts), f"answers {c.name}") as advance:
                for b in range(0, len(messages), cfg.batch_size):
                    gens += gen.generate_batch(messages[b:b + cfg.batch_size], params)
                    advance(len(messages[b:b + cfg.batch_size]))
        finally:
            gen.close()
    else:
        from judgelab.lm import make_backend
        from judgelab.lm.aio import run_sync
        from judgelab.lm.config import OpenAIBackendConfig
        from judgelab.lm.types import GenerationRequest

        backend = make_backend(OpenAIBackendConfig(model=c.source, base_urls=[c.base_url or ""]))

        async def all_answers() -> list[Any]:
            try:
                return await asyncio.gather(*(backend.generate(GenerationRequest(m, params)) for m in messages))
            finally:
                await backend.aclose()

        gens = run_sync(all_answers())
    errors = [(p["prompt_id"], g.error) for p, g in zip(prompts, gens) if g.error]
    if errors:
        log.warning("%s: %d of %d answers failed (first: %s: %s); their battles are skipped",
                    c.name, len(errors), len(prompts), *errors[0])
    rows = [{"prompt_id": p["prompt_id"], "prompt": p["prompt"], "response": g.text, "model": c.name,
             "completion_tokens": g.completion_tokens, "error": g.error, "settings": settings}
            for p, g in zip(prompts, gens)]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    c.answers = {r["prompt_id"]: r for r in rows if not r["error"]}


def _prompts(contestants: list[Contestant], prompts_source: str | None, split: str | None,
             limit: int | None) -> list[dict[str, Any]]:
    """The prompt set: a prompts file/set when given, else the first response file's prompts."""
    if prompts_source:
        from judgelab.data.prompts import load_prompts

        recs = load_prompts(prompts_source, split, None, limit)
        return [{"prompt_id": p.id, "prompt": p.prompt, "family": p.family, "constraints": p.constraints} for p in recs]
    for c in contestants:
        if c.kind == "responses":
            out = []
            for pid, r in c.answers.items():
                if "prompt" not in r:
                    raise DataError("row has no prompt text", where=f"{c.source}:{r['line']}",
                                    hint="add 'prompt' to the rows or pass --prompts")
                out.append({"prompt_id": pid, "prompt": r["prompt"], "family": r.get("family", ""),
                            "constraints": r.get("constraints") or {}})
            return balanced_subset(out, limit) if limit else out  # as load_prompts: every family
    raise ConfigError("no prompts: every contestant is generated", hint="pass --prompts FILE (or a shipped set name)")


def _score_outcome(va: Any, vb: Any) -> list[tuple[float, float]]:
    """One battle from two pointwise verdicts: the higher score wins, equal scores tie; none when
    either failed."""
    if not (va.ok and vb.ok) or va.score is None or vb.score is None:
        return []
    return [(1.0 if va.score > vb.score else 0.0 if va.score < vb.score else 0.5, 1.0)]


def _coverage(base: Contestant, others: list[Contestant], prompt_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per contestant: how many of the prompts it and the baseline both answered (it is rated on
    those). A contestant sharing no prompt with the baseline is an error (DataError) rather than a
    silent gap in every table: the user asked for it to be rated."""
    pids = [r["prompt_id"] for r in prompt_rows]
    for c in (base, *others):
        if c.kind != "responses" and pids and not any(p in c.answers for p in pids):
            raise DataError(f"{c.name}: no answer was generated for any of the {len(pids)} prompts", where=c.source,
                            hint="every generation failed: check the model or server (the first error is in the log)")
    out = {}
    for c in others:
        shared = sum(p in c.answers and p in base.answers for p in pids)
        if not shared:
            raise DataError(f"no prompt_id shared by the baseline ({base.source}) and {c.name} ({c.source})"
                            + (f" among the {len(pids)} prompts used" if len(pids) else ""),
                            hint="both must answer the same prompts (same prompt set and split; check --prompts/--limit); "
                                 "drop this --model or regenerate its answers")
        out[c.name] = {"prompts": len(pids), "shared": shared, "missing": len(pids) - shared}
    return out


def coverage_notes(result: dict[str, Any]) -> list[str]:
    """One line per contestant rated on fewer prompts than the arena has."""
    base = result["baseline"]
    return [f"{m}: {v['missing']} of {v['prompts']} prompts have no answer from {m} or the baseline ({base}): "
            f"rated on {v['shared']}" for m, v in (result.get("coverage") or {}).items() if v["missing"]]


def run_arena(config: ArenaRunConfig, baseline: str, contestants: list[str], judges: list[Any], out_dir: str | Path,
              *, prompts: str | None = None, split: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Run the arena; returns the arena.json content (also written, with the CSV and markdown)."""
    from judgelab.data.store import JudgmentStore
    from judgelab.judges.registry import load_judge

    if not judges:
        raise ConfigError("no judge given", hint="pass --judge SPEC (repeatable), e.g. --judge rubric-gold")
    if not contestants:
        raise ConfigError("no contestant besides the baseline", hint="pass --model [NAME=]SOURCE (repeatable)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    field_ = [parse_contestant(baseline)] + [parse_contestant(s) for s in contestants]
    for c in field_:
        if c.kind == "responses":
            read_responses(c, config.decoding)
    names = [c.name for c in field_]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"two contestants named {dup}", hint="name them: --model NAME=SOURCE")
    prompt_rows = _prompts(field_, prompts, split, limit)
    for c in field_:
        if c.kind != "responses":
            _generate(c, prompt_rows, config, out)
    base, others = field_[0], field_[1:]
    coverage = _coverage(base, others, prompt_rows)
    tok = None
    if config.tokenizer:
        from transformers import AutoTokenizer

        from judgelab.models.loading import resolve_model_path

        tok = AutoTokenizer.from_pretrained(resolve_model_path(config.tokenizer))
    style_cache: dict[tuple[str, str], Any] = {}

    def style_of(c: Contestant, pid: str) -> Any:
        if (c.name, pid) not in style_cache:
            r = c.answers[pid]
            # one length unit for everyone (generation counts of different tokenizers would not compare)
            style_cache[(c.name, pid)] = style_features(r["response"], tok)
        return style_cache[(c.name, pid)]

    store = JudgmentStore(out / "judgments.sqlite")
    battles: list[Battle] = []
    stats: dict[str, dict[str, Any]] = {}
    loaded = []
    try:
        for spec in judges:
            judge = load_judge(spec, store=store)
            loaded.append(judge)
            # A judge that only scores (a reward model, a pointwise-trained judge) referees by comparing
            # its scores of the two answers: one battle per prompt (no position to swap), no strength.
            by_scores = "pairwise" not in judge.modes
            if by_scores and "pointwise" not in judge.modes:
                raise ConfigError(f"judge {judge.name!r} neither compares nor scores answers", where=str(spec),
                                  hint="the arena needs a pairwise judge or one that scores (pointwise)")
            if judge.name in stats:
                raise ConfigError(f"two judges named {judge.name!r}", where=str(spec), hint="give them distinct names")
            st = stats[judge.name] = {"pairs": 0, "failed_pairs": 0, "strong_verdicts": 0, "verdicts": 0,
                                      "missing_answers": 0}
            for c in others:
                pids = [p for p in (r["prompt_id"] for r in prompt_rows) if p in c.answers and p in base.answers]
                st["missing_answers"] += len(prompt_rows) - len(pids)
                meta = {r["prompt_id"]: r for r in prompt_rows}
                items = []
                for pid in pids:
                    pr = meta[pid]
                    m = {"prompt_id": pid, "family": pr.get("family", ""), "constraints": pr.get("constraints") or {}}
                    if by_scores:
                        items += [PointwiseItem(id=f"arena:{who.name}:{pid}", prompt=pr["prompt"],
                                                response=who.answers[pid]["response"], meta=m) for who in (c, base)]
                        continue
                    it = PairwiseItem(id=f"arena:{c.name}:{base.name}:{pid}", prompt=pr["prompt"],
                                      response_a=c.answers[pid]["response"], response_b=base.answers[pid]["response"],
                                      meta={"prompt_id": pid, "family": pr.get("family", ""),
                                            "constraints": pr.get("constraints") or {}})
                    items += [it, it.swapped()]
                with progress_bar(len(items), f"judge {c.name} vs {base.name} ({judge.name})") as advance:
                    verdicts = judge.judge(items, on_result=lambda *_: advance(1))
                for k, pid in enumerate(pids):
                    ab, ba = verdicts[2 * k], verdicts[2 * k + 1]
                    rows = (_score_outcome(ab, ba) if by_scores
                            else arena_outcomes(ab, ba, strong_weight=config.strong_weight))
                    st["pairs"] += 1
                    st["failed_pairs"] += not rows
                    st["verdicts"] += len(rows)
                    st["strong_verdicts"] += sum(w > 1 for _, w in rows)
                    battles += [Battle(c.name, base.name, p, judge=judge.name, prompt_id=pid, weight=w,
                                       style_a=style_of(c, pid), style_b=style_of(base, pid)) for p, w in rows]
    finally:
        for j in loaded:
            j.close()
        store.close()
    if not battles:
        raise DataError("no usable verdict: every pair failed", where=str(out),
                        hint="check the judges (parse failures, server errors) in the log")
    report = arena_report(battles, baseline=base.name, style=config.style, centering=config.centering,
                          missing_style=config.missing_style, n_boot=config.bootstrap, alpha=config.alpha,
                          seed=config.seed, log_warnings=False)
    for name, t in report["judges"].items():
        t["verdicts"] = stats[name]
    result = {"schema": SCHEMA, "baseline": base.name, "contestants": [c.name for c in field_],
              "sources": {c.name: {"kind": c.kind, "source": c.source, "base_url": c.base_url} for c in field_},
              "n_prompts": len(prompt_rows), "coverage": coverage, "settings": config.model_dump(mode="json"),
              "length_unit": f"tokens of {config.tokenizer}" if config.tokenizer else "proxy tokens (words + punctuation)",
              **report}
    (out / "arena.json").write_text(json.dumps(result, indent=2))
    rows = leaderboard_rows(report)
    with open(out / "leaderboard.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "leaderboard.md").write_text(leaderboard_markdown(report))
    return result
