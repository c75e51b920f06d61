"""A real, scripted OpenAI-compatible chat server on 127.0.0.1 for tests (pytest plugin module).

Each test queues the replies the "model" gives, in order: JSON content, malformed or fenced text,
truncated output (``finish_reason="length"``), HTTP errors with ``Retry-After``, slow replies. A
test can also ``route`` requests by what their prompt says (a reply per task, whatever the order
the tasks run in); routes are tried before the queue. The server records every request it received. It is a stdlib ``ThreadingHTTPServer`` on a free port,
so the client under test goes through real sockets, real HTTP and real timeouts.

Fixture:
    llm_server: a running ``ScriptedLLMServer``; ``llm_server.url`` is the base URL (with ``/v1``).
    ``serve()`` is the same as a context manager, for modules that do not load this plugin.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """One scripted response.

    Attributes:
        content: the assistant message text (for status 200).
        status: the HTTP status.
        finish_reason: the choice's finish reason ("stop", "length").
        headers: extra response headers (``Retry-After``...).
        delay: seconds to wait before answering (to trip the client's timeout).
        usage: (prompt_tokens, completion_tokens), or None to omit the ``usage`` field.
        body: a raw response body that replaces the generated one.
        gate: when set, the reply waits until the event is set (or the server stops): lets a test
            hold the "model" busy for exactly as long as it needs, with no wall-clock timing.
    """

    content: str | None = None
    status: int = 200
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] | None = (10, 5)
    body: str | None = None
    gate: threading.Event | None = None


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedLLMServer:
    """The server: queue replies with ``json``/``text``/``error``/``script``, read ``requests``."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.default: Reply | None = None
        self.routes: list[tuple[str, Any]] = []
        self.unscripted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ``http://127.0.0.1:<port>/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies, served one per request in order."""
        with self._lock:
            self.replies.extend(replies)

    def json(self, value: Any, **kw: Any) -> None:
        """Queue a reply whose content is ``value`` as JSON."""
        self.script(Reply(content=json.dumps(value), **kw))

    def text(self, content: str, **kw: Any) -> None:
        """Queue a reply with this exact content."""
        self.script(Reply(content=content, **kw))

    def error(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        """Queue ``times`` HTTP errors, optionally with a ``Retry-After`` header."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = json.dumps({"error": {"message": f"scripted {status}", "code": status}})
        self.script(*[Reply(status=status, headers=headers, body=body) for _ in range(times)])

    def route(self, marker: str, answer: Any) -> None:
        """Answer every request whose last message contains ``marker`` with ``answer``.

        ``answer`` is a ``Reply``, a ``str`` (the exact content), any other value (sent as JSON),
        or a callable taking the prompt and returning one of those. The first matching route wins.
        """
        with self._lock:
            self.routes.append((marker, answer))

    def prompts(self, marker: str) -> list[str]:
        """The last message of every request received so far that contains ``marker``."""
        with self._lock:
            return [p for p in map(_prompt, self.requests) if marker in p]

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; slow handlers wake up and drop their reply."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self, received: Received) -> Reply | None:
        with self._lock:
            self.requests.append(received)
            prompt = _prompt(received)
            for marker, answer in self.routes:
                if marker in prompt:
                    return _as_reply(answer(prompt) if callable(answer) else answer)
            if self.replies:
                return self.replies.popleft()
            self.unscripted += 1
            return self.default

    def _render(self, reply: Reply, request: dict[str, Any]) -> bytes:
        if reply.body is not None:
            return reply.body.encode()
        data: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": request.get("model", "scripted"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.usage is not None:
            prompt, completion = reply.usage
            data["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return json.dumps(data).encode()


def _prompt(received: Received) -> str:
    messages = received.body.get("messages") or [{}]
    content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    return content if isinstance(content, str) else ""


def _as_reply(answer: Reply | str | Any) -> Reply:
    if isinstance(answer, Reply):
        return answer
    return Reply(content=answer if isinstance(answer, str) else json.dumps(answer))


def _handler_for(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_raw": raw.decode(errors="replace")}
            received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}', {})
                return
            reply = server._next(received)
            if reply is None:
                self._send(500, b'{"error": {"message": "no scripted reply left"}}', {})
                return
            if reply.delay and server._stop.wait(reply.delay):
                return
            while reply.gate is not None and not reply.gate.wait(0.05):
                if server._stop.is_set():
                    return
            self._send(reply.status, server._render(reply, body), reply.headers)

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test); nothing to tell it

    return Handler


@contextmanager
def serve() -> Iterator[ScriptedLLMServer]:
    """Run a scripted server for the duration of the ``with`` block."""
    server = ScriptedLLMServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    """A running scripted chat-completions server for one test."""
    with serve() as server:
        yield server
