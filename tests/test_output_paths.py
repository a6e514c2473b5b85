"""An output path that cannot be written (a file where a folder should be, /proc) is bad input:
every command that writes says so in one line (exit 2, no traceback), and checks it before its
work, so a bad --out never costs the work (rundir.writable_dir / writable_file)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.data.rundir import RunDir, writable_dir, writable_file
from judgelab.errors import DataError

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


def _cli(args: list[str], capsys) -> tuple[int, str]:
    from judgelab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr().err


def _answers(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Answers to 3 prompts: two per prompt (best-of-n's candidates), then two files of one each (arena)."""
    from judgelab.data.prompts import load_prompts

    prompts = load_prompts("creative-v1", limit=3)
    rows = lambda tag, k: [{"prompt_id": p.id, "prompt": p.prompt, "family": p.family,  # noqa: E731
                            "constraints": p.constraints, "response": f"{tag} answer {i} " * (i + 2)}
                           for p in prompts for i in range(k)]
    paths = tmp_path / "cands.jsonl", tmp_path / "base.jsonl", tmp_path / "other.jsonl"
    for path, (tag, k) in zip(paths, (("cand", 2), ("base", 1), ("other", 1))):
        write_jsonl(path, rows(tag, k))
    return paths


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    from test_annotate import make_run

    from judgelab.annotate.stage import AnnotateConfig, annotate

    run = make_run(tmp_path / "run", n_prompts=2, per_prompt=2).root
    annotate(AnnotateConfig.model_validate({"plot": False}), run)
    (run / "report").write_text("a file where report/ goes")
    (tmp_path / "afile").write_text("")
    cands, base, other = _answers(tmp_path)
    return {"run": run, "afile": tmp_path / "afile", "cands": cands, "base": base, "other": other,
            "items": Path(_TESTS).parent / "examples" / "judge_items.jsonl"}


@pytest.mark.parametrize("command", ["export", "best-of-n", "arena", "attacks", "annotate", "report", "judge"])
def test_unwritable_output_is_one_line_exit_2(inputs, capsys, command: str) -> None:
    bad = inputs["afile"] / "x"
    args = {
        "export": ["export", "--run", str(inputs["run"]), "--format", "jsonl", "--out", str(bad)],
        "best-of-n": ["best-of-n", "--selector", "rubric-gold", "--responses", str(inputs["cands"]), "--n", "2",
                      "--out", str(bad)],
        "arena": ["arena", "--baseline", str(inputs["base"]), "--model", str(inputs["other"]), "--judge", "rubric-gold",
                  "--out", str(bad), "--bootstrap", "10"],
        "attacks": ["attacks", "--responses", str(inputs["other"]), "--out", str(bad / "a.json")],
        "annotate": ["annotate", "--run", str(bad)],
        "report": ["report", "--run", str(inputs["run"])],  # RUN/report is a file
        "judge": ["judge", "-c", "rubric-gold", "-i", str(inputs["items"]), "-o", str(bad / "v.jsonl")],
    }[command]
    code, err = _cli(args, capsys)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert "afile is a file" in lines[0] or "report is a file" in lines[0], lines[0]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_proc_is_no_output_folder(capsys) -> None:
    for args in (["report", "--run", "/proc/self"], ["annotate", "--run", "/proc/judgelab-x"]):
        code, err = _cli(args, capsys)
        assert code == 2 and "cannot create the output folder" in err and "Traceback" not in err, err


def test_checked_before_the_work(tmp_path: Path, monkeypatch) -> None:
    """best-of-n, arena, attacks and export check the output before judging or reading anything."""
    import judgelab.data.export as export
    import judgelab.evaluate.arena.run as arena
    import judgelab.evaluate.attacks.analysis as attacks
    import judgelab.evaluate.policies.best_of_n as bon
    from judgelab.evaluate.arena.config import ArenaRunConfig
    from judgelab.evaluate.attacks.config import AttacksConfig

    def work(*args, **kw):
        raise AssertionError("the work ran before the output path was checked")

    (tmp_path / "afile").write_text("")
    bad = tmp_path / "afile" / "x"
    cands, base, other = _answers(tmp_path)
    monkeypatch.setattr(bon, "_study", work)
    monkeypatch.setattr(bon, "load_candidates", work)
    cfg = bon.BestOfNConfig.model_validate({"selector": "rubric-gold", "responses": str(cands), "ns": [1, 2]})
    with pytest.raises(DataError, match="afile is a file"):
        bon.best_of_n(cfg, bad)
    monkeypatch.setattr(arena, "load_contestants", work)
    with pytest.raises(DataError, match="afile is a file"):
        arena.run_arena(ArenaRunConfig(), str(base), [str(other)], ["rubric-gold"], bad)
    monkeypatch.setattr(attacks, "attacks_of_run", work)
    with pytest.raises(DataError, match="afile is a file"):
        attacks.run_attacks(AttacksConfig(), tmp_path, {}, out=bad / "attacks.json")
    run = RunDir(tmp_path / "run").ensure()
    write_jsonl(run.pairs, [{"id": "x"}])
    monkeypatch.setattr(export, "load_pairs", work)
    with pytest.raises(DataError, match="afile is a file"):
        export.export_run(run.root, bad, "jsonl")


def test_writable_helpers_and_the_writer_lock(tmp_path: Path) -> None:
    from judgelab.data.lock import writer_lock

    (tmp_path / "afile").write_text("")
    assert writable_dir(tmp_path / "new" / "deep", "--out").is_dir()
    assert writable_file(tmp_path / "new2" / "f.json", "--out") == tmp_path / "new2" / "f.json"
    with pytest.raises(DataError, match=r"--out .*: the output path is a folder"):
        writable_file(tmp_path, "--out")
    with pytest.raises(DataError, match=r"run directory .*afile/r: cannot create the output folder: .*afile is a file"):
        RunDir(tmp_path / "afile" / "r").ensure()
    with pytest.raises(DataError, match=r"cannot write this output here: .*afile/v\.jsonl \(give a path"
                                        r"|afile/v\.jsonl: cannot write this output here"):
        with writer_lock(tmp_path / "afile" / "v.jsonl", "this output"):
            pass


def test_attacks_cli_checks_out_before_the_analysis(inputs, capsys, monkeypatch) -> None:
    import judgelab.evaluate.attacks.analysis as analysis

    def must_not_run(*a, **k):
        raise AssertionError("the analysis ran before --out was checked")

    monkeypatch.setattr(analysis, "analyse_attacks", must_not_run)
    code, err = _cli(["attacks", "--responses", str(inputs["other"]), "--out", str(inputs["afile"] / "x" / "a.json")], capsys)
    assert code == 2 and "afile is a file" in err and "Traceback" not in err, err


def test_options_that_would_be_ignored_are_refused(inputs, capsys) -> None:
    """An option the command would not use is an error, not silence."""
    code, err = _cli(["attacks", "--responses", str(inputs["other"]), "--out", str(inputs["run"] / "a.json"),
                      "--labelled-set", str(inputs["other"])], capsys)
    assert code == 2 and "--labelled-set goes with --labelled" in err, err
    code, err = _cli(["best-of-n", "--selector", "rubric-gold", "--responses", str(inputs["cands"]),
                      "--model", "smollm2-135m-instruct", "--out", str(inputs["run"] / "bon")], capsys)
    assert code == 2 and "not both" in err and "Traceback" not in err, err
