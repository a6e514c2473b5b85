"""Export of gold annotations to TRL formats (Parquet / JSONL / HF folder), import of external
preference datasets, the round trip between them, and that TRL's RewardTrainer accepts the export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from judgelab.data.export import export_run, import_into_run, import_preferences, preference_rows, score_rows
from judgelab.data.jsonl import read_jsonl, write_jsonl
from judgelab.data.records import PairAnnotation, PointAnnotation
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError


def _pairs() -> list[PairAnnotation]:
    labels = ["A", "B", "tie", "A", None, "B"]
    return [
        PairAnnotation(
            id=f"pair{i}", prompt_id=f"p{i % 3}", prompt=f"Write about {i}.", response_a_id=f"r{i}a",
            response_b_id=f"r{i}b", response_a=f"answer A{i}", response_b=f"answer B{i}", label=lab,
            label_ab=lab, label_ba=lab, consistent=lab is not None, family="poem", judge="gold",
            constraints={"lines": 4}, error=None if lab is not None else "boom",
        )
        for i, lab in enumerate(labels)
    ]


def _points() -> list[PointAnnotation]:
    return [
        PointAnnotation(id=f"r{i}", prompt_id="p0", prompt="Write.", response_id=f"r{i}", response=f"text {i}",
                        score=float(i + 1) if i != 2 else None, judge="gold")
        for i in range(4)
    ]


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    rd = RunDir(tmp_path / "run").ensure()
    write_jsonl(rd.pairs, [p.to_dict() for p in _pairs()])
    write_jsonl(rd.points, [p.to_dict() for p in _points()])
    return rd


def test_preference_rows_conversational_and_standard() -> None:
    rows = preference_rows(_pairs())
    assert [r["id"] for r in rows] == ["pair0", "pair1", "pair3", "pair5"]  # tie and failed dropped
    r0, r1 = rows[0], rows[1]
    assert r0["prompt"] == [{"role": "user", "content": "Write about 0."}]
    assert r0["chosen"] == [{"role": "assistant", "content": "answer A0"}]
    assert r1["chosen"] == [{"role": "assistant", "content": "answer B1"}]  # label B -> B chosen
    assert r1["rejected"][0]["content"] == "answer A1" and r1["chosen_id"] == "r1b"
    assert "margin" not in r0  # RewardTrainer would put it in the loss
    kept = preference_rows(_pairs(), drop_ties=False, conversational=False)
    assert len(kept) == 5 and kept[2]["label"] == "tie" and kept[2]["chosen"] == "answer A2"
    pts = score_rows(_points())
    assert [p["score"] for p in pts] == [1.0, 2.0, 4.0]
    assert pts[0]["completion"] == [{"role": "assistant", "content": "text 0"}]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "hf"])
def test_export_import_round_trip(run: RunDir, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out-{fmt}"
    s = export_run(run.root, out, fmt)
    assert s["preferences"]["rows"] == 4 and s["preferences"]["dropped"] == 2 and s["scores"]["rows"] == 3
    src = Path(s["preferences"]["path"])
    back = import_preferences(src)
    expected = [r for r in _pairs() if r.label in ("A", "B")]
    assert len(back) == len(expected)
    for imp, orig in zip(back, expected):
        winner, loser = (orig.response_a, orig.response_b) if orig.label == "A" else (orig.response_b, orig.response_a)
        assert imp.label == "A" and imp.response_a == winner and imp.response_b == loser
        assert imp.prompt == orig.prompt and imp.prompt_id == orig.prompt_id and imp.id == orig.id
    # and once more through the run directory: import -> export gives the same preference rows
    rd2 = RunDir(tmp_path / f"run2-{fmt}")
    assert import_into_run(src, rd2.root) == 4
    s2 = export_run(rd2.root, tmp_path / f"out2-{fmt}", "jsonl")
    first = read_jsonl(out / "preferences.jsonl") if fmt == "jsonl" else None
    again = read_jsonl(Path(s2["preferences"]["path"]))
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in again] == [
        (r["prompt"], r["chosen"], r["rejected"]) for r in preference_rows(expected)
    ]
    if first is not None:
        assert [r["chosen"] for r in first] == [r["chosen"] for r in again]


def test_import_standard_and_implicit_prompt(tmp_path: Path) -> None:
    p = tmp_path / "prefs.jsonl"
    rows = [
        {"prompt": "Say hi", "chosen": "hi", "rejected": "go away"},
        {"chosen": [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1 2 3"}],
         "rejected": [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "no"}]},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = import_preferences(p)
    assert [(g.prompt, g.response_a, g.response_b, g.label) for g in got] == [
        ("Say hi", "hi", "go away", "A"), ("Count", "1 2 3", "no", "A")
    ]
    assert got[0].prompt_id != got[1].prompt_id and got[0].id == "prefs-0"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "chosen": "y"}) + "\n")
    with pytest.raises(DataError, match="missing column 'rejected'"):
        import_preferences(bad)
    with pytest.raises(DataError, match="not found"):
        import_preferences(tmp_path / "missing.parquet")


def test_export_cli(run: RunDir, tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "from judgelab.cli import main; main()", "export"]
    r = subprocess.run(cli + ["--run", str(run.root), "--format", "jsonl", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "preferences: 4 rows" in r.stdout and len(read_jsonl(tmp_path / "o" / "preferences.jsonl")) == 4
    r = subprocess.run(cli + ["--run", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no annotations found" in r.stderr and r.stderr.strip().count("\n") == 0


def test_trl_reward_trainer_accepts_export(run: RunDir, tmp_path: Path) -> None:
    """The exported HF folder trains one RewardTrainer step on a tiny model (TRL 1.16, CPU)."""
    import torch
    from datasets import load_from_disk
    from trl import RewardConfig, RewardTrainer

    from judgelab.models.testing import tiny_model

    torch.set_num_threads(1)
    s = export_run(run.root, tmp_path / "hf", "hf")
    ds = load_from_disk(s["preferences"]["path"])
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    model, tok = tiny_model(task="seq-cls")
    args = RewardConfig(
        output_dir=str(tmp_path / "rm"), max_steps=1, per_device_train_batch_size=2, report_to=[],
        logging_steps=1, save_strategy="no", use_cpu=True, max_length=128, dataloader_num_workers=0,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    out = trainer.train()
    assert out.global_step == 1 and torch.isfinite(torch.tensor(out.training_loss))
