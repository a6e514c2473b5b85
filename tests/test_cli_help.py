"""The installed console script in a fresh process, as a new user types it: `judgelab --help` and
every subcommand's `--help` exit 0 and print nothing else (pytest's own imports cannot hide a missing
import here)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from judgelab.cli import COMMANDS


def _judgelab() -> list[str]:
    exe = shutil.which("judgelab")
    return [exe] if exe else [sys.executable, "-m", "judgelab.cli"]


@pytest.mark.parametrize("args", [["--help"], *[[name, "--help"] for name in COMMANDS]], ids=lambda a: " ".join(a))
def test_help_exits_0_in_a_fresh_process(args):
    r = subprocess.run([*_judgelab(), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout and "Traceback" not in r.stderr
    assert not r.stderr.strip(), r.stderr  # no library warning on the way to the help text
    if args == ["--help"]:
        assert all(name in r.stdout for name in COMMANDS)  # every command is listed
