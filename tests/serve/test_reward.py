"""`judgelab serve --reward`: OpenRLHF's remote reward-model protocol (``--reward.remote_url``),
checked with raw HTTP in exactly the shape openrlhf/utils/agent.py sends (``query`` = prompt +
response as decoded by the policy's tokenizer, ``prompts``, ``labels``) against a real server:
an LLM judge (openai backend to a real local fake-judge server), a tiny reward model, and the
installed CLI in a subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from judgelab.errors import ConfigError
from judgelab.judges.registry import load_judge
from judgelab.judges.types import PointwiseItem
from judgelab.serve.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
from uvicorn_thread import serving  # noqa: E402


def chatml(user: str) -> str:
    """A prompt as OpenRLHF builds it with --data.apply_chat_template (ChatML policy)."""
    return f"<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def openrlhf_payload(pairs: list[tuple[str, str]]) -> dict:
    prompts = [chatml(u) for u, _ in pairs]
    return {"query": [p + r + "<|im_end|>" for p, (_, r) in zip(prompts, pairs)], "prompts": prompts,
            "labels": ["" for _ in pairs]}


def test_llm_judge_as_openrlhf_reward(fault_server) -> None:
    srv = fault_server(reply=lambda text: "Score: 9" if "a good answer" in text else
                       "Score: 4" if "a weak answer" in text else "I cannot rate this.")
    judge = load_judge({"name": "http-judge", "backend": {"type": "openai", "model": "m", "base_urls": [srv.url],
                                                          "max_retries": 0}})
    pairs = [("What is 2+2?", "It is 4, a good answer."), ("Name a colour.", "Blue, a weak answer."),
             ("Say hi.", "gibberish")]
    with serving(create_app(None, reward_judge=judge)) as base:
        r = httpx.post(base + "/get_reward", json=openrlhf_payload(pairs), timeout=60)
        assert r.status_code == 200, r.text
        out = r.json()
        # One float per query: the pointwise score normalised over the 1-10 scale; unparsed -> 0.0.
        assert out["rewards"] == pytest.approx([8 / 9, 3 / 9, 0.0])
        assert out["scores"] == out["rewards"]
        assert out["extra_logs"] == {"judge_parsed": [1.0, 1.0, 0.0]}
        # The judge saw the user turn and the response, not the chat markup or the end token.
        seen = {rec.text for rec in srv.log}
        assert any("What is 2+2?" in t and "It is 4, a good answer." in t for t in seen)
        assert not any("<|im_start|>" in t or "<|im_end|>" in t for t in seen)
        stats = httpx.get(base + "/v1/stats").json()
        assert stats["reward"] == {"judge": "http-judge", "requests": 1, "queries": 3}
        # A reward-only server has no text model.
        r = httpx.post(base + "/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_text_model"


@pytest.mark.parametrize("payload, message", [
    ({"query": ["p r"]}, "'prompts' is required"),
    ({"query": ["p r", "q s"], "prompts": ["p"]}, "2 queries but 1 prompts"),
    ({"query": ["p r"], "prompts": ["p"], "labels": ["a", "b"]}, "1 queries but 2 labels"),
    ({"query": []}, "query"),
])
def test_malformed_reward_requests_are_400(fault_server, payload, message) -> None:
    judge = load_judge({"backend": {"type": "openai", "model": "m", "base_urls": [fault_server().url]}})
    with serving(create_app(None, reward_judge=judge)) as base:
        r = httpx.post(base + "/get_reward", json=payload, timeout=30)
    assert r.status_code == 400 and message in r.json()["error"]["message"]


def test_no_reward_judge_is_404_and_pairwise_only_judge_is_refused(tiny_causal_lm) -> None:
    from judgelab.lm.local import LocalGenerator

    with serving(create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny")) as base:
        r = httpx.post(base + "/get_reward", json={"query": ["x"], "prompts": [""]})
    assert r.status_code == 404 and "--reward" in r.json()["error"]["message"]
    pairwise = load_judge({"mode": "pairwise", "backend": {"type": "openai", "model": "m",
                                                           "base_urls": ["http://127.0.0.1:9/v1"]}})
    with pytest.raises(ConfigError, match="a scalar reward needs a pointwise judge"):
        create_app(None, reward_judge=pairwise)


def _tiny_reward_model(folder: Path) -> dict:
    from judgelab.models.testing import tiny_model

    model, tok = tiny_model("seq-cls", num_labels=1, seed=3)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return {"name": "tiny-rm", "mode": "pointwise", "backend": {"type": "reward_model", "model": str(folder),
                                                                "device": "cpu", "dtype": "float32"}}


def _expected(spec: dict, pairs: list[tuple[str, str]]) -> list[float]:
    judge = load_judge(spec)
    try:
        verdicts = judge.judge([PointwiseItem(id=str(i), prompt=u, response=r) for i, (u, r) in enumerate(pairs)])
    finally:
        judge.close()
    lo, hi = judge.scale
    return [(v.score - lo) / (hi - lo) for v in verdicts]


PAIRS = [("Write a haiku.", "Leaves fall on water"), ("2+2?", "4"), ("Greet me.", "Hello there, friend!")]


def test_served_reward_model_in_process(tmp_path: Path) -> None:
    spec = _tiny_reward_model(tmp_path / "rm")
    expected = _expected(spec, PAIRS)
    assert len(set(round(x, 6) for x in expected)) == 3  # different responses, different rewards
    with serving(create_app(None, reward_judge=load_judge(spec))) as base:
        out = httpx.post(base + "/get_reward", json=openrlhf_payload(PAIRS), timeout=60).json()
    assert out["rewards"] == pytest.approx(expected, abs=1e-5)
    assert all(0.0 < x < 1.0 and math.isfinite(x) for x in out["rewards"])


def test_judgelab_serve_reward_cli(tmp_path: Path) -> None:
    """The installed CLI, in a fresh process, serving a reward model folder given as a judge YAML."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest import free_port

    spec = _tiny_reward_model(tmp_path / "rm")
    (tmp_path / "rm.json").write_text(json.dumps(spec))
    expected = _expected(spec, PAIRS)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from judgelab.cli import main; main()", "serve", "--reward",
                             str(tmp_path / "rm.json"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        out = httpx.post(base + "/get_reward", json=openrlhf_payload(PAIRS), timeout=60).json()
        assert out["rewards"] == pytest.approx(expected, abs=1e-5)
        assert httpx.get(base + "/v1/models").json()["data"] == []  # --reward alone: no text model
    finally:
        proc.terminate()
        proc.wait(15)


def test_http_and_in_process_rewards_split_queries_the_same_way(tmp_path: Path) -> None:
    """One reward model, the same OpenRLHF queries: /get_reward over HTTP and the in-process
    adapter (judgelab.integrations.openrlhf) give the same rewards, including a Mistral-format
    prompt (the judge sees its [INST] turn) and a truncated prompt (the query does not start with
    it: the response is what follows the last [/INST])."""
    from judgelab.integrations import common
    from judgelab.integrations.openrlhf import reward_func

    spec = _tiny_reward_model(tmp_path / "rm")
    mistral = "<s>[INST] Write a haiku about rain. [/INST]"
    chat = chatml("Greet me.")
    queries = [mistral + " Soft rain on the roof</s>",
               "[INST] a haiku about rain. [/INST] Soft rain on the roof</s>",  # the policy cut the prompt's start
               chat + "Hello there, friend!<|im_end|><|endoftext|>"]
    prompts = [mistral, mistral, chat]
    expected = _expected(spec, [("Write a haiku about rain.", "Soft rain on the roof")] * 2 +
                         [("Greet me.", "Hello there, friend!")])
    with serving(create_app(None, reward_judge=load_judge(spec))) as base:
        r = httpx.post(base + "/get_reward", json={"query": queries, "prompts": prompts, "labels": [None] * 3},
                       timeout=60)
    assert r.status_code == 200, r.text
    common.configure(spec, mode="pointwise")
    try:
        in_process = reward_func(queries, prompts, [None] * 3)["rewards"].tolist()
    finally:
        common.reset()
    assert r.json()["rewards"] == pytest.approx(in_process, abs=1e-6)
    assert r.json()["rewards"] == pytest.approx(expected, abs=1e-5)


def test_http_labels_and_truncated_prompts_match_the_in_process_adapter() -> None:
    """OpenRLHF's ``labels`` (a JSON object with the prompt's constraints) reach the judge over
    HTTP as they do in process, and a prompt OpenRLHF cut to its last tokens (the query no longer
    starts with the prompt text it sends) is scored, not refused: the same rewards both ways, and
    the constraints change the reward (a label that were dropped would be seen)."""
    from judgelab.integrations import common
    from judgelab.integrations.openrlhf import reward_func

    user = 'Write a 4-line poem about a lighthouse at night. Use the word "lighthouse".'
    constraints = {"form": "poem", "lines": 4, "min_words": 12, "max_words": 40, "must_include": ["lighthouse"]}
    poem = ("The lighthouse hums beside the sea,\nits beam a slow and patient key,\n"
            "it sweeps the dark for ships that roam,\nand lights the weary sailors home.")
    prose = "A lighthouse stands at night and shines its light across the water for the ships."
    full = chatml(user)
    cut = full[len(full) // 2:]  # OpenRLHF kept the prompt's last tokens; it sends the full text
    queries = [full + poem + "<|im_end|>", full + prose + "<|im_end|>", cut + poem + "<|im_end|>"]
    prompts = [full, full, full]
    label = json.dumps({"constraints": constraints})
    judge = load_judge("rubric-gold")
    with serving(create_app(None, reward_judge=judge)) as base:
        with_labels = httpx.post(base + "/get_reward", json={"query": queries, "prompts": prompts,
                                                             "labels": [label] * 3}, timeout=60)
        without = httpx.post(base + "/get_reward", json={"query": queries, "prompts": prompts,
                                                         "labels": [""] * 3}, timeout=60)
    assert with_labels.status_code == 200, with_labels.text
    assert without.status_code == 200, without.text
    common.configure("rubric-gold", mode="pointwise")
    try:
        in_process = reward_func(queries, prompts, [label] * 3)["rewards"].tolist()
        in_process_plain = reward_func(queries, prompts, [""] * 3)["rewards"].tolist()
    finally:
        common.reset()
    # in process the rewards are a float32 tensor (what OpenRLHF consumes), over HTTP JSON doubles
    assert with_labels.json()["rewards"] == pytest.approx(in_process, abs=1e-6)
    assert without.json()["rewards"] == pytest.approx(in_process_plain, abs=1e-6)
    http = with_labels.json()["rewards"]
    assert http[2] == pytest.approx(http[0], abs=1e-9)  # the cut prompt's response is the same poem
    assert http[0] > http[1]  # a 4-line poem with the word beats prose under these constraints
    assert http != pytest.approx(without.json()["rewards"], abs=1e-6)  # the labels were used
