"""``create_app(memory)``: the REST API and MCP (at ``/mcp``) as a FastAPI app; no global state.

``app_from_env`` is the factory ``remem serve --workers N`` hands to uvicorn: each worker process
builds its own Memory from ``REMEM_*`` settings.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import remem
from remem.config import default_path
from remem.errors import (
    ConfigError,
    Conflict,
    EmbeddingError,
    Forbidden,
    InvalidInput,
    LLMError,
    MissingDependency,
    NotFound,
    RememError,
    StoreError,
    TooLarge,
    Unauthorized,
)
from remem.keys import KeyStore, default_keys_path, open_keys
from remem.memory import Memory
from remem.server import schemas
from remem.server.auth import Auth
from remem.server.routes import router

DEFAULT_MAX_BODY = 32 * 1024 * 1024

# The most specific class in an error's MRO wins, so TooLarge (an InvalidInput) gets 413.
STATUS: dict[type[RememError], int] = {
    TooLarge: 413,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    StoreError: 503,
    EmbeddingError: 503,
    LLMError: 502,
}


def status_for(exc: RememError) -> int:
    """The HTTP status of a remem error (500 for anything unexpected, like ConfigError)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _error(code: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse({"error": error, "detail": detail, **extra}, code, headers=headers)


def create_app(
    memory: Memory,
    *,
    keys: KeyStore | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    mcp: bool | None = None,
    owns_memory: bool = False,
) -> FastAPI:
    """Build the REST API around one Memory.

    Args:
        memory: the Memory every request uses (through a TenantMemory when keys are on).
        keys: the API keys; with None the API is open, on one implicit tenant, and only loopback
            Host headers are accepted (a DNS-rebinding page cannot reach it).
        max_body_bytes: larger request bodies get 413.
        mcp: also serve the MCP tools at ``/mcp`` (streamable HTTP); None: when the ``mcp``
            SDK is installed.
        owns_memory: close the Memory (and keys) when the app shuts down.

    Returns:
        The FastAPI app; docs at ``/docs``, schema at ``/openapi.json``.

    Raises:
        MissingDependency: ``mcp=True`` without the ``mcp`` SDK.
    """
    auth = Auth(memory, keys)
    mcp_server = _mcp_server(auth, required=mcp is True) if mcp is not False else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if owns_memory:
                stack.callback(memory.close)
                if keys is not None:
                    stack.callback(keys.close)
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield

    app = FastAPI(
        title="remem",
        version=remem.__version__,
        description="Long-term memory for LLM agents. Send `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        responses={
            code: {"model": schemas.ErrorOut} for code in (401, 403, 404, 409, 413, 422, 502, 503)
        },
    )
    app.state.auth = auth
    app.include_router(router)
    _health_routes(app)
    _error_handlers(app)
    if mcp_server is not None:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp

        app.router.routes.append(
            Route("/mcp", _McpAuth(StreamableHTTPASGIApp(mcp_server.session_manager), auth))
        )
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)
    if keys is None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
    return app


def _mcp_server(auth: Auth, *, required: bool) -> Any:
    try:
        from remem.mcp import create_mcp_server
    except MissingDependency:
        if required:
            raise
        return None
    server = create_mcp_server(auth.memory_for)
    # Stateless JSON: any worker process can answer any request (no sessions to pin). In open
    # mode the SDK's DNS-rebinding protection stays on, as it does for a loopback host.
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        host="127.0.0.1" if not auth.required else "0.0.0.0",
    )
    return server


def _health_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=schemas.HealthOut, tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.HealthOut, tags=["health"])
    def readyz(request: Request) -> dict[str, str]:
        """Readiness: the store answers a read (503 when it does not)."""
        auth: Auth = request.app.state.auth
        auth.memory.list(user_id="_readyz", limit=1)
        return {"status": "ready"}


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RememError)
    async def remem_error(_request: Request, exc: RememError) -> JSONResponse:
        return _error(status_for(exc), type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(f['loc'])}: {f['msg']}" for f in fields)
        return _error(422, "InvalidInput", detail, fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8): bad input like any other.
            return _error(422, "InvalidInput", f"the request body cannot be read: {exc.detail}")
        name = {404: "NotFound", 405: "MethodNotAllowed", 413: "TooLarge"}.get(
            exc.status_code, "HTTPError"
        )
        return _error(exc.status_code, name, str(exc.detail))


class _McpAuth:
    """Checks the API key before the MCP endpoint (the tools resolve the tenant again per call)."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.auth.required:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                await run_in_threadpool(self.auth.tenant, headers)
            except RememError as exc:
                await _error(status_for(exc), type(exc).__name__, str(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyLimit:
    """413 for request bodies over the limit, declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send, int(declared))
            return
        # Read the body here (FastAPI buffers it anyway) so an oversized stream is refused
        # before any route sees it, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._reject(scope, receive, send, size)
                return
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        detail = f"request body of {size} bytes is over the limit of {self.max_bytes}"
        await _error(413, "TooLarge", detail)(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def app_from_env() -> FastAPI:
    """The uvicorn factory for several workers: settings from the environment.

    ``REMEM_PATH`` (the SQLite file), ``REMEM_KEYS_PATH`` (default ``<store dir>/keys.db``),
    ``REMEM_REQUIRE_AUTH`` ("1": keys on even if none is active), ``REMEM_MAX_BODY_BYTES``, and
    every ``Settings`` field as ``REMEM_<FIELD>`` (``REMEM_STORE``, ``REMEM_STORE_URL``, ...).
    """
    store_path = os.environ.get("REMEM_PATH") or None
    keys_path = os.environ.get("REMEM_KEYS_PATH") or default_keys_path(store_path or default_path())
    keys = open_keys(keys_path, require=os.environ.get("REMEM_REQUIRE_AUTH") == "1")
    memory = Memory(Path(store_path) if store_path else None)
    max_body = int(os.environ.get("REMEM_MAX_BODY_BYTES") or DEFAULT_MAX_BODY)
    return create_app(memory, keys=keys, max_body_bytes=max_body, owns_memory=True)


@contextmanager
def serve_in_thread(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread (for notebooks, tests, embedding).

    Args:
        app: the app from ``create_app``.
        host: the interface to bind.
        port: the port; 0 picks a free one.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:43817``; the server stops when the block exits.
    """
    import uvicorn

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets it knows are TCP; with
    # protocol 0 every kept-alive request waits ~40 ms for Nagle's algorithm.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the server did not start on {host}:{sock.getsockname()[1]}")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
