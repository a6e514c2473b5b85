"""A judgelab judge as verl's custom reward function (``custom_reward_function.path`` / ``.name``).

verl loads this file by path and calls a function from it by name, with keyword arguments:

- ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float``:
  the naive and DAPO reward managers (one response per call, in a loop) and the reward loop
  (called in a worker thread);
- ``compute_score_async(...)``: the same, ``async``: verl's reward loop awaits coroutine functions
  on its own event loop instead of offloading them to a thread;
- ``compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs) -> list[float]``:
  the ``batch`` reward manager (``reward_model.reward_manager=batch``): one judge batch per step
  (a transformers judge batches it; an HTTP judge runs it concurrently). The only variant that
  allows ``group-tournament`` (verl repeats each prompt's rollouts consecutively).

What verl passes. ``solution_str`` is the decoded response only. The prompt is not passed: the
judge reads the request from ``extra_info`` (first of ``prompt``, ``question``, ``query``,
``instruction``, ``problem``; a chat message list works too), so write it there when preparing the
parquet files; a row without any (most verl datasets) is judged on its response alone, with one
warning per process. ``extra_info`` may also carry the rubric's ``constraints``, ``family``,
``prompt_id``. ``ground_truth`` (``reward_model.ground_truth``) is the reference response in
``pairwise-reference`` mode and ignored otherwise. ``data_source`` is ignored.

Which judge: ``custom_reward_function.reward_kwargs`` (verl merges them into every call):
``judgelab_judge`` (a spec) and ``judgelab_mode``; else ``configure()`` or the env vars
``JUDGELAB_JUDGE`` / ``JUDGELAB_REWARD_MODE`` / ``JUDGELAB_UNPARSED_REWARD`` (in verl's Ray
workers: set them in the runtime env) -- see judgelab.integrations.common. Returns rewards in
[0, 1]; a verdict that fails to parse gets the unparsed reward (default 0.0), never an exception.

    custom_reward_function.path=$(python -c "import judgelab.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score
    +custom_reward_function.reward_kwargs.judgelab_judge=rubric-gold
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from judgelab.errors import ConfigError
from judgelab.integrations.chat_text import user_request
from judgelab.integrations.common import Sample, ascore, current_settings, score
from judgelab.train.reward_inputs import META_COLUMNS, message_text

log = logging.getLogger(__name__)

PROMPT_KEYS = ("prompt", "question", "query", "instruction", "problem")


@functools.cache  # once per process
def _warn_no_prompt() -> None:
    log.warning("verl passed no prompt text (extra_info has none of %s): responses are judged without the request; "
                "put the prompt in extra_info['prompt'] when writing verl's parquet files", ", ".join(PROMPT_KEYS))


def _sample(solution_str: str, ground_truth: Any, extra_info: Any) -> Sample:
    info = dict(extra_info) if isinstance(extra_info, dict) else {}
    prompt = next((info[k] for k in PROMPT_KEYS if info.get(k) is not None), None)
    if prompt is None:
        # Most verl datasets (gsm8k, math) keep the prompt out of extra_info: the response is judged
        # alone, and the user is told once how to give the judge the request.
        _warn_no_prompt()
        prompt = ""
    if isinstance(prompt, str):
        prompt = user_request(prompt)
    else:  # a chat message list (a numpy array of dicts when read from parquet)
        prompt = message_text(prompt if isinstance(prompt, dict) else list(prompt))
    meta = {k: info[k] for k in META_COLUMNS if info.get(k) is not None}
    # Pointwise judges ignore the reference; pairwise-reference needs it (and says so when missing).
    reference = ground_truth if isinstance(ground_truth, str) and ground_truth else None
    return Sample(prompt=prompt, response=solution_str or "", meta=meta, reference=reference)


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  judgelab_judge: Any = None, judgelab_mode: str | None = None, **kwargs: Any) -> float:
    """verl's per-response reward: the judge's reward for ``solution_str``, in [0, 1]."""
    settings = current_settings(judgelab_judge, judgelab_mode)
    rewards, _ = score([_sample(solution_str, ground_truth, extra_info)], settings)
    return rewards[0]


async def compute_score_async(data_source: Any, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                              judgelab_judge: Any = None, judgelab_mode: str | None = None, **kwargs: Any) -> float:
    """``compute_score`` for verl's reward loop, awaited on its event loop."""
    settings = current_settings(judgelab_judge, judgelab_mode)
    rewards, _ = await ascore([_sample(solution_str, ground_truth, extra_info)], settings)
    return rewards[0]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[dict | None], judgelab_judge: Any = None, judgelab_mode: str | None = None,
                        **kwargs: Any) -> list[float]:
    """verl's batch reward manager: one reward per response, in order, from one judge batch."""
    if not (len(solution_strs) == len(ground_truths) == len(extra_infos)):
        raise ConfigError(f"{len(solution_strs)} solutions, {len(ground_truths)} ground truths, {len(extra_infos)} extra_infos",
                          where="judgelab.integrations.verl.compute_score_batch", hint="verl passes equal-length lists")
    settings = current_settings(judgelab_judge, judgelab_mode)
    samples = [_sample(s, g, e) for s, g, e in zip(solution_strs, ground_truths, extra_infos)]
    rewards, _ = score(samples, settings, allow_groups=True)
    return rewards
