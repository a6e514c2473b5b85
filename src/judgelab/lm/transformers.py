"""Local transformers text backend: requests go through the DynamicBatcher, so concurrent calls
(judges, async TRL reward functions, served clients) share batched forward passes. Logprobs
(``params.top_logprobs``) come from judgelab.lm.local (raw-model log-softmax, see there); calls are
accounted as in the openai backend (DEBUG per call, one INFO summary line on ``aclose``).

Reads: model weights named by TransformersBackendConfig.model (see judgelab.models). Writes nothing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from judgelab.lm.batcher import DynamicBatcher, TextGenerator
from judgelab.lm.local import GenerationOptions, LocalGenerator
from judgelab.lm.types import Generation, GenerationRequest
from judgelab.lm.usage import UsageStats

if TYPE_CHECKING:  # pydantic configs are not needed to use the backend itself
    from judgelab.lm.config import TransformersBackendConfig

log = logging.getLogger(__name__)


class TransformersBackend:
    """TextBackend protocol over a local model; batching is the DynamicBatcher's job."""

    name = "transformers"

    def __init__(
        self,
        generator: TextGenerator,
        *,
        model: str = "",
        dtype: str = "",
        batch_size: int = 8,
        max_wait_ms: float = 5.0,
    ):
        self.generator = generator
        self.model_spec = model
        self.dtype = dtype
        self.batcher = DynamicBatcher(generator, batch_size=batch_size, max_wait_ms=max_wait_ms)
        self.usage = UsageStats()

    @classmethod
    def from_config(cls, cfg: "TransformersBackendConfig", options: GenerationOptions | None = None) -> "TransformersBackend":
        from judgelab.models.devices import pick_device, pick_dtype

        if options is None:
            options = GenerationOptions(static_cache=getattr(cfg, "static_cache", False),
                                        max_input_tokens=getattr(cfg, "max_input_tokens", None))
        gen = LocalGenerator.from_spec(cfg.model, device=cfg.device, dtype=cfg.dtype, options=options)
        # The resolved dtype (not 'auto') goes into the cache identity: bf16 and fp32 outputs differ.
        dtype = str(pick_dtype(cfg.dtype, pick_device(cfg.device))).removeprefix("torch.")
        return cls(gen, model=cfg.model, dtype=dtype, batch_size=cfg.batch_size, max_wait_ms=cfg.max_wait_ms)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str = "in-memory", **kw: Any) -> "TransformersBackend":
        """Wrap an already loaded model (tests, a policy judging itself)."""
        dtype = str(getattr(model, "dtype", "")).removeprefix("torch.")
        return cls(LocalGenerator(model, tokenizer), model=name, dtype=dtype, **kw)

    async def generate(self, request: GenerationRequest) -> Generation:
        t0 = time.perf_counter()
        try:
            gen = await self.batcher.submit(request.messages, request.params)
        except Exception as exc:  # noqa: BLE001 - protocol: per-request failures are values
            log.exception("transformers backend request failed")
            gen = Generation(text="", error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - t0)
        self.usage.record(gen, log=log, label=f"transformers {self.model_spec}")
        return gen

    def identity(self) -> dict[str, Any]:
        from judgelab.models.specs import weights_fingerprint

        ident = {"backend": self.name, "model": self.model_spec, "dtype": self.dtype}
        fp = weights_fingerprint(str(self.model_spec))
        if fp:
            ident["weights"] = fp  # retrained in place -> new identity, no stale cached verdicts
        return ident

    async def aclose(self) -> None:
        if self.usage.calls:
            log.info(self.usage.summary(f"transformers backend {self.model_spec}"))
            self.usage = UsageStats()
        await self.batcher.aclose()
