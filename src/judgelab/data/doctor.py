"""``judgelab doctor RUN``: check a run directory after a crash, repair what is safe to repair,
name what is not.

Repairs: a torn last line of an appended JSONL file (cut, as the next append would), temp files
left by an interrupted atomic write (removed). Reports: JSONL lines that are not JSON or not UTF-8
(file:line: a person must look), done markers whose stage output is missing or holds fewer rows
than the marker recorded (the marker is removed so ``judgelab run`` redoes that stage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from judgelab.data.jsonl import cut_torn_tail
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError


@dataclass
class DoctorReport:
    repaired: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def doctor(run_dir: str | Path, *, repair: bool = True) -> DoctorReport:
    rd = RunDir(run_dir)
    if not rd.root.is_dir():
        raise DataError("run directory not found", where=str(rd.root), hint="give a folder a judgelab stage wrote")
    rep = DoctorReport()
    for tmp in sorted(rd.root.rglob("*.tmp")):
        if tmp.is_file():
            if repair:
                tmp.unlink()
            rep.repaired.append(f"{tmp}: leftover temp file of an interrupted write{' (removed)' if repair else ''}")
    for f in sorted(rd.root.rglob("*.jsonl")):
        if not f.is_file() or "trainer" in f.parts:
            continue
        data = f.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = cut_torn_tail(f) if repair else len(data) - data.rfind(b"\n") - 1
            if cut:
                rep.repaired.append(f"{f}: torn last line ({cut} bytes){' cut' if repair else ''}")
            data = f.read_bytes() if repair else data[: data.rfind(b"\n") + 1]
        problem = _first_bad_line(f, data)
        if problem:
            rep.problems.append(problem)
    _check_run_json(rd, rep)
    _check_annotations(rd, rep)
    _check_marker(rd, "sample", rd.responses, "responses", rep, repair)
    _check_marker(rd, "annotate", rd.pairs, "pairs", rep, repair)
    _check_marker(rd, "annotate", rd.points, "points", rep, repair)
    return rep


def _check_run_json(rd: RunDir, rep: DoctorReport) -> None:
    """run.json must be a JSON object whose 'stages' is an object (every stage appends to it)."""
    path = rd.run_json
    if not path.exists():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        rep.problems.append(f"{path}: not valid JSON ({exc}); every stage appends its config here: fix it or move it away")
        return
    if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
        rep.problems.append(f"{path}: not a run record (a JSON object with a 'stages' object; found "
                            f"{type(data).__name__}): fix it or move it away")


def _check_annotations(rd: RunDir, rep: DoctorReport) -> None:
    """Gold labels the judges train on: pair labels A / B / tie, pointwise scores numbers."""
    checks = ((rd.pairs, "label", lambda v: v in ("A", "B", "tie"), "a label A, B or tie"),
              (rd.points, "score", lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
               "a number (or null when unparsed)"))
    for path, key, ok, want in checks:
        if not path.exists():
            continue
        for lineno, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                row = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # reported by the line check
            if isinstance(row, dict) and key in row and not ok(row[key]):
                rep.problems.append(f"{path}:{lineno}: '{key}' is {row[key]!r}, not {want}")
                break


def _first_bad_line(f: Path, data: bytes) -> str | None:
    """'file:line: what' for the first line that is not a UTF-8 JSON object (the strict reader's rules)."""
    for lineno, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return f"{f}:{lineno}: not UTF-8 text"
        except json.JSONDecodeError as exc:
            return f"{f}:{lineno}: malformed JSON ({exc.msg})"
        if not isinstance(obj, dict):
            return f"{f}:{lineno}: not a JSON object"
    return None


def _check_marker(rd: RunDir, stage: str, path: Path, key: str, rep: DoctorReport, repair: bool) -> None:
    marker = rd.done_marker(stage)
    if not marker.exists():  # (also when an earlier check of the same stage removed it)
        return
    try:
        want = json.loads(marker.read_text()).get(key)
    except (json.JSONDecodeError, AttributeError):
        want = None
    # complete lines only: a torn last line (no newline yet) is not a row
    have = sum(1 for line in path.read_bytes().split(b"\n")[:-1] if line.strip()) if path.exists() else 0
    if want is not None and have < int(want):
        if repair:
            marker.unlink()
        rep.repaired.append(f"{marker}: stage '{stage}' is marked done with {want} rows but {path.name} holds {have}"
                            f"{' (marker removed: the next run redoes it)' if repair else ''}")
