"""Operations: ``/metrics`` in the Prometheus text format, and JSON request logs.

``install(app, memory, auth)`` (called by ``create_app``) adds:

- an outermost middleware that counts every request and times it by route *template*
  (``/v1/memories/{id}``, never the raw path), method and status, and, with JSON logs on
  (``REMEM_LOG_JSON=1``, ``remem serve --log-json``), logs one JSON object per request on the
  ``remem.access`` logger;
- a timing proxy around ``memory.embedder`` (same name and dims) and an observer of
  ``memory.add``/``add_many`` that counts the guard flags on the records a write returns;
- ``GET /metrics``, answered from a registry of this app's own (``CollectorRegistry``; nothing
  goes to prometheus-client's global registry). With API keys it needs one; the per-tenant memory
  counts then show the caller's tenant only, or every tenant for a key of the tenant named by
  ``REMEM_METRICS_TENANT`` (an operator's monitoring tenant). Without keys it answers loopback
  clients only, like the rest of the API.

The memories gauge is computed at scrape time and bounded: at most ``MAX_TENANTS`` tenants (those
with an active key, or one series ``tenant=""`` without keys), each counted with an index range
scan on ``(user_id, level)``, grouped by level, and cached for ``COUNT_TTL`` seconds.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from remem.guard import consensus, policy, signals, trust
from remem.keys import KeyStore
from remem.memory import Memory
from remem.server.auth import Auth, Caller
from remem.types import Record, Vector

LOG_JSON_ENV = "REMEM_LOG_JSON"
METRICS_TENANT_ENV = "REMEM_METRICS_TENANT"
MAX_TENANTS = 100
COUNT_TTL = 15.0
ACCESS_LOGGER = "remem.access"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Label values a flag may take; any other (an imported file's own) is counted as "other".
KNOWN_FLAGS = frozenset(
    {
        *signals.FLAGS,
        policy.DIRECTIVE,
        policy.LESSON_FLAG,
        trust.CONFLICT,
        consensus.CONTRADICTS,
    }
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
access_log = logging.getLogger(ACCESS_LOGGER)


class _RequestInfo:
    """What the layers below the middleware learn about one request (its tenant)."""

    __slots__ = ("tenant",)

    def __init__(self) -> None:
        self.tenant: str | None = None


# Copied into the thread pool with the rest of the context: the object is shared, so a tenant
# resolved in a route's dependency is seen by the middleware that set it.
_current: contextvars.ContextVar[_RequestInfo | None] = contextvars.ContextVar(
    "remem_request", default=None
)


class RecordingAuth(Auth):
    """An ``Auth`` that notes each request's tenant for the request log."""

    def caller(self, headers: Any) -> Caller:
        """See ``Auth.caller``; also records the tenant of the current request."""
        found = super().caller(headers)
        info = _current.get()
        if info is not None:
            info.tenant = found.tenant
        return found


# -- the instruments of one Memory ------------------------------------------------------------


class _Sinks:
    """The apps' metrics observing one Memory (weakly held: an app that is gone stops counting)."""

    def __init__(self) -> None:
        self.metrics: weakref.WeakSet[Metrics] = weakref.WeakSet()

    def each(self) -> list[Metrics]:
        return list(self.metrics)


_instrumented: weakref.WeakKeyDictionary[Memory, _Sinks] = weakref.WeakKeyDictionary()
_instrument_lock = threading.Lock()


class TimedEmbedder:
    """An embedder that reports how long each batch takes; everything else is the inner one's."""

    def __init__(self, inner: Any, sinks: _Sinks) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.dims: int = inner.dims
        self._sinks = sinks

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        """The inner embedder's ``embed_batch``, timed."""
        start = time.perf_counter()
        try:
            out: Vector = self.inner.embed_batch(texts)
        finally:
            elapsed = time.perf_counter() - start
            for m in self._sinks.each():
                m.embedded(self.name, len(texts), elapsed)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _instrument(memory: Memory) -> _Sinks:
    """Wrap ``memory``'s embedder and writes once (however many apps serve it)."""
    with _instrument_lock:
        sinks = _instrumented.get(memory)
        if sinks is not None:
            return sinks
        sinks = _Sinks()
        memory.embedder = TimedEmbedder(memory.embedder, sinks)
        for verb in ("add", "add_many"):
            setattr(memory, verb, _observed(getattr(memory, verb), sinks))
        _instrumented[memory] = sinks
        return sinks


def _observed(write: Callable[..., Any], sinks: _Sinks) -> Callable[..., Any]:
    @functools.wraps(write)
    def observed(*args: Any, **kwargs: Any) -> Any:
        result = write(*args, **kwargs)
        records = result if isinstance(result, list) else [result]
        for m in sinks.each():
            m.written(records)
        return result

    return observed


# -- the metrics -------------------------------------------------------------------------------


class Metrics:
    """The metrics of one app, in a registry of its own.

    Args:
        memory: the served Memory.
        keys: the API keys (tenants of active keys get a memories series), or None.
    """

    def __init__(self, memory: Memory, keys: KeyStore | None) -> None:
        self.memory = memory
        self.keys = keys
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "remem_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "remem_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.embed_seconds = Histogram(
            "remem_embedding_duration_seconds",
            "Time of one embedder call (one batch of texts).",
            ["embedder"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.embed_texts = Counter(
            "remem_embedded_texts", "Texts embedded.", ["embedder"], registry=r
        )
        self.flags = Counter(
            "remem_guard_flags",
            "Guard flags on the records writes returned, by flag.",
            ["flag"],
            registry=r,
        )
        self.quarantined = Counter(
            "remem_guard_quarantined",
            "Records writes sent to quarantine.",
            registry=r,
        )
        r.register(_EnrichmentCollector(memory))
        self._counts: tuple[float, dict[str, dict[str, int]]] | None = None
        self._count_lock = threading.Lock()

    def embedded(self, embedder: str, texts: int, seconds: float) -> None:
        """Note one embedder call."""
        self.embed_seconds.labels(embedder).observe(seconds)
        self.embed_texts.labels(embedder).inc(texts)

    def written(self, records: Iterable[Any]) -> None:
        """Note the records a write returned (their flags, and which went to quarantine)."""
        for record in records:
            if not isinstance(record, Record):
                continue
            for flag in record.flags:
                self.flags.labels(flag if flag in KNOWN_FLAGS else "other").inc()
            if record.level == policy.QUARANTINE:
                self.quarantined.inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Note one answered request."""
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def memory_counts(self) -> dict[str, dict[str, int]]:
        """Rows per tenant and level ("" is the whole store without keys), cached briefly."""
        with self._count_lock:
            now = time.monotonic()
            if self._counts is not None and now - self._counts[0] < COUNT_TTL:
                return self._counts[1]
            counts = _count(self.memory.store, self._tenants())
            self._counts = (now, counts)
            return counts

    def _tenants(self) -> list[str] | None:
        if self.keys is None:
            return None
        tenants = sorted({k.tenant for k in self.keys.list(include_revoked=False)})
        return tenants[:MAX_TENANTS]

    def render(self, tenant: str | None) -> bytes:
        """The exposition text; memory counts for ``tenant`` only, unless it is None (keyless)
        or the metrics tenant (``REMEM_METRICS_TENANT``)."""
        counts = self.memory_counts()
        everyone = tenant is None or tenant == os.environ.get(METRICS_TENANT_ENV)
        gauge = GaugeMetricFamily(
            "remem_memories",
            "Stored rows per tenant and level (record, quarantine, lesson, fact, session...).",
            labels=["tenant", "level"],
        )
        for name, levels in sorted(counts.items()):
            if everyone or name == tenant:
                for level, n in sorted(levels.items()):
                    gauge.add_metric([name, level], n)
        scrape = CollectorRegistry()
        scrape.register(_Fixed([gauge]))
        return generate_latest(self.registry) + generate_latest(scrape)


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


class _EnrichmentCollector(Collector):
    """The background enricher's queue and counters, read at scrape time."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    def collect(self) -> Iterator[Metric]:
        enricher = self.memory.enricher
        pending = GaugeMetricFamily(
            "remem_enrichment_pending",
            "Enrichment batches queued or running (0 without an LLM).",
        )
        pending.add_metric([], enricher.pending if enricher is not None else 0)
        yield pending
        done = CounterMetricFamily(
            "remem_enrichment_records",
            "What the background enricher did, by outcome (see EnrichStats).",
            labels=["outcome"],
        )
        if enricher is not None:
            for outcome, n in enricher.stats.as_dict().items():
                done.add_metric([outcome], n)
        yield done


def _count(store: Any, tenants: list[str] | None) -> dict[str, dict[str, int]]:
    """Rows per level of each tenant (by its ``"name/"`` prefix), or of the whole store."""
    if hasattr(store, "_read"):
        rows, where = _sqlite_rows, "WHERE user_id >= ? AND user_id < ?"  # an index range
    elif hasattr(store, "_conn"):
        # PostgreSQL compares user_id by the database's collation: match the prefix itself.
        rows, where = _pg_rows, "WHERE starts_with(user_id, %s)"
    else:
        return {}
    group = "SELECT level, count(*) FROM memories {} GROUP BY level"
    if tenants is None:
        return {"": dict(rows(store, group.format(""), ()))}
    out: dict[str, dict[str, int]] = {}
    for t in tenants:
        args: tuple[str, ...] = (t + "/", t + "0") if rows is _sqlite_rows else (t + "/",)
        out[t] = dict(rows(store, group.format(where), args))
    return out


def _sqlite_rows(store: Any, sql: str, args: tuple[Any, ...]) -> list[tuple[str, int]]:
    with store._read() as conn:
        return [(str(a), int(b)) for a, b in conn.execute(sql, args).fetchall()]


def _pg_rows(store: Any, sql: str, args: tuple[Any, ...]) -> list[tuple[str, int]]:
    with store._conn("metrics") as conn:
        return [(str(a), int(b)) for a, b in conn.execute(sql, args).fetchall()]


# -- the middleware and the route ------------------------------------------------------------


class _Observe:
    """Outermost: times and counts every request (refused ones too) and logs it when asked."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Any, log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        info = _RequestInfo()
        token = _current.set(info)
        status = 500
        request_id = _request_id(scope) if self.log else ""

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if self.log:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _current.reset(token)
            seconds = time.perf_counter() - start
            route = self._route(scope)
            method = str(scope.get("method", ""))
            self.metrics.request(method, route, status, seconds)
            if self.log:
                access_log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "http": {
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "tenant": info.tenant,
                            "request_id": request_id,
                        }
                    },
                )

    def _route(self, scope: Scope) -> str:
        """The template of the route that answered (or would have: a refused request has none)."""
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str) and path:
            return path
        probe = {**scope, "type": "http"}
        for candidate in self.routes:
            match, _ = candidate.matches(probe)
            if match is Match.FULL:
                return str(getattr(candidate, "path", "unmatched"))
        return "unmatched"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = str(value.decode("latin-1"))
            if _REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def install(
    app: FastAPI, memory: Memory, keys: KeyStore | None, *, log: bool | None = None
) -> None:
    """Add ``/metrics``, the observing middleware (outermost: call it last) and the
    instruments of ``memory`` to ``app``.

    Args:
        app: the app of ``create_app`` (its ``state.auth`` answers who is calling).
        memory: the Memory it serves.
        keys: its API keys, or None.
        log: log each request as JSON; None: ``REMEM_LOG_JSON=1``.
    """
    metrics = Metrics(memory, keys)
    _instrument(memory).metrics.add(metrics)
    app.state.metrics = metrics
    if log is None:
        log = os.environ.get(LOG_JSON_ENV) == "1"

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        """Prometheus metrics (text format); needs an API key when keys exist."""
        auth: Auth = request.app.state.auth
        tenant = await run_in_threadpool(auth.tenant, request.headers)
        body = await run_in_threadpool(metrics.render, tenant)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(_Observe, metrics=metrics, routes=app.router.routes, log=log)


# -- JSON logs ---------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and a request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            out.update(http)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (uvicorn's ``log_config``) writing remem's and uvicorn's
    records as JSON lines on stderr; uvicorn's own access lines are off (``remem.access`` logs
    each request instead)."""
    handler = ["json"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "remem": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
