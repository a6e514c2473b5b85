"""The contestants of ``judgelab arena`` and their answers: response files, checkpoints (generated
here through ``judgelab.lm.local``) or models served over an OpenAI-compatible API (through the
``openai`` text backend); the prompt set; which prompts each contestant shares with the baseline.

Reads: response files (JSONL rows ``prompt_id``, ``response``, optional ``prompt``, ``model``,
``family``, ``constraints``; a run's ``eval/policies/<p>/samples-step-N.jsonl`` works as is),
prompt sets (``judgelab.data.prompts.load_prompts``). Writes ``out/answers/<name>.jsonl``
(generated answers, reused by a rerun with the same settings).

Coverage: each contestant is rated on the prompts that it and the baseline both answered;
``arena.json``'s ``coverage`` counts them per contestant (``judgelab arena`` prints a note for any
with missing answers). A contestant sharing no prompt with the baseline stops the run (DataError
naming both files) before anything is judged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from judgelab.data.prompts import balanced_subset
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena.config import ArenaRunConfig
from judgelab.progress import progress_bar

log = logging.getLogger(__name__)


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


def arena_hard_answer(row: dict[str, Any], where: str) -> dict[str, Any]:
    """An Arena-Hard-Auto ``model_answer/<model>.jsonl`` row as a response row: prompt_id = the
    question's id, the user turn as prompt, the assistant's answer as response, and its style
    metadata kept (``token_len``: tiktoken, Arena-Hard's length unit; ``md_counts``: headers, list
    items, bold spans as ``add_markdown_info.py`` counted them). Two layouts: v2.0 ({uid, ans_id,
    model, messages: [user, assistant {answer}], metadata}) and v0.1 ({question_id, model_id,
    choices: [{turns: [{content}]}], conv_metadata}). Other rows unchanged."""
    if "response" in row:
        return row
    if "uid" in row and "messages" in row:
        msgs = row.get("messages") or []
        user = next((m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"), None)
        last = next((m.get("content") for m in reversed(msgs) if isinstance(m, dict) and m.get("role") == "assistant"), None)
        answer = last.get("answer") if isinstance(last, dict) else last
        pid, model, meta = row["uid"], row.get("model"), row.get("metadata")
        user = user if isinstance(user, str) else ""
    elif "question_id" in row and "choices" in row:
        choice = (row.get("choices") or [{}])[0]
        turns = choice.get("turns") if isinstance(choice, dict) else None
        answer = turns[0].get("content") if isinstance(turns, list) and turns and isinstance(turns[0], dict) else None
        pid, model, meta, user = row["question_id"], row.get("model_id") or row.get("model"), row.get("conv_metadata"), None
    else:
        return row
    if not isinstance(answer, str):
        raise DataError("Arena-Hard answer row without an assistant answer", where=where,
                        hint="messages must end with {role: assistant, content: {answer: ...}}")
    meta = meta if isinstance(meta, dict) else {}
    out: dict[str, Any] = {"prompt_id": str(pid), "response": answer, "model": model}
    if isinstance(user, str):
        out["prompt"] = user
    if isinstance(meta.get("token_len"), int):
        out["token_len"] = int(meta["token_len"])

    def count(v: Any) -> int | None:  # their counts are ints or dicts of ints (h1..h6, ordered/unordered, **/__)
        if isinstance(v, dict) and all(isinstance(x, int) for x in v.values()):
            return sum(v.values())
        return v if isinstance(v, int) else None

    md = [count(meta.get(k)) for k in ("header_count", "list_count", "bold_count")]
    if None not in md:
        out["md_counts"] = md
    return out


def read_responses(c: Contestant, decoding: str | None) -> None:
    """Fill ``c.answers`` from its response file (and its name from the rows' ``model`` field)."""
    from judgelab.data.jsonl import iter_jsonl

    rows = list(iter_jsonl(c.source))
    if not rows:
        raise DataError("response file is empty", where=c.source)
    decodings = {r.get("decoding") for _, r in rows if r.get("decoding")}
    want = decoding or ("greedy" if "greedy" in decodings or not decodings else min(decodings))
    for lineno, r in rows:
        where = f"{c.source}:{lineno}"
        r = arena_hard_answer(r, where)
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


def generate_answers(c: Contestant, prompts: list[dict[str, Any]], cfg: ArenaRunConfig, out: Path) -> None:
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


def arena_prompts(contestants: list[Contestant], prompts_source: str | None, split: str | None,
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


def prompt_coverage(base: Contestant, others: list[Contestant], prompt_rows: list[dict[str, Any]]) -> dict[str, Any]:
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


def load_contestants(baseline: str, contestants: list[str], decoding: str | None) -> list[Contestant]:
    """The baseline then the contestants, response files read; names must differ."""
    field_ = [parse_contestant(baseline)] + [parse_contestant(s) for s in contestants]
    for c in field_:
        if c.kind == "responses":
            read_responses(c, decoding)
    names = [c.name for c in field_]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"two contestants named {dup}", hint="name them: --model NAME=SOURCE")
    return field_
