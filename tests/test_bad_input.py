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
         "'api_key' is not accepted in a config: put the key in an environment variable and name it with api_key_env"),
        (["train-judge", "--run", str(run), "--set", "max_steps=-4"], "max_steps must be -1 (train for `epochs`) or >= 1"),
        (["export", "--run", str(run), "--out", str(afile)], "export writes a folder"),
        (["export", "--run", str(run), "--out", str(tmp_path / "exp")], "points.jsonl:1: field 'score' must be a number"),
        (["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", "policy.seeds=[]"], "--set: bad value for 'policy.seeds'"),
        (["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", f"run_dir={corrupt}"], "run.json is not valid JSON"),
        (["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", "judges.0.nosuch=1"],
         "unknown key 'judges.0.nosuch' (known keys here: arm, batch_size, bf16"),
    ]
    p5 = tmp_path / "p5.jsonl"
    p5.write_text('{"id": "a", "prompt": 5, "family": "x"}\n')
    cases.append((["sample", "--run", str(tmp_path / "s"), "--set", f"prompts.source={p5}"], "'prompt' in row 'a' is int 5, not a string"))
    cases.append((["run", str(ROOT / "examples" / "quickstart.yaml"), "--set", f"run_dir={tmp_path / 'pf'}",
                   "--set", "judges.0.model=no-such-model"], "judges.0.model: unknown model 'no-such-model'"))
    cases.append((["train-policy", "--run", str(tmp_path / "esc"), "--name", "../../escape"], "bad policy name '../../escape'"))
    cases += _more_cases(tmp_path)
    for args, expect in cases:
        code, err = run_cli(args, capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("error: ") and expect in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "esc").exists()  # a refused name creates nothing


def _response(i: int, **kw) -> dict:
    from judgelab.data.records import ResponseRecord

    row = ResponseRecord(id=f"p::m::{i}", prompt_id="p", prompt="Write.", response="hello there", model="m",
                         family="poem", sample_index=i).to_dict()
    return {**row, **kw}


def _more_cases(tmp: Path) -> list[tuple[list[str], str]]:
    """The rest of the issue's lists: non-UTF-8 in every reader, types checked on load, late
    errors made early, and the unclear messages."""
    cases = []
    # non-UTF-8 prompts (sample), responses (annotate), pairs (export)
    p = tmp / "latin1_prompts.jsonl"
    p.write_bytes(b'{"id": "a", "prompt": "caf\xe9", "family": "x"}\n')
    cases.append((["sample", "--run", str(tmp / "s1"), "--set", f"prompts.source={p}"], f"{p}:1: not UTF-8 text (byte 0xe9"))
    r = tmp / "r_bytes"
    r.mkdir()
    (r / "responses.jsonl").write_bytes((json.dumps(_response(0)) + "\n").encode() + b'{"id": "\xff"}\n'
                                        + (json.dumps(_response(2)) + "\n").encode())
    cases.append((["annotate", "--run", str(r)], "responses.jsonl:2: not UTF-8 text (byte 0xff"))
    r = tmp / "r_pairs_bytes"
    (r / "annotations").mkdir(parents=True)
    (r / "annotations" / "pairs.jsonl").write_bytes(b'{"id": "\xff"}\n')
    cases.append((["export", "--run", str(r), "--out", str(tmp / "x1")], "pairs.jsonl:1: not UTF-8 text (byte 0xff"))
    r = tmp / "r_points_bytes"
    (r / "annotations").mkdir(parents=True)
    (r / "annotations" / "points.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
    cases.append((["export", "--run", str(r), "--out", str(tmp / "x3")], "points.jsonl:1: not UTF-8 text (byte 0xe9"))
    # response: 12345 is refused on load, not an AttributeError per item with exit 0
    r = tmp / "r_int"
    r.mkdir()
    (r / "responses.jsonl").write_text(json.dumps(_response(0)) + "\n" + json.dumps(_response(1, response=12345)) + "\n")
    cases.append((["annotate", "--run", str(r)], "responses.jsonl:2: field 'response' must be a string, got int 12345"))
    # a pair label "Z" is refused, not read as a tie
    r = tmp / "r_z"
    (r / "annotations").mkdir(parents=True)
    pair = {"id": "a~b", "prompt_id": "p", "prompt": "x", "response_a_id": "a", "response_b_id": "b",
            "response_a": "y", "response_b": "z", "label": "Z"}
    (r / "annotations" / "pairs.jsonl").write_text(json.dumps(pair) + "\n")
    cases.append((["export", "--run", str(r), "--out", str(tmp / "x2")], "field 'label' must be 'A', 'B', 'tie' or null, got 'Z'"))
    # score "high" stops train-judge before any model load (the model named here does not exist:
    # loading it first would give another error)
    r = _annotated_run(tmp / "tj")
    for kind_or_mode in ("mode=pointwise", "kind=reward-model"):
        cases.append((["train-judge", "--run", str(r), "--set", kind_or_mode, "--set", "model=/no/such/model"],
                      "points.jsonl:1: field 'score' must be a number or null, got str 'high'"))
    # an unknown grpo.extra key, before TRL builds its config (and before a model load)
    cases.append((["train-policy", "--run", str(tmp / "tp"), "--name", "p", "--set", "grpo.extra.nosuch=1"],
                   "grpo.extra has key(s) trl.GRPOConfig does not know: nosuch"))
    # --max-steps -3 names the option and the range, not "--set: bad value"
    cases.append((["train-policy", "--run", str(tmp / "tp"), "--name", "p", "--max-steps", "-3"],
                  "--max-steps: --max-steps must be an integer >= 1, got -3"))
    # a hub id without network: at once, naming the id and the ways out (conftest sets HF_HUB_OFFLINE)
    hub = tmp / "hub.yaml"
    hub.write_text("backend: {type: transformers, model: someorg/not-cached}\n")
    cases.append((["judge", "-c", str(hub), "-i", str(ITEMS), "-o", str(tmp / "h.jsonl")],
                  "hub model 'someorg/not-cached' is not in the local Hugging Face cache and the hub is unreachable"))
    # a second sample whose prompt set changed a prompt the run already sampled
    r = tmp / "r_prompts"
    r.mkdir()
    (r / "prompts.jsonl").write_text(json.dumps({"schema": "judgelab.prompt/v1", "id": "a", "prompt": "old text",
                                                 "family": "x", "split": "train", "constraints": {}}) + "\n")
    new = tmp / "new_prompts.jsonl"
    new.write_text(json.dumps({"id": "a", "prompt": "new text", "family": "x"}) + "\n")
    cases.append((["sample", "--run", str(r), "--set", f"prompts.source={new}"],
                  "prompt 'a' differs from the one this run sampled before (field(s) prompt)"))
    return cases


def _down_judge(tmp_path: Path) -> tuple[Path, int]:
    """A judge YAML whose server is down (a port nobody listens on), and that port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "down.yaml"
    cfg.write_text(f"backend: {{type: openai, model: m, base_urls: ['http://127.0.0.1:{port}/v1'], max_retries: 0}}\n")
    return cfg, port


def test_every_item_failed_exits_3_with_one_error_line(tmp_path: Path, capsys) -> None:
    """Server down: the summary, then one error line, exit 3 (not 0); no traceback."""
    cfg, _ = _down_judge(tmp_path)
    with pytest.raises(SystemExit) as ei:
        main(["judge", "-c", str(cfg), "-i", str(ITEMS), "-o", str(tmp_path / "o.jsonl")])
    out = capsys.readouterr()
    assert ei.value.code == 3
    assert "failures 12" in out.out and "Traceback" not in out.err + out.out
    errors = [ln for ln in out.err.splitlines() if ln.startswith("error: ")]
    assert errors == ["error: every item failed (12 of 12); see the errors above"]


# ------------------------------------------------------------------ issue 25: names, output paths, bytes

def _pairs_run(tmp_path):
    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.rundir import RunDir

    write_jsonl(RunDir(tmp_path).pairs, [{"id": "p0", "prompt_id": "q", "prompt": "Write a poem.", "response_a_id": "a",
                                          "response_b_id": "b", "response_a": "Sea.", "response_b": "Sea and stone.",
                                          "label": "B", "split": "test", "family": "poem"}])
    return tmp_path


@pytest.mark.parametrize("name", ["../../../x", "/tmp/abs", "a" * 300, ".hidden"])
def test_eval_judge_names_never_leave_the_output_folder(tmp_path, capsys, name):
    from judgelab.cli import main

    run = _pairs_run(tmp_path / "run")
    with pytest.raises(SystemExit) as exc:
        main(["eval-judge", "--judge", "rubric-gold", "--run", str(run), "--name", name])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "bad judge name" in err and "Traceback" not in err
    # nothing written anywhere: not where '../../../x' would land (tmp_path/x.json), not /tmp/abs.json
    assert not list(tmp_path.rglob("*.json")) and not Path("/tmp/abs.json").exists()


@pytest.mark.parametrize("out", ["FILE/sub", "/proc/judgelab-x"])
def test_unusable_output_folders_are_one_line_errors(tmp_path, capsys, out):
    from judgelab.cli import main

    run = _pairs_run(tmp_path / "run")
    (tmp_path / "FILE").write_text("a file")
    target = str(tmp_path / out) if out.startswith("FILE") else out
    with pytest.raises(SystemExit) as exc:
        main(["eval-judge", "--judge", "rubric-gold", "--run", str(run), "--out", target])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "cannot create the output folder" in err and "Traceback" not in err


@pytest.mark.parametrize("data", [b"\xff\xfe{\"a\": 1}\n", bytes(range(256)) * 4])
def test_benchmark_data_that_is_not_text(tmp_path, capsys, data):
    from judgelab.cli import main

    path = tmp_path / "bench.jsonl"
    path.write_bytes(data)
    with pytest.raises(SystemExit) as exc:
        main(["eval-judge", "--judge", "rubric-gold", "--data", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "not UTF-8 text" in err and f"{path}:" in err


def test_run_json_that_is_not_a_record_and_doctor_says_so(tmp_path, capsys):
    from judgelab.cli import main

    (tmp_path / "run.json").write_text("[1, 2]")
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "points.jsonl").write_text('{"id": "x", "score": "7"}\n')
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--run", str(tmp_path), "--set", "prompts.limit=1", "--set", "n=1"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "run.json is not a run record" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["doctor", str(tmp_path)])
    err = capsys.readouterr().err  # problems go to stderr, the summary to stdout
    assert exc.value.code == 1 and "not a run record" in err and "'score' is '7'" in err


def test_grpo_extra_values_are_checked_against_trls_types_before_loading():
    from judgelab.errors import ConfigError
    from judgelab.train.settings import check_grpo_extra

    check_grpo_extra({"report_to": ["none"], "warmup_steps": 2, "lr_scheduler_type": "cosine",
                      "gradient_checkpointing": True, "learning_rate": "1e-4", "max_grad_norm": 1}, where="grpo.extra")
    with pytest.raises(ConfigError, match=r"grpo.extra.learning_rate: bad value 'fast'.*number"):
        check_grpo_extra({"learning_rate": "fast"}, where="grpo.extra")
    with pytest.raises(ConfigError, match=r"grpo.extra.num_iterations"):
        check_grpo_extra({"num_iterations": [1, 2]}, where="grpo.extra")


def test_sample_that_fails_every_response_exits_nonzero_and_a_numeric_response_is_resampled(tmp_path, capsys):
    """A policy whose server is down fails every request: exit 3 (EXIT_ALL_FAILED), as annotate does.
    A resumed run does not accept a row whose response is not text."""
    import json

    from judgelab.cli import main
    from judgelab.data.rundir import RunDir
    from judgelab.sample import _existing

    bad = {"policies": [{"name": "down", "backend": {"type": "openai", "model": "m", "base_urls": ["http://127.0.0.1:9/v1"],
                                                       "max_retries": 0, "timeout_s": 2}}]}
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps(bad))
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--run", str(tmp_path), "-c", str(cfg), "--set", "prompts.limit=1", "--set", "n=1"])
    assert exc.value.code == 3 and "every response failed" in capsys.readouterr().err
    RunDir(tmp_path).responses.write_text(json.dumps({"id": "r1", "response": 5}) + "\n")
    assert _existing(RunDir(tmp_path).responses)["r1"]["error"] == "response is int, not text"


def test_export_writes_valid_json_and_never_overwrites_silently(tmp_path, capsys):
    import json
    import math

    from judgelab.cli import main
    from judgelab.data.export import write_rows

    path = write_rows([{"score": math.nan, "x": [1.0, math.inf]}], tmp_path / "s.jsonl", "jsonl")
    assert json.loads(path.read_text()) == {"score": None, "x": [1.0, None]}  # strict JSON: no bare NaN
    run = _pairs_run(tmp_path / "run")
    out = tmp_path / "exp"
    with pytest.raises(SystemExit) as exc:
        main(["export", "--run", str(run), "--out", str(out)])
    assert exc.value.code in (0, None) and (out / "preferences.parquet").exists()
    with pytest.raises(SystemExit) as exc:
        main(["export", "--run", str(run), "--out", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "preferences.parquet already exist" in err and "--overwrite" in err
    with pytest.raises(SystemExit) as exc:
        main(["export", "--run", str(run), "--out", str(out), "--overwrite"])
    assert exc.value.code in (0, None)


def test_misleading_messages_name_the_real_cause(tmp_path, capsys):
    """The issue's misleading messages: a `judge --set` error names --set (not the YAML file); a
    partial `--set gold.backend.rubric=...` says --set made 'gold' from that one key alone; `--set
    policies.0...` with no policies says there is no list to index (not 'Input should be a valid
    list'); malformed constraints in judge items are refused at file:line before judging."""
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "a", "prompt": "Write.", "response": "Sea.", "meta": {"constraints": "lines=4"}}) + "\n")
    items2 = tmp_path / "items2.jsonl"
    items2.write_text(json.dumps({"id": "a", "prompt": "Write.", "response": "Sea."}) + "\n" +
                      json.dumps({"id": "b", "prompt": "Write.", "response": "Sea.", "meta": {"constraints": {"lines": "four"}}}) + "\n")
    o = str(tmp_path / "o.jsonl")
    cases = [
        (["judge", "-c", str(RUBRIC), "-i", str(ITEMS), "-o", o, "--set", "nosuch=1"], "error: --set: unknown key 'nosuch'"),
        (["annotate", "--run", str(tmp_path / "r"), "--set", "gold.backend.rubric=flawed-brevity"],
         "--set made 'gold' from nothing (the config has none), so 'gold.backend' holds only gold.backend.rubric"),
        (["sample", "--run", str(tmp_path / "s"), "--set", "policies.0.backend.model=X"],
         "'policies' is not set here, so --set cannot index it (policies.0)"),
        (["judge", "-c", str(RUBRIC), "-i", str(items), "-o", o], f"{items}:1: 'constraints' must be an object in row 'a'"),
        (["judge", "-c", str(RUBRIC), "-i", str(items2), "-o", o],
         f"{items2}:2: constraint 'lines' in row 'b' must be a positive integer, got 'four'"),
    ]
    for args, expect in cases:
        code, err = run_cli(args, capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and expect in err and "Traceback" not in err, (args, err)
    assert str(RUBRIC) not in run_cli(cases[0][0], capsys)[1]
    assert not (tmp_path / "o.jsonl").exists()  # nothing judged


def test_failed_items_print_their_causes(tmp_path, capsys):
    """Items that fail while judging: the commonest causes are printed (not only 'failures N'),
    and exit 3 only when every item failed."""
    cfg, port = _down_judge(tmp_path)
    with pytest.raises(SystemExit) as ei:
        main(["judge", "-c", str(cfg), "-i", str(ITEMS), "-o", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert ei.value.code == 3
    warned = [ln for ln in err.splitlines() if ln.startswith("warning: ") and "item(s) failed: " in ln]
    assert warned and "12 item(s) failed" in warned[0] and f"127.0.0.1:{port}" in warned[0], err


def test_a_judge_yaml_name_and_doctor_on_what_is_not_a_run(tmp_path, capsys):
    """`name:` inside a judge YAML is checked like --name (no file outside the run); doctor on a
    folder that does not exist is an error (exit 2), on a corrupt run.json a problem (exit 1)."""
    run = _pairs_run(tmp_path / "run")
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: ../../../escaped\nbackend: {type: rubric, rubric: gold}\n")
    code, err = run_cli(["eval-judge", "--judge", str(evil), "--run", str(run)], capsys)
    assert code == 2 and "bad judge name '../../../escaped'" in err
    assert not list(tmp_path.rglob("escaped*"))
    code, err = run_cli(["doctor", str(tmp_path / "nonexistent")], capsys)
    assert code == 2 and "run directory not found" in err
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "run.json").write_text("{nope")
    with pytest.raises(SystemExit) as exc:
        main(["doctor", str(tmp_path / "corrupt")])
    assert exc.value.code == 1 and "run.json: not valid JSON" in capsys.readouterr().err
