"""Plan-time estimate of GPU-hours and GPU memory per stage of a run, from model sizes alone
(``judgelab run CONFIG --dry-run``). The method, its constants and what it leaves out are in
docs/estimate.md; the numbers are an order of magnitude to plan a job with, not a measurement.

No model is loaded and nothing is fetched: a model's parameter count comes from ``KNOWN_PARAMS``
(model ids and judgelab's offline alias) or, for a local folder, from its ``config.json``;
anything else is unknown, and so is every figure that needs it. Reads those config.json files
and an accelerate config file (its process count and sharding); writes nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The reference GPU every time is given for: an H100 80GB SXM.
GPU_NAME = "H100 80GB"
PEAK_FLOPS = 989e12      # dense bf16 tensor-core FLOP/s
HBM_BYTES_S = 3.35e12    # memory bandwidth, bytes/s
MFU_TRAIN = 0.35         # fraction of peak a forward+backward pass reaches
MFU_FORWARD = 0.40       # fraction of peak a prefill / scoring forward pass reaches
BW_EFFICIENCY = 0.60     # fraction of bandwidth a decode step reaches (it reads every weight once)
PROMPT_TOKENS = 128      # a user prompt with its chat template
JUDGE_TEMPLATE_TOKENS = 320  # a judge's instructions and rubric, around the prompt and response(s)
OVERHEAD = 1.2           # activations, KV cache and allocator slack on top of weights / optimizer state
HF_STEP_S = 0.025        # least time of one decode step of transformers' generate (launches, Python)
VLLM_STEP_S = 0.006      # the same for vLLM (CUDA graphs)

# Parameters (billions) of models a study is likely to name; ids compare case-insensitively.
KNOWN_PARAMS: dict[str, float] = {
    "smollm2-135m-instruct": 0.135, "huggingfacetb/smollm2-135m-instruct": 0.135,
    "huggingfacetb/smollm2-360m-instruct": 0.362, "huggingfacetb/smollm2-1.7b-instruct": 1.71,
    "qwen/qwen3-0.6b": 0.6, "qwen/qwen3-1.7b": 1.7, "qwen/qwen3-4b": 4.0, "qwen/qwen3-8b": 8.2,
    "qwen/qwen3-14b": 14.8, "qwen/qwen3-32b": 32.8,
    "qwen/qwen3-4b-instruct-2507": 4.0, "qwen/qwen3-4b-thinking-2507": 4.0,
    "qwen/qwen2.5-0.5b-instruct": 0.494, "qwen/qwen2.5-1.5b-instruct": 1.54, "qwen/qwen2.5-3b-instruct": 3.09,
    "qwen/qwen2.5-7b-instruct": 7.62,
    "meta-llama/llama-3.2-1b-instruct": 1.24, "meta-llama/llama-3.2-3b-instruct": 3.21,
    "meta-llama/llama-3.1-8b-instruct": 8.03, "meta-llama/llama-3.1-8b": 8.03,
    "meta-llama/llama-3.1-70b-instruct": 70.6,
    "openai/gpt-oss-20b": 21.0, "openai/gpt-oss-120b": 117.0,
}


def param_count(spec: str) -> tuple[float | None, str]:
    """(billions of parameters or None, where the number came from) for a model spec."""
    folder = Path(spec).expanduser()
    if (folder / "config.json").is_file():
        try:
            count = params_from_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            count = None
        return (count, "config.json") if count else (None, "unknown (config.json without the sizes)")
    known = KNOWN_PARAMS.get(spec.strip().lower())
    return (known, "table") if known else (None, "unknown")


def params_from_config(cfg: dict[str, Any]) -> float | None:
    """Billions of parameters of a decoder-only transformer from its config.json sizes."""
    cfg = cfg.get("text_config", cfg)
    try:
        h, layers, vocab = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"]), int(cfg["vocab_size"])
    except (KeyError, TypeError, ValueError):
        return None
    heads = int(cfg.get("num_attention_heads") or max(1, h // 64))
    kv = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or h // heads)
    inter = int(cfg.get("intermediate_size") or 4 * h)
    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 1)
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    per_layer = attn + 3 * h * inter * experts + 2 * h
    embed = vocab * h * (1 if cfg.get("tie_word_embeddings", True) else 2)
    return (layers * per_layer + embed + h) / 1e9


# ------------------------------------------------------------------------------ time and memory

def train_s(p: float, tokens: float, checkpointing: bool = False) -> float:
    """Seconds of forward+backward over ``tokens`` (6 FLOPs per parameter and token; x4/3 recomputed)."""
    return 6 * p * 1e9 * tokens * (4 / 3 if checkpointing else 1) / (PEAK_FLOPS * MFU_TRAIN)


def forward_s(p: float, tokens: float) -> float:
    """Seconds of a forward pass (prefill, scoring, a reference model) over ``tokens``."""
    return 2 * p * 1e9 * tokens / (PEAK_FLOPS * MFU_FORWARD)


def decode_s(p: float, sequences: float, new_tokens: int, batch: int, floor: float = HF_STEP_S) -> float:
    """Seconds to sample ``new_tokens`` for ``sequences`` in batches of ``batch``: each step reads
    every bf16 weight once (bandwidth-bound) unless the batch makes it compute-bound, and takes at
    least ``floor`` (small models are bound by launch overhead)."""
    step = max(2 * p * 1e9 / (HBM_BYTES_S * BW_EFFICIENCY), 2 * p * 1e9 * batch / (PEAK_FLOPS * MFU_FORWARD), floor)
    return math.ceil(sequences / max(batch, 1)) * new_tokens * step + forward_s(p, sequences * PROMPT_TOKENS)


def infer_gb(p: float) -> float:
    """GPU memory of a model served in bf16."""
    return 2 * p * OVERHEAD


def train_gb(p: float, lora: bool, shard: tuple[int, int]) -> float:
    """GPU memory per device of training: fp32 master weights, gradients and Adam's two moments
    (16 bytes/parameter; LoRA: the fp32 base only), split per ZeRO stage over ``shard[1]`` devices."""
    stage, n = shard
    if lora:
        return 4 * p * OVERHEAD / (n if stage == 3 else 1)
    if stage == 3:
        return 16 * p * OVERHEAD / n
    if stage == 2:
        return (4 * p + 12 * p / n) * OVERHEAD
    return 16 * p * OVERHEAD


def sharding(num_processes: int | None, config_file: str | None) -> tuple[int, int]:
    """(ZeRO stage: 0 none, 2 optimizer+gradients, 3 everything (FSDP counts as 3), processes)."""
    data: dict[str, Any] = {}
    if config_file and Path(config_file).is_file():
        import yaml

        loaded = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    n = num_processes or int(data.get("num_processes") or 1)
    kind = str(data.get("distributed_type", "")).upper()
    if kind == "DEEPSPEED":
        return int((data.get("deepspeed_config") or {}).get("zero_stage", 0)), n
    return (3 if kind == "FSDP" else 0), n


# --------------------------------------------------------------------------------- the tallies

@dataclass
class StageCost:
    """One stage's estimate: GPU seconds (None: a model size is unknown), peak GB per GPU, requests
    to API models and the tokens they read and write."""

    name: str
    runs: int = 1
    seconds: float | None = 0.0
    memory_gb: float | None = 0.0
    api_requests: int = 0
    api_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def add_s(self, s: float | None) -> None:
        self.seconds = None if s is None or self.seconds is None else self.seconds + s

    def need_gb(self, gb: float | None) -> None:
        self.memory_gb = None if gb is None or self.memory_gb is None else max(self.memory_gb, gb)


@dataclass(frozen=True)
class Model:
    """A model as the estimate sees it: a local model (billions of parameters, None unknown), an
    API model, or a programmatic judge (free)."""

    spec: str
    kind: str  # local | api | free
    params: float | None = None
    source: str = ""


def judge_call(cost: StageCost, judge: Model, calls: int, response_tokens: int, new_tokens: int, batch: int,
               scalar: bool = False) -> float | None:
    """Add ``calls`` judgments to ``cost``; returns the judge's GB (0 when it is not on this GPU)."""
    prompt = JUDGE_TEMPLATE_TOKENS + PROMPT_TOKENS + response_tokens
    if judge.kind == "api":
        cost.api_requests += calls
        cost.api_tokens += calls * (prompt + new_tokens)
        return 0.0
    if judge.kind == "free" or calls == 0:
        return 0.0
    if judge.params is None:
        cost.add_s(None)
        return None
    p = judge.params
    cost.add_s(forward_s(p, calls * prompt) if scalar else decode_s(p, calls, new_tokens, batch) + forward_s(p, calls * prompt))
    return infer_gb(p)
