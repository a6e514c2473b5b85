"""Model specs -> (model, tokenizer), shared by every stage (specs: ``judgelab.models.specs``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from judgelab.errors import ModelSpecError
from judgelab.models.devices import pick_device, pick_dtype
from judgelab.models.smollm2 import materialise_smollm2
from judgelab.models.specs import ACCEPTED_FORMS, ALIASES, Task, _hub_source, check_model_spec, prepare_tokenizer

log = logging.getLogger(__name__)


def resolve_model_path(spec: str) -> str:
    """Model spec -> a local folder path or a hub id that ``from_pretrained`` accepts.

    The alias is materialised on first use; a folder must contain ``config.json``; anything else
    must look like ``org/name``. Raises ModelSpecError otherwise.
    """
    spec = check_model_spec(spec)
    if spec.lower() in ALIASES:
        return str(materialise_smollm2())
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.is_dir() else _hub_source(spec)


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
    return prepare_tokenizer(tok, "causal-lm")


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
