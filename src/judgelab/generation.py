"""The one local text-generation layer: chat messages -> Generations, batched.

Every caller that produces text with a local model goes through here (transformers judge backend,
``judgelab serve``, sampling). Two pieces:

- ``LocalGenerator``: synchronous ``generate_batch(messages_list, params)`` on a transformers model
  (chat template, left-padded batch, greedy or seeded top-p sampling, token counts, latency).
- ``DynamicBatcher``: async ``submit(messages, params)``; gathers concurrent requests with the same
  sampling parameters into batches of up to ``batch_size`` (waiting at most ``max_wait_ms`` for a
  batch to fill) and runs them one at a time in a worker thread (the model is not thread-safe).

Extension point: anything implementing ``TextGenerator`` (a ``generate_batch`` method) can sit
behind the batcher, so faster engines (vLLM, a compiled static-cache path) slot in without
touching callers. ``GenerationOptions.static_cache`` already turns on transformers' static KV cache
(which compiles the forward) on CUDA.

Reads: a loaded model + tokenizer (see judgelab.models). Writes: nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from judgelab.judges.types import Generation, SamplingParams

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@runtime_checkable
class TextGenerator(Protocol):
    """Something that turns a batch of chat conversations into Generations (same params for all)."""

    def generate_batch(self, messages_list: Sequence[Messages], params: SamplingParams) -> list[Generation]: ...


@dataclass
class GenerationOptions:
    """Engine knobs that change speed, not results (greedy outputs are unchanged)."""

    # transformers' static KV cache (+ compiled forward). Only used on CUDA, where it is 10-30x
    # faster at small batch; on CPU the compile cost dominates, so it is ignored there.
    static_cache: bool = False
    # Prompts longer than this many tokens are cut from the left (the end of a chat matters most).
    max_input_tokens: int | None = None


class LocalGenerator:
    """Batched chat generation with a transformers causal LM."""

    def __init__(self, model: Any, tokenizer: Any, options: GenerationOptions | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.options = options or GenerationOptions()
        # Left padding so every row's last prompt token is at the same position for decoding.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # Every model call runs on this one thread, whoever calls: one generate at a time (the
        # model is not thread-safe), and CUDA graphs captured by the static-cache path are bound
        # to the thread that captured them (replaying them from another thread fails).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judgelab-generate")
        self._eos_ids = self._collect_eos_ids()

    @classmethod
    def from_spec(
        cls, spec: str, *, device: str = "auto", dtype: str = "auto", options: GenerationOptions | None = None
    ) -> "LocalGenerator":
        from judgelab.models import load_model

        model, tok = load_model(spec, task="causal-lm", device=device, dtype=dtype)
        return cls(model, tok, options)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def _collect_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for v in (gen_eos, self.tokenizer.eos_token_id):
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        return ids

    def render(self, messages: Messages) -> str:
        """Chat template with the assistant turn opened."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, messages_list: Sequence[Messages]) -> dict[str, Any]:
        texts = [self.render(m) for m in messages_list]
        kw: dict[str, Any] = {}
        if self.options.max_input_tokens:
            self.tokenizer.truncation_side = "left"
            kw = {"truncation": True, "max_length": self.options.max_input_tokens}
        # The template already holds the BOS/special tokens it wants.
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False, **kw)
        return {k: v.to(self.device) for k, v in enc.items()}

    def _generate_kwargs(self, params: SamplingParams) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.temperature and params.temperature > 0:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            # Explicit None/1.0 silences warnings from generation configs that ship sampling defaults.
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.options.static_cache and self.device.type == "cuda":
            kw["cache_implementation"] = "static"
        return kw

    def close(self) -> None:
        """Stop the model thread (the model itself is freed with the last reference to it)."""
        self._executor.shutdown(wait=True)

    def generate_batch(self, messages_list: Sequence[Messages], params: SamplingParams) -> list[Generation]:
        """Generate one completion per conversation (all with ``params``); raises on model errors."""
        if not messages_list:
            return []
        return self._executor.submit(self._generate_batch, list(messages_list), params).result()

    def _generate_batch(self, messages_list: list[Messages], params: SamplingParams) -> list[Generation]:
        import torch

        t0 = time.perf_counter()
        enc = self._encode(messages_list)
        prompt_len = enc["input_ids"].shape[1]
        with torch.inference_mode(), _seeded(params.seed, self.device):
            out = self.model.generate(**enc, **self._generate_kwargs(params))
        latency = time.perf_counter() - t0
        new = out[:, prompt_len:].tolist()
        prompt_counts = enc["attention_mask"].sum(dim=1).tolist()
        gens = []
        for row, n_prompt in zip(new, prompt_counts):
            stop = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
            kept = row if stop is None else row[:stop]
            gens.append(
                Generation(
                    text=self.tokenizer.decode(kept, skip_special_tokens=True),
                    prompt_tokens=int(n_prompt),
                    completion_tokens=len(row) if stop is None else stop + 1,
                    latency_s=latency,
                    finish_reason="length" if stop is None else "stop",
                )
            )
        return gens


@contextlib.contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed sampling for this call only; the caller's global RNG state is restored afterwards."""
    import torch

    if seed is None:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- dynamic batching


@dataclass
class BatcherStats:
    requests: int = 0
    batches: int = 0
    max_batch_size: int = 0
    failed_batches: int = 0
    busy_s: float = 0.0
    batch_sizes: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "batches": self.batches,
            "max_batch_size": self.max_batch_size,
            "mean_batch_size": (self.requests / self.batches) if self.batches else 0.0,
            "failed_batches": self.failed_batches,
            "busy_s": round(self.busy_s, 3),
            "batch_sizes": dict(sorted(self.batch_sizes.items())),
        }


@dataclass
class _Pending:
    messages: Messages
    params: SamplingParams
    future: asyncio.Future
    t_submit: float


class DynamicBatcher:
    """Collects concurrent ``submit`` calls into batches for a ``TextGenerator``.

    Requests are grouped by ``params.key()`` (a batch shares one set of sampling parameters); the
    oldest waiting request decides which group runs next, so no group starves. While a batch runs
    in the worker thread new requests queue up and form the next batch immediately.

    Bound to the event loop of its first ``submit``; it rebinds if that loop has closed.
    A generator failure is returned to every request of the batch as ``Generation(error=...)``.
    """

    def __init__(self, generator: TextGenerator, batch_size: int = 8, max_wait_ms: float = 5.0):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.generator = generator
        self.batch_size = batch_size
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.stats = BatcherStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False
        self._inflight: list[_Pending] = []

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._worker is not None and not self._worker.done():
            return
        if self._loop is not None and self._loop is not loop and not self._loop.is_closed():
            raise RuntimeError("DynamicBatcher is already serving another running event loop")
        self._loop = loop
        self._pending = []
        self._wakeup = asyncio.Event()
        self._worker = loop.create_task(self._run(), name="judgelab-batcher")

    async def submit(self, messages: Messages, params: SamplingParams | None = None) -> Generation:
        """Queue one conversation; resolves when its batch has run. Never raises for model errors."""
        if self._closed:
            return Generation(text="", error="batcher is closed")
        self._bind()
        assert self._loop is not None and self._wakeup is not None
        fut: asyncio.Future = self._loop.create_future()
        self._pending.append(_Pending(messages, params or SamplingParams(), fut, time.monotonic()))
        self._wakeup.set()
        return await fut

    def _take_batch(self) -> list[_Pending] | None:
        """The oldest request's group (up to batch_size) if full or past its wait; else None."""
        if not self._pending:
            return None
        key = self._pending[0].params.key()
        same = [p for p in self._pending if p.params.key() == key]
        waited = time.monotonic() - self._pending[0].t_submit
        if len(same) < self.batch_size and waited < self.max_wait_s:
            return None
        batch = same[: self.batch_size]
        chosen = {id(p) for p in batch}
        self._pending = [p for p in self._pending if id(p) not in chosen]
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            batch = self._take_batch()
            if batch is None:
                self._wakeup.clear()
                timeout = None
                if self._pending:
                    timeout = max(0.0, self.max_wait_s - (time.monotonic() - self._pending[0].t_submit))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                continue
            live = [p for p in batch if not p.future.done()]  # a cancelled client needs no text
            if not live:
                continue
            await self._run_batch(live)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        t0 = time.perf_counter()
        self._inflight = batch
        try:
            gens = await asyncio.to_thread(
                self.generator.generate_batch, [p.messages for p in batch], batch[0].params
            )
            if len(gens) != len(batch):
                raise RuntimeError(f"generator returned {len(gens)} results for {len(batch)} requests")
        except Exception as exc:  # noqa: BLE001 - a model failure is a per-request value, not a crash
            log.exception("generation batch of %d failed", len(batch))
            self.stats.failed_batches += 1
            gens = [Generation(text="", error=f"{type(exc).__name__}: {exc}") for _ in batch]
        n = len(batch)
        self.stats.requests += n
        self.stats.batches += 1
        self.stats.max_batch_size = max(self.stats.max_batch_size, n)
        self.stats.batch_sizes[n] = self.stats.batch_sizes.get(n, 0) + 1
        self.stats.busy_s += time.perf_counter() - t0
        self._inflight = []
        for p, g in zip(batch, gens):
            if not p.future.done():
                p.future.set_result(g)

    async def aclose(self) -> None:
        """Stop the worker; requests still waiting get ``Generation(error='batcher is closed')``."""
        self._closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._worker
        for p in self._pending + self._inflight:
            if not p.future.done():
                p.future.set_result(Generation(text="", error="batcher is closed"))
        self._pending, self._inflight = [], []
