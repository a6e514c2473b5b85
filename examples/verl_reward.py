"""verl reward file with a judgelab judge: point verl's custom reward function at this file.

    python3 -m verl.trainer.main_ppo ... \
        custom_reward_function.path=examples/verl_reward.py \
        custom_reward_function.name=compute_score          # or compute_score_batch with
                                                           # reward_model.reward_manager=batch

verl calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`` per response;
the judge reads the prompt from ``extra_info["prompt"]`` (write it there when preparing verl's
parquet files) and, for the rubric, ``extra_info["constraints"]``; ``ground_truth`` is the
reference response in pairwise-reference mode. Rewards in [0, 1] (judgelab.integrations.verl).
Pick the judge here, or per run with
``+custom_reward_function.reward_kwargs.judgelab_judge=<spec>``, or with ``JUDGELAB_JUDGE``.
"""

from judgelab.integrations.common import configure
from judgelab.integrations.verl import compute_score, compute_score_async, compute_score_batch

configure("rubric-gold", mode="pointwise")

__all__ = ["compute_score", "compute_score_async", "compute_score_batch"]
