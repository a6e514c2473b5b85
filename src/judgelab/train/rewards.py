"""Judge rewards for TRL's GRPOTrainer: a Judge wrapped as a reward function.

``JudgeReward(judge, mode)`` is a callable with TRL 1.16's reward-function signature
``(prompts, completions, **kwargs) -> list[float]``. Its ``__call__`` is ``async``: GRPOTrainer
detects async reward functions and awaits them on its own daemon loop, concurrently with other
async rewards. The judge's coroutines themselves run on judgelab's background loop
(judgelab.lm.aio), because backends (the transformers dynamic batcher, httpx clients) are
bound to that one loop; ``__call__`` only bridges to it. For sync callers there is ``score()``.

Modes (all rewards in [0, 1]):

- ``pointwise``: the judge's score of each completion, normalised over the judge's scale:
  (score - low) / (high - low).
- ``pairwise-reference``: each completion against a fixed reference response for its prompt
  (e.g. the base policy's sample), judged in both orders; per order win = 1, tie = 0.5,
  loss = 0; the reward is the mean over the orders that parsed.
- ``group-tournament``: the completions of one prompt compared among themselves
  (TRL passes the ``num_generations`` completions of a prompt consecutively):
  ``round-robin`` (every pair, Bradley-Terry strengths, reward = mean BT win probability
  against the rest of the group), ``knockout`` (single-elimination bracket, reward = rounds
  won / rounds in the bracket, champion = 1), or ``elo`` (every pair played as an ELO match in
  several random orders, reward = mean expected score against the rest of the group), as in
  Reward Reasoning Models.

Every judge call of one step goes out in one ``Judge.ajudge`` batch (transformers judges batch,
HTTP judges run concurrently). Knockout is the exception by nature: one batch per bracket round
(all prompts' matches of a round together).

Failures. A verdict that did not parse (or whose backend failed) is a value, never a crash:

- pointwise: the completion gets ``unparsed_reward`` (default 0.0, the worst reward). Why the
  minimum rather than the midpoint: if a failure paid more than a bad verdict, the policy could
  learn outputs that break the judge's output format (a cheap form of reward hacking).
- pairwise-reference: an order that failed is dropped; if both orders failed the completion gets
  ``unparsed_reward``.
- tournaments: a comparison whose orders all failed counts as a tie (it carries no information).

Per step the reward logs, through TRL's ``log_metric`` keyword argument (averaged per logging
step and over the processes of a data-parallel run, next to ``kl`` and ``entropy``; ``judge_calls``
is then the mean per process): ``<name>/parse_failure_rate``, ``<name>/tie_rate``
(pairwise modes), ``<name>/latency_mean_s``, ``<name>/judge_calls``, ``<name>/cached_rate``.

Extra dataset columns arrive as keyword arguments: ``prompt_id``, ``constraints`` (dict or JSON
string), ``family`` go into ``item.meta`` (so the rubric judge works as a reward);
``reference`` (a string) is the reference response for ``pairwise-reference``. How TRL's inputs
are read: judgelab.train.reward_inputs; the tournaments: judgelab.train.tournament.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from judgelab.errors import ConfigError
from judgelab.judges.aggregate import pair_outcome
from judgelab.judges.base import Judge
from judgelab.judges.types import Item, PairwiseItem, PointwiseItem, Verdict, unit_score
from judgelab.lm.aio import background_loop, run_sync
from judgelab.train.reward_inputs import completion_text, item_meta, message_text
from judgelab.train.tournament import Match, play, prompt_groups

log = logging.getLogger(__name__)

RewardMode = Literal["pointwise", "pairwise-reference", "group-tournament"]
Tournament = Literal["round-robin", "knockout", "elo"]
REWARD_MODES: tuple[str, ...] = ("pointwise", "pairwise-reference", "group-tournament")
TOURNAMENTS: tuple[str, ...] = ("round-robin", "knockout", "elo")


@dataclass
class StepStats:
    """What the judge did in one reward call."""

    n_completions: int = 0
    calls: int = 0
    failed: int = 0
    ties: int = 0
    pairwise_parsed: int = 0
    pairwise_calls: int = 0
    cached: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, verdicts: Sequence[Verdict]) -> None:
        for v in verdicts:
            self.calls += 1
            if v.mode == "pairwise":
                self.pairwise_calls += 1
            if not v.ok:
                self.failed += 1
            elif v.mode == "pairwise":
                self.pairwise_parsed += 1
                if v.preference == "tie":
                    self.ties += 1
            if v.cached:
                self.cached += 1
            else:
                self.latencies.append(v.latency_s)

    def metrics(self) -> dict[str, float]:
        out = {
            "parse_failure_rate": self.failed / self.calls if self.calls else 0.0,
            "latency_mean_s": float(np.mean(self.latencies)) if self.latencies else 0.0,
            "judge_calls": float(self.calls),
            "cached_rate": self.cached / self.calls if self.calls else 0.0,
        }
        if self.pairwise_calls:
            out["tie_rate"] = self.ties / self.pairwise_parsed if self.pairwise_parsed else 0.0
        return out


class JudgeReward:
    """A Judge as a TRL reward function (see the module docstring for modes and failures).

    Args:
        judge: the proxy judge.
        mode: ``pointwise`` | ``pairwise-reference`` | ``group-tournament``.
        tournament: for group-tournament: ``round-robin`` | ``knockout`` | ``elo``.
        references: for pairwise-reference, prompt id (or prompt text) -> reference response;
            a ``reference`` dataset column, when present, takes precedence.
        num_generations: group size for tournaments (TRL's ``num_generations``); groups are the
            consecutive runs of the same prompt, cut at this size.
        both_orders: judge pairwise comparisons in both orders (position-swap) — recommended.
        unparsed_reward: reward of a completion whose verdict failed (default 0.0, see above).
        name: ``__name__`` TRL uses for this reward's log keys (default ``judge_<judge name>``).
        seed: seeds knockout brackets and ELO orders (with the trainer's ``global_step`` when TRL passes
            ``trainer_state``, else the number of earlier calls: a resumed run draws the same brackets).
    """

    def __init__(
        self,
        judge: Judge,
        mode: RewardMode = "pointwise",
        *,
        tournament: Tournament = "round-robin",
        references: dict[str, str] | None = None,
        num_generations: int | None = None,
        both_orders: bool = True,
        unparsed_reward: float = 0.0,
        name: str | None = None,
        seed: int = 0,
    ):
        if mode not in REWARD_MODES:
            raise ConfigError(f"unknown reward mode {mode!r}", where="reward.mode", hint=f"known: {', '.join(REWARD_MODES)}")
        if tournament not in TOURNAMENTS:
            raise ConfigError(f"unknown tournament {tournament!r}", where="reward.tournament", hint=f"known: {', '.join(TOURNAMENTS)}")
        self.judge = judge
        self.mode = mode
        self.tournament = tournament
        self.references = dict(references or {})
        self.num_generations = num_generations
        self.both_orders = both_orders
        self.unparsed_reward = float(unparsed_reward)
        self.seed = seed
        self.__name__ = name or f"judge_{judge.name}"
        self.calls = 0
        self._round = 0  # what seeds this call's brackets: the trainer's step, else the call count
        self.last_stats: StepStats | None = None
        self.history: list[dict[str, float]] = []  # metrics of every call, for tests and offline use

    # -- entry points -------------------------------------------------------------------------
    async def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        """TRL entry point (async: TRL awaits it on its own loop; the judge runs on judgelab's)."""
        fut = asyncio.run_coroutine_threadsafe(self.ascore(prompts, completions, **kwargs), background_loop())
        return await asyncio.wrap_future(fut)

    def score(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        """Synchronous form, for callers outside an event loop."""
        return run_sync(self.ascore(prompts, completions, **kwargs))

    async def ascore(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        log_metric: Callable[[str, float], None] | None = kwargs.pop("log_metric", None)
        kwargs.pop("log_extra", None)
        state = kwargs.pop("trainer_state", None)
        # Brackets and ELO orders are seeded by the trainer's step when TRL passes its state, so a run
        # resumed from a checkpoint draws what the uninterrupted run drew; else by this object's call count.
        step = getattr(state, "global_step", None)
        self._round = int(step) if isinstance(step, int) else self.calls
        stats = StepStats(n_completions=len(completions))
        ptexts = [message_text(p) for p in prompts]
        ctexts = [completion_text(c) for c in completions]
        metas = [item_meta(kwargs, i) for i in range(len(prompts))]
        tag = f"step{self.calls}"
        if self.mode == "pointwise":
            rewards = await self._pointwise(ptexts, ctexts, metas, stats, tag)
        elif self.mode == "pairwise-reference":
            rewards = await self._vs_reference(ptexts, ctexts, metas, kwargs, stats, tag)
        else:
            rewards = await self._tournament(ptexts, ctexts, metas, stats, tag)
        self.calls += 1
        self.last_stats = stats
        m = stats.metrics()
        m["reward_mean"] = float(np.mean(rewards)) if rewards else 0.0
        self.history.append(m)
        if log_metric is not None:
            for k, v in m.items():
                if k != "reward_mean":  # TRL logs the reward itself
                    log_metric(f"{self.__name__}/{k}", float(v))
        return rewards

    # -- modes -------------------------------------------------------------------------------------
    async def _pointwise(self, ptexts: list[str], ctexts: list[str], metas: list[dict], stats: StepStats, tag: str) -> list[float]:
        items: list[Item] = [
            PointwiseItem(id=f"{tag}:{i}", prompt=p, response=c, meta=m) for i, (p, c, m) in enumerate(zip(ptexts, ctexts, metas))
        ]
        verdicts = await self.judge.ajudge(items)
        stats.add(verdicts)
        lo, hi = self.judge.scale
        out = []
        for v in verdicts:
            if v.ok and v.score is not None and math.isfinite(v.score):
                out.append(unit_score(v.score, (lo, hi)))
            else:
                out.append(self.unparsed_reward)
        return out

    def _reference_for(self, i: int, ptext: str, meta: dict, kwargs: dict) -> str:
        col = kwargs.get("reference")
        if col is not None and i < len(col) and isinstance(col[i], str):
            return col[i]
        pid = meta.get("prompt_id")
        if pid is not None and str(pid) in self.references:
            return self.references[str(pid)]
        if ptext in self.references:
            return self.references[ptext]
        raise ConfigError(
            f"no reference response for prompt {pid or ptext[:40]!r}",
            where="reward (pairwise-reference)",
            hint="give a 'reference' dataset column or references={prompt_id: text}",
        )

    async def _judge_pairs(self, items: list[PairwiseItem], stats: StepStats) -> list[float | None]:
        """P(A beats B) for each item, in both orders when ``both_orders`` (None: every order failed),
        all in one judge batch."""
        batch: list[Item] = []
        for it in items:
            batch += [it, it.swapped()] if self.both_orders else [it]
        verdicts = await self.judge.ajudge(batch)
        stats.add(verdicts)
        per = 2 if self.both_orders else 1
        return [pair_outcome(verdicts[k * per], verdicts[k * per + 1] if self.both_orders else None)[0]
                for k in range(len(items))]

    async def _vs_reference(self, ptexts, ctexts, metas, kwargs, stats: StepStats, tag: str) -> list[float]:
        items = [PairwiseItem(id=f"{tag}:{i}", prompt=p, response_a=c, response_b=self._reference_for(i, p, m, kwargs), meta=m)
                 for i, (p, c, m) in enumerate(zip(ptexts, ctexts, metas))]
        return [self.unparsed_reward if p is None else p for p in await self._judge_pairs(items, stats)]

    async def _tournament(self, ptexts, ctexts, metas, stats: StepStats, tag: str) -> list[float]:
        async def judge_matches(matches: list[Match], tag: str) -> list[float | None]:
            """P(i beats j) for each (i, j) match."""
            return await self._judge_pairs([
                PairwiseItem(id=f"{tag}:{i}v{j}", prompt=ptexts[i], response_a=ctexts[i], response_b=ctexts[j], meta=metas[i])
                for i, j in matches], stats)

        groups = prompt_groups(ptexts, metas, self.num_generations)
        short = [len(g) for g in groups if self.num_generations and len(g) < self.num_generations]
        if short:  # a group split across processes would be ranked as two smaller tournaments
            raise ConfigError(f"group-tournament got an incomplete group ({short[0]} of {self.num_generations} completions "
                              "of one prompt in this reward call)", where="reward (group-tournament)",
                              hint="each process must hold whole groups: per-process completions per step a multiple of "
                              "num_generations (grpo.prompts_per_step a multiple of the number of processes)")
        return await play(self.tournament, groups, len(ctexts), judge_matches, tag, seed=self.seed, round_=self._round)
