"""The text layer: chat messages + sampling parameters -> generations.

Everything in judgelab that produces text goes through here: sampling responses, LLM judges,
``judgelab serve``, reference responses and evaluation sampling. Pieces:

- ``types``: SamplingParams, GenerationRequest, Generation (with per-token ``TokenLogprob``s when
  asked), the TextBackend protocol;
- ``local``: LocalGenerator (batched chat generation with a transformers model);
- ``batcher``: the one DynamicBatcher (also batches reward-model forward passes);
- ``continuous``: transformers' continuous batching over a LocalGenerator (``judgelab serve``'s
  default: requests join and leave a running batch), the DynamicBatcher as its static path;
- ``transformers`` / ``openai``: the shipped TextBackends (local model; any OpenAI-compatible server;
  ``openai_wire`` is its request body and response parsing);
- ``ratelimit`` / ``usage``: API rate limits (requests and tokens per minute) and per-call
  token/latency accounting (``CallCounts``, ``UsageStats``);
- this module: the backend registry (``register_backend`` makes a Python backend selectable by
  its ``type`` from YAML).

It imports nothing from the judge or training layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from judgelab.errors import ConfigError
from judgelab.lm.types import TextBackend


class PluginBackendConfig(BaseModel):
    """Config of a backend registered without its own config model: ``type`` plus any keys,
    handed to the factory as attributes."""

    model_config = ConfigDict(extra="allow")
    type: str


@dataclass
class BackendEntry:
    factory: Callable[[Any], TextBackend]
    config: type[BaseModel]


def _transformers(cfg: Any) -> TextBackend:
    from judgelab.lm.transformers import TransformersBackend

    return TransformersBackend.from_config(cfg)


def _openai(cfg: Any) -> TextBackend:
    from judgelab.lm.openai import OpenAIBackend

    return OpenAIBackend.from_config(cfg)


def _builtin() -> dict[str, BackendEntry]:
    from judgelab.lm.config import OpenAIBackendConfig, TransformersBackendConfig

    return {"transformers": BackendEntry(_transformers, TransformersBackendConfig),
            "openai": BackendEntry(_openai, OpenAIBackendConfig)}


BACKENDS: dict[str, BackendEntry] = _builtin()


def register_backend(name: str, factory: Callable[[Any], TextBackend], config: type[BaseModel] | None = None) -> None:
    """Make ``factory(cfg) -> TextBackend`` selectable as ``backend: {type: name, ...}`` (YAML or
    Python). ``config`` validates the backend's keys (a pydantic model with ``type: Literal[name]``);
    without it any keys are accepted and passed through as a PluginBackendConfig."""
    BACKENDS[name] = BackendEntry(factory, config or PluginBackendConfig)


def backend_config_model(type_: str) -> type[BaseModel] | None:
    entry = BACKENDS.get(type_)
    return entry.config if entry is not None else None


def make_backend(cfg: Any) -> TextBackend:
    """Build a text backend from its typed config (``cfg.type`` picks the implementation)."""
    try:
        entry = BACKENDS[cfg.type]
    except KeyError:
        raise ConfigError(f"unknown text backend '{cfg.type}'", hint=f"known: {', '.join(sorted(BACKENDS))}") from None
    return entry.factory(cfg)
