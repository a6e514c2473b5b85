"""A scalar (Bradley-Terry) reward model used as a judge backend.

The backend reads the structured item (``request.item``), not the rendered prompt: a reward model
scores (prompt, response) pairs. Its text output is what a text judge would write, so the usual
parsers turn it into a Verdict:

- pointwise: ``"reward=R\\nScore: X"`` with X = lo + (hi - lo) * sigmoid(R / temperature) on the
  (1, 10) scale (2 decimals);
- pairwise: ``"reward_a=Ra, reward_b=Rb\\n[[A]]"`` (or [[B]]; [[C]] only when exactly equal).

Requests are scored in batches formed by a small dynamic batcher (up to ``batch_size`` sequences,
waiting at most ``max_wait_ms`` to fill a batch); the forward pass runs in a worker thread so the
event loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from judgelab.judges.types import Generation, GenerationRequest, PairwiseItem, PointwiseItem

log = logging.getLogger(__name__)

# The request carries no scale; JudgeConfig.scale defaults to (1, 10) and so does this mapping.
DEFAULT_SCALE = (1.0, 10.0)


def rm_input_ids(tokenizer: Any, prompt: str, response: str, max_length: int) -> list[int]:
    """Token ids a reward model scores for (prompt, response): the chat template applied to a
    user turn and an assistant turn. Used by training and inference alike. Over-long inputs keep
    their END (the response, whose last token the head reads) and drop the start."""
    msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    ids = tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    ids = list(ids)
    return ids[-max_length:] if len(ids) > max_length else ids


def reward_to_score(r: float, temperature: float = 1.0, scale: tuple[float, float] = DEFAULT_SCALE) -> float:
    lo, hi = scale
    z = max(min(r / temperature, 60.0), -60.0)
    return lo + (hi - lo) / (1.0 + math.exp(-z))


@dataclass
class _Pending:
    ids: list[int]
    future: asyncio.Future = field(repr=False)


class RewardModelBackend:
    """Backend protocol over a sequence-classification model with one output."""

    name = "reward_model"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_id: str = "",
        batch_size: int = 8,
        max_wait_ms: float = 5.0,
        max_length: int = 1024,
        temperature: float = 1.0,
        scale: tuple[float, float] = DEFAULT_SCALE,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.batch_size = batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_length = max_length
        self.temperature = temperature
        self.scale = scale
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self.batches = 0  # number of forward passes (for tests and logs)

    @classmethod
    def from_config(cls, cfg: Any) -> "RewardModelBackend":
        from judgelab.models import load_model

        model, tok = load_model(cfg.model, task="seq-cls", num_labels=1, device=cfg.device, dtype=cfg.dtype)
        return cls(
            model, tok, model_id=cfg.model, batch_size=cfg.batch_size, max_wait_ms=cfg.max_wait_ms,
            max_length=cfg.max_length, temperature=cfg.temperature,
        )

    def identity(self) -> dict[str, Any]:
        from judgelab.models import weights_fingerprint

        ident = {"backend": "reward_model", "model": self.model_id, "max_length": self.max_length,
                 "temperature": self.temperature, "scale": list(self.scale)}
        fp = weights_fingerprint(self.model_id) if self.model_id else None
        if fp:
            ident["weights"] = fp
        return ident

    # ------------------------------------------------------------------ scoring

    def score_batch(self, batch: list[list[int]]) -> list[float]:
        """Rewards for pre-tokenized sequences (one forward pass, left-padded)."""
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(x) for x in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, ids in enumerate(batch):
            input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[i, width - len(ids):] = 1
        device = next(self.model.parameters()).device
        # Position ids from the mask so left padding does not shift positions.
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device))
        # The seq-cls head pools the rightmost non-pad token: with left padding, the last column.
        logits = out.logits.float()
        return [float(v) for v in logits[:, 0].cpu()]

    async def _run(self) -> None:
        assert self._queue is not None
        batch: list[_Pending] = []
        try:
            while True:
                batch = []
                await self._run_one(batch)
        except asyncio.CancelledError:  # closed while collecting or scoring: those callers get an error, not a hang
            _fail(batch, RuntimeError("reward model backend is closed"))
            raise

    async def _run_one(self, batch: list[_Pending]) -> None:
        """Collect one batch (into ``batch``, so a cancellation can fail it) and score it."""
        assert self._queue is not None
        batch.append(await self._queue.get())
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        try:
            rewards = await asyncio.to_thread(self.score_batch, [p.ids for p in batch])
            self.batches += 1
            for p, r in zip(batch, rewards):
                if not p.future.done():
                    p.future.set_result(r)
        except Exception as exc:  # noqa: BLE001 - a failed batch fails its requests, not the worker
            log.warning("reward model batch failed: %s", exc)
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)

    async def _reward(self, prompt: str, response: str) -> float:
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run())
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(rm_input_ids(self.tokenizer, prompt, response, self.max_length), fut))
        return await fut

    async def generate(self, request: GenerationRequest) -> Generation:
        t0 = time.perf_counter()
        item = request.item
        try:
            if isinstance(item, PointwiseItem):
                r = await self._reward(item.prompt, item.response)
                text = f"reward={r:.4f}\nScore: {reward_to_score(r, self.temperature, self.scale):.2f}"
            elif isinstance(item, PairwiseItem):
                ra, rb = await asyncio.gather(
                    self._reward(item.prompt, item.response_a), self._reward(item.prompt, item.response_b)
                )
                verdict = "[[A]]" if ra > rb else "[[B]]" if rb > ra else "[[C]]"
                text = f"reward_a={ra:.4f}, reward_b={rb:.4f}\n{verdict}"
            else:
                return Generation(text="", error="reward_model backend needs request.item (a Pointwise/PairwiseItem)",
                                  latency_s=time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - per-request failures are values
            return Generation(text="", error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - t0)
        return Generation(text=text, latency_s=time.perf_counter() - t0, finish_reason="stop")

    async def aclose(self) -> None:
        """Stop the worker; requests still queued or in flight fail with 'closed' (callers never hang)."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._worker = None
        if self._queue is not None:
            queued = []
            while not self._queue.empty():
                queued.append(self._queue.get_nowait())
            _fail(queued, RuntimeError("reward model backend is closed"))


def _fail(batch: list[_Pending], exc: Exception) -> None:
    for p in batch:
        if not p.future.done():
            p.future.set_exception(exc)
