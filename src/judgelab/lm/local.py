"""Local text generation: chat messages -> Generations with a transformers causal LM.

``LocalGenerator.generate_batch(messages_list, params)`` is synchronous (chat template, left-padded
batch, greedy or seeded top-p sampling, token counts, latency); every model call runs on one
dedicated thread. Concurrent callers reach it through ``judgelab.lm.batcher.DynamicBatcher``
(the transformers backend, ``judgelab serve``); batch callers (sampling, evaluation sampling,
reference responses) call it directly with fixed batches.

Extension point: anything implementing ``TextGenerator`` (a ``generate_batch`` method) can sit
behind the batcher, so faster engines (vLLM, a compiled static-cache path) slot in without
touching callers. ``GenerationOptions.static_cache`` already turns on transformers' static KV cache
(which compiles the forward) on CUDA.

Reads: a loaded model + tokenizer (see judgelab.models). Writes: nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from judgelab.lm.types import Generation, Messages, SamplingParams

log = logging.getLogger(__name__)


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

    def count_tokens(self, messages: Messages) -> int:
        """Prompt tokens of one conversation (what a request's input costs)."""
        return len(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

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
