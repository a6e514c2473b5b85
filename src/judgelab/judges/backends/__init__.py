"""Backend registry: short names -> factories. Imports are lazy so that, e.g., the rubric
backend needs no torch and the openai backend needs no model."""

from __future__ import annotations

from typing import Any, Callable

from judgelab.errors import ConfigError
from judgelab.judges.types import Backend


def _transformers(cfg: Any) -> Backend:
    from judgelab.judges.backends.transformers import TransformersBackend

    return TransformersBackend.from_config(cfg)


def _openai(cfg: Any) -> Backend:
    from judgelab.judges.backends.openai import OpenAIBackend

    return OpenAIBackend.from_config(cfg)


def _rubric(cfg: Any) -> Backend:
    from judgelab.judges.backends.rubric import RubricBackend

    return RubricBackend.from_config(cfg)


def _reward_model(cfg: Any) -> Backend:
    from judgelab.judges.backends.reward_model import RewardModelBackend

    return RewardModelBackend.from_config(cfg)


BACKENDS: dict[str, Callable[[Any], Backend]] = {
    "transformers": _transformers,
    "openai": _openai,
    "rubric": _rubric,
    "reward_model": _reward_model,
}


def register_backend(name: str, factory: Callable[[Any], Backend]) -> None:
    BACKENDS[name] = factory


def make_backend(cfg: Any) -> Backend:
    """Build a backend from its typed config (``cfg.type`` picks the implementation)."""
    try:
        factory = BACKENDS[cfg.type]
    except KeyError:
        raise ConfigError(f"unknown backend '{cfg.type}'", hint=f"known: {', '.join(sorted(BACKENDS))}") from None
    return factory(cfg)
