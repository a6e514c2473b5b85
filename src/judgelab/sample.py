"""Sample stage: generate N responses per prompt per policy.

Reads a prompt set (shipped name, JSONL file or HF dataset folder, via
``judgelab.data.prompts.load_prompts``); writes into the run directory:

- ``prompts.jsonl``   every prompt the run has sampled from (PromptRecord rows): a second
  ``sample`` with other prompts adds its new ones (a prompt id already there with other content is
  refused, naming the fields that differ),
- ``responses.jsonl`` one ResponseRecord per (prompt, policy, sample index), appended (fsync'd)
  the moment each completes, so a killed run loses only what was in flight,
- ``sample_summary.json`` and the ``sample`` entry of ``run.json``.

One ``sample`` per run at a time: a second one on the same run stops with a one-line message
(``judgelab.data.lock``). Rerunning continues: a (prompt_id, model, sample_index) already present
without an error is skipped; failed ones are retried. At the end ``responses.jsonl`` is rewritten deduplicated in a
deterministic order (prompt order, then policy, then sample index). A rerun whose sampling settings
differ from those of the responses already there is refused (``_check_same_settings``): it would
keep them and record its own settings as their origin.

Reproducibility: requests go out concurrently so the transformers backend batches them. A local
batch samples from one seeded RNG stream, so the plan is cut into fixed batches (``plan_groups``)
that share one derived seed; HTTP policies get one derived seed per (prompt, sample index). The
same config therefore gives the same responses, whatever the timing or interruptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from judgelab.config import StrictModel, require_unique
from judgelab.data.jsonl import append_jsonl, cut_torn_tail, read_jsonl_tolerant, write_jsonl
from judgelab.data.lock import writer_lock
from judgelab.data.prompts import PromptsConfig
from judgelab.data.records import PromptRecord, ResponseRecord
from judgelab.data.rundir import RunDir
from judgelab.data.store import stable_hash
from judgelab.errors import ConfigError
from judgelab.lm.config import OpenAIBackendConfig, TransformersBackendConfig
from judgelab.lm.types import GenerationRequest, SamplingParams, TextBackend
from judgelab.progress import progress_bar

log = logging.getLogger(__name__)

PolicyBackendConfig = Annotated[TransformersBackendConfig | OpenAIBackendConfig, Field(discriminator="type")]


class PolicyConfig(StrictModel):
    name: str | None = Field(
        None, description="Label stored as ResponseRecord.model (default: the backend's model name)."
    )
    backend: PolicyBackendConfig = Field(
        default_factory=TransformersBackendConfig, description="How to generate: transformers or openai backend."
    )

    @property
    def label(self) -> str:
        return self.name or self.backend.model


class SampleConfig(StrictModel):
    """Which prompts, which policies, and how to sample from them."""

    prompts: PromptsConfig = Field(default_factory=PromptsConfig, description="The prompt set to sample from.")
    policies: list[PolicyConfig] = Field(
        default_factory=lambda: [PolicyConfig()],
        min_length=1,
        description="Models to sample from (default: transformers smollm2-135m-instruct).",
    )
    n: int = Field(4, ge=1, description="Responses per prompt per policy.")
    temperature: float = Field(0.8, ge=0, description="Sampling temperature (0 = greedy).")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(128, ge=1, description="Completion cap in tokens.")
    seed: int = Field(
        0,
        description="Base seed. HTTP policies: one derived seed per (prompt, sample index). Local "
        "policies: one per fixed batch of the plan (see plan_groups), so results do not depend on timing.",
    )
    batch_size: int | None = Field(
        None, ge=1, description="Overrides backend.batch_size of transformers policies (None: keep theirs). "
        "Part of what determines the samples (see seed).",
    )
    concurrency: int = Field(
        64, ge=1, description="Requests in flight at once per policy (the transformers batcher batches them)."
    )

    @model_validator(mode="after")
    def _unique_policy_names(self) -> "SampleConfig":
        require_unique([p.label for p in self.policies], "policy", "policies")
        return self


def sample_seed(base: int, prompt_id: str, sample_index: int) -> int:
    """A reproducible seed for (prompt, sample index), independent of run order; policies share it
    on purpose (common random numbers across policies)."""
    return int(stable_hash([base, prompt_id, sample_index])[:8], 16) & 0x7FFFFFFF


def response_id(prompt_id: str, model: str, sample_index: int) -> str:
    return f"{prompt_id}::{model}::{sample_index}"


def _load_prompts(cfg: PromptsConfig) -> list[PromptRecord]:
    prompts = cfg.load()
    if not prompts:
        raise ConfigError(
            f"no prompts selected from '{cfg.source}'",
            where="prompts",
            hint="check prompts.source / prompts.split / prompts.families",
        )
    return prompts


def _existing(path: Path) -> dict[str, dict[str, Any]]:
    """Rows already written, by response id; a good row beats a failed one, later beats earlier."""
    out: dict[str, dict[str, Any]] = {}
    for row in read_jsonl_tolerant(path):
        rid = row.get("id")
        if rid is None:
            continue
        if row.get("error") is None and not isinstance(row.get("response"), str):
            # not a usable response (a number, null, a list): sampled again, never annotated
            row = {**row, "error": f"response is {type(row.get('response')).__name__}, not text"}
        prev = out.get(rid)
        if prev is None or row.get("error") is None or prev.get("error") is not None:
            out[rid] = row
    return out


# The settings each response row records (ResponseRecord.sampling); the others that decide a
# response (the base seed, each policy's model) are compared with the sample stage's run.json entry.
_ROW_SETTINGS = ("temperature", "top_p", "max_new_tokens")


def _check_same_settings(config: SampleConfig, rd: RunDir, existing: dict[str, dict[str, Any]]) -> None:
    """The run's good responses were sampled with this config's settings, or a ConfigError naming
    each setting that differs: a rerun keeps them (only missing and failed ones are sampled), so
    another temperature would mix two settings under one record. Compared with what is recorded:
    each row's ``sampling`` (a field it lacks is not compared) and run.json's sample entry."""
    good = [r for r in existing.values() if r.get("error") is None]
    if not good:
        return
    diffs: dict[str, str] = {}
    for row in good:
        recorded = row.get("sampling") if isinstance(row.get("sampling"), dict) else {}
        for key in _ROW_SETTINGS:
            if key in recorded and key not in diffs and recorded[key] != getattr(config, key):
                diffs[key] = f"{key} {recorded[key]} (row {row.get('id')!r}; this config: {getattr(config, key)})"
    then = rd.stage_config("sample") or {}
    if "seed" in then and then["seed"] != config.seed:
        diffs["seed"] = f"seed {then['seed']} (this config: {config.seed})"
    sampled = {r.get("model") for r in good}
    policies_then = {p.get("name") or (p.get("backend") or {}).get("model"): p.get("backend")
                     for p in then.get("policies") or [] if isinstance(p, dict)}
    for pol in config.policies:
        old = policies_then.get(pol.label)
        if pol.label not in sampled or not isinstance(old, dict):
            continue
        for key in ("type", "model"):
            new = getattr(pol.backend, key)
            if key in old and old[key] != new:
                diffs[f"{pol.label}.{key}"] = f"policy {pol.label!r} backend.{key} {old[key]!r} (this config: {new!r})"
    if diffs:
        raise ConfigError(
            f"{rd.responses} was sampled with other settings: {'; '.join(diffs.values())}",
            hint="use a new --run; to resume this run, rerun with the settings it was sampled with (run.json's "
                 f"sample stage); to sample it again, move {rd.responses.name} away",
        )


def _backend_for(policy: PolicyConfig, config: SampleConfig) -> TextBackend:
    from judgelab.lm import make_backend

    bcfg = policy.backend
    if config.batch_size is not None and bcfg.type == "transformers":
        bcfg = bcfg.model_copy(update={"batch_size": config.batch_size})
    return make_backend(bcfg)


def group_size(backend: TextBackend) -> int:
    """How many requests may share one seed: the batch size of a backend that batches requests
    with equal sampling parameters (transformers), else 1 (HTTP: one seed per request)."""
    batcher = getattr(backend, "batcher", None)
    return max(1, int(getattr(batcher, "batch_size", 1) or 1))


def plan_groups(prompts: list[PromptRecord], n: int, size: int) -> list[list[tuple[PromptRecord, int]]]:
    """Cut the full plan, in (prompt, sample index) order, into fixed groups of ``size`` jobs.

    Why: a local batch is sampled from one seeded RNG stream, so a response depends on the whole
    batch. Fixing the batches by the plan (not by timing) makes every response reproducible, and
    equal prompts in one batch still differ because each row draws its own random numbers.
    """
    jobs = [(p, i) for p in prompts for i in range(n)]
    return [jobs[k : k + size] for k in range(0, len(jobs), size)]


async def _run_policy(
    backend: TextBackend,
    policy: str,
    groups: list[list[tuple[PromptRecord, int]]],
    done: set[str],
    config: SampleConfig,
    out_path: Path,
    advance: Any,
    stats: dict[str, Any],
) -> None:
    size = max(len(g) for g in groups)
    # Bound requests in flight; whole groups go in together so the batcher sees each group complete.
    sem = asyncio.Semaphore(max(1, config.concurrency // size))
    identity = backend.identity()

    async def one_group(group: list[tuple[PromptRecord, int]]) -> None:
        first_prompt, first_index = group[0]
        seed = sample_seed(config.seed, first_prompt.id, first_index)
        params = SamplingParams(
            max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p, seed=seed
        )
        requests = [GenerationRequest(messages=[{"role": "user", "content": p.prompt}], params=params) for p, _ in group]
        async with sem:
            # gather starts every request of the group in one event-loop pass, so the batcher
            # cannot take a partial group.
            gens = await asyncio.gather(*(backend.generate(r) for r in requests))
        rows = []
        for row_pos, ((prompt, index), gen) in enumerate(zip(group, gens)):
            rid = response_id(prompt.id, policy, index)
            if rid in done:  # regenerated only to reproduce its batch-mates
                continue
            rec = ResponseRecord(
                id=rid,
                prompt_id=prompt.id,
                prompt=prompt.prompt,
                response=gen.text if gen.error is None else "",
                model=policy,
                family=prompt.family,
                split=prompt.split,
                constraints=dict(prompt.constraints),
                sampling={
                    "temperature": config.temperature,
                    "top_p": config.top_p,
                    "max_new_tokens": config.max_new_tokens,
                    "backend": identity,
                    "batch_row": row_pos,
                    "batch_size": len(group),
                    "finish_reason": gen.finish_reason,
                    "latency_s": round(gen.latency_s, 4),
                },
                seed=seed,
                sample_index=index,
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                completion_tokens=gen.completion_tokens,
                error=gen.error,
            )
            rows.append(rec.to_dict())
            stats["generated"] += 1
            stats["completion_tokens"] += gen.completion_tokens
            if gen.error is not None:
                stats["errors"] += 1
                log.warning("sampling %s failed: %s", rid, gen.error)
        # fsync'd append per group: a kill loses only the groups still in flight.
        append_jsonl(out_path, rows)
        advance(len(rows))

    await asyncio.gather(*(one_group(g) for g in groups))


def sample(
    config: SampleConfig, run_dir: str | Path, *, backends: Mapping[str, TextBackend] | None = None
) -> dict[str, Any]:
    """Generate ``config.n`` responses per prompt per policy into ``run_dir/responses.jsonl``.

    ``backends`` maps policy labels to ready TextBackend objects (tests, notebooks); policies not in it
    are built from their config. Returns (and writes to ``sample_summary.json``) a summary.
    """
    rd = RunDir(run_dir).ensure()
    prompts = _load_prompts(config.prompts)
    with writer_lock(rd.responses, "responses.jsonl of this run",
                     hint="wait for that `judgelab sample` to finish, then rerun: what it sampled is kept"):
        return _sample(config, rd, prompts, backends)


def _merge_prompts(path: Path, prompts: list[PromptRecord]) -> tuple[int, int]:
    """Add this config's prompts to the run's ``prompts.jsonl`` (which lists every prompt the
    run's responses came from, as responses.jsonl keeps rows of earlier configs); returns (added,
    total). A prompt id already there with other content is refused: the run's responses would
    no longer say which version of the prompt they answer."""
    cut_torn_tail(path)  # a torn last line (a killed writer) goes; its prompt is re-added below
    rows = read_jsonl_tolerant(path)
    have = {r.get("id"): r for r in rows}
    added = 0
    for p in prompts:
        new = p.to_dict()
        old = have.get(p.id)
        if old is None:
            rows.append(new)
            have[p.id] = new
            added += 1
        elif any(old.get(k) != v for k, v in new.items()):
            diff = sorted(k for k, v in new.items() if old.get(k) != v)
            raise ConfigError(
                f"prompt {p.id!r} differs from the one this run sampled before (field(s) {', '.join(diff)})",
                where=str(path),
                hint="a run's responses must answer one version of each prompt: sample into a new --run "
                "(or move prompts.jsonl and responses.jsonl away to start this run over)",
            )
    if added or not path.exists():
        write_jsonl(path, rows)
    return added, len(rows)


def _sample(config: SampleConfig, rd: RunDir, prompts: list[PromptRecord],
            backends: Mapping[str, TextBackend] | None) -> dict[str, Any]:
    from judgelab.lm.aio import run_sync

    existing = _existing(rd.responses)
    _check_same_settings(config, rd, existing)  # before prompts.jsonl and run.json are written
    before = rd.prompts.exists()
    added, total_prompts = _merge_prompts(rd.prompts, prompts)
    if before and added:
        log.info("%s: added %d prompt(s) of this config to the %d the run already had",
                    rd.prompts, added, total_prompts - added)
    rd.write_run_json("sample", config, seed=config.seed)

    done = {rid for rid, row in existing.items() if row.get("error") is None}
    planned = len(prompts) * len(config.policies) * config.n
    todo_by_policy = {
        pol.label: sum(1 for p in prompts for i in range(config.n) if response_id(p.id, pol.label, i) not in done)
        for pol in config.policies
    }
    todo = sum(todo_by_policy.values())
    log.info("sample: %d planned, %d already present, %d to generate", planned, planned - todo, todo)

    stats: dict[str, Any] = {"generated": 0, "errors": 0, "completion_tokens": 0}
    t0 = time.perf_counter()
    with progress_bar(todo, "sampling") as advance:
        for pol in config.policies:
            if not todo_by_policy[pol.label]:
                continue
            given = (backends or {}).get(pol.label)
            backend = given if given is not None else _backend_for(pol, config)
            try:
                groups = [
                    g for g in plan_groups(prompts, config.n, group_size(backend))
                    if any(response_id(p.id, pol.label, i) not in done for p, i in g)
                ]
                run_sync(_run_policy(backend, pol.label, groups, done, config, rd.responses, advance, stats))
            finally:
                if given is None:
                    run_sync(backend.aclose())
    seconds = time.perf_counter() - t0

    # Rewrite deduplicated, in a deterministic order; rows of prompts/policies no longer in the
    # config are kept (after the planned ones) so that a narrower rerun never loses data.
    final = _existing(rd.responses)
    order = {
        response_id(p.id, pol.label, i): k
        for k, (p, pol, i) in enumerate(
            (p, pol, i) for p in prompts for pol in config.policies for i in range(config.n)
        )
    }
    rows = sorted(final.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"]))
    write_jsonl(rd.responses, rows)
    planned_rows = [r for r in rows if r["id"] in order]

    summary = {
        "prompts": len(prompts),
        "policies": [p.label for p in config.policies],
        "n": config.n,
        "planned": planned,
        "already_present": planned - todo,
        "generated": stats["generated"],
        "ok": sum(1 for r in planned_rows if r.get("error") is None),
        "errors": sum(1 for r in planned_rows if r.get("error") is not None),
        "completion_tokens": stats["completion_tokens"],
        "seconds": round(seconds, 3),
        "tokens_per_s": round(stats["completion_tokens"] / seconds, 2) if seconds > 0 and todo else None,
        "responses": str(rd.responses),
        "prompts_file": {"added": added if before else 0, "total": total_prompts},
    }
    (rd.root / "sample_summary.json").write_text(json.dumps(summary, indent=2))
    if summary["errors"] == 0:
        rd.mark_done("sample", {"responses": len(planned_rows)})
    return summary
