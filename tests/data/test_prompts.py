"""Prompt sets: shipped set shape, fixed splits, user JSONL / HF dataset loading, and errors that
name file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from judgelab.data.prompts import (
    PROMPT_SETS_DIR,
    balanced_subset,
    families,
    hash_split,
    list_prompt_sets,
    load_prompts,
    prompt_meta,
)
from judgelab.errors import DataError, JudgelabError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_set_shape():
    assert "creative-v1" in list_prompt_sets()
    recs = load_prompts("creative-v1")
    assert len(recs) >= 300
    fams = families("creative-v1")
    assert len(fams) >= 6
    assert len({r.id for r in recs}) == len(recs)
    for r in recs:
        assert r.prompt.strip() and r.constraints, r.id
        assert len(r.prompt.split()) <= 40, r.id  # short prompts for a 135M policy
        lo, hi = r.constraints["min_words"], r.constraints["max_words"]
        assert 0 <= lo < hi <= 80, r.id  # every band's top is reachable within 96 new tokens
        for w in r.constraints.get("must_include", []):
            assert w.lower() in r.prompt.lower(), (r.id, w)  # stated in the prompt text too


def test_splits_disjoint_fixed_and_balanced():
    train = load_prompts("creative-v1", split="train")
    val = load_prompts("creative-v1", split="val")
    test = load_prompts("creative-v1", split="test")
    ids = [{r.id for r in x} for x in (train, val, test)]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert len(train) + len(val) + len(test) == len(load_prompts("creative-v1"))
    per_family = Counter(r.family for r in test)
    totals = Counter(r.family for r in load_prompts("creative-v1"))
    for fam, n in totals.items():
        assert per_family[fam] == n // 5, fam  # exactly 20% of each family
    assert Counter(r.family for r in val) == {fam: 4 for fam in totals}  # the last 4 train prompts of each family
    # A train selection of up to 35 per family is what it was before the val split existed.
    fam_train = [r for r in load_prompts("creative-v1") if r.family == "poem" and r.split in ("train", "val")]
    assert [r.split for r in fam_train][-4:] == ["val"] * 4
    # Fixed: a few pinned assignments (changing them silently would change every study).
    by_id = {r.id: r.split for r in train + val + test}
    assert by_id["poem/lighthouse-4"] == "train"
    assert sorted(r.id for r in test)[:4] == [
        "advice/alarm-short", "advice/bedtime-prose", "advice/club-prose", "advice/club-short"]


def test_shipped_file_matches_generator():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_prompts.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_filters_and_limit():
    poems = load_prompts("creative-v1", families=["poem"])
    assert poems and all(r.family == "poem" for r in poems)
    assert len(load_prompts("creative-v1", split="test", families=["poem", "advice"], limit=5)) == 5
    assert load_prompts("creative-v1", limit=0) == []
    with pytest.raises(DataError, match="unknown family 'poemz'"):
        load_prompts("creative-v1", families=["poemz"])
    with pytest.raises(DataError, match="unknown split"):
        load_prompts("creative-v1", split="dev")


def test_limit_covers_every_family(tmp_path):
    """A small limit is a family-balanced subset (the shipped set lists its families in blocks, so
    the first 8 prompts were 8 poems), in a fixed order; a set with one family keeps its first N."""
    every = {r.family for r in load_prompts("creative-v1", split="test")}
    picked = load_prompts("creative-v1", split="test", limit=len(every))
    assert {r.family for r in picked} == every
    assert [r.id for r in picked] == [r.id for r in load_prompts("creative-v1", split="test", limit=len(every))]
    two = load_prompts("creative-v1", split="test", families=["poem", "advice"], limit=4)
    assert sorted(r.family for r in two) == ["advice", "advice", "poem", "poem"]
    poems = load_prompts("creative-v1", families=["poem"])
    assert load_prompts("creative-v1", families=["poem"], limit=3) == poems[:3]


def test_balanced_subset_takes_families_in_name_order():
    """Whatever order the source lists its families in (the shipped set starts with poems), the
    round-robin goes in family name order; rows without a family are one family ''."""
    rows = [{"id": f"{f}{i}", "family": f} for f in ("poem", "advice", "story") for i in range(2)]
    assert [r["id"] for r in balanced_subset(rows, 4)] == ["advice0", "poem0", "story0", "advice1"]
    assert [r["id"] for r in balanced_subset([{"id": "x", "family": "b"}, {"id": "y"}], 2)] == ["y", "x"]
    assert balanced_subset(rows, None) == rows


def test_prompt_meta_for_items():
    r = load_prompts("creative-v1", limit=1)[0]
    m = prompt_meta(r)
    assert m["family"] == r.family and m["constraints"] == r.constraints


def _write(tmp_path: Path, rows: list) -> Path:
    p = tmp_path / "prompts.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return p


def test_user_jsonl_minimal_rows(tmp_path):
    p = _write(tmp_path, [{"id": "a", "prompt": "Write a haiku."}, {"id": 7, "prompt": "Tell a joke.", "family": "joke"},
                          {"id": "c", "prompt": "x", "split": "test", "constraints": {"max_words": 10}}])
    recs = load_prompts(p)
    assert [r.id for r in recs] == ["a", "7", "c"]
    assert recs[0].family == "general" and recs[1].family == "joke"
    assert recs[0].split == hash_split("a") and recs[2].split == "test"
    assert load_prompts(str(p), split="test")[-1].id == "c"


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ('{"id": "b", "prompt": ', "malformed JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ({"id": "b", "prompt": "   "}, "empty prompt"),
        ({"id": "b"}, "missing 'prompt'"),
        ({"prompt": "hello"}, "missing or empty 'id'"),
        ({"id": "a", "prompt": "again"}, "duplicate id 'a'"),
        ({"id": "b", "prompt": "hi", "family": "Bad Family!"}, "unknown family"),
        ({"id": "b", "prompt": "hi", "split": "dev"}, "unknown split"),
        ({"id": "b", "prompt": "hi", "constraints": {"max_wrds": 3}}, "unknown constraint 'max_wrds'"),
        ({"id": "b", "prompt": "hi", "constraints": {"lines": "four"}}, "constraint 'lines'"),
        ({"id": "b", "prompt": "hi", "constraints": {"min_words": 9, "max_words": 3}}, "min_words > max_words"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, bad_row, message):
    p = _write(tmp_path, [{"id": "a", "prompt": "ok"}, "", bad_row])  # bad row is on line 3
    with pytest.raises(DataError) as ei:
        load_prompts(p)
    text = str(ei.value)
    assert f"{p}:3" in text and message in text
    assert "\n" not in text


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_prompts(tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no prompts"):
        load_prompts(empty)


def test_hf_dataset_folder(tmp_path):
    import datasets

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"prompt": ["Write a poem.", "Describe a cat."], "family": ["poem", "scene"]}),
        "test": datasets.Dataset.from_dict({"prompt": ["Tell a story."], "family": ["story"]}),
    })
    dd.save_to_disk(str(tmp_path / "ds"))
    recs = load_prompts(tmp_path / "ds")
    assert [(r.id, r.split) for r in recs] == [("train-0", "train"), ("train-1", "train"), ("test-0", "test")]
    assert load_prompts(str(tmp_path / "ds"), split="test")[0].prompt == "Tell a story."

    ds = datasets.Dataset.from_dict({"id": ["x", "y"], "prompt": ["ok", " "]})
    ds.save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(DataError, match=r"\[row 1\]: empty prompt"):
        load_prompts(tmp_path / "bad")

    nocol = datasets.Dataset.from_dict({"text": ["hi"]})
    nocol.save_to_disk(str(tmp_path / "nocol"))
    with pytest.raises(DataError, match="no 'prompt' column"):
        load_prompts(tmp_path / "nocol")

    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="not a saved HF dataset"):
        load_prompts(tmp_path / "plain")


def test_hf_hub_offline_is_a_clear_error(monkeypatch):
    # The real datasets.load_dataset code path, offline: it must become one JudgelabError line.
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    with pytest.raises(JudgelabError) as ei:
        load_prompts("judgelab-test/no-such-dataset-xyz")
    msg = str(ei.value)
    assert "could not load HF dataset 'judgelab-test/no-such-dataset-xyz'" in msg and "\n" not in msg


def test_shipped_dir_has_only_jsonl():
    assert all(p.suffix == ".jsonl" for p in PROMPT_SETS_DIR.iterdir() if p.is_file())


@pytest.mark.parametrize("source", ["nothere.csv", "nothere.jsonl", "data/prompts.parquet", "a/b/c", "~/p.txt", "./p"])
def test_a_missing_prompt_path_fails_at_once_not_on_the_hub(source, monkeypatch, tmp_path):
    import judgelab.data.prompts as prompts

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prompts, "_load_hf_hub", lambda name: pytest.fail(f"{name!r} sent to the hub"))
    with pytest.raises(DataError, match="prompt file not found"):
        load_prompts(source)


def test_hub_ids_still_go_to_the_hub(monkeypatch):
    import judgelab.data.prompts as prompts

    monkeypatch.setattr(prompts, "_load_hf_hub", lambda name: [name])
    assert prompts._load_all("org/name") == ["org/name"] and prompts.check_source("org/name") == "hub"


def test_a_csv_prompt_file_says_to_use_jsonl(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("id,prompt\na,Write a poem.\n")
    with pytest.raises(DataError, match=r"unsupported prompt file format '\.csv'.*JSONL: one JSON object per line with 'id' and 'prompt'"):
        load_prompts(str(csv))


def test_a_prompt_file_with_a_bom_loads(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_bytes(b'\xef\xbb\xbf' + json.dumps({"id": "a", "prompt": "Write.", "family": "poem"}).encode() + b"\n")
    assert [r.id for r in load_prompts(str(p))] == ["a"]
