"""OpenRLHF reward file with a judgelab judge: pass this file to OpenRLHF as the reward URL.

    ray job submit ... -- python3 -m openrlhf.cli.train_ppo_ray \
        --reward.remote_url /path/to/examples/openrlhf_reward_func.py --data.label_key reference ...

(``--remote_rm_url`` before OpenRLHF 0.10.2). OpenRLHF imports this file and calls
``reward_func(queries, prompts, labels)``; judgelab strips the prompt from each query, judges the
response and returns ``{"rewards", "scores", "extra_logs"}`` with rewards in [0, 1]
(judgelab.integrations.openrlhf). Pick the judge here, or leave ``configure`` out and set
``JUDGELAB_JUDGE`` / ``JUDGELAB_REWARD_MODE`` in the Ray runtime env.
"""

from judgelab.integrations.common import configure
from judgelab.integrations.openrlhf import reward_func

# Any judge spec: "rubric-gold", a trained judge folder, a judge YAML (e.g. a `judgelab serve` endpoint).
configure("rubric-gold", mode="pointwise")

__all__ = ["reward_func"]
