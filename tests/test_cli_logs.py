"""The terminal shows judgelab's lines; library output goes to the log file (judgelab.cli.logs).

Fresh processes of the installed console script, as a user runs it: a reward-model judge built
from a tiny causal LM makes transformers print its ANSI-coloured LOAD REPORT ("score.weight
MISSING"); the terminal must not show it, the log file must hold it (colour codes stripped).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LIBRARY_NOISE = ("MISSING", "LOAD REPORT", "Traceback", "{'loss'", "FutureWarning", "warnings.warn", "Loading weights")


def _judgelab() -> list[str]:
    exe = shutil.which("judgelab")
    return [exe] if exe else [sys.executable, "-m", "judgelab.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "JUDGELAB_CACHE": str(tmp_path / "cache")}
    env.pop("JUDGELAB_LOG_FILE", None)
    return env


def test_library_lines_go_to_the_log_file_not_the_terminal(tmp_path, tiny_causal_lm):
    model, tok = tiny_causal_lm
    model.save_pretrained(tmp_path / "lm")  # a causal LM: loading it with a score head reports score.weight MISSING
    tok.save_pretrained(tmp_path / "lm")
    (tmp_path / "judge.yaml").write_text(json.dumps({
        "name": "tiny-rm", "scale": [1, 10],
        "backend": {"type": "reward_model", "model": str(tmp_path / "lm"), "device": "cpu"},
    }))
    items = tmp_path / "items.jsonl"  # two items: the load is the point, not the judging
    items.write_text("".join(line + "\n" for line in (ROOT / "examples" / "judge_items.jsonl").read_text().splitlines()[:2]))
    log = tmp_path / "logs" / "judge.log"
    r = subprocess.run([*_judgelab(), "--log-file", str(log), "judge", "--config", str(tmp_path / "judge.yaml"),
                        "--input", str(items), "--output", str(tmp_path / "out.jsonl"),
                        "--no-store"], capture_output=True, text=True, timeout=300, env=_env(tmp_path))
    terminal = r.stdout + r.stderr
    assert r.returncode == 0, terminal
    assert "judged 2 items" in r.stdout
    assert not ANSI.search(terminal), terminal
    for noise in LIBRARY_NOISE:
        assert noise not in terminal, f"{noise!r} on the terminal:\n{terminal}"
    text = log.read_text()
    assert "LOAD REPORT" in text and re.search(r"score\.weight\s*\|\s*MISSING", text), text
    assert not ANSI.search(text)  # colour codes stripped in the file
    assert "judgelab --log-file" in text  # the command line that wrote it, for whoever reads the log later
    assert "INFO judgelab.models.loading: loaded" in text  # judgelab's own info lines sit beside the library's
    # the one line the terminal says about it
    assert f"in {log}" in r.stderr


def test_default_log_file_is_in_the_run_dir_and_a_typo_leaves_no_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    r = subprocess.run([*_judgelab(), "report", "--run", str(run)], capture_output=True, text=True, timeout=120,
                       env=_env(tmp_path))
    assert (run / "logs" / "judgelab.log").read_text().count("judgelab report --run") == 1
    assert "Traceback" not in r.stderr
    typo = tmp_path / "no-such-run"
    subprocess.run([*_judgelab(), "report", "--run", str(typo)], capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert not typo.exists()
    assert "judgelab report --run " + str(typo) in (tmp_path / "cache" / "logs" / "report.log").read_text()


def test_a_run_dir_that_is_a_file_is_named_as_such(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    r = subprocess.run([*_judgelab(), "run", str(ROOT / "examples" / "quickstart.yaml"), "--run-dir", str(afile / "sub")],
                       capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert r.returncode == 2 and "a file, not a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
