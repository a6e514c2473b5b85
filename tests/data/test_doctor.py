"""`judgelab doctor RUN`: after a crash it cuts torn tails, removes temp files of interrupted writes,
resets a done marker whose output is short, and names lines a person must fix (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgelab.cli import main
from judgelab.data.doctor import doctor
from judgelab.data.jsonl import read_jsonl, write_jsonl


def _run(tmp_path: Path) -> Path:
    rows = [{"id": f"r{i}", "response": "x" * 40} for i in range(6)]
    write_jsonl(tmp_path / "responses.jsonl", rows)
    (tmp_path / ".done").mkdir()
    (tmp_path / ".done" / "sample").write_text(json.dumps({"responses": 6}))
    return tmp_path


def test_dry_run_reports_and_changes_nothing_then_repair(tmp_path: Path) -> None:
    rd = _run(tmp_path)
    f = rd / "responses.jsonl"
    f.write_bytes(f.read_bytes()[:-20])  # torn last row
    (rd / ".responses.jsonl.123.abc.tmp").write_text("partial")
    before = f.read_bytes()
    rep = doctor(rd, repair=False)
    assert f.read_bytes() == before and (rd / ".done" / "sample").exists()
    assert len(rep.repaired) == 3 and rep.ok  # torn tail, temp file, short marker: all repairable
    rep = doctor(rd)
    assert len(read_jsonl(f)) == 5 and not (rd / ".done" / "sample").exists() and not list(rd.glob("*.tmp"))
    assert doctor(rd).repaired == []  # nothing left to do


def test_lines_a_person_must_fix_exit_1(tmp_path: Path, capsys) -> None:
    rd = _run(tmp_path)
    (rd / "annotations").mkdir()
    (rd / "annotations" / "pairs.jsonl").write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(SystemExit) as e:
        main(["doctor", str(rd)])
    assert e.value.code == 1 and "pairs.jsonl:2: malformed JSON" in capsys.readouterr().err


def test_short_annotation_files_reset_the_annotate_marker(tmp_path: Path) -> None:
    rd = _run(tmp_path)
    write_jsonl(rd / "annotations" / "pairs.jsonl", [{"id": f"p{i}"} for i in range(4)])
    write_jsonl(rd / "annotations" / "points.jsonl", [{"id": f"q{i}"} for i in range(6)])
    (rd / ".done" / "annotate").write_text(json.dumps({"pairs": 4, "points": 6}))
    assert doctor(rd).repaired == []  # complete: the marker stays
    f = rd / "annotations" / "points.jsonl"
    f.write_bytes(f.read_bytes()[:-3])  # the last point torn
    rep = doctor(rd)
    assert not (rd / ".done" / "annotate").exists()
    assert any("stage 'annotate' is marked done with 6 rows but points.jsonl holds 5" in r for r in rep.repaired)
