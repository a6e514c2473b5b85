"""Reading a run's gold annotations (judgelab.data.annotations): labelled rows only, one per id
(the last written wins), one split when asked, no file = no rows, a malformed row named by line."""

from __future__ import annotations

import pytest

from judgelab.data.annotations import read_pairs, read_points
from judgelab.data.jsonl import write_jsonl
from judgelab.data.records import PairAnnotation, PointAnnotation
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError


def pair(pid: str, label: str | None, split: str = "train") -> dict:
    return PairAnnotation(id=pid, prompt_id="p", prompt="q", response_a_id="a", response_b_id="b", response_a="x",
                          response_b="y", label=label, split=split).to_dict()


def point(pid: str, score: float | None, split: str = "train") -> dict:
    return PointAnnotation(id=pid, prompt_id="p", prompt="q", response_id="r", response="x", score=score,
                           split=split).to_dict()


def test_labelled_rows_last_wins_and_split(tmp_path):
    rd = RunDir(tmp_path)
    rd.annotations_dir.mkdir(parents=True)
    write_jsonl(rd.pairs, [pair("1", None), pair("2", "A"), pair("2", "tie"), pair("3", "B", "test")])
    write_jsonl(rd.points, [point("1", 7.0), point("2", None), point("1", 3.0, "test")])
    assert [(p.id, p.label) for p in read_pairs(tmp_path)] == [("2", "tie"), ("3", "B")]
    assert [p.id for p in read_pairs(tmp_path, "test")] == ["3"]
    assert [(p.id, p.score, p.split) for p in read_points(tmp_path)] == [("1", 3.0, "test")]
    # the split filter picks rows before the last-wins rule: each split keeps its own last row
    assert [(p.id, p.score) for p in read_points(tmp_path, "train")] == [("1", 7.0)]


def test_missing_file_is_no_rows_and_bad_row_names_its_line(tmp_path):
    assert read_pairs(tmp_path) == [] and read_points(tmp_path) == []
    rd = RunDir(tmp_path)
    rd.annotations_dir.mkdir(parents=True)
    write_jsonl(rd.pairs, [pair("1", "A"), {"id": "2", "label": "A"}])
    with pytest.raises(DataError) as e:
        read_pairs(tmp_path)
    assert "pairs.jsonl:2" in str(e.value)
