"""What the framework adapters share: which judge scores (one per process, loaded once), and
text + metadata -> rewards through judgelab's ``JudgeReward``.

Which judge. In order: the ``judge=`` / ``mode=`` arguments of a call (verl passes its
``custom_reward_function.reward_kwargs`` as ``judgelab_judge`` / ``judgelab_mode``), then
``configure(...)`` in the process, then the environment:

- ``JUDGELAB_JUDGE``: any spec ``load_judge`` accepts (a registered name such as ``rubric-gold``,
  a trained judge folder, a judge YAML/JSON file, or inline JSON ``{"backend": {...}, ...}``);
  default ``rubric-gold``.
- ``JUDGELAB_REWARD_MODE``: ``auto`` (default: ``pointwise`` where the judge scores, else
  ``pairwise-reference``), ``pointwise``, ``pairwise-reference`` or ``group-tournament``.
- ``JUDGELAB_UNPARSED_REWARD``: reward of a completion whose verdict failed (default 0.0).

A judge is loaded on first use and kept for the process (a transformers judge loads its weights
once; concurrent callers share its dynamic batcher). Rewards are on the judge's normalised
reward scale, [0, 1] (see judgelab.train.rewards for each mode). Reads and writes no files
except what the judge spec itself names.

Sync and async. Judge coroutines run on judgelab's background loop (judgelab.lm.aio): the sync
entry points block the calling thread only, so they work from plain threads, from inside a
running event loop (no nested-loop error), and from worker pools; the async ones await without
blocking the caller's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgelab.errors import ConfigError
from judgelab.train.reward_inputs import META_COLUMNS

log = logging.getLogger(__name__)

ENV_JUDGE = "JUDGELAB_JUDGE"
ENV_MODE = "JUDGELAB_REWARD_MODE"
ENV_UNPARSED = "JUDGELAB_UNPARSED_REWARD"
DEFAULT_JUDGE = "rubric-gold"
MODES = ("auto", "pointwise", "pairwise-reference", "group-tournament")

# Metadata keys the rubric judge reads from item.meta (text judges ignore them).


@dataclass
class RewardSettings:
    """How an adapter turns verdicts into rewards (``configure`` sets it; env vars are the defaults)."""

    judge: Any = None  # spec for load_judge, or a Judge; None: $JUDGELAB_JUDGE or rubric-gold
    mode: str = "auto"  # auto | pointwise | pairwise-reference | group-tournament
    unparsed_reward: float | None = None  # None: $JUDGELAB_UNPARSED_REWARD or 0.0
    options: dict[str, Any] = field(default_factory=dict)  # more JudgeReward kwargs (tournament, both_orders, seed)


_settings: RewardSettings | None = None
_judges: dict[str, Any] = {}
_lock = threading.Lock()


def configure(judge: Any = None, mode: str = "auto", *, unparsed_reward: float | None = None, **options: Any) -> None:
    """Set the judge and reward mode the adapters of this process use (instead of the env vars).

    ``options`` are further ``JudgeReward`` arguments (``tournament``, ``both_orders``, ``seed``).
    """
    global _settings
    check_mode(mode, "configure(mode=...)")
    with _lock:
        _settings = RewardSettings(judge=judge, mode=mode, unparsed_reward=unparsed_reward, options=dict(options))


def reset() -> None:
    """Forget ``configure`` and close the judges loaded so far (tests; a long process switching judges)."""
    global _settings
    with _lock:
        judges = list(_judges.values())
        _judges.clear()
        _settings = None
    for j in judges:
        close = getattr(j, "close", None)
        if callable(close):
            close()


def check_mode(mode: str, where: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown reward mode {mode!r}", where=where, hint=f"use one of {', '.join(MODES)}")


def _env_spec(text: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"${ENV_JUDGE} is not valid JSON: {exc.msg} at column {exc.colno}", where=ENV_JUDGE,
                              hint="give a judge name, a path, or a JSON object") from None
    return text


def current_settings(judge: Any = None, mode: str | None = None) -> RewardSettings:
    """The settings a call uses: its own arguments over ``configure`` over the environment."""
    base = _settings or RewardSettings()
    spec = judge if judge is not None else base.judge
    if spec is None:
        spec = _env_spec(os.environ.get(ENV_JUDGE) or DEFAULT_JUDGE)
    if isinstance(spec, str):
        spec = _env_spec(spec)  # verl's reward_kwargs arrive as text too
    m = mode or (base.mode if _settings is not None else os.environ.get(ENV_MODE) or "auto")
    check_mode(m, "reward mode")
    unparsed = base.unparsed_reward
    if unparsed is None:
        raw = os.environ.get(ENV_UNPARSED)
        try:
            unparsed = float(raw) if raw else 0.0
        except ValueError:
            raise ConfigError(f"${ENV_UNPARSED}={raw!r} is not a number", where=ENV_UNPARSED, hint="e.g. 0.0") from None
    return RewardSettings(judge=spec, mode=m, unparsed_reward=unparsed, options=dict(base.options))


def _plain(v: Any) -> Any:
    """Mappings and sequences (OmegaConf containers) as plain dicts and lists."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
        return [_plain(x) for x in v]
    return v


def get_judge(spec: Any) -> Any:
    """The judge for ``spec``, loaded once per process (a Judge object passes through)."""
    from pydantic import BaseModel

    from judgelab.judges.registry import load_judge

    if isinstance(spec, Mapping) and not isinstance(spec, dict):
        spec = _plain(spec)  # verl's nested reward_kwargs arrive as OmegaConf DictConfigs
    if isinstance(spec, BaseModel):  # a JudgeConfig: one judge per distinct config, not one per call
        key = f"{type(spec).__name__}:{spec.model_dump_json()}"
    elif isinstance(spec, (str, dict, os.PathLike)):
        key = json.dumps(spec, sort_keys=True, default=str) if isinstance(spec, dict) else str(spec)
    else:
        return load_judge(spec)  # a Judge object passes through
    with _lock:  # one load even when many worker threads ask at once
        judge = _judges.get(key)
        if judge is None:
            judge = load_judge(spec, where=f"reward judge {key[:80]}")
            _judges[key] = judge
            log.info("reward judge %s loaded (modes %s, scale %s)", judge.name, ",".join(judge.modes), judge.scale)
    return judge


def make_reward(settings: RewardSettings, *, allow_groups: bool) -> Any:
    """A fresh ``JudgeReward`` over the (cached) judge: one per call, so concurrent callers share
    no per-call state."""
    from judgelab.judges.base import reward_mode_for
    from judgelab.train.rewards import JudgeReward

    judge = get_judge(settings.judge)
    mode = reward_mode_for(judge) if settings.mode == "auto" else settings.mode
    if mode == "group-tournament" and not allow_groups:
        raise ConfigError("group-tournament needs the whole group of completions of a prompt in one call",
                          where="reward mode",
                          hint="use pointwise or pairwise-reference here, or verl's batch reward manager with compute_score_batch")
    return JudgeReward(judge, mode, unparsed_reward=float(settings.unparsed_reward or 0.0), **settings.options)  # type: ignore[arg-type]


@dataclass
class Sample:
    """One completion to reward: the request the judge sees, the response, rubric metadata, and
    the reference response (for pairwise-reference)."""

    prompt: str
    response: str
    meta: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None


def _columns(samples: Sequence[Sample]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {k: [s.meta.get(k) for s in samples] for k in META_COLUMNS}
    cols = {k: v for k, v in cols.items() if any(x is not None for x in v)}
    if any(s.reference is not None for s in samples):
        cols["reference"] = [s.reference for s in samples]
    return cols


def score(samples: Sequence[Sample], settings: RewardSettings, *, allow_groups: bool = False) -> tuple[list[float], dict[str, float]]:
    """Rewards (one float per sample, in order) and the call's judge metrics, from sync code."""
    reward = make_reward(settings, allow_groups=allow_groups)
    out = reward.score([s.prompt for s in samples], [s.response for s in samples], **_columns(samples))
    return [float(x) for x in out], reward.history[-1] if reward.history else {}


async def ascore(samples: Sequence[Sample], settings: RewardSettings, *, allow_groups: bool = False) -> tuple[list[float], dict[str, float]]:
    """``score`` for async callers: awaits the judge without blocking the caller's loop."""
    reward = await asyncio.to_thread(make_reward, settings, allow_groups=allow_groups)  # loading weights blocks
    out = await reward([s.prompt for s in samples], [s.response for s in samples], **_columns(samples))
    return [float(x) for x in out], reward.history[-1] if reward.history else {}
