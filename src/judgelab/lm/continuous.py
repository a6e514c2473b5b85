"""Continuous batching over a local model: requests join and leave one running batch, so a long
request (a long prompt, a large ``max_tokens``) no longer holds every other client for its whole
duration (``judgelab serve --batching continuous``, the default there).

The engine is transformers' own (``model.init_continuous_batching``: a paged KV cache, a generation
loop on its own thread, requests added and cancelled between steps). ``ContinuousGenerator`` wraps it
for one ``LocalGenerator`` (same model and tokenizer, same chat template and ``max_input_tokens`` cut,
same text, finish reason and token counts):

- ``await generate(prompt, params, on_token=None) -> Generation``; ``on_token(token_id, None)`` is
  called on the event loop for each token of the text as it is generated. Cancelling the awaiting
  task (a client gone) cancels the request in the engine: it leaves the batch and frees its cache
  at the next step.
- Greedy requests are exact (a per-request ``top_k=1``: the same token ids as ``model.generate`` in
  fp32). Sampled requests get their own temperature and top-p, but one RNG serves the whole batch,
  so a sample depends on its batch partners.
- What the engine cannot reproduce goes to the static path (``fallback``, the DynamicBatcher over the
  same LocalGenerator), run while the engine's loop is paused (``paused``, installed as the
  generator's ``model_guard``): an explicit ``seed`` (no per-request RNG), ``top_logprobs`` (the engine
  only knows the chosen token's logprob after temperature/top-p, not the raw distribution with its
  alternatives) and a ``response_format``. A model whose generation config asks for a processor the
  engine drops (e.g. a repetition penalty) is refused as a whole (``unsupported_reason``).
- The KV cache has a fixed size (``ContinuousOptions``): a request whose prompt plus ``max_new_tokens``
  cannot fit even alone is refused up front (``too_large``, ``RequestTooLarge``), since the engine
  would stop on it ("No requests can be scheduled"). If the loop stops anyway, the next request
  restarts it (the requests in flight get an error).
- Scheduling (``short_prefill_first``, registered in transformers' SCHEDULER_MAPPING): requests that
  are decoding first, as in transformers' FIFO scheduler, then the prompts still to prefill (started or
  waiting), the fewest tokens left first, where FIFO would finish a started long prompt before any new
  one: a short request waits for one chunk of ``max_batch_tokens`` tokens, not a whole long prefill.

The loop runs on a non-daemon thread: ``close``/``aclose`` (``judgelab serve``'s shutdown) stops it,
or the process would not exit. Reads: a loaded model + tokenizer. Writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from judgelab.lm.batcher import DynamicBatcher
from judgelab.lm.local import LocalGenerator, Prompt, StreamingPrompt
from judgelab.lm.types import Generation, SamplingParams, TokenLogprob

log = logging.getLogger(__name__)

PAGE_TOKENS = 256  # transformers' page size: one cache block holds this many tokens (all layers)
SCHEDULER = "short_prefill_first"

OnToken = Callable[[int, TokenLogprob | None], None]

# generation_config fields (and neutral values) whose processors the engine drops: outputs would differ.
_DROPPED = {"repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
            "bad_words_ids": None, "sequence_bias": None, "suppress_tokens": None, "begin_suppress_tokens": None,
            "forced_bos_token_id": None, "forced_eos_token_id": None, "min_length": 0, "min_new_tokens": None,
            "exponential_decay_length_penalty": None, "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0,
            "eta_cutoff": 0.0}


class RequestTooLarge(ValueError):
    """A request the KV cache cannot hold even alone (see ``ContinuousGenerator.too_large``)."""


@dataclass
class ContinuousOptions:
    """Memory and scheduling knobs of the engine (``judgelab serve --cb-blocks``, ``--cb-max-batch-tokens``)."""

    # KV cache size in blocks of 256 tokens (every layer). None: room for one request of
    # ``max_request_tokens`` plus a quarter more for the others, at least 16 blocks (4096 tokens).
    num_blocks: int | None = None
    # Tokens one step processes: a long prompt is prefilled in chunks of this size, and a short
    # request waits for at most one chunk. None: 256 on CPU, 2048 on CUDA.
    max_batch_tokens: int | None = None
    # Prompt + max_new_tokens of the largest request the caller accepts (sizes the default cache).
    max_request_tokens: int = 8192 + 4096

    def resolved(self, device_type: str) -> tuple[int, int]:
        """(num_blocks, max_batch_tokens) with the defaults filled in."""
        blocks = self.num_blocks or max(16, math.ceil(self.max_request_tokens * 1.25 / PAGE_TOKENS))
        return blocks, self.max_batch_tokens or (2048 if device_type == "cuda" else 256)


@dataclass
class ContinuousStats:
    """Requests served by the engine, sent to the static path, failed, cancelled, refused as too
    large; engine restarts; requests in the engine now and at most at once."""

    requests: int = 0
    static: int = 0
    failed: int = 0
    cancelled: int = 0
    too_large: int = 0
    restarts: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def unsupported_reason(model: Any) -> str | None:
    """Why this model cannot be served exactly by the engine (None: it can)."""
    attn = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if attn not in ("sdpa", None) and "flash" not in str(attn):
        return f"attention implementation {attn!r} (continuous batching needs sdpa or flash attention)"
    cfg = getattr(model, "generation_config", None)
    extra = [k for k, neutral in _DROPPED.items() if getattr(cfg, k, None) not in (None, neutral)]
    if extra:
        return f"its generation config sets {', '.join(extra)}, which continuous batching does not apply"
    return None


class ContinuousGenerator:
    """transformers' continuous batching engine for one LocalGenerator (see the module docstring)."""

    def __init__(self, generator: LocalGenerator, options: ContinuousOptions | None = None,
                 fallback: DynamicBatcher | None = None):
        self.generator = generator
        self.options = options or ContinuousOptions()
        self.fallback = fallback or DynamicBatcher(generator)
        self.num_blocks, self.max_batch_tokens = self.options.resolved(generator.device.type)
        self.capacity = self.num_blocks * PAGE_TOKENS  # tokens the cache holds
        self.unsupported = unsupported_reason(generator.model)
        text_cfg = generator.model.config.get_text_config()
        self._vocab = int(getattr(text_cfg, "vocab_size", 0) or len(generator.tokenizer))  # top_k that keeps all
        self.stats = ContinuousStats()
        self._mgr: Any = None
        self._lock = threading.Lock()  # the engine is started from the event loop and the model thread
        self._closed = False
        self._ids = itertools.count()
        self._pending: dict[str, asyncio.Future] = {}
        if self.unsupported is None:  # the static path's model calls wait for the loop to pause
            generator.model_guard = self.paused

    def static_reason(self, params: SamplingParams) -> str | None:
        """Why a request goes to the static path (None: the engine serves it)."""
        if self.unsupported:
            return self.unsupported
        if params.seed is not None:
            return "seed"
        if params.top_logprobs:
            return "top_logprobs"
        if (params.response_format or {}).get("type", "text") != "text":
            return "response_format"
        return None

    def too_large(self, prompt_tokens: int, max_new_tokens: int) -> str | None:
        """Why a request cannot fit in the KV cache even alone (None: it fits)."""
        need = prompt_tokens + max_new_tokens
        if need <= self.capacity:
            return None
        return (f"the prompt ({prompt_tokens} tokens) plus max_tokens ({max_new_tokens}) is {need} tokens, more than "
                f"the KV cache of continuous batching holds ({self.capacity} tokens: --cb-blocks {self.num_blocks} "
                f"of {PAGE_TOKENS}); ask for fewer tokens, or start the server with a larger --cb-blocks")

    async def generate(self, prompt: Prompt, params: SamplingParams, on_token: OnToken | None = None) -> Generation:
        """One completion (see the module docstring); raises RequestTooLarge, never a model error
        (that is ``Generation.error``)."""
        if self.static_reason(params) is not None:
            self.stats.static += 1
            return await self.fallback.submit(StreamingPrompt(prompt, on_token) if on_token else prompt, params)
        t0 = time.perf_counter()
        ids = await asyncio.to_thread(self.generator.prompt_ids, prompt)
        why = self.too_large(len(ids), params.max_new_tokens)
        if why is not None:
            self.stats.too_large += 1
            raise RequestTooLarge(why)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        on_output = self._listener(fut, len(ids), t0, on_token)
        try:
            submitted = None if self._closed else self._submit(ids, params, on_output, streaming=on_token is not None)
        except Exception as exc:  # noqa: BLE001 - e.g. no memory for the KV cache: a per-request failure
            log.exception("continuous batching could not take a request")
            submitted, why = None, f"{type(exc).__name__}: {exc}"
        else:
            why = "it is closed or stopping"
        if submitted is None:
            self.stats.failed += 1
            return Generation(text="", error=f"continuous batching cannot take requests: {why}", prompt_tokens=len(ids))
        mgr, rid = submitted
        self._pending[rid] = fut
        st = self.stats
        st.requests, st.in_flight = st.requests + 1, st.in_flight + 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            gen = await fut
        except asyncio.CancelledError:  # the client is gone: out of the batch at the next step
            mgr.cancel_request(rid)
            _forget(mgr, rid)
            st.cancelled += 1
            raise
        finally:
            st.in_flight -= 1
            self._pending.pop(rid, None)
        st.failed += gen.error is not None
        return gen

    def _submit(self, ids: list[int], params: SamplingParams, on_output: Callable[[Any], None],
                streaming: bool) -> tuple[Any, str] | None:
        """Add a request to the engine (restarted once if it stopped meanwhile): (engine, request id)."""
        greedy = not params.temperature or params.temperature <= 0
        # Per-request processors: top_k=1 is the argmax (greedy, exactly); a sampled request gets
        # its temperature and top-p with no top-k (as the static path samples).
        procs = ({"temperature": 1.0, "top_k": 1, "top_p": 1.0} if greedy else
                 {"temperature": float(params.temperature), "top_k": self._vocab,
                  "top_p": float(params.top_p)})
        for _ in range(2):
            mgr = self._running()
            rid = f"judgelab-{next(self._ids)}"
            mgr.register_result_handler(rid, on_output)  # before adding: a fast request may finish at once
            if mgr.add_request(ids, request_id=rid, max_new_tokens=params.max_new_tokens, streaming=streaming,
                               eos_token_id=sorted(self.generator.eos_ids), **procs) is not None:
                return mgr, rid
            _forget(mgr, rid)
        return None

    def _listener(self, fut: asyncio.Future, n_prompt: int, t0: float, on_token: OnToken | None
                  ) -> Callable[[Any], None]:
        """The engine's result handler for one request (called on the event loop): stream its new
        tokens, resolve ``fut`` when it ends."""
        sent = 0
        eos = self.generator.eos_ids

        def on_output(out: Any) -> None:
            nonlocal sent, on_token
            if fut.done():
                return
            tokens = list(out.generated_tokens)
            if on_token is not None:
                for tid in tokens[sent:]:
                    if tid in eos:
                        break
                    try:
                        on_token(tid, None)
                    except Exception:  # noqa: BLE001 - a listener's failure must not fail the request
                        log.exception("stream callback failed; the request stops streaming")
                        on_token = None
                        break
                sent = len(tokens)
            latency = time.perf_counter() - t0
            if out.error is not None:
                fut.set_result(Generation(text="", error=f"continuous batching: {out.error}", prompt_tokens=n_prompt,
                                          latency_s=latency))
            elif out.is_finished():
                fut.set_result(self._generation(tokens, n_prompt, latency))

        return on_output

    def _generation(self, tokens: list[int], n_prompt: int, latency: float) -> Generation:
        """The Generation of finished token ids, as the static path makes it (text without the stop
        token, which is counted)."""
        stop = next((i for i, t in enumerate(tokens) if t in self.generator.eos_ids), None)
        kept = tokens if stop is None else tokens[:stop]
        return Generation(text=self.generator.decode(kept), prompt_tokens=n_prompt,
                          completion_tokens=len(tokens) if stop is None else stop + 1, latency_s=latency,
                          finish_reason="length" if stop is None else "stop")

    def _build(self) -> Any:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        # Sampling for every request, with per-request processors: the base values below only make
        # transformers create the temperature, top-k and top-p processors; every request sets its own.
        gen_cfg = GenerationConfig(do_sample=True, temperature=0.5, top_k=1, top_p=0.5, max_new_tokens=16,
                                   eos_token_id=sorted(self.generator.eos_ids),
                                   pad_token_id=self.generator.tokenizer.pad_token_id)
        _route_engine_logs()
        cb_cfg = ContinuousBatchingConfig(num_blocks=self.num_blocks, max_batch_tokens=self.max_batch_tokens,
                                          scheduler_type=_register_scheduler(), per_request_processors=True,
                                          # the model is shared with the static path: never switch its attention
                                          auto_switch_to_flash=False)
        return self.generator.model.init_continuous_batching(generation_config=gen_cfg, continuous_batching_config=cb_cfg)

    def _running(self) -> Any:
        """The engine, started on first use and restarted if its loop stopped."""
        with self._lock:
            if self._closed:
                raise RuntimeError("continuous batching is closed")
            mgr = self._mgr
            if mgr is not None and mgr.is_running() and mgr.background_thread_status.fatal_error is None:
                return mgr
            if mgr is not None:
                log.warning("the continuous batching loop stopped (%s); restarting it",
                            mgr.background_thread_status.fatal_error)
                self.stats.restarts += 1
                _stop(mgr)
            self._mgr = mgr = self._build()
            mgr.start()
            log.info("continuous batching: KV cache of %d tokens, %d tokens per step", self.capacity,
                     self.max_batch_tokens)
            return mgr

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the engine's loop between two steps, so this thread may use the model (the requests
        in the batch keep their place and resume afterwards)."""
        if self._closed:
            yield
            return
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self._running().pause())
            except RuntimeError:  # the loop stopped while we waited for it: restart it once
                stack.enter_context(self._running().pause())
            yield

    def active(self) -> list[str]:
        """Ids of the requests the engine holds now, running or waiting (monitoring, tests)."""
        bp = getattr(self._mgr, "batch_processor", None)
        if bp is None:
            return []
        for _ in range(3):  # the loop thread may change the dicts while they are read
            with contextlib.suppress(RuntimeError):
                return list(bp.scheduler.active_requests) + list(bp.scheduler.waiting_requests)
        return []

    def close(self) -> None:
        """Stop the engine's thread; requests still in it fail."""
        with self._lock:
            self._closed = True
            mgr, self._mgr = self._mgr, None
        if mgr is not None:
            _stop(mgr)

    async def aclose(self) -> None:
        """``close`` off the event loop; requests still waiting get an error."""
        await asyncio.to_thread(self.close)
        for fut in list(self._pending.values()):
            if not fut.done():
                fut.set_result(Generation(text="", error="continuous batching is closed"))


def _stop(mgr: Any) -> None:
    try:
        mgr.stop(block=True, timeout=30, hard_stop=True)
        mgr.destroy()
    except Exception:  # noqa: BLE001 - stopping must go on (shutdown, restart)
        log.exception("stopping the continuous batching loop failed")


def _route_engine_logs() -> None:
    """The engine logs to stderr through a handler of its own (INFO included): send its records to
    the application's handlers instead (``judgelab``'s CLI: the log file, errors on the terminal)."""
    from transformers.generation.continuous_batching.utils import logger

    for h in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
        logger.removeHandler(h)
    logger.propagate = True


def _forget(mgr: Any, rid: str) -> None:
    """Drop a request's result handler (transformers removes it only when the request finishes)."""
    router = mgr.output_router
    with router._lock:
        router.result_handlers.pop(rid, None)


def _register_scheduler() -> str:
    """Register the ``short_prefill_first`` scheduler with transformers (once) and return its name."""
    from transformers.generation.continuous_batching import scheduler as sched
    from transformers.generation.continuous_batching.requests import RequestStatus

    if SCHEDULER in sched.SCHEDULER_MAPPING:
        return SCHEDULER

    class ShortPrefillFirstScheduler(sched.FIFOScheduler):
        """FIFO's decoding requests first, then the prompts to prefill by tokens left (stable: FIFO
        among equals), started or waiting alike."""

        def schedule_batch(self, token_budget: int, cache_budget: int) -> tuple[Any, bool, int, int]:
            states = list(self.active_requests.values())
            decoding = [s for s in states if s.status == RequestStatus.DECODING]
            prefill = [s for s in states if s.status == RequestStatus.PREFILLING]
            if not self.block_new_requests:
                prefill += self._get_waiting_candidates()
            prefill.sort(key=lambda s: len(s.remaining_prefill_tokens))
            removed: set[str] = set()
            scheduled, failed, fast, n_q, kv = self._process_candidates(decoding + prefill, token_budget,
                                                                        cache_budget, removed)
            self._cleanup_waiting_queue(removed)
            if not scheduled and failed:  # the cache is full: the engine offloads, as for FIFO
                return None, fast, 0, 0
            return scheduled, fast, n_q, kv

    sched.SCHEDULER_MAPPING[SCHEDULER] = ShortPrefillFirstScheduler
    return SCHEDULER
