"""A judgelab judge as the reward function of your own TRL ``GRPOTrainer``.

    from judgelab.integrations.trl import judge_reward
    trainer = GRPOTrainer(model=..., reward_funcs=judge_reward("rubric-gold"), train_dataset=...)

``judge_reward`` builds judgelab's ``JudgeReward`` (judgelab.train.rewards), the same reward
``judgelab train-policy`` trains with: TRL's reward-function signature ``(prompts, completions,
**kwargs) -> list[float]``, async (TRL awaits it), rewards in [0, 1], a verdict that fails to
parse is a counted value (``unparsed_reward``), never a crash; per step it logs
``judge_<name>/parse_failure_rate``, ``latency_mean_s``, ``judge_calls``, ``cached_rate``
(+ ``tie_rate``) through TRL's ``log_metric``. Dataset columns the judge reads: ``constraints``,
``family``, ``prompt_id`` (the rubric judge) and ``reference`` (pairwise-reference).

Reads only what the judge spec names; writes nothing (give ``store=`` a JudgmentStore to cache
verdicts in SQLite). A complete script: examples/trl_grpo_with_judgelab_reward.py.
"""

from __future__ import annotations

from typing import Any

from judgelab.integrations.common import DEFAULT_JUDGE, check_mode


def judge_reward(judge: Any = DEFAULT_JUDGE, mode: str = "auto", *, store: Any = None, **options: Any) -> Any:
    """A TRL reward function that scores completions with ``judge``.

    Args:
        judge: any spec ``load_judge`` accepts (registered name, trained judge folder, judge
            YAML/JSON file, inline config mapping) or a Judge object. Default: the rubric gold.
        mode: ``auto`` (pointwise where the judge scores, else pairwise-reference),
            ``pointwise``, ``pairwise-reference`` or ``group-tournament``.
        store: a ``judgelab.data.store.JudgmentStore`` to cache verdicts in.
        options: the rest of ``JudgeReward``'s keyword arguments, with its defaults
            (judgelab.train.rewards): ``tournament`` (``round-robin`` | ``knockout`` | ``elo``),
            ``references`` (prompt id or text -> reference response, for pairwise-reference without
            a ``reference`` column), ``num_generations`` (group size for group-tournament: pass
            GRPOConfig's), ``both_orders`` (position swap), ``unparsed_reward`` (reward of a failed
            verdict, 0.0), ``name`` (the reward's name in TRL's logs, default ``judge_<judge name>``),
            ``seed`` (knockout brackets and ELO orders).
    """
    from judgelab.judges.base import reward_mode_for
    from judgelab.judges.registry import load_judge
    from judgelab.train.rewards import JudgeReward

    check_mode(mode, "judge_reward(mode=...)")
    j = load_judge(judge, store=store)
    return JudgeReward(j, reward_mode_for(j) if mode == "auto" else mode, **options)  # type: ignore[arg-type]
