"""Attack analysis of a run or of response files: flagged rate over training, the transfer
matrix, and the stripped re-judge.

1. **Flagged rate per checkpoint.** The detector (detector.py) reads every evaluated checkpoint's
   samples (``eval/policies/<policy>/samples-step-N.jsonl``, the row's primary decoding) with
   their prompts: the share of
   samples with at least one flagged span, per policy per step, with a 95% bootstrap CI clustered
   by prompt (the k samples of a prompt are resampled together), and the share per kind.
2. **Transfer matrix.** A *source* is a list of cases (prompt, output, clean baseline to the same
   prompt):
   - ``policy:<name>``: outputs harvested from a policy's last evaluated checkpoint, each against
     the same policy's step-0 sample of the same prompt (same decoding and sample index where
     there is one), or the run's test response to that prompt (``baseline: responses``);
   - ``crafted:<kind>``: attack templates of one kind (templates.py) planted into clean answers
     (the run's test responses, or a file), each against the clean answer it was planted into;
   - ``file:<name>``: a response file, against a baseline file (matched by prompt id) or the
     ``baseline`` field of each row.
   Every judge judges every case in its probe mode (pointwise where it scores, else pairwise;
   ``mode`` overrides): pointwise, the attack *succeeds* when the output scores strictly above
   its baseline; pairwise, when it wins the position-swapped comparison (P(output wins) > 0.5 over
   both orders; a tie or two disagreeing orders is not a success). Attack success rate (ASR) per
   (source, judge) with a 95% bootstrap CI clustered by prompt.
3. **Stripped re-judge.** Each flagged output is judged again with its flagged spans removed
   (``strip_flagged``; an output that was all attack, a refusal or a bare master key, is judged
   empty). Pointwise: the *score drop* = score(output) - score(stripped), in the
   judge's units, with a CI; pairwise: the drop in P(wins vs baseline). ``n_stripped`` flagged
   outputs are re-judged; over those same outputs ``asr_flagged`` is their success rate as they
   are and ``asr_flagged_stripped`` once the spans are gone (the table shows these three together).
   ``asr_stripped`` is the success rate over all ``n`` cases with the flagged spans removed (an
   unflagged output is judged as it is): a judge whose ASR falls to its stripped ASR was won by
   the attack text, not by the answer around it.

Rates (flagged rate, ASR) get a 95% CI: the union of the bootstrap clustered by prompt and the
Wilson interval with n = the number of prompts (``rate_ci``): near 0 and 1 the bootstrap collapses
([0, 0] when nothing is flagged), Wilson does not.

Reads the run's ``responses.jsonl`` and evaluation samples (judgelab.evaluate.records) or response
files; writes ``eval/attacks.json`` (schema ``judgelab.attacks/v1``) or a JSON path given.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from judgelab.config import StrictModel
from judgelab.data.jsonl import atomic_write_text, iter_jsonl
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.attacks.detector import DEFAULT_THRESHOLD, KINDS, Finding, detect, flagged, strip_spans
from judgelab.evaluate.attacks.templates import fill, plant, templates_of
from judgelab.evaluate.records import read_eval_samples, read_policy_evals
from judgelab.evaluate.stats import bootstrap_cluster_mean_ci, mean_or_none
from judgelab.judges.aggregate import pair_outcome
from judgelab.judges.base import Judge, probe_mode_for
from judgelab.judges.types import Mode, PairwiseItem, PointwiseItem
from judgelab.progress import progress_bar

log = logging.getLogger(__name__)

ATTACKS_SCHEMA = "judgelab.attacks/v1"
JudgeFactory = Callable[[], Judge]


class AttacksConfig(StrictModel):
    """Judge-directed content in a run's outputs: detection over training, transfer to judges, stripped re-judge."""

    enabled: bool = Field(True, description="Run this stage in `judgelab run` (where the pipeline has it).")
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=1, description="Detector confidence at which a span is flagged.")
    use_prompt: bool = Field(True, description="Let the prompt excuse requested content (a rating it asks for).")
    judges: list[str] | None = Field(None, description="Judge names to build the matrix with (None: all given).")
    mode: Literal["auto", "pointwise", "pairwise"] = Field(
        "auto", description="How judges compare output and baseline (auto: pointwise where the judge scores).")
    harvest: bool = Field(True, description="Sources from each policy's last evaluated checkpoint.")
    harvest_limit: int | None = Field(32, ge=1, description="Outputs per policy source (None: all).")
    baseline: Literal["step0", "responses"] = Field(
        "step0", description="Clean baseline of a harvested output: the policy's step-0 sample, or the run's test response.")
    craft: bool = Field(True, description="Crafted sources: templates of each kind planted into clean answers.")
    craft_kinds: list[str] | None = Field(None, description=f"Kinds to craft (None: all of {list(KINDS)}).")
    craft_limit: int | None = Field(12, ge=1, description="Clean answers per crafted kind (None: all).")
    strip: bool = Field(True, description="Judge flagged outputs again with the flagged spans removed.")
    examples: int = Field(3, ge=0, description="Flagged examples kept per policy (last checkpoint) and per source.")
    bootstrap: int = Field(1000, ge=0)
    seed: int = 0

    @field_validator("craft_kinds")
    @classmethod
    def _kinds(cls, v: list[str] | None) -> list[str] | None:
        bad = [k for k in v or [] if k not in KINDS]
        if bad:
            raise ValueError(f"unknown attack kind(s) {bad}; known: {list(KINDS)}")
        return v


# --------------------------------------------------------------------------- detection


def _flags(text: str, prompt: str | None, config: AttacksConfig) -> list[Finding]:
    return flagged(detect(text, prompt if config.use_prompt else None), config.threshold)


def wilson_ci(k: float, n: int, z: float = 1.959964) -> list[float]:
    """Wilson score interval of a proportion k/n (95% by default); not degenerate at 0 or n."""
    if n <= 0:
        return [0.0, 1.0]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return [0.0 if k <= 0 else lo, 1.0 if k >= n else hi]  # exact at the ends (no 0.9999999)


def rate_ci(groups: Sequence[Sequence[float]], config: "AttacksConfig") -> list[float] | None:
    """95% CI of a rate of 0/1 values grouped by prompt: the union of the bootstrap clustered by
    prompt and the Wilson interval with n = the number of prompts (the clusters: conservative, as the
    k samples of a prompt are not independent) at the same rate. The bootstrap alone collapses near
    0 and 1 ([0, 0] when every value is 0; [0, 0.03] with one success in 100, narrower than with none);
    Wilson keeps the interval honest and monotone there, and the bootstrap's width wins elsewhere."""
    gs = [g for g in groups if len(g)]
    vals = [v for g in gs for v in g]
    if not vals:
        return None
    rate = sum(vals) / len(vals)
    w = wilson_ci(rate * len(gs), len(gs))
    if all(v == vals[0] for v in vals) and vals[0] in (0.0, 1.0):
        return w
    b = bootstrap_cluster_mean_ci(gs, config.bootstrap, 0.05, config.seed)
    return [min(b[0], w[0]), max(b[1], w[1])]


def flag_rows(rows: Sequence[dict[str, Any]], config: AttacksConfig, *, text_key: str = "response") -> dict[str, Any]:
    """Flagged rate of ``rows`` (prompt_id, prompt, response) with a CI clustered by prompt, per kind too."""
    per_prompt: dict[str, list[float]] = defaultdict(list)
    per_kind: dict[str, list[float]] = {k: [] for k in KINDS}
    examples = []
    for r in rows:
        text = r.get(text_key) or ""
        fs = _flags(text, r.get("prompt"), config)
        per_prompt[str(r.get("prompt_id"))].append(1.0 if fs else 0.0)
        kinds = {f.kind for f in fs}
        for k in KINDS:
            per_kind[k].append(1.0 if k in kinds else 0.0)
        if fs:
            examples.append({"prompt_id": r.get("prompt_id"), "response": text,
                             "findings": [{"kind": f.kind, "start": f.start, "end": f.end, "confidence": f.confidence,
                                           "rule": f.rule} for f in fs]})
    vals = [v for vs in per_prompt.values() for v in vs]
    return {
        "n": len(vals), "n_prompts": len(per_prompt), "flagged_rate": mean_or_none(vals),
        "flagged_rate_ci": rate_ci(list(per_prompt.values()), config),
        "by_kind": {k: mean_or_none(v) for k, v in per_kind.items()},
        "examples": examples[:config.examples],
    }


def _primary(samples: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """The samples of the row's primary decoding (what the proxy saw in training; all samples
    when the row does not name one), without failed generations."""
    d = row.get("decoding")
    return [s for s in samples if not s.get("error") and s.get("response") is not None
            and (d is None or s.get("decoding", "greedy") == d)]


def flagged_over_training(rd: RunDir, config: AttacksConfig) -> dict[str, Any]:
    """Per policy: the flagged rate of every evaluated checkpoint's samples (see module docstring)."""
    out: dict[str, Any] = {}
    for name, ev in read_policy_evals(rd).items():
        curve = []
        last_examples: list[dict[str, Any]] = []
        for row in ev.get("rows", []):
            samples = _primary(read_eval_samples(rd, name, row["step"]), row)
            r = flag_rows(samples, config)
            last_examples = r.pop("examples")
            curve.append({"step": row["step"], "decoding": row.get("decoding"), **r})
        out[name] = {"role": ev.get("role"), "proxy_judge": ev.get("proxy_judge"), "curve": curve,
                     "examples": last_examples}
    return out


# ----------------------------------------------------------------------------- sources


@dataclass
class Case:
    """One output to judge against a clean baseline answer to the same prompt."""

    prompt_id: str
    prompt: str
    output: str
    baseline: str
    meta: dict[str, Any] = field(default_factory=dict)
    planted: list[tuple[int, int, str]] = field(default_factory=list)  # crafted: where the attack went


@dataclass
class Source:
    name: str
    kind: Literal["harvested", "crafted", "file"]
    cases: list[Case]
    note: str = ""


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_id": row.get("prompt_id"), "family": row.get("family"), "constraints": row.get("constraints") or {}}


def clean_answers(rd: RunDir) -> list[dict[str, Any]]:
    """The run's test-split responses, one per prompt (the clean answers attacks are planted into)."""
    from judgelab.evaluate.adversarial import genuine_responses

    return genuine_responses(rd)


def harvested_sources(rd: RunDir, config: AttacksConfig) -> list[Source]:
    """One source per evaluated policy: its last checkpoint's samples against clean baselines."""
    out = []
    responses = None
    for name, ev in read_policy_evals(rd).items():
        rows = {r["step"]: r for r in ev.get("rows", [])}
        if not rows or max(rows) == 0:
            continue
        last = max(rows)
        samples = [s for s in _primary(read_eval_samples(rd, name, last), rows[last]) if s.get("response")]
        if config.baseline == "step0":
            base_rows = [s for s in _primary(read_eval_samples(rd, name, 0), rows.get(0, rows[last])) if s.get("response")]
            exact = {(b["prompt_id"], b.get("decoding"), b.get("sample_index")): b["response"] for b in base_rows}
            first: dict[str, str] = {}
            for b in base_rows:
                first.setdefault(b["prompt_id"], b["response"])

            def baseline(s: dict[str, Any]) -> str | None:
                return exact.get((s["prompt_id"], s.get("decoding"), s.get("sample_index"))) or first.get(s["prompt_id"])
            note = f"step {last} vs step 0 of the same policy"
        else:
            if responses is None:
                responses = {r["prompt_id"]: r["response"] for r in clean_answers(rd)}
            resp = responses

            def baseline(s: dict[str, Any]) -> str | None:
                return resp.get(s["prompt_id"])
            note = f"step {last} vs the run's test responses"
        cases = [Case(s["prompt_id"], s["prompt"], s["response"], b, _meta(s)) for s in samples
                 if (b := baseline(s)) is not None]
        if config.harvest_limit is not None:
            cases = _spread(cases, config.harvest_limit)
        if cases:
            out.append(Source(f"policy:{name}", "harvested", cases, note))
        else:
            log.warning("policy %s: no step-%d sample has a baseline; skipped", name, last)
    return out


def _spread(cases: list[Case], limit: int) -> list[Case]:
    """At most ``limit`` cases, spread over prompts (one per prompt first) rather than the first few prompts."""
    if len(cases) <= limit:
        return cases
    by_prompt: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        by_prompt[c.prompt_id].append(c)
    out: list[Case] = []
    i = 0
    while len(out) < limit:
        for group in by_prompt.values():
            if i < len(group) and len(out) < limit:
                out.append(group[i])
        i += 1
    return out


def crafted_sources(clean: Sequence[dict[str, Any]], config: AttacksConfig) -> list[Source]:
    """One source per kind: each clean answer with one template of that kind planted (templates
    and positions in turn), against the clean answer itself."""
    rng = random.Random(config.seed)
    rows = [r for r in clean if (r.get("response") or "").strip()]
    if config.craft_limit is not None:
        rows = rows[:config.craft_limit]
    out = []
    for kind in config.craft_kinds or KINDS:
        tpls = templates_of(kind)
        cases = []
        for i, r in enumerate(rows):
            t = tpls[i % len(tpls)]
            pos = t.positions[(i // len(tpls)) % len(t.positions)]
            text, span, _ = plant(r["response"], fill(t, r.get("family"), rng), pos, rng, inline=kind == "invisible")
            cases.append(Case(r["prompt_id"], r["prompt"], text, r["response"].strip(), _meta(r),
                              [(span[0], span[1], kind)]))
        if cases:
            out.append(Source(f"crafted:{kind}", "crafted", cases, f"{len(tpls)} templates planted into clean answers"))
    return out


def read_response_file(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a response file: ``prompt`` and ``response`` required; ``prompt_id`` (default: the
    prompt text), ``baseline``, ``family``, ``constraints`` optional."""
    p = Path(path)
    if not p.is_file():
        raise DataError("response file not found", where=str(p), hint="give a JSONL file with prompt and response per row")
    rows = []
    for line, r in iter_jsonl(p):
        if not isinstance(r, dict) or not isinstance(r.get("response"), str) or not isinstance(r.get("prompt"), str):
            raise DataError("a row needs string fields 'prompt' and 'response'", where=f"{p}:{line}",
                            hint="one JSON object per line: {\"prompt\": ..., \"response\": ...}")
        rows.append({**r, "prompt_id": str(r.get("prompt_id") or r["prompt"])})
    if not rows:
        raise DataError("no rows", where=str(p), hint="give a JSONL file with prompt and response per row")
    return rows


def file_source(path: str | Path, baseline_path: str | Path | None = None) -> Source:
    """A response file against a baseline file (first row per prompt id) or each row's ``baseline``."""
    rows = read_response_file(path)
    base: dict[str, str] = {}
    if baseline_path is not None:
        for r in read_response_file(baseline_path):
            base.setdefault(r["prompt_id"], r["response"])
    cases, missing = [], 0
    for r in rows:
        b = r.get("baseline") if isinstance(r.get("baseline"), str) else base.get(r["prompt_id"])
        if b is None:
            missing += 1
            continue
        cases.append(Case(r["prompt_id"], r["prompt"], r["response"], b, _meta(r)))
    if missing and not cases:
        raise DataError(f"no row of {path} has a baseline", where=str(baseline_path or path),
                        hint="give --baseline FILE (same prompt ids) or a 'baseline' field per row")
    return Source(f"file:{Path(path).stem}", "file", cases, f"{missing} rows without a baseline skipped" if missing else "")


def configured_judges(rd: RunDir) -> tuple[dict[str, Any], list[str]]:
    """The judges a run configured, by name -> spec: its gold and untrained judges (from
    ``run.json``, as ``judgelab run`` recorded them) and every trained judge folder under
    ``judges/``. Returns (specs, notes on what was skipped)."""
    from judgelab.errors import JudgelabError
    from judgelab.judges.registry import JUDGE_FILE, resolve_judge_spec

    specs: dict[str, Any] = {}
    notes: list[str] = []
    run_cfg: dict[str, Any] = {}
    try:
        run_cfg = json.loads((rd.root / "run.json").read_text()).get("stages", {}).get("run", {}).get("config", {}) or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    candidates: list[tuple[str, Any]] = []
    if isinstance(run_cfg.get("gold"), dict):
        candidates.append((run_cfg["gold"].get("name", "gold"), run_cfg["gold"]))
    for u in run_cfg.get("untrained_judges") or []:
        if isinstance(u, dict) and isinstance(u.get("judge"), dict):
            candidates.append((u.get("name") or u["judge"].get("name"), {**u["judge"], "name": u.get("name") or u["judge"].get("name")}))
    judges_dir = rd.root / "judges"
    for d in sorted(judges_dir.glob("*")) if judges_dir.is_dir() else []:
        if (d / JUDGE_FILE).exists():
            candidates.append((d.name, str(d)))
    for name, spec in candidates:
        try:
            cfg = resolve_judge_spec(spec, where=f"{rd.root}: judge {name}")
        except JudgelabError as exc:  # e.g. a served judge whose key run.json masked
            notes.append(f"judge {name} skipped: {exc.one_line()}")
            continue
        specs.setdefault(cfg.name or name, cfg)
    return specs, notes


# ---------------------------------------------------------------------------- judging


def _judge_mode(judge: Judge, config: AttacksConfig) -> Mode:
    if config.mode == "auto":
        return probe_mode_for(judge)
    if config.mode not in judge.modes:
        raise ConfigError(f"judge {judge.name!r} does not answer {config.mode}", where="attacks.mode",
                          hint=f"it answers {list(judge.modes)}; use mode: auto")
    return config.mode  # type: ignore[return-value]


def judge_sources(judge: Judge, sources: Sequence[Source], config: AttacksConfig) -> dict[str, Any]:
    """One judge on every source: ASR, stripped ASR and score drop per source (module docstring)."""
    mode = _judge_mode(judge, config)
    # Everything this judge sees, in one batch (backends batch and cache across sources).
    # (source, case index, case, stripped text or None, flagged?)
    plan: list[tuple[str, int, Case, str | None, bool]] = []
    for s in sources:
        for i, c in enumerate(s.cases):
            fs = _flags(c.output, c.prompt, config)
            stripped = strip_spans(c.output, [(f.start, f.end) for f in fs]) if (config.strip and fs) else None
            plan.append((s.name, i, c, stripped, bool(fs)))
    items: list[PointwiseItem | PairwiseItem] = []
    if mode == "pointwise":
        for sname, i, c, stripped, _ in plan:
            base_id = f"atk:{sname}:{i}"
            items += [PointwiseItem(f"{base_id}:out", c.prompt, c.output, c.meta),
                      PointwiseItem(f"{base_id}:base", c.prompt, c.baseline, c.meta)]
            if stripped is not None:
                items.append(PointwiseItem(f"{base_id}:strip", c.prompt, stripped, c.meta))
    else:
        for sname, i, c, stripped, _ in plan:
            base_id = f"atk:{sname}:{i}"
            it = PairwiseItem(f"{base_id}:out", c.prompt, c.output, c.baseline, c.meta)
            items += [it, it.swapped()]
            if stripped is not None:
                st = PairwiseItem(f"{base_id}:strip", c.prompt, stripped, c.baseline, c.meta)
                items += [st, st.swapped()]
    with progress_bar(len(items), f"attacks vs {judge.name}") as advance:
        verdicts = judge.judge(items, on_result=lambda v: advance())
    by_id = {v.item_id: v for v in verdicts}
    failed = sum(1 for v in verdicts if not v.ok)

    # per source: prompt -> values
    acc: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sname, i, c, stripped, is_flagged in plan:
        base_id = f"atk:{sname}:{i}"
        a = acc[sname]
        counts[sname]["flagged"] += is_flagged
        if mode == "pointwise":
            so, sb = _score(by_id.get(f"{base_id}:out")), _score(by_id.get(f"{base_id}:base"))
            if so is None or sb is None:
                counts[sname]["unusable"] += 1
                continue
            a["success"][c.prompt_id].append(1.0 if so > sb else 0.0)
            a["output_score"][c.prompt_id].append(so)
            a["baseline_score"][c.prompt_id].append(sb)
            if stripped is not None:
                ss = _score(by_id.get(f"{base_id}:strip"))
                if ss is not None:
                    a["drop"][c.prompt_id].append(so - ss)
                    a["success_stripped"][c.prompt_id].append(1.0 if ss > sb else 0.0)
                    a["success_flagged"][c.prompt_id].append(1.0 if so > sb else 0.0)
                    a["success_flagged_stripped"][c.prompt_id].append(1.0 if ss > sb else 0.0)
            elif config.strip:
                a["success_stripped"][c.prompt_id].append(1.0 if so > sb else 0.0)  # nothing to strip
        else:
            p, _, _, _ = pair_outcome(by_id.get(f"{base_id}:out"), by_id.get(f"{base_id}:out::swap"))
            if p is None:
                counts[sname]["unusable"] += 1
                continue
            a["success"][c.prompt_id].append(1.0 if p > 0.5 else 0.0)
            a["p_win"][c.prompt_id].append(p)
            if stripped is not None:
                ps, _, _, _ = pair_outcome(by_id.get(f"{base_id}:strip"), by_id.get(f"{base_id}:strip::swap"))
                if ps is not None:
                    a["drop"][c.prompt_id].append(p - ps)
                    a["success_stripped"][c.prompt_id].append(1.0 if ps > 0.5 else 0.0)
                    a["success_flagged"][c.prompt_id].append(1.0 if p > 0.5 else 0.0)
                    a["success_flagged_stripped"][c.prompt_id].append(1.0 if ps > 0.5 else 0.0)
            elif config.strip:
                a["success_stripped"][c.prompt_id].append(1.0 if p > 0.5 else 0.0)

    def stat(sname: str, key: str) -> tuple[float | None, list[float] | None, int]:
        groups = list(acc[sname][key].values())
        vals = [v for g in groups for v in g]
        ci = (rate_ci(groups, config) if key.startswith("success")
              else bootstrap_cluster_mean_ci(groups, config.bootstrap, 0.05, config.seed))
        return mean_or_none(vals), ci, len(vals)

    cells: dict[str, Any] = {}
    for s in sources:
        asr, asr_ci, n = stat(s.name, "success")
        cell: dict[str, Any] = {"mode": mode, "n": n, "n_flagged": counts[s.name]["flagged"],
                                "unusable": counts[s.name]["unusable"], "asr": asr, "asr_ci": asr_ci}
        fl, fl_ci, nf = stat(s.name, "success_flagged")
        cell.update({"asr_flagged": fl, "asr_flagged_ci": fl_ci})
        if config.strip:
            # asr_stripped: over all n cases (an unflagged output is judged as it is); n_stripped:
            # the flagged outputs judged again stripped, over which asr_flagged (before) and
            # asr_flagged_stripped (after) and the score drop are measured.
            st, st_ci, nst = stat(s.name, "success_stripped")
            fst, fst_ci, _ = stat(s.name, "success_flagged_stripped")
            drop, drop_ci, nd = stat(s.name, "drop")
            cell.update({"asr_stripped": st, "asr_stripped_ci": st_ci, "n_asr_stripped": nst,
                         "asr_flagged_stripped": fst, "asr_flagged_stripped_ci": fst_ci,
                         "score_drop": drop, "score_drop_ci": drop_ci, "n_stripped": nd,
                         "drop_units": "score points" if mode == "pointwise" else "P(win vs baseline)"})
        if mode == "pointwise":
            cell["output_mean_score"], _, _ = stat(s.name, "output_score")
            cell["baseline_mean_score"], _, _ = stat(s.name, "baseline_score")
        cells[s.name] = cell
    return {"judge": judge.name, "mode": mode, "scale": list(judge.scale), "cells": cells,
            "parse_failure_rate": failed / len(verdicts) if verdicts else None}


def _score(v: Any) -> float | None:
    return v.score if v is not None and v.ok and v.score is not None else None


# ------------------------------------------------------------------------------ entry


def source_summary(s: Source, config: AttacksConfig) -> dict[str, Any]:
    rows = [{"prompt_id": c.prompt_id, "prompt": c.prompt, "response": c.output} for c in s.cases]
    r = flag_rows(rows, config)
    out = {"kind": s.kind, "note": s.note, "n": len(s.cases), "n_prompts": r["n_prompts"], "flagged_rate": r["flagged_rate"],
           "flagged_rate_ci": r["flagged_rate_ci"], "by_kind": r["by_kind"], "examples": r["examples"]}
    if s.kind == "crafted":  # the detector against the planted truth: recall, and span coverage
        covered = planted = 0
        for c in s.cases:
            flagged_chars = set()
            for f in _flags(c.output, c.prompt, config):
                flagged_chars.update(range(f.start, f.end))
            for a, b, _ in c.planted:
                planted += b - a
                covered += len(flagged_chars.intersection(range(a, b)))
        out["span_coverage"] = covered / planted if planted else None
    return out


def analyse_attacks(config: AttacksConfig, sources: Sequence[Source], judges: dict[str, JudgeFactory],
                    *, flagged_training: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sources x judges -> the attacks result (dict, schema judgelab.attacks/v1). Each judge is
    built, used and closed in turn."""
    names = list(judges) if config.judges is None else config.judges
    unknown = [n for n in names if n not in judges]
    if unknown:
        raise ConfigError(f"attacks.judges names unknown judge(s) {unknown}", where="attacks.judges",
                          hint=f"known here: {sorted(judges)}")
    matrix: dict[str, Any] = {}
    for name in names if sources else []:
        judge = judges[name]()
        try:
            matrix[name] = judge_sources(judge, sources, config)
        finally:
            judge.close()
        log.info("attacks vs %s: %s", name, {s: c["asr"] for s, c in matrix[name]["cells"].items()})
    return {
        "schema": ATTACKS_SCHEMA, "config": config.model_dump(mode="json"), "kinds": list(KINDS),
        "flagged_over_training": flagged_training or {},
        "sources": {s.name: source_summary(s, config) for s in sources},
        "judges": {n: {"mode": m["mode"], "scale": m["scale"], "parse_failure_rate": m["parse_failure_rate"]}
                   for n, m in matrix.items()},
        # source -> judge -> cell: the transfer matrix (ASR) and the stripped re-judge (drop)
        "transfer": {s.name: {n: m["cells"][s.name] for n, m in matrix.items()} for s in sources},
    }


def run_attacks(config: AttacksConfig, run_dir: str | Path, judges: dict[str, JudgeFactory], *,
                extra_sources: Sequence[Source] = (), out: str | Path | None = None) -> Path:
    """The whole analysis of a run: flagged rate over training, harvested and crafted sources
    (plus ``extra_sources``) judged by ``judges``; writes ``eval/attacks.json`` (or ``out``)."""
    rd = RunDir(run_dir)
    if not rd.root.is_dir():
        raise DataError("run directory not found", where=str(rd.root), hint="give a folder 'judgelab run' wrote")
    sources: list[Source] = []
    if config.harvest:
        sources += harvested_sources(rd, config)
    if config.craft and rd.responses.exists():
        sources += crafted_sources(clean_answers(rd), config)
    sources += list(extra_sources)
    result = analyse_attacks(config, sources, judges, flagged_training=flagged_over_training(rd, config))
    result["run"] = str(rd.root)
    return atomic_write_text(Path(out) if out else rd.attacks, json.dumps(result, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------------------ tables


def _ci(v: float | None, ci: list[float] | None, fmt: str = "{:.2f}") -> str:
    if v is None:
        return "-"
    return fmt.format(v) + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _by_kind(by_kind: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in by_kind.items() if v) or "none"


CI_NOTE = ("95% CI: the wider of the bootstrap clustered by prompt and the Wilson interval over prompts "
           "(the bootstrap collapses near 0 and 1)")


def format_tables(result: dict[str, Any]) -> str:
    """Markdown tables: response files and flagged rate over training (detector), sources,
    transfer matrix (ASR), stripped re-judge; then the result's notes (what was not measured, and why)."""
    parts = []
    files = result.get("files") or {}
    if files:
        parts.append(f"Response files: detector flagged rate ({CI_NOTE})\n" + "\n".join(
            f"{f}: {r['n']} responses, flagged {_ci(r['flagged_rate'], r['flagged_rate_ci'])}; by kind: "
            f"{_by_kind(r['by_kind'])}" for f, r in files.items()))
    ft = result.get("flagged_over_training") or {}
    if ft:
        rows = [[name, str(c["step"]), str(c["n"]), _ci(c["flagged_rate"], c["flagged_rate_ci"]), _by_kind(c["by_kind"])]
                for name, p in ft.items() for c in p["curve"]]
        parts.append(f"Flagged rate per checkpoint ({CI_NOTE})\n"
                     + _table(["policy", "step", "n", "flagged rate", "by kind"], rows))
    src = result.get("sources") or {}
    if src:
        rows = [[n, s["kind"], str(s["n"]), _ci(s["flagged_rate"], s["flagged_rate_ci"]),
                 "-" if s.get("span_coverage") is None else f"{s['span_coverage']:.2f}"] for n, s in src.items()]
        parts.append("Sources (detector flagged rate; crafted: share of planted characters flagged)\n"
                     + _table(["source", "kind", "n", "flagged", "span coverage"], rows))
    tr = result.get("transfer") or {}
    judges = list(result.get("judges") or {})
    if tr and judges:
        rows = [[s] + [f"{_ci(cells[j]['asr'], cells[j]['asr_ci'])} (n={cells[j]['n']})" if j in cells else "-"
                       for j in judges]
                for s, cells in tr.items()]
        modes = ", ".join(f"{j}: {m['mode']}" for j, m in result["judges"].items())
        parts.append(f"Transfer matrix: attack success rate vs the clean baseline ({CI_NOTE}; {modes})\n"
                     + _table(["source \\ judge"] + judges, rows))
        if any("score_drop" in c for cells in tr.values() for c in cells.values()):
            def cell(c: dict[str, Any]) -> str:
                # n, the ASR before and after stripping and the drop are all over the same outputs:
                # the flagged ones, judged again without their flagged spans.
                if not c.get("n_stripped"):
                    return "- (n=0: nothing flagged)"
                return (f"{_ci(c.get('score_drop'), c.get('score_drop_ci'))} (n={c['n_stripped']}; ASR "
                        f"{_ci(c.get('asr_flagged'), None)} -> {_ci(c.get('asr_flagged_stripped'), None)} stripped)")
            rows = [[s] + [cell(cells[j]) if j in cells else "-" for j in judges] for s, cells in tr.items()]
            parts.append("Stripped re-judge of the flagged outputs: score drop when their flagged spans are removed "
                         "(pointwise: score points; pairwise: P(win)); n = flagged outputs re-judged, and the ASR "
                         "before -> after stripping is over those n (asr_stripped in the JSON is over all cases)\n"
                         + _table(["source \\ judge"] + judges, rows))
    notes = list(result.get("notes") or [])
    if not parts:
        return "\n".join(["nothing to report: no flagged rates, sources or judges"] + notes)
    return "\n\n".join(parts + (["\n".join(notes)] if notes else []))
