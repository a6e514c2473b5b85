"""A judgelab judge as the reward of other RL frameworks (interface layer, like ``cli`` and ``serve``).

- TRL: ``from judgelab.integrations.trl import judge_reward`` -> a ``GRPOTrainer`` reward function
  (examples/trl_grpo_with_judgelab_reward.py).
- verl: ``custom_reward_function.path`` = the file of ``judgelab.integrations.verl``, ``name`` =
  ``compute_score`` (or ``compute_score_async`` / ``compute_score_batch``).
- OpenRLHF: ``--reward.remote_url`` = the file of ``judgelab.integrations.openrlhf`` (``reward_func``).

All three reuse judgelab.train.rewards.JudgeReward (rewards in [0, 1], unparsed verdicts a
counted value). verl and OpenRLHF take the judge from ``judgelab.integrations.common.configure``
or the ``JUDGELAB_JUDGE`` / ``JUDGELAB_REWARD_MODE`` env vars (default: the rubric gold).
How an OpenRLHF query splits into request and response: judgelab.integrations.chat_text (the one
split, shared with ``judgelab serve --reward``). Importing this package loads neither a judge nor torch.
"""
