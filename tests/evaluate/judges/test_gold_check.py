"""`judgelab gold-check`: a candidate gold's rank agreement with the rubric on a run's base samples
and trained-policy outputs, with CIs over prompts; validated only when every source clears the bar."""

from __future__ import annotations

import json
import random

from click.testing import CliRunner

from judgelab.cli import cli
from judgelab.data.jsonl import write_jsonl
from judgelab.data.prompts import load_prompts
from judgelab.data.rundir import RunDir

WORDS = "sea light stone wind river quiet morning gold bright slow".split()


def make_run(root):
    rng = random.Random(0)
    rows = []
    for p in load_prompts("creative-v1", split="train", limit=24):
        for k in range(4):
            n = rng.choice([3, 8, 20, 40, 90])
            text = " ".join(rng.choice(WORDS) for _ in range(n)) + rng.choice([".", "!!!", ""])
            rows.append({"id": f"{p.id}::{k}", "prompt_id": p.id, "prompt": p.prompt, "response": text, "model": "m",
                         "family": p.family, "split": "train", "constraints": p.constraints, "sample_index": k})
    write_jsonl(RunDir(root).responses, rows)


def test_gold_check_separates_a_faithful_gold_from_a_flawed_one(tmp_path):
    make_run(tmp_path)
    r = CliRunner().invoke(cli, ["gold-check", "--gold", "rubric-gold", "--run", str(tmp_path), "--min-rho", "0.9"])
    assert r.exit_code == 0, r.output
    assert "base samples: Spearman +1.000" in r.output and "VALIDATED" in r.output and "NOT VALIDATED" not in r.output
    res = json.loads((tmp_path / "eval" / "gold_check" / "gold.json").read_text())
    assert res["validated"] and res["sources"][0]["n"] == 96 and res["sources"][0]["n_prompts"] == 24

    r = CliRunner().invoke(cli, ["gold-check", "--gold", "rubric-noisy-gold", "--run", str(tmp_path), "--min-rho", "0.9"])
    noisy = json.loads((tmp_path / "eval" / "gold_check" / "noisy-gold.json").read_text())["sources"][0]
    assert r.exit_code == 0 and "NOT VALIDATED" in r.output  # noise lowers the rank agreement below 0.9
    assert 0.0 < noisy["spearman"] < 0.95 and noisy["ci95"][0] < noisy["spearman"] < noisy["ci95"][1]


def test_gold_check_needs_something_to_score(tmp_path, capsys):
    from judgelab.cli import main
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["gold-check", "--gold", "rubric-gold", "--run", str(tmp_path)])
    assert exc.value.code == 2 and "nothing to score" in capsys.readouterr().err
