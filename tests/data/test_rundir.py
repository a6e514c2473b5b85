"""Judge and policy names become folders inside the run directory, never paths that leave it."""

from __future__ import annotations

import pytest

from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError


@pytest.mark.parametrize("name", ["../../escape", "/abs/path", "a/b", "..", "", ".hidden", "x\\..\\y"])
def test_names_that_would_leave_the_run_directory_are_refused(tmp_path, name):
    rd = RunDir(tmp_path)
    for folder in (rd.policy_dir, rd.judge_dir):
        with pytest.raises(ConfigError, match="bad (policy|judge) name"):
            folder(name)


def test_ordinary_names_stay_inside(tmp_path):
    rd = RunDir(tmp_path)
    for name in ("gold-s0", "flawed-brevity-s2", "reasoning-sft-grpo", "rm_v1.2", "a+b"):
        assert rd.policy_dir(name).parent == tmp_path / "policies"
        assert rd.judge_dir(name).parent == tmp_path / "judges"
