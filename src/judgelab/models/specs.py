"""Model specs: what a spec may be, and checking one without loading anything.

A *model spec* is one of:

- the offline alias ``smollm2-135m-instruct`` (see ``judgelab.models.smollm2``);
- a local folder holding ``config.json`` (any transformers checkpoint, e.g. a train-judge output);
- a Hugging Face hub id ``org/name`` (downloaded by ``from_pretrained``). Without network
  (``HF_HUB_OFFLINE=1``, or a connect probe to the hub that fails within seconds) a cached
  snapshot is used, else a ModelSpecError names the id at once instead of ~45 s of retries.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

from judgelab.errors import ModelSpecError

log = logging.getLogger(__name__)

Task = Literal["causal-lm", "seq-cls"]

SMOLLM2_ALIAS = "smollm2-135m-instruct"
ALIASES = (SMOLLM2_ALIAS,)

ACCEPTED_FORMS = (
    f"an offline alias ({', '.join(ALIASES)}), a local folder containing config.json, "
    "or a Hugging Face hub id 'org/name' (needs network or a populated HF cache)"
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

# Chat template used when a tokenizer has none (ChatML, as SmolLM2/Qwen use).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_root() -> Path:
    """Root of judgelab's cache (``$JUDGELAB_CACHE`` or ``~/.cache/judgelab``)."""
    env = os.environ.get("JUDGELAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "judgelab"


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


def prepare_tokenizer(tok: Any, task: Task) -> Any:
    """Pad token, chat template and padding side that our callers rely on."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML_TEMPLATE
    # Decoder-only batched generation needs left padding; reward models read the last non-pad
    # token and work with either side, so left everywhere keeps one convention.
    tok.padding_side = "left"
    return tok


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
