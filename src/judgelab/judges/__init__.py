"""Judges: values (Verdict, items), the Judge protocol and its implementations (LLMJudge,
RewardModelJudge, EnsembleJudge, CachedJudge), templates, parsing, aggregation, and the one
loader (``load_judge``) that turns any judge spec into a Judge."""

from judgelab.judges.base import Judge, JudgeBase
from judgelab.judges.registry import (
    JUDGE_FILE,
    EnsembleConfig,
    load_judge,
    register_judge,
    register_judge_type,
    resolve_judge_spec,
)

__all__ = ["Judge", "JudgeBase", "JUDGE_FILE", "EnsembleConfig", "load_judge", "register_judge",
           "register_judge_type", "resolve_judge_spec"]
