"""A real OpenAI-compatible HTTP server for tests, with deterministic fault injection.

``FaultServer`` runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (free port) in a daemon
thread and answers ``POST /v1/chat/completions``. On a seeded fraction of requests it injects a
fault: ``timeout`` (holds the request past the client's timeout), ``429`` (with Retry-After),
``500``, ``malformed`` (a 200 whose body is not JSON), plus opt-in kinds ``400``, ``drop``
(closes the connection without answering), ``no_choices`` and ``no_content``.

Which request gets a fault depends only on (seed, request body, how many times that body was
seen before), never on arrival order, so a concurrent client sees the same faults every run.

Replies: "[[A]]" when the prompt asks for a "[[A]]" verdict (pairwise), else "Score: 7"; or
whatever ``reply(text) -> str`` returns. Every request is logged (``server.log``) with the text
of its messages, so tests can count requests per item on the server side.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

DEFAULT_KINDS = ("timeout", "429", "500", "malformed")


@dataclass
class RequestRecord:
    seq: int
    text: str  # all message contents joined
    body: dict[str, Any] | None
    fault: str | None
    headers: dict[str, str]
    t: float


def default_reply(text: str) -> str:
    return "[[A]]" if "[[A]]" in text else "Score: 7"


@dataclass
class FaultServer:
    fault_rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_KINDS
    seed: int = 0
    hang_s: float = 2.0  # how long a "timeout" fault holds the request
    latency_s: float = 0.0  # added to every answered request
    retry_after: str | None = "0"  # Retry-After header on 429s (None: no header)
    reasoning: str | None = None  # if set, sent as message.reasoning_content
    reply: Callable[[str], str] = default_reply
    script: list[str] = field(default_factory=list)  # faults for the first requests, in order ("" = none)

    def __post_init__(self) -> None:
        self.log: list[RequestRecord] = []
        self.faults: Counter = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._seen: Counter = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "FaultServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real servers

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802
                server._handle(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                # Clients that time out or get killed reset their connections; that is the
                # point of these tests, not an error worth a traceback.
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
                    super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-server", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self._stop.set()  # wakes handlers holding "timeout" faults
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counts -------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return len(self.log)

    def requests_matching(self, needle: str) -> int:
        with self._lock:
            return sum(1 for r in self.log if needle in r.text)

    # -- handling -----------------------------------------------------------------------------

    def _decide(self, raw: bytes) -> str | None:
        with self._lock:
            seq = len(self.log)
            if seq < len(self.script):
                return self.script[seq] or None
            digest = hashlib.sha256(raw).hexdigest()
            k = self._seen[digest]
            self._seen[digest] += 1
        rng = random.Random(f"{self.seed}:{digest}:{k}")
        if rng.random() < self.fault_rate:
            return rng.choice(self.kinds)
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        n = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(n)
        try:
            body = json.loads(raw)
            text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        except (ValueError, AttributeError):
            body, text = None, ""
        fault = None if not h.path.endswith("/chat/completions") else self._decide(raw)
        with self._lock:
            self.log.append(RequestRecord(len(self.log), text, body, fault, dict(h.headers.items()), time.time()))
            if fault:
                self.faults[fault] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if not h.path.endswith("/chat/completions"):
                return self._send(h, 404, b'{"error": "not found"}')
            if fault == "timeout":
                self._stop.wait(self.hang_s)
                return self._send(h, 200, self._completion(body, text))
            if fault == "drop":
                h.close_connection = True
                h.connection.shutdown(2)  # socket.SHUT_RDWR: the client sees the connection die
                return
            if fault == "429":
                extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
                return self._send(h, 429, b'{"error": {"message": "rate limited"}}', extra)
            if fault == "500":
                return self._send(h, 500, b'{"error": {"message": "internal error"}}')
            if fault == "400":
                return self._send(h, 400, b'{"error": {"message": "bad request: context too long"}}')
            if fault == "malformed":
                return self._send(h, 200, b'{"choices": [{"message": {"content": "Score: 7"')
            if fault == "no_choices":
                return self._send(h, 200, b'{"choices": []}')
            if fault == "no_content":
                return self._send(h, 200, b'{"choices": [{"message": {"role": "assistant"}}]}')
            if body is None:
                return self._send(h, 400, b'{"error": {"message": "body is not JSON"}}')
            if self.latency_s:
                time.sleep(self.latency_s)
            return self._send(h, 200, self._completion(body, text))
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up (timeout) or the fault closed the socket
        finally:
            with self._lock:
                self.in_flight -= 1

    def _completion(self, body: dict[str, Any] | None, text: str) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply(text)}
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        out = {
            "id": "cmpl-test",
            "object": "chat.completion",
            "model": (body or {}).get("model", "test"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 3, "total_tokens": len(text.split()) + 3},
        }
        return json.dumps(out).encode()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)
        h.wfile.flush()
