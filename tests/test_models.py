"""judgelab.models: spec resolution, offline SmolLM2 materialisation, tiny test models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from judgelab.models import devices, loading, specs, testing
from judgelab.errors import ModelSpecError


def test_unknown_spec_names_spec_and_accepted_forms() -> None:
    with pytest.raises(ModelSpecError) as ei:
        loading.resolve_model_path("not a model!")
    msg = str(ei.value)
    assert "not a model!" in msg and "smollm2-135m-instruct" in msg and "config.json" in msg and "org/name" in msg


def test_folder_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="no config.json"):
        loading.resolve_model_path(str(tmp_path))


def test_hub_id_offline_becomes_model_spec_error() -> None:
    # conftest sets HF_HUB_OFFLINE=1: an uncached hub id fails at once, naming the id and the ways out.
    with pytest.raises(ModelSpecError) as ei:
        loading.load_model("someorg/definitely-not-cached-xyz")
    msg = str(ei.value)
    assert "someorg/definitely-not-cached-xyz" in msg and "HF_HUB_OFFLINE" in msg
    assert "smollm2-135m-instruct" in msg and "local folder" in msg and "\n" not in msg


def test_hub_id_without_network_fails_at_once_without_retries(monkeypatch) -> None:
    """No HF_HUB_OFFLINE, but the hub endpoint does not answer (a closed local port): the connect
    probe says so and the error comes before huggingface_hub's retry loop would start."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(specs, "_probe_cache", {})
    with pytest.raises(ModelSpecError) as ei:
        loading.resolve_model_path("someorg/not-cached-here")
    assert f"cannot reach 127.0.0.1:{port}" in str(ei.value) and "someorg/not-cached-here" in str(ei.value)


def test_hub_id_offline_uses_the_cached_snapshot(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants as hc

    snap = tmp_path / "models--someorg--cached" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "models--someorg--cached" / "refs").mkdir()
    (tmp_path / "models--someorg--cached" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path))
    assert loading.resolve_model_path("someorg/cached") == str(snap)


def test_tiny_causal_lm_builds_and_generates(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    model2, tok2 = testing.tiny_model("causal-lm", seed=0)
    assert model.config.num_hidden_layers == 2
    assert tok.pad_token is not None and tok.padding_side == "left" and tok.chat_template
    # Same seed, same weights; the caller's RNG state is left alone.
    state = torch.random.get_rng_state()
    m3, _ = testing.tiny_model("causal-lm", seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    for a, b in zip(model2.parameters(), m3.parameters()):
        assert torch.equal(a, b)
    enc = tok(["hello there", "hi"], return_tensors="pt", padding=True)
    out = model.generate(**enc, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape == (2, enc["input_ids"].shape[1] + 3)


def test_tiny_tokenizer_copies_are_independent() -> None:
    _, t1 = testing.tiny_model()
    t1.padding_side = "right"
    _, t2 = testing.tiny_model()
    assert t2.padding_side == "left"


def test_tiny_seq_cls_scores_batches(tiny_seq_cls) -> None:
    model, tok = tiny_seq_cls
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert model.config.pad_token_id == tok.pad_token_id
    enc = tok(["a short one", "a somewhat longer text to score"], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (2, 1)
    # Left padding must not change a row's score.
    with torch.no_grad():
        alone = model(**tok(["a short one"], return_tensors="pt")).logits
    assert torch.allclose(alone[0], logits[0], atol=1e-5)


def test_byte_level_fallback_tokenizer_roundtrips() -> None:
    tok = specs.prepare_tokenizer(testing._byte_level_tokenizer(), "causal-lm")
    text = "héllo, wörld! 123"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert "<|im_start|>assistant" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )


def test_smollm2_materialised_folder_is_plain(smollm2_path: str) -> None:
    p = Path(smollm2_path)
    assert (p / "model.safetensors").exists() and (p / "judgelab_materialised.json").exists()
    cfg = json.loads((p / "config.json").read_text())
    assert "quantization_config" not in cfg  # trainers would refuse it as "purely quantized"
    model, tok = loading.load_model("smollm2-135m-instruct", device="cpu")
    assert getattr(model, "hf_quantizer", None) is None
    assert model.dtype == devices.pick_dtype("auto", "cpu")  # dtype "auto": bf16 where the CPU runs it fast
    assert sum(x.numel() for x in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert tok.chat_template and tok.pad_token is not None and tok.padding_side == "left"
    # The same folder works as a local-folder spec.
    assert loading.resolve_model_path(smollm2_path) == str(p.resolve())


_MATERIALISE = """
import sys, time
from judgelab.models.loading import resolve_model_path
t0 = time.perf_counter()
print(resolve_model_path("smollm2-135m-instruct"), round(time.perf_counter() - t0, 2), flush=True)
"""


@pytest.mark.slow
def test_concurrent_processes_materialise_once(tmp_path: Path, smollm2_path: str) -> None:
    """Two processes racing on an empty cache: one converts the GGUF (~20 s), the other waits on
    the lock; both return the same complete folder. Slow: it costs a real conversion."""
    env = dict(os.environ, JUDGELAB_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", _MATERIALISE], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    target = tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    assert {o[0] for o in outs} == {str(target)}
    assert (target / "model.safetensors").exists()
    # No temp folders left behind.
    leftovers = [x.name for x in target.parent.iterdir() if x.name.startswith(".smollm2") and x.is_dir()]
    assert leftovers == []


def test_weights_fingerprint_changes_when_a_folder_is_retrained(tmp_path):

    import torch

    from judgelab.models.testing import tiny_model
    from judgelab.models.specs import weights_fingerprint

    model, tok = tiny_model()
    model.save_pretrained(tmp_path / "m")
    first = weights_fingerprint(str(tmp_path / "m"))
    assert first and first == weights_fingerprint(str(tmp_path / "m"))
    time.sleep(0.01)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    model.save_pretrained(tmp_path / "m")  # "retrained" into the same folder
    assert weights_fingerprint(str(tmp_path / "m")) != first
    assert weights_fingerprint("smollm2-135m-instruct") is None and weights_fingerprint(str(tmp_path)) is None


# -- devices ------------------------------------------------------------------------------------


def test_device_names_are_checked_where_configured(monkeypatch):
    from judgelab.errors import ConfigError
    from judgelab.lm.config import TransformersBackendConfig
    from judgelab.train.policy import TrainPolicyConfig

    for ok in ("auto", "cpu", "cuda", "cuda:0", "cuda:7"):
        assert devices.check_device(ok) == ok
        assert TransformersBackendConfig(device=ok).device == ok
    for bad in ("gpu", "cuda0", "cuda:", "CPU", "mps:x"):
        with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
            devices.check_device(bad, where="x.device")
        with pytest.raises(ValueError, match="unknown device"):
            TrainPolicyConfig(device=bad)


def test_pick_device_on_this_machine(monkeypatch):
    from judgelab.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("CPU-only rules")
    assert devices.pick_device("auto") == "cpu" and devices.pick_device("cpu") == "cpu"
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert devices.pick_device("auto") == "cpu"  # no CUDA: every rank on the CPU
    with pytest.raises(ConfigError, match="no CUDA device"):
        devices.pick_device("cuda")


def test_auto_is_the_ranks_own_gpu(monkeypatch):
    """auto -> cuda:LOCAL_RANK (wrapping around the GPUs there are); cuda:N must exist."""
    from judgelab.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert devices.pick_device("auto") == "cuda:0"
    for local, want in (("1", "cuda:1"), ("3", "cuda:3"), ("5", "cuda:1")):
        monkeypatch.setenv("LOCAL_RANK", local)
        assert devices.pick_device("auto") == want and devices.pick_device("cuda") == want
    assert devices.pick_device("cuda:2") == "cuda:2"
    with pytest.raises(ConfigError, match="sees 4 CUDA device"):
        devices.pick_device("cuda:4")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_loads_on_cuda_local_rank_for_real(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    model, _ = loading.load_model(specs.SMOLLM2_ALIAS, device="auto")
    assert str(next(model.parameters()).device) == "cuda:0"


def test_dist_rank_reads_the_launchers_environment(monkeypatch):
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert devices.dist_rank() == (0, 0, 1)
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert devices.dist_rank() == (5, 1, 8)


def test_missing_vllm_names_the_extra(monkeypatch):
    import importlib.util

    from judgelab.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ConfigError, match=r"judgelab\[vllm\].*vllm==0\.30\.0"):
        devices.require_vllm("grpo.use_vllm")
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'vllm = ["{devices.VLLM_PIN}"]' in pyproject  # the extra pins what the error names
