"""`judgelab judge` through the real CLI entry point (judgelab.cli.main): outputs, summary, store
reuse, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from judgelab.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ITEMS = EXAMPLES / "judge_items.jsonl"
RUBRIC = EXAMPLES / "judge_rubric.yaml"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(args)
    out = capsys.readouterr()
    return ei.value.code, out.out, out.err


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_rubric_example_and_store_reuse(tmp_path: Path, capsys) -> None:
    out, store = tmp_path / "v.jsonl", tmp_path / "store.sqlite"
    args = ["judge", "--config", str(RUBRIC), "--input", str(ITEMS), "--output", str(out), "--store", str(store)]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0
    items = _rows(ITEMS)
    verdicts = _rows(out)
    assert len(items) == 12 and [v["item_id"] for v in verdicts] == [i["id"] for i in items]
    assert {v["mode"] for v in verdicts} == {"pointwise", "pairwise"}
    assert all(v["parsed"] for v in verdicts)
    assert "judged 12 items" in stdout and "parsed 12" in stdout and "cached 0" in stdout
    # The rubric prefers the clean poem to the flattering non-poem, in both modes.
    by = {v["item_id"]: v for v in verdicts}
    assert by["poem-1"]["score"] > by["poem-2"]["score"] and by["pair-poem"]["preference"] == "A"
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and "cached 12" in stdout
    assert all(v["cached"] for v in _rows(out))


def test_default_store_beside_output_makes_reruns_resume(tmp_path: Path, capsys) -> None:
    out = tmp_path / "verdicts.jsonl"
    args = ["judge", "-c", str(RUBRIC), "-i", str(ITEMS), "-o", str(out)]
    assert run_cli(args, capsys)[0] == 0
    assert (tmp_path / "verdicts.store.sqlite").exists()
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and "cached 12" in stdout
    out2 = tmp_path / "fresh.jsonl"
    code, stdout, _ = run_cli(["judge", "-c", str(RUBRIC), "-i", str(ITEMS), "-o", str(out2), "--no-store"], capsys)
    assert code == 0 and "cached 0" in stdout and not (tmp_path / "fresh.store.sqlite").exists()
    code, _, err = run_cli([*args, "--no-store", "--store", str(tmp_path / "s.sqlite")], capsys)
    assert code == 2 and "--store and --no-store" in err


def test_transformers_backend_through_cli(tmp_path: Path, tiny_causal_lm, capsys) -> None:
    model, tok = tiny_causal_lm
    folder = tmp_path / "tiny"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    out = tmp_path / "v.jsonl"
    code, stdout, err = run_cli(
        ["judge", "--config", str(EXAMPLES / "judge_smollm2.yaml"), "--input", str(ITEMS), "--output", str(out),
         "--set", f"backend.model={folder}", "--set", "sampling.max_new_tokens=3"], capsys)
    assert code == 0, err
    verdicts = _rows(out)
    assert len(verdicts) == 12 and all(v["error"] is None and v["raw"] != "" for v in verdicts)
    assert "judged 12 items" in stdout


@pytest.mark.parametrize(
    "lines, expect",
    [
        (['{"id": "a", "prompt": "p", "response": "r"}', "{oops"], ":2: malformed JSON"),
        (['{"id": "a", "prompt": "p"}'], ":1: no response"),
        (['{"id": "a", "prompt": "p", "response": "r"}', '', '{"id": "a", "prompt": "p", "response": "s"}'],
         ":3: duplicate id 'a'"),
        (['{"id": "a", "prompt": "p", "response_a": "r"}'], ":1: missing 'response_b'"),
        (['{"id": "a", "prompt": "p", "response": "r", "score": 3}'], ":1: unknown field(s) 'score'"),
    ],
)
def test_malformed_items_name_file_and_line(tmp_path: Path, capsys, lines, expect) -> None:
    bad = tmp_path / "items.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(["judge", "-c", str(RUBRIC), "-i", str(bad), "-o", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and f"{bad}{expect}" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    o = str(tmp_path / "o.jsonl")
    cases = [
        (["-c", str(RUBRIC), "-i", str(tmp_path / "missing.jsonl"), "-o", o], "missing.jsonl: file not found"),
        (["-c", str(tmp_path / "nope.yaml"), "-i", str(ITEMS), "-o", o], "nope.yaml: config file not found"),
        (["-c", str(RUBRIC), "-i", str(ITEMS), "-o", o, "--set", "backend.type=nope"], "unknown backend 'nope'"),
        (["-c", str(EXAMPLES / "judge_smollm2.yaml"), "-i", str(ITEMS), "-o", o, "--set", "backend.model=no-such-model"],
         "unknown model 'no-such-model'"),
        (["-i", str(ITEMS), "-o", o], "no judge config"),
    ]
    for args, expect in cases:
        code, _, err = run_cli(["judge", *args], capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and expect in err and "Traceback" not in err, err


def test_real_entry_point_subprocess(tmp_path: Path) -> None:
    """The installed `judgelab` script path: exit 2, one line on stderr, no traceback."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", "from judgelab.cli import main; main()", "judge", "-c", str(RUBRIC),
                        "-i", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o.jsonl")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error: ") and "none.jsonl: file not found" in r.stderr


def test_store_may_not_be_the_output_or_the_input(tmp_path: Path, capsys) -> None:
    items = tmp_path / "items.jsonl"
    items.write_bytes(ITEMS.read_bytes())
    out = tmp_path / "v.jsonl"
    out.write_text("kept\n")
    for store, what in ((out, "output"), (items, "input"), (tmp_path / "." / "v.jsonl", "output")):
        code, _, err = run_cli(["judge", "-c", str(RUBRIC), "-i", str(items), "-o", str(out), "--store", str(store)],
                               capsys)
        assert code == 2 and err.count("\n") == 1 and f"the store would overwrite the {what} file" in err, err
    assert out.read_text() == "kept\n" and items.read_bytes() == ITEMS.read_bytes()
    # an output under a file: one line, exit 2, nothing judged
    (tmp_path / "afile").write_text("")
    code, _, err = run_cli(["judge", "-c", str(RUBRIC), "-i", str(items), "-o", str(tmp_path / "afile" / "v.jsonl")],
                           capsys)
    assert code == 2 and err.count("\n") == 1 and "afile is a file" in err and "Traceback" not in err


def test_config_may_be_a_judge_folder_or_a_registered_name(tmp_path: Path, capsys) -> None:
    """`-c` takes what a judge spec takes: a YAML, a (trained) judge folder, a registered name."""
    folder = tmp_path / "judges" / "mine"
    folder.mkdir(parents=True)
    (folder / "judgelab_judge.json").write_text(json.dumps({"name": "mine", "backend": {"type": "rubric"}}))
    for spec, name in ((str(folder), "mine"), ("rubric-gold", "gold")):
        out = tmp_path / f"{name}.jsonl"
        code, stdout, err = run_cli(["judge", "-c", spec, "-i", str(ITEMS), "-o", str(out)], capsys)
        assert code == 0, err
        assert "judged 12 items" in stdout and {v["judge"] for v in _rows(out)} == {name}
    code, _, err = run_cli(["judge", "-c", str(tmp_path), "-i", str(ITEMS), "-o", str(tmp_path / "x.jsonl")], capsys)
    assert code == 2 and "no judgelab_judge.json in this folder" in err and err.count("\n") == 1
    code, _, err = run_cli(["judge", "-c", "rubric-gold", "--set", "scale=[1,5]", "-i", str(ITEMS), "-o",
                            str(tmp_path / "x.jsonl")], capsys)
    assert code == 2 and "--set needs a judge YAML" in err
    from click.testing import CliRunner

    from judgelab.cli import cli

    help_text = " ".join(CliRunner().invoke(cli, ["judge", "--help"]).output.split())
    assert "a trained judge folder" in help_text and "rubric-gold" in help_text


def test_every_item_unparsed_warns(tmp_path: Path, capsys) -> None:
    """Unparsed verdicts are not failures (exit 0, raw text kept), but none parsing says so on stderr."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from fault_server import FaultServer

    with FaultServer(reply=lambda text: "I would rather not say.") as srv:
        cfg = tmp_path / "j.yaml"
        cfg.write_text(f"name: shy\nstyle: direct\nbackend: {{type: openai, model: m, base_urls: ['{srv.url}']}}\n")
        code, stdout, err = run_cli(["judge", "-c", str(cfg), "-i", str(ITEMS), "-o", str(tmp_path / "v.jsonl")], capsys)
    assert code == 0 and "parsed 0, parse failures 12" in stdout
    assert "warning: no verdict parsed (12 of 12 items are parse failures)" in err
    code, _, err = run_cli(["judge", "-c", str(RUBRIC), "-i", str(ITEMS), "-o", str(tmp_path / "ok.jsonl")], capsys)
    assert code == 0 and "warning" not in err


def test_rubric_items_without_constraints_are_named(tmp_path: Path, capsys) -> None:
    """The rubric scores an item without constraints (and without a family implying some) on its
    generic criteria only: a plausible score either way, so the command says how many were."""
    code, _, err = run_cli(["judge", "-c", str(RUBRIC), "-i", str(ITEMS), "-o", str(tmp_path / "v.jsonl")], capsys)
    assert code == 0 and "note: 3 of 12 items have no meta.constraints" in err  # the three chat items
