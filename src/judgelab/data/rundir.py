"""The run directory: one folder per experiment, each stage reading the artifacts of the stage
before it and writing its own. Open any file with pandas."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import judgelab


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _component(name: str, what: str) -> str:
    """A judge/policy name is one folder inside the run directory: never a path that leaves it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        from judgelab.errors import ConfigError

        raise ConfigError(f"bad {what} name {name!r}: it becomes a folder inside the run directory",
                          where=f"{what} name", hint="use letters, digits, '.', '_', '+' and '-' (no '/', no '..')")
    return name


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def ensure(self) -> "RunDir":
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def prompts(self) -> Path:
        return self.root / "prompts.jsonl"

    @property
    def responses(self) -> Path:
        return self.root / "responses.jsonl"

    @property
    def annotations_dir(self) -> Path:
        return self.root / "annotations"

    @property
    def pairs(self) -> Path:
        return self.annotations_dir / "pairs.jsonl"

    @property
    def points(self) -> Path:
        return self.annotations_dir / "points.jsonl"

    @property
    def store(self) -> Path:
        return self.root / "judgments.sqlite"

    def judge_dir(self, name: str) -> Path:
        return self.root / "judges" / _component(name, "judge")

    def policy_dir(self, name: str) -> Path:
        return self.root / "policies" / _component(name, "policy")

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def done_marker(self, stage: str) -> Path:
        return self.root / ".done" / stage

    def is_done(self, stage: str) -> bool:
        return self.done_marker(stage).exists()

    def mark_done(self, stage: str, info: dict[str, Any] | None = None) -> None:
        p = self.done_marker(stage)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(info or {}, default=str))

    def write_run_json(self, stage: str, config: Any, seed: int | None = None) -> Path:
        """Record config, versions, seed and git commit for a stage (``run.json`` holds all stages)."""
        self.ensure()
        path = self.root / "run.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        cfg = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
        data.setdefault("stages", {})[stage] = {
            "config": cfg,
            "seed": seed,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data["versions"] = _versions()
        data["git_commit"] = _git_commit()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)
        return path


def _versions() -> dict[str, str]:
    out = {"judgelab": judgelab.__version__, "python": platform.python_version()}
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("torch", "transformers", "trl", "peft", "accelerate", "datasets"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _git_commit() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                           cwd=Path(judgelab.__file__).parent)
        return r.stdout.strip() or None
    except Exception:
        return None
