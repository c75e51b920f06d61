"""``create_app(memory)``: the REST API and MCP (at ``/mcp``) as a FastAPI app; no global state.

``app_from_env`` is the factory ``remem serve --workers N`` hands to uvicorn: each worker process
builds its own Memory from ``REMEM_*`` settings.

Safe by default, whichever way the app is started (``remem serve``, ``uvicorn --factory``, or
``create_app`` in one's own code), through one outer middleware (``_Guard``):

- without API keys, only loopback clients get an answer (403 for any other address), unless
  ``allow_open`` (``REMEM_ALLOW_OPEN=1``) says the operator put it behind their own gate;
- a request with an ``Origin`` that is not the server's own (or allowed by ``allowed_origins``,
  ``REMEM_ALLOWED_ORIGINS``), or that a browser marks ``Sec-Fetch-Site: cross-site``/``same-site``,
  gets 403: a web page cannot reach the API, and no CORS headers are ever sent;
- a write (POST, PUT, PATCH, DELETE) with a body must send ``Content-Type: application/json``
  (``application/x-ndjson`` or ``application/jsonl`` for ``/v1/import``), else 415: the content
  types a page may send without a CORS preflight (text/plain, forms) are refused.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import remem
from remem.config import default_path
from remem.embed.base import warm
from remem.errors import (
    HTTP_STATUS,
    ConfigError,
    MissingDependency,
    RememError,
)
from remem.keys import KeyStore, default_keys_path, open_keys
from remem.memory import Memory
from remem.server import console, metrics, schemas
from remem.server.auth import Auth, is_loopback
from remem.server.routes import JSONL_TYPES, ImportLineError, router

DEFAULT_MAX_BODY = 32 * 1024 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = ("application/json",)
# Paths (by their ending) whose write bodies are not JSON.
WRITE_TYPES = {"/v1/import": JSONL_TYPES}
ALLOW_OPEN_ENV = "REMEM_ALLOW_OPEN"
ALLOWED_ORIGINS_ENV = "REMEM_ALLOWED_ORIGINS"

# The most specific class in an error's MRO wins, so TooLarge (an InvalidInput) gets 413.
STATUS = HTTP_STATUS


def status_for(exc: RememError) -> int:
    """The HTTP status of a remem error (500 for anything unexpected, like ConfigError)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_name(exc: RememError) -> str:
    """The public name of a remem error: its nearest class of ``remem.errors`` (an internal
    subclass such as ``ImportLineError`` answers as ``InvalidInput``)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "remem.errors":
            return cls.__name__
    return type(exc).__name__


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
    allow_open: bool | None = None,
    allowed_origins: Iterable[str] | None = None,
) -> FastAPI:
    """Build the REST API around one Memory.

    Args:
        memory: the Memory every request uses (through a TenantMemory when keys are on).
        keys: the API keys; with None the API is open, on one implicit tenant: it answers only
            loopback clients (127.0.0.1, ::1) and loopback Host headers (a DNS-rebinding page
            cannot reach it).
        max_body_bytes: larger request bodies get 413.
        mcp: also serve the MCP tools at ``/mcp`` (streamable HTTP); None: when the ``mcp``
            SDK is installed.
        owns_memory: close the Memory (and keys) when the app shuts down.
        allow_open: without keys, answer clients on any address too (for an operator who puts
            the keyless API behind their own proxy or gate); None: ``REMEM_ALLOW_OPEN=1``.
        allowed_origins: browser origins (``https://app.example``) accepted besides the
            server's own; None: ``REMEM_ALLOWED_ORIGINS``, comma-separated. No CORS headers are
            sent either way.

    Returns:
        The FastAPI app; docs at ``/docs``, schema at ``/openapi.json``.

    Raises:
        MissingDependency: ``mcp=True`` without the ``mcp`` SDK.
    """
    auth = metrics.RecordingAuth(memory, keys)  # an Auth that notes tenants for the logs
    if allow_open is None:
        allow_open = os.environ.get(ALLOW_OPEN_ENV) == "1"
    if allowed_origins is None:
        allowed_origins = os.environ.get(ALLOWED_ORIGINS_ENV, "").split(",")
    origins = frozenset(o for o in (_origin_key(x.strip()) for x in allowed_origins) if o)
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
            # The model is loaded and run once before the server takes requests (uvicorn
            # accepts none until this returns), so /readyz answers only from a warm worker.
            # The inner embedder, not the metrics' timing proxy: a warm-up embeds nothing asked.
            await run_in_threadpool(warm, getattr(memory.embedder, "inner", memory.embedder))
            if owns_memory:
                # What start-up made (modules, the model) lives as long as the process: frozen,
                # the collector's full passes walk only what requests allocate (a 10k-scope
                # search's p95 fell from ~32 to ~21 ms in-process, docs/benchmarks.md).
                gc.collect()
                gc.freeze()
            yield

    app = FastAPI(
        title="remem",
        version=remem.__version__,
        description="Long-term memory for LLM agents. Send `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        # Served by console.mount with local assets (FastAPI's own pages load a CDN).
        docs_url=None,
        redoc_url=None,
        responses={
            code: {"model": schemas.ErrorOut}
            for code in (401, 403, 404, 409, 413, 415, 422, 502, 503)
        },
    )
    app.state.auth = auth
    app.include_router(router)
    _health_routes(app)
    console.mount(app)  # /ui and /docs
    _error_handlers(app)
    if mcp_server is not None:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp

        app.router.routes.append(
            Route("/mcp", _McpAuth(StreamableHTTPASGIApp(mcp_server.session_manager), auth))
        )
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)
    if keys is None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
    # Outermost: nothing (not even the Host check) runs for a request the guard refuses.
    app.add_middleware(
        _Guard, loopback_only=keys is None and not allow_open, allowed_origins=origins
    )
    # /metrics, and around everything (refusals included) the request counters and JSON logs.
    metrics.install(app, memory, keys)
    return app


def _mcp_server(auth: Auth, *, required: bool) -> Any:
    try:
        from remem.mcp import create_mcp_server
    except MissingDependency:
        if required:
            raise
        return None
    from remem.mcp import Caller

    def resolve(headers: Any) -> Caller:
        caller = auth.caller(headers)
        return Caller(caller.memory, caller.max_origin)

    server = create_mcp_server(resolve)
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
        """Readiness: the store answers a read (503 when it does not); served only once the
        embedder is loaded and warm (the app's startup)."""
        auth: Auth = request.app.state.auth
        auth.memory.list(user_id="_readyz", limit=1)
        return {"status": "ready"}


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RememError)
    async def remem_error(_request: Request, exc: RememError) -> JSONResponse:
        extra = {"line": exc.line} if isinstance(exc, ImportLineError) else {}
        return _error(status_for(exc), error_name(exc), str(exc), **extra)

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
                await _error(status_for(exc), error_name(exc), str(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Guard:
    """Refuses what neither the network nor a web page may do, before any other layer runs.

    Args:
        app: the wrapped app.
        loopback_only: answer only clients on a loopback address (keyless, not ``allow_open``).
        allowed_origins: normalized origins (see ``_origin_key``) accepted besides the server's.
    """

    def __init__(
        self, app: ASGIApp, *, loopback_only: bool, allowed_origins: frozenset[str]
    ) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self.refusal(scope)
            if refusal is not None:
                code, error, detail = refusal
                await _error(code, error, detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """Why this request is refused (status, error, reason), or None to let it through."""
        if self.loopback_only and not _is_local(scope):
            client = (scope.get("client") or ("an unknown address",))[0]
            return (
                403,
                "Forbidden",
                f"this remem server has no API keys, so it answers only on the loopback "
                f"interface, not {client}. Create a key (remem keys create --tenant NAME) and "
                f"send it, or set {ALLOW_OPEN_ENV}=1 if a proxy of your own guards this server.",
            )
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and _origin_key(origin) in self.allowed_origins:
            pass  # listed by the operator: the browser's site label is beside the point
        elif origin is not None and _origin_key(origin) != _own_origin(scope, headers):
            return (
                403,
                "Forbidden",
                f"cross-origin request refused: Origin {origin!r} is not this server's own "
                f"origin (list trusted ones in {ALLOWED_ORIGINS_ENV})",
            )
        else:
            site = headers.get("sec-fetch-site", "").lower()
            navigation = headers.get("sec-fetch-mode", "").lower() == "navigate" and scope.get(
                "method", "GET"
            ) in ("GET", "HEAD")
            if site in ("cross-site", "same-site") and not navigation:
                return (
                    403,
                    "Forbidden",
                    f"cross-site request refused (Sec-Fetch-Site: {site}): a web page of "
                    f"another site may not call this API",
                )
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            return _content_type_refusal(scope, headers)
        return None


def _content_type_refusal(scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
    path = str(scope.get("path", ""))
    allowed = next((t for end, t in WRITE_TYPES.items() if path.endswith(end)), JSON_TYPES)
    declared = headers.get("content-type")
    if declared is None:
        has_body = headers.get("content-length", "0") not in ("", "0") or (
            "transfer-encoding" in headers
        )
        if not has_body:
            return None  # DELETE, forget-expired: nothing to read, nothing to smuggle
        return 415, "UnsupportedMediaType", f"send the body as Content-Type: {allowed[0]}"
    media = declared.split(";", 1)[0].strip().lower()
    if media in allowed:
        return None
    return (
        415,
        "UnsupportedMediaType",
        f"Content-Type {media or declared!r} is not accepted here; send {' or '.join(allowed)}",
    )


def _is_local(scope: Scope) -> bool:
    """True when the request came over the loopback interface (or a Unix socket)."""
    client, server = scope.get("client"), scope.get("server")
    if (
        isinstance(server, list | tuple)
        and len(server) == 2
        and server[1] is None
        and isinstance(server[0], str)
        and server[0].startswith(("/", "\0"))
    ):
        # A Unix socket (uvicorn --uds: its path, no port): only processes on this machine
        # that may open the file connect.
        return client is None or is_loopback(client)
    return is_loopback(client) and (server is None or is_loopback(server))


def _origin_key(origin: str) -> str | None:
    """``scheme://host:port`` with the port spelled out, lower case; None for "null" or junk."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host.lower()}:{port}"


def _own_origin(scope: Scope, headers: Headers) -> str | None:
    """The origin a page served by this server would have: its scheme and Host header."""
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope["scheme"])
    host = headers.get("host")
    return _origin_key(f"{scheme}://{host}") if host else None


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
    ``REMEM_REQUIRE_AUTH`` ("1": keys on even if none is active), ``REMEM_MAX_BODY_BYTES``,
    ``REMEM_ALLOW_OPEN`` ("1": keyless, yet answering non-loopback clients),
    ``REMEM_ALLOWED_ORIGINS``, and every ``Settings`` field as ``REMEM_<FIELD>``
    (``REMEM_STORE``, ``REMEM_STORE_URL``, ...). Without keys the app answers loopback clients
    only, however uvicorn was told to bind (``--host 0.0.0.0`` included).
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
