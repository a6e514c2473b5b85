"""The reward behind ``judgelab serve --reward``'s ``POST /get_reward``: OpenRLHF's remote
reward-model protocol (``--reward.remote_url``) over any pointwise judgelab judge.

A request's queries are split into (request, response) by the OpenRLHF adapter's own code
(judgelab.integrations.openrlhf.samples_from, judgelab.integrations.chat_text), so a judge gives
a query the same reward over HTTP as in process. Reads nothing but what the judge spec names;
writes nothing.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from judgelab.errors import ConfigError, DataError
from judgelab.integrations.openrlhf import samples_from
from judgelab.judges.types import PointwiseItem, unit_score
from judgelab.serve.schemas import BadRequest, RewardRequest


@dataclass
class RewardOptions:
    unparsed_reward: float = 0.0  # reward of a query whose verdict failed (as in train.rewards)
    unwrap_chat_template: bool = True  # judge the last user turn of a chat-templated prompt


@dataclass
class RewardService:
    """One float per query from a pointwise judge, for OpenRLHF's ``--reward.remote_url``.

    OpenRLHF sends ``query`` = the decoded prompt + response tokens, ``prompts`` = the prompt
    text and ``labels``. The response is the query after its prompt (found verbatim; else after
    the last assistant-turn marker, e.g. when the policy truncated the prompt), trailing
    end-of-turn tokens removed. The judge sees the prompt's last user turn when the prompt is
    chat-templated (ChatML, Llama 3, Gemma, Phi-3/Zephyr, Llama 2/Mistral), else the prompt as
    sent; a label that is a JSON object passes its ``constraints``/``family``/``prompt_id`` to the
    judge. A request without ``prompts``, or with a malformed label object, is a 400 (``param``:
    ``labels.{i}``). The reward is what a judgelab GRPO run gets in
    pointwise mode: the judge's score normalised over its scale to [0, 1] (a reward model:
    sigmoid(r / T)); a failed verdict gets ``unparsed_reward``. ``scores`` repeats the rewards
    (OpenRLHF's dynamic filtering reads them, expecting [0, 1]); ``extra_logs`` has
    ``judge_parsed`` (1.0 / 0.0) per query.
    """

    judge: Any
    options: RewardOptions = field(default_factory=RewardOptions)
    requests: int = 0
    queries: int = 0

    def __post_init__(self) -> None:
        if "pointwise" not in tuple(self.judge.modes):
            raise ConfigError(f"judge {self.judge.name!r} answers only {', '.join(self.judge.modes)}; a scalar "
                              "reward needs a pointwise judge", where="--reward",
                              hint="serve a judge that scores (mode: pointwise) or a reward model")

    async def rewards(self, req: RewardRequest) -> dict[str, Any]:
        from judgelab.lm.aio import background_loop

        if req.prompts is None:
            raise BadRequest("'prompts' is required: a judge needs the prompt apart from the response "
                             "(OpenRLHF sends query = prompt + response and prompts)", "prompts")
        if len(req.prompts) != len(req.query):
            raise BadRequest(f"{len(req.query)} queries but {len(req.prompts)} prompts", "prompts")
        if req.labels is not None and len(req.labels) != len(req.query):
            raise BadRequest(f"{len(req.query)} queries but {len(req.labels)} labels", "labels")
        try:  # in a thread: a long query must not hold the event loop (/health, timeouts, shutdown)
            samples = await asyncio.to_thread(samples_from, req.query, req.prompts, req.labels,
                                              unwrap=self.options.unwrap_chat_template)
        except DataError as exc:
            # A 400 for a bad label: OpenRLHF retries any error a few times and then stops the run
            # with it, which is what a malformed dataset column should do (a 200 would train on 0).
            raise BadRequest(exc.one_line(), exc.where) from None
        if not samples:
            return {"rewards": [], "scores": [], "extra_logs": {"judge_parsed": []}}
        self.requests += 1
        self.queries += len(samples)
        tag = f"reward{self.requests}"
        items = [PointwiseItem(id=f"{tag}:{i}", prompt=s.prompt, response=s.response, meta=s.meta)
                 for i, s in enumerate(samples)]
        # Judges (their batchers and HTTP clients) live on judgelab's background loop.
        fut = asyncio.run_coroutine_threadsafe(self.judge.ajudge(items), background_loop())
        verdicts = await asyncio.wrap_future(fut)
        lo, hi = self.judge.scale
        rewards, parsed = [], []
        for v in verdicts:
            ok = v.ok and v.score is not None and math.isfinite(v.score)
            rewards.append(unit_score(v.score, (lo, hi)) if ok else self.options.unparsed_reward)
            parsed.append(1.0 if ok else 0.0)
        return {"rewards": rewards, "scores": list(rewards), "extra_logs": {"judge_parsed": parsed}}

    async def aclose(self) -> None:
        from judgelab.lm.aio import background_loop

        fut = asyncio.run_coroutine_threadsafe(self.judge.aclose(), background_loop())
        with suppress(Exception):
            await asyncio.wrap_future(fut)
