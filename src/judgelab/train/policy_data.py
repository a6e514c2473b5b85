"""What policy training reads besides the judge: its prompts, the GRPO dataset built from them, and
the reference responses of the ``pairwise-reference`` reward.

Reads: a prompt source (a shipped set, a JSONL file or folder, or the run's ``prompts.jsonl`` with
``source: run``); for references, the run's ``responses.jsonl``. Writes
``policies/<name>/references.jsonl`` (the references, reused by a resumed run).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from judgelab.data.jsonl import read_jsonl_tolerant, write_jsonl
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError
from judgelab.train.policy_settings import PolicyPromptSettings

log = logging.getLogger(__name__)


def load_policy_prompts(cfg: PolicyPromptSettings, run_dir: RunDir) -> list[PromptRecord]:
    from judgelab.data.prompts import load_prompts

    source: str | Path = cfg.source
    if cfg.source == "run":
        source = run_dir.prompts
        if not source.exists():
            raise DataError("the run has no prompts.jsonl", where=str(source), hint="run 'judgelab sample' first or name a prompt set")
    prompts = load_prompts(source, cfg.split, cfg.families, cfg.limit)
    if not prompts:
        raise DataError("no prompts left after filtering", where=str(source), hint="check prompts.split / families")
    return prompts


def portable_prompts(prompts: PolicyPromptSettings) -> dict[str, Any]:
    """The prompt source as policy.json records it: a file or folder given relative to the working
    directory is made absolute, so evaluation finds it from any directory."""
    out = prompts.model_dump(mode="json")
    if out["source"] != "run" and Path(out["source"]).exists():
        out["source"] = str(Path(out["source"]).resolve())
    return out


def grpo_dataset(prompts: list[PromptRecord]) -> Any:
    """The prompts as TRL's conversational GRPO dataset; the extra columns reach the reward (the rubric reads them)."""
    from datasets import Dataset

    return Dataset.from_list([
        {
            "prompt": [{"role": "user", "content": p.prompt}],
            "prompt_id": p.id,
            "family": p.family,
            # JSON text, because Arrow would turn heterogeneous dicts into one struct padded with None.
            "constraints": json.dumps(p.constraints, sort_keys=True),
        }
        for p in prompts
    ])


def reference_responses(references: Literal["auto", "responses", "generate"], max_new_tokens: int, run_dir: RunDir,
                        policy_dir: Path, prompts: list[PromptRecord], model: Any, tok: Any) -> dict[str, str]:
    """prompt id -> reference response, cached in references.jsonl so a resumed run reuses them
    (``references``: where they come from, see ``JudgeRewardSettings.references``)."""
    path = policy_dir / "references.jsonl"
    if path.exists():
        # tolerant: a torn last line (a crash) only means that one reference is made again
        refs = {r["prompt_id"]: r["response"] for r in read_jsonl_tolerant(path)}
        if all(p.id in refs for p in prompts):
            return refs
    refs = {}
    if references in ("auto", "responses") and run_dir.responses.exists():
        for r in read_jsonl_tolerant(run_dir.responses):  # a killed `sample` may leave a torn last line
            if not r.get("error") and r.get("response") and r["prompt_id"] not in refs:
                if r.get("sample_index", 0) == 0:
                    refs[r["prompt_id"]] = r["response"]
    missing = [p for p in prompts if p.id not in refs]
    if missing and references == "responses":
        raise DataError(f"{len(missing)} prompts have no response in responses.jsonl (e.g. {missing[0].id!r})",
                        where=str(run_dir.responses), hint="sample them, or set reward.references: generate")
    if missing:
        log.info("generating %d reference responses with the initial policy", len(missing))
        refs.update(_greedy_generate(model, tok, missing, max_new_tokens))
    write_jsonl(path, [{"prompt_id": p.id, "response": refs[p.id]} for p in prompts])
    return refs


def _greedy_generate(model: Any, tok: Any, prompts: list[PromptRecord], max_new_tokens: int, batch: int = 8) -> dict[str, str]:
    """Greedy responses of the (initial) policy, through the text layer's local generator."""
    from judgelab.lm.local import LocalGenerator
    from judgelab.lm.types import SamplingParams
    from judgelab.progress import progress_bar

    side, was_training = tok.padding_side, model.training
    gen = LocalGenerator(model, tok)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    out: dict[str, str] = {}
    try:
        model.eval()
        with progress_bar(len(prompts), "references") as advance:
            for k in range(0, len(prompts), batch):
                chunk = prompts[k:k + batch]
                for p, g in zip(chunk, gen.generate_batch([[{"role": "user", "content": p.prompt}] for p in chunk], params)):
                    out[p.id] = g.text.strip()
                advance(len(chunk))
    finally:
        gen.close()
        tok.padding_side = side
        model.train(was_training)
    return out
