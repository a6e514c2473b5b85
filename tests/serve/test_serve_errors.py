"""`judgelab serve`: what a bad or hostile request gets, and what the server does when something
inside it fails. A reward judge that is the programmatic rubric (no model), a text "model" that
echoes its seed, judges and models that raise (fault injection), and the CLI's port check."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from judgelab.errors import ConfigError
from judgelab.judges.registry import load_judge
from judgelab.lm.types import Generation
from judgelab.serve.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
from uvicorn_thread import serving  # noqa: E402

REWARD = {"query": ["Q A"], "prompts": ["Q"]}


class EchoSeed:
    """A text model without weights: each choice's text is its seed."""

    def generate_batch(self, messages_list: Any, params: Any) -> list[Generation]:
        return [Generation(text=f"seed {params.seed}", completion_tokens=2, finish_reason="stop")
                for _ in messages_list]


class CountingFails(EchoSeed):
    def count_tokens(self, messages: Any) -> int:
        raise RuntimeError("tokenizer crashed (injected)")


class RaisingJudge:
    """The rubric's name, modes and scale, but every call raises (a backend that broke)."""

    def __init__(self) -> None:
        inner = load_judge("rubric-gold")
        self.name, self.modes, self.scale = "raising", inner.modes, inner.scale

    async def ajudge(self, items: Any) -> Any:
        raise RuntimeError("judge backend unreachable (injected)")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def reward_client():
    with TestClient(create_app(None, reward_judge=load_judge("rubric-gold"))) as c:
        yield c


@pytest.mark.parametrize("labels, message", [
    ([{"constraints": ["x"]}], "'constraints' must be an object"),
    ([{"constraints": {"max_words": "ten"}}], "'max_words'"),
    (['{"constraints": {"lines": 0}}'], "'lines'"),
])
def test_a_malformed_label_is_400_naming_it(reward_client: TestClient, labels, message) -> None:
    r = reward_client.post("/get_reward", json={"query": ["Q A", "Q B"], "prompts": ["Q", "Q"],
                                                "labels": [{"constraints": {"lines": 4}}, *labels]})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "labels.1" and message in err["message"] and err["type"] == "invalid_request_error"
    ok = reward_client.post("/get_reward", json={**REWARD, "labels": [{"constraints": {"max_words": 10}}]})
    assert ok.status_code == 200 and ok.json()["extra_logs"]["judge_parsed"] == [1.0]


def test_a_judge_that_raises_is_a_500_in_the_openai_shape(caplog) -> None:
    with TestClient(create_app(None, reward_judge=RaisingJudge())) as c, caplog.at_level(logging.ERROR):
        r = c.post("/get_reward", json=REWARD)
        assert r.status_code == 500, r.text
        assert r.json()["error"]["type"] == "server_error" and "RuntimeError" in r.json()["error"]["message"]
        assert c.get("/health").json() == {"status": "ok"}  # the server goes on
    assert any("judge backend unreachable" in (rec.exc_text or "") for rec in caplog.records)


def test_a_model_that_raises_outside_generation_is_a_500_in_the_openai_shape() -> None:
    with TestClient(create_app(CountingFails(), model_name="m")) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error", r.text


@pytest.mark.parametrize("seed, n, status", [
    (2**64, 1, 400), (2**63, 1, 400), (-(2**63) - 1, 1, 400), (2**63 - 1, 2, 400),
    (2**63 - 1, 1, 200), (2**63 - 2, 2, 200), (-(2**63), 3, 200),
])
def test_seeds_are_int64_for_every_choice(seed: int, n: int, status: int) -> None:
    with TestClient(create_app(EchoSeed(), model_name="m")) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                 "seed": seed, "n": n})
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["error"]["param"] == "seed"
    else:
        assert [ch["message"]["content"] for ch in r.json()["choices"]] == [f"seed {seed + j}" for j in range(n)]


@pytest.mark.parametrize("headers", [{"content-type": "text/plain"}, {}])
def test_a_body_not_sent_as_json_is_told_so(reward_client: TestClient, headers) -> None:
    r = reward_client.post("/get_reward", content=b'{"query": ["Q A"], "prompts": ["Q"]}', headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_content_type", r.text
    assert "content-type: application/json" in r.json()["error"]["message"]


def test_non_utf8_and_too_deep_bodies_say_why(reward_client: TestClient) -> None:
    json_ct = {"content-type": "application/json"}
    r = reward_client.post("/get_reward", content='{"query": ["é"]}'.encode("latin-1"), headers=json_ct)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_encoding", r.text
    assert "not UTF-8" in r.json()["error"]["message"] and "0xe9" in r.json()["error"]["message"]
    r = reward_client.post("/get_reward", content=b"[" * 100_000 + b"]" * 100_000, headers=json_ct)
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"], r.text


def test_splitting_queries_does_not_hold_the_event_loop(monkeypatch) -> None:
    """/get_reward splits its queries off the event loop: /health answers while a split is running.
    The split waits for /health's answer; on the event loop it would block /health until its own
    wait ran out, and would then find itself not released (ordering, not timing, is checked)."""
    import judgelab.serve.reward as reward_mod

    real = reward_mod.samples_from
    released = threading.Event()
    started = threading.Event()
    released_by_health: list[bool] = []

    def waits_for_health(*args: Any, **kwargs: Any) -> Any:
        started.set()
        released_by_health.append(released.wait(20))  # False: /health never answered meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(reward_mod, "samples_from", waits_for_health)
    answers: list[httpx.Response] = []
    with serving(create_app(None, reward_judge=load_judge("rubric-gold"))) as base:
        th = threading.Thread(target=lambda: answers.append(httpx.post(base + "/get_reward", json=REWARD, timeout=60)))
        th.start()
        assert started.wait(30)
        assert httpx.get(base + "/health", timeout=60).status_code == 200
        released.set()
        th.join(60)
    assert answers and answers[0].status_code == 200, answers
    assert released_by_health == [True]


def _time_wait_port() -> int:
    """A port whose last server (listening with SO_REUSEADDR, as uvicorn does) closed a
    connection first: the port stays in TIME-WAIT for about a minute."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()
    time.sleep(0.05)
    client.close()
    srv.close()
    time.sleep(0.05)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return port
    pytest.skip("this system let a plain bind through (no TIME-WAIT conflict to test)")


def _serve_cli(port: int, monkeypatch) -> Any:
    import uvicorn

    from judgelab.cli.serve import command

    ran: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: ran.append(port))
    result = CliRunner().invoke(command, ["--reward", "rubric-gold", "--port", str(port)])
    return result, ran


def test_a_restart_on_a_port_in_time_wait_starts(monkeypatch) -> None:
    port = _time_wait_port()
    result, ran = _serve_cli(port, monkeypatch)
    assert result.exception is None, result.output
    assert ran == [port]


def test_a_port_someone_listens_on_is_still_refused(monkeypatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result, ran = _serve_cli(busy.getsockname()[1], monkeypatch)
    assert isinstance(result.exception, ConfigError) and "cannot listen" in str(result.exception)
    assert ran == []
