"""The gold, frozen before a study starts: ``RUN/gold.json`` records the gold's identity at the first
invocation of ``judgelab run``; every later invocation on that run directory checks it.

A study's annotations, judge training labels, oracle rewards and evaluations must all come from one
gold. The judgment store keys verdicts by the judge's identity, so a changed gold never *reuses* old
verdicts, but the annotations and evaluations already on disk would silently mix two golds. The
identity is the gold's resolved config (no model is loaded) plus, for a rubric, the rubric's own
version string (which changes whenever its scores or traces do), and judgelab's version.

Reads and writes ``RUN/gold.json``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.errors import JudgelabError


def gold_identity(gold: Any) -> dict[str, Any]:
    """What determines the gold's verdicts, from its config: the config itself and, for a rubric
    backend, the rubric's identity (name, version, tie margin, style)."""
    from judgelab.judges.registry import resolve_judge_spec

    cfg = resolve_judge_spec(gold, "gold")
    out: dict[str, Any] = {"config": cfg.model_dump(mode="json", exclude={"name"})}
    backend = getattr(cfg, "backend", None)
    if getattr(backend, "type", None) == "rubric":
        from judgelab.judges.rubric import get_rubric

        out["rubric"] = get_rubric(backend.rubric).identity()
    return out


def _digest(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def freeze_gold(run_dir: str, gold: Any) -> dict[str, Any]:
    """Record the gold at a run's first invocation; on later ones, stop if it changed."""
    from judgelab import __version__

    rd = RunDir(run_dir)
    identity = gold_identity(gold)
    digest = _digest(identity)
    path = rd.gold_lock
    if path.exists():
        try:
            frozen = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise JudgelabError(f"the frozen gold record is unreadable ({exc})", where=str(path),
                                hint="restore it, or delete it to freeze the current gold (only if the gold did not change)")
        if frozen.get("digest") != digest:
            raise JudgelabError(
                f"the gold changed since this run started (frozen {frozen.get('digest')} at {frozen.get('frozen_at')}, "
                f"now {digest}): its annotations and evaluations would mix two golds",
                where=str(path),
                hint="start a new run_dir for the new gold, or restore the gold this run was started with "
                     f"(recorded in {path.name})")
        return frozen
    record = {"schema": "judgelab.gold_freeze/v1", "digest": digest, "frozen_at": datetime.now(timezone.utc).isoformat(),
              "judgelab": __version__, "identity": identity}
    rd.root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return record
