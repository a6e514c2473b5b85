"""Bad input the robustness issue listed, each: exit code 2, one line naming what and where, no
traceback (and nothing slow started first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgelab.cli import main

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ROOT / "examples" / "judge_items.jsonl"
RUBRIC = ROOT / "examples" / "judge_rubric.yaml"


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ei:
        main(args)
    return ei.value.code, capsys.readouterr().err


def _annotated_run(root: Path) -> Path:
    ann = root / "run" / "annotations"
    ann.mkdir(parents=True)
    (ann / "points.jsonl").write_text(json.dumps({"id": "a", "prompt_id": "p", "prompt": "x", "response_id": "r",
                                                  "response": "y", "score": "high"}) + "\n")
    return root / "run"


def test_bad_input_table(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"name: caf\xe9\n")
    bad_items = tmp_path / "items.jsonl"
    bad_items.write_bytes(b'{"id": "a", "prompt": "p", "response": "\xff"}\n')
    openai_key = tmp_path / "openai.yaml"
    openai_key.write_text("backend: {type: openai, model: m, base_urls: ['http://x/v1'], api_key: s}\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    run = _annotated_run(tmp_path)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{nope")
    o = str(tmp_path / "o.jsonl")
    cases = [
        (["run"], "no run config given"),
        (["judge", "-c", str(empty), "-i", str(ITEMS), "-o", o], "the judge config is empty"),
        (["judge", "-c", str(latin1), "-i", str(ITEMS), "-o", o], f"{latin1}:1: not UTF-8 text (byte 0xe9"),
        (["judge", "-c", str(RUBRIC), "-i", str(bad_items), "-o", o], f"{bad_items}:1: not UTF-8 text"),
        (["judge", "-c", str(openai_key), "-i", str(ITEMS), "-o", o],
         "unknown key 'api_key' for backend type 'openai' (known keys: type, model, base_urls"),
        (["train-judge", "--run", str(run), "--set", "max_steps=-4"], "max_steps must be -1 (train for `epochs`) or >= 1"),
        (["export", "--run", str(run), "--out", str(afile)], "export writes a folder"),
        (["export", "--run", str(run), "--out", str(tmp_path / "exp")], "points.jsonl:1: field 'score' must be a number"),
        (["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", "policy.seeds=[]"], "--set: bad value for 'policy.seeds'"),
        (["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", f"run_dir={corrupt}"], "run.json is not valid JSON"),
        (["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", "judges.0.nosuch=1"],
         "unknown key 'judges.0.nosuch' (known keys here: batch_size, bf16"),
    ]
    p5 = tmp_path / "p5.jsonl"
    p5.write_text('{"id": "a", "prompt": 5, "family": "x"}\n')
    cases.append((["sample", "--run", str(tmp_path / "s"), "--set", f"prompts.source={p5}"], "'prompt' in row 'a' is int 5, not a string"))
    cases.append((["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", f"run_dir={tmp_path / 'pf'}",
                   "--set", "judges.0.model=no-such-model"], "judges.0.model: unknown model 'no-such-model'"))
    cases.append((["train-policy", "--run", str(tmp_path / "esc"), "--name", "../../escape"], "bad policy name '../../escape'"))
    for args, expect in cases:
        code, err = run_cli(args, capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("error: ") and expect in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "esc").exists()  # a refused name creates nothing
