"""Crash-safe JSONL: a torn last line is cut before anything is appended (never glued onto), a
whole row that lost its newline is kept, two writers of one output never trip over each other,
and bytes that are not UTF-8 are one clear error naming file, line and offset."""

from __future__ import annotations

import multiprocessing as mp
import re
import random
from pathlib import Path

import pytest

from judgelab.data.jsonl import append_jsonl, cut_torn_tail, iter_jsonl, read_jsonl, read_jsonl_tolerant, write_jsonl
from judgelab.errors import DataError


def test_append_after_a_torn_tail_never_glues_rows(tmp_path: Path) -> None:
    p = tmp_path / "rows.jsonl"
    rng = random.Random(0)
    for trial in range(25):
        rows = [{"id": f"r{i}", "text": "x" * rng.randint(1, 200)} for i in range(5)]
        write_jsonl(p, rows)
        size = p.stat().st_size
        p.write_bytes(p.read_bytes()[: rng.randint(1, size - 1)])  # a random byte cut
        kept = read_jsonl_tolerant(p)
        append_jsonl(p, [{"id": "new"}])
        after = read_jsonl(p)  # strict reader: every line is a whole row
        assert after == kept + [{"id": "new"}], trial
        assert [r["id"] for r in kept] == [f"r{i}" for i in range(len(kept))]


def test_a_cut_inside_a_multibyte_character_is_a_torn_tail(tmp_path: Path) -> None:
    """Found by the fault matrix: a tiny model's random text is full of multi-byte characters, and
    a cut inside one left a last line that is not UTF-8, which the tolerant reader refused."""
    p = tmp_path / "rows.jsonl"
    write_jsonl(p, [{"id": "a", "text": "é"}, {"id": "b", "text": "ééé"}])
    data = p.read_bytes()
    cut = data.rindex("é".encode()) + 1  # between the two bytes of the last é
    p.write_bytes(data[:cut])
    assert read_jsonl_tolerant(p) == [{"id": "a", "text": "é"}]
    append_jsonl(p, [{"id": "c"}])
    assert [r["id"] for r in read_jsonl(p)] == ["a", "c"]


def test_a_whole_row_without_its_newline_is_kept(tmp_path: Path) -> None:
    p = tmp_path / "rows.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b"}')
    assert cut_torn_tail(p) == 0 and p.read_text().endswith("\n")
    append_jsonl(p, [{"id": "c"}])
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b", "c"]


def test_not_utf8_names_file_line_and_offset(tmp_path: Path) -> None:
    p = tmp_path / "items.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "\xff"}\n')
    with pytest.raises(DataError) as e:
        list(iter_jsonl(p))
    assert f"{p}:2" in str(e.value) and "not UTF-8" in str(e.value) and "offset 20" in str(e.value)
    with pytest.raises(DataError, match="not UTF-8"):
        read_jsonl_tolerant(p)


def _writer(path: str, tag: str, rounds: int) -> None:
    for k in range(rounds):
        write_jsonl(path, [{"writer": tag, "round": k, "i": i} for i in range(200)])


def test_two_writers_on_one_output_never_fail_or_mix(tmp_path: Path) -> None:
    p = tmp_path / "same.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(p), t, 50)) for t in ("a", "b")]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(120)
    assert [pr.exitcode for pr in procs] == [0, 0]  # no FileNotFoundError on a shared temp name
    rows = read_jsonl(p)
    assert len(rows) == 200 and len({r["writer"] for r in rows}) == 1  # one whole write, not a mix
    assert not list(tmp_path.glob("*.tmp"))  # no temp file left behind


def test_yaml_not_utf8_and_corrupt_run_json_are_one_clear_error(tmp_path: Path) -> None:
    from judgelab.config import load_yaml
    from judgelab.data.rundir import RunDir
    from judgelab.errors import ConfigError

    y = tmp_path / "c.yaml"
    y.write_bytes(b"seed: 1\nrun_dir: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: not UTF-8 text \(byte 0xe9"):
        load_yaml(y)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(DataError, match="run.json is not valid JSON"):
        RunDir(tmp_path).write_run_json("x", {"a": 1})


@pytest.mark.parametrize("row,msg", [
    ({"id": "a", "prompt_id": "p", "prompt": "x", "response_id": "r", "response": "y", "score": "high"},
     "field 'score' must be a number or null, got str 'high'"),
    ({"id": "a", "prompt_id": "p", "prompt": "x", "response_id": "r", "response": 12345, "score": 3},
     "field 'response' must be a string, got int 12345"),
    ({"id": "a", "prompt_id": "p", "prompt": "x", "response_id": "r", "response": "y", "score": True},
     "field 'score' must be a number or null, got bool"),
])
def test_records_are_type_checked_on_load(row: dict, msg: str) -> None:
    from judgelab.data.records import PointAnnotation

    with pytest.raises(DataError, match=re.escape(f"points.jsonl:7: {msg}")):
        PointAnnotation.from_dict(row, where="points.jsonl:7")


def test_a_pair_label_outside_a_b_tie_is_refused() -> None:
    from judgelab.data.records import PairAnnotation

    row = {"id": "a", "prompt_id": "p", "prompt": "x", "response_a_id": "r", "response_b_id": "s",
           "response_a": "y", "response_b": "z", "label": "Z"}
    with pytest.raises(DataError, match="field 'label' must be 'A', 'B', 'tie' or null, got 'Z'"):
        PairAnnotation.from_dict(row, where="pairs.jsonl:1")
    assert PairAnnotation.from_dict({**row, "label": "tie"}).label == "tie"


def test_a_utf8_bom_on_line_1_is_ignored_by_every_reader(tmp_path: Path) -> None:
    """Windows editors save UTF-8 with a byte-order mark; json.loads refuses it ('Unexpected UTF-8 BOM')."""
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"id": "a"}\n{"id": "b"}\n')
    assert read_jsonl(p) == [{"id": "a"}, {"id": "b"}]
    assert [n for n, _ in iter_jsonl(p)] == [1, 2]
    assert read_jsonl_tolerant(p) == [{"id": "a"}, {"id": "b"}]
    one = tmp_path / "one.jsonl"  # a whole row that only lost its newline is kept, BOM or not
    one.write_bytes(b'\xef\xbb\xbf{"id": "a"}')
    assert cut_torn_tail(one) == 0 and read_jsonl(one) == [{"id": "a"}]
    later = tmp_path / "later.jsonl"  # only line 1 may carry one: elsewhere it is still bad JSON
    later.write_bytes(b'{"id": "a"}\n\xef\xbb\xbf{"id": "b"}\n')
    with pytest.raises(DataError, match="later.jsonl:2: malformed JSON"):
        read_jsonl(later)
