"""The run directory: one folder per experiment, each stage reading the artifacts of the stage
before it and writing its own. Open any file with pandas.

``RunDir`` owns every path of the layout; no other module spells a file name of it:

    prompts.jsonl  prompt_selection.jsonl  responses.jsonl  judgments.sqlite  run.json  gold.json
    annotations/{pairs,points}.jsonl
    judges/<judge>/                       (judgelab_judge.json + weights)
    policies/<policy>/{policy.json, log.jsonl, references.jsonl, checkpoint-N/[merged/]}
    eval/judges/<judge>.json              eval/policies/<policy>.json
    eval/policies/<policy>/samples-step-N.jsonl
    eval/{arena,adversarial,instrument,judge_gate}.json
    report/
    .done/<stage>
    .responses.jsonl.lock  .annotations.lock   (one writer at a time: judgelab.data.lock)
"""

from __future__ import annotations

import functools
import json
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any, overload

import judgelab
from judgelab.data.jsonl import atomic_write_text


POLICY_FILE = "policy.json"
# The judgment store of a run directory (and of an arena's or a judged file's output folder).
STORE_FILE = "judgments.sqlite"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


MAX_NAME = 100  # a name plus the longest suffix written after it stays well under 255 bytes


def _component(name: str, what: str) -> str:
    """A judge/policy name is one folder (or file stem) inside the run directory: never a path that
    leaves it, never longer than a file name can be."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name or len(name) > MAX_NAME:
        from judgelab.errors import ConfigError

        shown = name if not isinstance(name, str) or len(name) <= 60 else name[:57] + "..."
        raise ConfigError(f"bad {what} name {shown!r}: it becomes a file or folder name inside the output directory",
                          where=f"{what} name", hint=f"use up to {MAX_NAME} letters, digits, '.', '_', '+' and '-' "
                                                     "(no '/', no '..', not starting with '.')")
    return name


def name_component(name: str, what: str) -> str:
    """``name`` if it is safe as one file or folder name inside an output directory, else a ConfigError."""
    return _component(name, what)


def file_in_the_way(p: Path) -> Path | None:
    """``p`` or the nearest folder above it that exists as something other than a folder (the usual
    reason a folder cannot be made), else None."""
    return next((a for a in (p, *p.parents) if a.exists() and not a.is_dir()), None)


def _not_a_folder(p: Path) -> str | None:
    """Create ``p`` (and its parents); None when it is a folder now, else why not."""
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = file_in_the_way(p)
        return f"{blocker} is a file" if blocker is not None else exc.strerror or str(exc)
    return None if p.is_dir() else f"{p} is not a folder"


def writable_dir(path: str | Path, where: str) -> Path:
    """``path`` created as a folder, or a DataError that says why it cannot be (a file in the way,
    no permission, a read-only or virtual file system)."""
    from judgelab.errors import DataError

    p = Path(path)
    why = _not_a_folder(p)
    if why:
        raise DataError(f"cannot create the output folder: {why}", where=f"{where} {p}",
                        hint="give a folder you can write to")
    return p


def writable_file(path: str | Path, where: str) -> Path:
    """``path`` as an output file whose folder exists (created if need be), or a DataError: checked
    before a command does its work, so a bad output path never costs the work."""
    from judgelab.errors import DataError

    p = Path(path)
    if p.is_dir():
        raise DataError("the output path is a folder, not a file", where=f"{where} {p}", hint="give a file path")
    why = _not_a_folder(p.parent)
    if why:
        raise DataError(f"cannot create the output file's folder: {why}", where=f"{where} {p}",
                        hint="give a path in a folder you can write to")
    return p


def checkpoints(policy_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (trainer_state.json present) of a policy folder, by step."""
    out = []
    for d in Path(policy_dir).glob("checkpoint-*"):
        try:
            step = int(d.name.split("-", 1)[1])
        except ValueError:
            continue
        if (d / "trainer_state.json").exists():
            out.append((step, d))
    return sorted(out)


def checkpoint_model_path(ckpt: Path) -> Path:
    """The folder evaluation loads: merged weights for a LoRA checkpoint, else the checkpoint."""
    merged = ckpt / "merged"
    return merged if (merged / "config.json").exists() else ckpt


class _At:
    """A file or folder of the layout: ``RunDir(root).<attribute>`` is ``root`` joined with ``parts``."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    @overload
    def __get__(self, rd: None, owner: type) -> "_At": ...

    @overload
    def __get__(self, rd: "RunDir", owner: type) -> Path: ...

    def __get__(self, rd: "RunDir | None", owner: type) -> "Path | _At":
        return self if rd is None else rd.root.joinpath(*self.parts)


class RunDir:
    # The layout, one line a path (the module docstring draws it).
    prompts = _At("prompts.jsonl")
    prompt_selection = _At("prompt_selection.jsonl")  # the train + test prompts `judgelab run` selected (balanced)
    responses = _At("responses.jsonl")
    store = _At(STORE_FILE)
    run_json = _At("run.json")
    gold_lock = _At("gold.json")  # the gold frozen at the run's start (judgelab.pipeline.gold_freeze)
    annotations_dir = _At("annotations")
    pairs = _At("annotations", "pairs.jsonl")
    points = _At("annotations", "points.jsonl")
    policies_dir = _At("policies")
    eval_dir = _At("eval")
    arena = _At("eval", "arena.json")
    adversarial = _At("eval", "adversarial.json")
    attacks = _At("eval", "attacks.json")  # judge-directed content: flagged rate, transfer matrix, stripped re-judge
    instrument = _At("eval", "instrument.json")
    judge_gate = _At("eval", "judge_gate.json")  # study judges vs chance, before policy training
    report_dir = _At("report")

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def ensure(self) -> "RunDir":
        """Create the run folder; a DataError when it cannot be (a file in the way, /proc, no permission)."""
        writable_dir(self.root, "run directory")
        return self

    def judge_dir(self, name: str) -> Path:
        return self.root / "judges" / _component(name, "judge")

    def policy_dir(self, name: str) -> Path:
        return self.root / "policies" / _component(name, "policy")

    def policy_file(self, name: str) -> Path:
        return self.policy_dir(name) / POLICY_FILE

    def policy_names(self) -> list[str]:
        """Policies with a policy.json, sorted."""
        root = self.policies_dir
        return sorted(d.name for d in root.iterdir() if (d / POLICY_FILE).exists()) if root.exists() else []

    def checkpoints(self, name: str) -> list[tuple[int, Path]]:
        return checkpoints(self.policy_dir(name))

    def policy_eval(self, name: str) -> Path:
        """Gold monitoring of one policy (judgelab.policy_eval schema)."""
        return self.eval_dir / "policies" / f"{_component(name, 'policy')}.json"

    def policy_evals(self) -> list[Path]:
        return sorted((self.eval_dir / "policies").glob("*.json"))

    def eval_samples(self, name: str, step: int) -> Path:
        """The evaluation samples of one checkpoint (step 0 = the initial policy), with their scores."""
        return self.eval_dir / "policies" / _component(name, "policy") / f"samples-step-{int(step)}.jsonl"

    def done_marker(self, stage: str) -> Path:
        return self.root / ".done" / stage

    def is_done(self, stage: str) -> bool:
        return self.done_marker(stage).exists()

    def mark_done(self, stage: str, info: dict[str, Any] | None = None) -> None:
        p = self.done_marker(stage)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(info or {}, default=str))

    def stage_config(self, stage: str) -> dict[str, Any] | None:
        """The config ``run.json`` recorded for ``stage`` (as ``write_run_json`` wrote it: credentials
        masked), or None when there is none or run.json is unreadable (``write_run_json`` says why)."""
        try:
            data = json.loads(self.run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        stages = data.get("stages") if isinstance(data, dict) else None
        entry = stages.get(stage) if isinstance(stages, dict) else None
        cfg = entry.get("config") if isinstance(entry, dict) else None
        return cfg if isinstance(cfg, dict) else None

    @staticmethod
    def recordable(config: Any) -> Any:
        """``config`` as ``write_run_json`` records it (plain JSON, credentials masked): what a
        ``stage_config`` is compared with."""
        from judgelab.redact import redact_obj

        return redact_obj(config.model_dump(mode="json") if hasattr(config, "model_dump") else config)

    def write_run_json(self, stage: str, config: Any, seed: int | None = None) -> Path:
        """Record config, versions, seed and git commit for a stage (``run.json`` holds all stages)."""
        self.ensure()
        path = self.run_json
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            from judgelab.errors import DataError

            raise DataError(f"run.json is not valid JSON ({exc})", where=str(path),
                            hint="it records every stage's config: fix it, or move it away to start a new record") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
            from judgelab.errors import DataError

            raise DataError(f"run.json is not a run record (a JSON object with 'stages'; found {type(data).__name__})",
                            where=str(path), hint="it records every stage's config: fix it, or move it away to start a "
                                                  "new record")
        cfg = self.recordable(config)
        data.setdefault("stages", {})[stage] = {
            "config": cfg,
            "seed": seed,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data["versions"] = dict(_versions())
        data["git_commit"] = _git_commit()
        return atomic_write_text(path, json.dumps(data, indent=2, default=str))


@functools.cache  # once per process: metadata lookups and `git` cost ~0.1 s, and stages write run.json often
def _versions() -> dict[str, str]:
    out = {"judgelab": judgelab.__version__, "python": platform.python_version()}
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("torch", "transformers", "trl", "peft", "accelerate", "datasets"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


@functools.cache
def _git_commit() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                           cwd=Path(judgelab.__file__).parent)
        return r.stdout.strip() or None
    except Exception:
        return None
