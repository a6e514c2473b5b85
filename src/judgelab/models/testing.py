"""Tiny random models for unit tests: a 2-layer Llama built from a config, no files needed."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from judgelab.errors import ModelSpecError
from judgelab.models.loading import load_tokenizer
from judgelab.models.smollm2 import smollm2_available
from judgelab.models.specs import CHATML_TEMPLATE, SMOLLM2_ALIAS, Task, prepare_tokenizer

_TOKENIZER_CACHE: dict[str, Any] = {}


def _byte_level_tokenizer() -> Any:
    """A 259-token byte-level tokenizer built in memory (fallback when SmolLM2 is absent)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + alphabet)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token="<|endoftext|>", additional_special_tokens=specials[1:],
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def tiny_tokenizer() -> Any:
    """The SmolLM2 tokenizer when available (cached per process), else an in-memory byte tokenizer.

    Returns a fresh copy so callers may change padding side etc. without affecting others.
    """
    if "tiny" not in _TOKENIZER_CACHE:
        if smollm2_available():
            tok = load_tokenizer(SMOLLM2_ALIAS)
        else:
            tok = prepare_tokenizer(_byte_level_tokenizer(), "causal-lm")
        _TOKENIZER_CACHE["tiny"] = tok
    return copy.deepcopy(_TOKENIZER_CACHE["tiny"])


def tiny_model(task: Task = "causal-lm", num_labels: int = 1, seed: int = 0) -> tuple[Any, Any]:
    """A 2-layer random Llama (+ tokenizer) for unit tests: builds in milliseconds, no files."""
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    tok = tiny_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        num_labels=num_labels,
    )
    with _fork_rng(seed):
        if task == "causal-lm":
            model = LlamaForCausalLM(cfg)
        elif task == "seq-cls":
            model = LlamaForSequenceClassification(cfg)
        else:
            raise ModelSpecError(f"unknown task '{task}'", where="tiny_model", hint="use causal-lm or seq-cls")
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tok.pad_token_id
    model.eval()
    return model, tok


@contextlib.contextmanager
def _fork_rng(seed: int) -> Iterator[None]:
    """Seed weight init without disturbing the caller's global RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
