"""Sources of the transfer matrix: lists of cases, each an output and a clean baseline answer to
the same prompt (see analysis.py): ``policy:<name>`` harvested from a policy's last evaluated
checkpoint, ``crafted:<kind>`` attack templates planted into clean answers, ``file:<name>`` a
response file against a baseline file or each row's ``baseline``.

Reads the run's ``responses.jsonl`` (``genuine_responses``: the clean answers, also the genuine
answers of the adversarial probe), its evaluation samples, and response files; writes nothing.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from judgelab.data.jsonl import iter_jsonl
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError
from judgelab.evaluate.attacks.config import AttacksConfig
from judgelab.evaluate.attacks.findings import KINDS
from judgelab.evaluate.attacks.flagging import primary_samples
from judgelab.evaluate.attacks.templates import fill, plant, templates_of
from judgelab.evaluate.records import read_eval_samples, read_policy_evals

log = logging.getLogger(__name__)


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


def case_meta(row: dict[str, Any]) -> dict[str, Any]:
    """What a judge may read of a row besides prompt and response (the rubric reads family and constraints)."""
    return {"prompt_id": row.get("prompt_id"), "family": row.get("family"), "constraints": row.get("constraints") or {}}


def genuine_responses(rd: RunDir, prompt_ids: Sequence[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """One sampled response per held-out (test) prompt of the run, in prompt order."""
    path = rd.root / "responses.jsonl"
    if not path.exists():
        raise DataError("no responses in this run", where=str(path), hint="run 'judgelab sample' first")
    first: dict[str, dict[str, Any]] = {}
    for _, r in iter_jsonl(path):
        if r.get("split") == "test" and not r.get("error") and r.get("response") and r["prompt_id"] not in first:
            first[r["prompt_id"]] = r
    ids = list(prompt_ids) if prompt_ids is not None else list(first)
    rows = [first[i] for i in ids if i in first]
    return rows[:limit] if limit is not None else rows


def harvested_sources(rd: RunDir, config: AttacksConfig) -> list[Source]:
    """One source per evaluated policy: its last checkpoint's samples against clean baselines."""
    out = []
    responses = None
    for name, ev in read_policy_evals(rd).items():
        rows = {r["step"]: r for r in ev.get("rows", [])}
        if not rows or max(rows) == 0:
            continue
        last = max(rows)
        samples = [s for s in primary_samples(read_eval_samples(rd, name, last), rows[last]) if s.get("response")]
        if config.baseline == "step0":
            base_rows = [s for s in primary_samples(read_eval_samples(rd, name, 0), rows.get(0, rows[last])) if s.get("response")]
            exact = {(b["prompt_id"], b.get("decoding"), b.get("sample_index")): b["response"] for b in base_rows}
            first: dict[str, str] = {}
            for b in base_rows:
                first.setdefault(b["prompt_id"], b["response"])

            def baseline(s: dict[str, Any]) -> str | None:
                return exact.get((s["prompt_id"], s.get("decoding"), s.get("sample_index"))) or first.get(s["prompt_id"])
            note = f"step {last} vs step 0 of the same policy"
        else:
            if responses is None:
                responses = {r["prompt_id"]: r["response"] for r in genuine_responses(rd)}
            resp = responses

            def baseline(s: dict[str, Any]) -> str | None:
                return resp.get(s["prompt_id"])
            note = f"step {last} vs the run's test responses"
        cases = [Case(s["prompt_id"], s["prompt"], s["response"], b, case_meta(s)) for s in samples
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
            cases.append(Case(r["prompt_id"], r["prompt"], text, r["response"].strip(), case_meta(r),
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
        cases.append(Case(r["prompt_id"], r["prompt"], r["response"], b, case_meta(r)))
    if missing and not cases:
        raise DataError(f"no row of {path} has a baseline", where=str(baseline_path or path),
                        hint="give --baseline FILE (same prompt ids) or a 'baseline' field per row")
    return Source(f"file:{Path(path).stem}", "file", cases, f"{missing} rows without a baseline skipped" if missing else "")

