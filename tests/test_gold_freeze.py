"""The gold is frozen at a run's first invocation and checked on every later one (issue 23)."""

from __future__ import annotations

import json

import pytest

from judgelab.errors import JudgelabError
from judgelab.judges.config import default_gold
from judgelab.pipeline.gold_freeze import freeze_gold, gold_identity


def test_the_gold_is_recorded_then_checked(tmp_path):
    gold = default_gold()
    first = freeze_gold(str(tmp_path), gold)
    assert (tmp_path / "gold.json").exists() and first["identity"]["rubric"]["version"].startswith("gold-")
    assert freeze_gold(str(tmp_path), default_gold())["digest"] == first["digest"]  # same gold: goes on
    noisy = gold.model_copy(update={"backend": gold.backend.model_copy(update={"noise": 1.0})})
    with pytest.raises(JudgelabError, match="the gold changed since this run started.*new run_dir"):
        freeze_gold(str(tmp_path), noisy)
    with pytest.raises(JudgelabError, match="gold changed"):
        freeze_gold(str(tmp_path), {"name": "gold", "backend": {"type": "rubric", "rubric": "flawed-brevity"}})
    assert json.loads((tmp_path / "gold.json").read_text())["digest"] == first["digest"]  # never overwritten
    (tmp_path / "gold.json").write_text("{torn")
    with pytest.raises(JudgelabError, match="unreadable"):
        freeze_gold(str(tmp_path), gold)


def test_the_identity_names_what_decides_verdicts():
    served = {"name": "gold", "backend": {"type": "openai", "model": "openai/gpt-oss-120b", "base_urls": ["http://h/v1"]}}
    a, b = gold_identity(served), gold_identity({**served, "name": "other-name"})
    assert a == b and "rubric" not in a  # the name is a label; the model decides
    assert gold_identity({**served, "backend": {**served["backend"], "model": "other"}}) != a
