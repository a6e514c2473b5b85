"""A scalar (Bradley-Terry) reward model as a judge: verdicts directly, no text round trip.

- pointwise: score = lo + (hi - lo) * sigmoid(reward / temperature) on the judge's own scale
  (any scale: 1-10, 1-5, 0-1...);
- pairwise: the higher reward wins (a tie only when exactly equal), ``strength`` unset.

``raw`` keeps the rewards (``reward=R`` / ``reward_a=Ra, reward_b=Rb``). Requests are scored in
batches formed by judgelab.lm's DynamicBatcher (up to ``batch_size`` sequences, waiting at most
``max_wait_ms``); the forward pass runs in a worker thread so the event loop keeps accepting work.

Batch partners: in fp32 a reward does not depend on what it is batched with (left padding with
position ids from the mask; < 1e-5, tests). In bf16/fp16 the padded width and the batch shape
change the rounding (a SmolLM2 reward model gave one answer 2.96 alone and 3.10 beside a longer
one on a bf16 CPU), so there, by default, each sequence gets its own forward pass
(``batch_invariant``): exact, at the cost of batching.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from judgelab.judges.base import BOTH, JudgeBase
from judgelab.judges.types import Item, Mode, PairwiseItem, PointwiseItem, Verdict
from judgelab.lm.batcher import DynamicBatcher

log = logging.getLogger(__name__)

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


class RewardModelJudge(JudgeBase):
    """A sequence-classification model with one output, as a Judge."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "reward-model",
        model_id: str = "",
        batch_size: int = 8,
        max_wait_ms: float = 5.0,
        max_length: int = 1024,
        temperature: float = 1.0,
        scale: tuple[float, float] = DEFAULT_SCALE,
        modes: tuple[Mode, ...] = BOTH,
        config: Any = None,
        batch_invariant: bool | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.model_id = model_id
        self.max_length = max_length
        self.reward_temperature = temperature
        self.scale = (float(scale[0]), float(scale[1]))
        self.modes = modes
        self.config = config
        self.backend_calls = 0
        dtype = getattr(model, "dtype", None) or next(model.parameters()).dtype  # HF: the first float dtype
        self.dtype = str(dtype).removeprefix("torch.")  # the loaded one ("auto" resolved): part of the identity
        if batch_invariant is None:  # 16-bit floats: the batch's shape changes the rounding
            batch_invariant = dtype.is_floating_point and dtype.itemsize < 4
        self.batch_invariant = bool(batch_invariant)
        self.batcher: DynamicBatcher[list[int], float] = DynamicBatcher(
            lambda batch, _params: self.score_batch(batch), batch_size=batch_size, max_wait_ms=max_wait_ms)

    @classmethod
    def from_config(cls, cfg: Any) -> "RewardModelJudge":
        """From a JudgeConfig whose backend is a RewardModelBackendConfig."""
        from judgelab.models.loading import load_model

        b = cfg.backend
        model, tok = load_model(b.model, task="seq-cls", num_labels=1, device=b.device, dtype=b.dtype)
        return cls(model, tok, name=cfg.name, model_id=b.model, batch_size=b.batch_size, max_wait_ms=b.max_wait_ms,
                   max_length=b.max_length, temperature=b.temperature, scale=tuple(cfg.scale),  # type: ignore[arg-type]
                   modes=(cfg.mode,) if cfg.mode else BOTH, config=cfg, batch_invariant=b.batch_invariant)

    @property
    def batches(self) -> int:
        """Forward passes run so far (for tests and logs)."""
        return self.batcher.stats.batches

    def identity(self) -> dict[str, Any]:
        from judgelab.models.specs import weights_fingerprint

        ident = {"backend": "reward_model", "model": self.model_id, "max_length": self.max_length,
                 "temperature": self.reward_temperature, "scale": list(self.scale), "dtype": self.dtype}
        fp = weights_fingerprint(self.model_id) if self.model_id else None
        if fp:
            ident["weights"] = fp  # retrained in place -> new identity, no stale cached verdicts
        if self.batch_invariant:  # other (exact) rewards than batched bf16 gave: not the same cache entries
            ident["batch_invariant"] = True
        return ident

    def spec(self) -> dict[str, Any] | None:
        return self.config.model_dump(mode="json") if self.config is not None else None

    def score_batch(self, batch: list[list[int]]) -> list[float]:
        """Rewards for pre-tokenized sequences: one forward pass, left-padded; with
        ``batch_invariant`` one pass per sequence (no padding, batch of one)."""
        if self.batch_invariant and len(batch) > 1:
            return [self._forward([ids])[0] for ids in batch]
        return self._forward(batch)

    def _forward(self, batch: list[list[int]]) -> list[float]:
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
        return [float(v) for v in out.logits.float()[:, 0].cpu()]

    async def reward(self, prompt: str, response: str) -> float:
        return await self.batcher.submit(rm_input_ids(self.tokenizer, prompt, response, self.max_length))

    async def ajudge_one(self, item: Item, sample_index: int = 0) -> Verdict:
        t0 = time.perf_counter()
        self.backend_calls += 1
        try:
            if isinstance(item, PointwiseItem):
                r = await self.reward(item.prompt, item.response)
                return Verdict(item_id=item.id, mode="pointwise", parsed=True, judge=self.name, raw=f"reward={r:.4f}",
                               score=reward_to_score(r, self.reward_temperature, self.scale),
                               latency_s=time.perf_counter() - t0)
            if isinstance(item, PairwiseItem):
                ra, rb = await asyncio.gather(self.reward(item.prompt, item.response_a),
                                              self.reward(item.prompt, item.response_b))
                pref = "A" if ra > rb else "B" if rb > ra else "tie"
                return Verdict(item_id=item.id, mode="pairwise", parsed=True, judge=self.name, preference=pref,
                               raw=f"reward_a={ra:.4f}, reward_b={rb:.4f}", latency_s=time.perf_counter() - t0)
            raise TypeError(f"not a judge item: {type(item).__name__}")
        except Exception as exc:  # noqa: BLE001 - per-item failures are values
            mode: Mode = "pairwise" if isinstance(item, PairwiseItem) else "pointwise"
            return Verdict(item_id=getattr(item, "id", ""), mode=mode, parsed=False, judge=self.name,
                           error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - t0)

    async def aclose(self) -> None:
        """Stop the batcher; requests still queued or in flight fail with 'batcher is closed'."""
        await self.batcher.aclose()
