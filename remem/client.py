"""``Client``: the verbs of ``Memory`` over the REST API, with the same types and errors.

with Client("http://127.0.0.1:8000", api_key="rmk_...") as memory:
    memory.add("I moved to Lisbon", user_id="ana")
    hits = memory.search("where does Ana live?", user_id="ana")
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from remem import errors
from remem.answer import Answer
from remem.errors import Forbidden, Unauthorized
from remem.types import HistoryEntry, Hit, Link, Page, Record

_ERRORS: dict[str, type[errors.RememError]] = {
    cls.__name__: cls
    for cls in (
        errors.ConfigError,
        errors.MissingDependency,
        errors.StoreError,
        errors.MigrationError,
        errors.NotFound,
        errors.Conflict,
        errors.EmbeddingError,
        errors.InvalidInput,
        errors.TooLarge,
        errors.LLMError,
        errors.LLMOutputError,
        Unauthorized,
        Forbidden,
    )
}
# When the body names no known type (a proxy's error page, say), the status decides.
_BY_STATUS: dict[int, type[errors.RememError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.TooLarge,
    422: errors.InvalidInput,
    502: errors.LLMError,
    503: errors.StoreError,
}
_RECORD_TYPES = typing.get_type_hints(Record)
_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(Record))
_TIMES = tuple(
    n for n, t in _RECORD_TYPES.items() if datetime in typing.get_args(t) or t is datetime
)
_TUPLES = tuple(n for n, t in _RECORD_TYPES.items() if typing.get_origin(t) is tuple)


class Client:
    """A remem server, used like a ``Memory``.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        api_key: the tenant's key (sent as ``Authorization: Bearer``); None for an open server.
        timeout: seconds per request.
        transport: an ``httpx`` transport (tests can pass ``httpx.ASGITransport(app)``).

    Raises (from every method):
        Unauthorized: no valid key. Forbidden: outside the key's tenant.
        StoreError: the server's store failed, or the server cannot be reached.
        Plus the errors ``Memory`` raises for the same call (NotFound, InvalidInput, ...).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def add(
        self,
        content: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        speaker: str | None = None,
        occurred_at: Any = None,
        metadata: Mapping[str, Any] | None = None,
        kind: str = "episodic",
        ttl: int | None = None,
        origin: str = "user",
    ) -> Record:
        """Store one memory (see ``Memory.add``)."""
        body = _drop_none(
            content=content,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            speaker=speaker,
            occurred_at=_iso(occurred_at),
            metadata=metadata,
            kind=kind,
            ttl=ttl,
            origin=origin,
        )
        return record_from_dict(self._request("POST", "/v1/memories", json=body).json())

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        """Store many memories in one transaction (see ``Memory.add_many``)."""
        if isinstance(items, Mapping | str | bytes):
            raise errors.InvalidInput("add_many takes an iterable of mappings, not a single value")
        body = {"items": [{k: _iso(v) for k, v in dict(item).items()} for item in items]}
        data = self._request("POST", "/v1/memories", json=body).json()
        return [record_from_dict(r) for r in data["items"]]

    def update(
        self,
        id: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> Record:
        """Change a memory, making a new version (see ``Memory.update``)."""
        body = _drop_none(content=content, metadata=metadata, user_id=user_id, reason=reason)
        return record_from_dict(
            self._request("PATCH", f"/v1/memories/{_seg(id)}", json=body).json()
        )

    def delete(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> None:
        """Delete a memory (see ``Memory.delete``)."""
        params = _drop_none(user_id=user_id, reason=reason)
        self._request("DELETE", f"/v1/memories/{_seg(id)}", params=params)

    def purge(self, *, user_id: str) -> int:
        """Hard-delete everything of one user (see ``Memory.purge``)."""
        data = self._request(
            "DELETE", f"/v1/scopes/{_seg(user_id, field='user_id', safe='/')}"
        ).json()
        return int(data["purged"])

    def forget(
        self,
        id: str | None = None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> int:
        """Forget one memory, or a scope's matching memories (see ``Memory.forget``).

        Like ``Memory.forget``, a call without an id and without filters forgets the whole scope:
        the client says so to the server (``"all": true``), which refuses a bare request.
        """
        body = _drop_none(
            id=id,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            filters=filters,
            reason=reason,
        )
        if id is None and not filters:
            body["all"] = True
        return int(self._request("POST", "/v1/forget", json=body).json()["forgotten"])

    def forget_expired(self, *, user_id: str) -> int:
        """Remove one user's memories whose TTL has passed (see ``Memory.forget_expired``)."""
        url = f"/v1/scopes/{_seg(user_id, field='user_id', safe='/')}/forget-expired"
        return int(self._request("POST", url).json()["forgotten"])

    def quarantine(
        self, id: str, *, user_id: str | None = None, reason: str | None = None
    ) -> Record:
        """Hide a memory from searches and listings (see ``Memory.quarantine``)."""
        body = _drop_none(user_id=user_id, reason=reason)
        url = f"/v1/memories/{_seg(id)}/quarantine"
        return record_from_dict(self._request("POST", url, json=body).json())

    def restore(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> Record:
        """Bring a quarantined memory back (see ``Memory.restore``)."""
        body = _drop_none(user_id=user_id, reason=reason)
        url = f"/v1/memories/{_seg(id)}/restore"
        return record_from_dict(self._request("POST", url, json=body).json())

    # -- reads ------------------------------------------------------------------------------

    def get(self, id: str, *, user_id: str | None = None) -> Record:
        """Return one memory (see ``Memory.get``)."""
        params = _drop_none(user_id=user_id)
        return record_from_dict(
            self._request("GET", f"/v1/memories/{_seg(id)}", params=params).json()
        )

    def list(
        self,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """One page of one scope's memories (see ``Memory.list``)."""
        params = _drop_none(
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            limit=limit,
            cursor=cursor,
            filters=json.dumps(filters) if filters is not None else None,
        )
        data = self._request("GET", "/v1/memories", params=params).json()
        return Page([record_from_dict(r) for r in data["records"]], data.get("next_cursor"))

    def history(self, id: str, *, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        """Every version of a memory, oldest first (see ``Memory.history``)."""
        params = _drop_none(user_id=user_id)
        data = self._request("GET", f"/v1/memories/{_seg(id)}/history", params=params).json()
        return [history_from_dict(e) for e in data["entries"]]

    def search(
        self,
        query: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        as_of: Any = None,
        level: str = "record",
    ) -> builtins.list[Hit]:
        """The memories of one scope that bear on ``query`` (see ``Memory.search``)."""
        body = _drop_none(
            query=query,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            limit=limit,
            filters=filters,
            as_of=_iso(as_of),
            level=level,
        )
        data = self._request("POST", "/v1/memories/search", json=body).json()
        return [hit_from_dict(h) for h in data["hits"]]

    def links(self, id: str, *, user_id: str | None = None) -> builtins.list[Link]:
        """The links of one memory (see ``Memory.links``)."""
        params = _drop_none(user_id=user_id)
        data = self._request("GET", f"/v1/memories/{_seg(id)}/links", params=params).json()
        return [Link(x["a"], x["b"], x["relation"], float(x["weight"])) for x in data["links"]]

    def timeline(
        self,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        start: Any = None,
        end: Any = None,
        limit: int = 100,
    ) -> builtins.list[Record]:
        """One scope's memories in event order (see ``Memory.timeline``)."""
        params = _drop_none(
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            start=_iso(start),
            end=_iso(end),
            limit=limit,
        )
        data = self._request("GET", "/v1/timeline", params=params).json()
        return [record_from_dict(r) for r in data["records"]]

    def first_of(self, event_a: str, event_b: str, *, user_id: str) -> tuple[Hit, Hit]:
        """Which of two described events happened first (see ``Memory.first_of``).

        Returns:
            (earlier, later) hits.
        """
        body = {"event_a": event_a, "event_b": event_b, "user_id": user_id}
        data = self._request("POST", "/v1/first-of", json=body).json()
        return hit_from_dict(data["earlier"]), hit_from_dict(data["later"])

    def answer(
        self,
        question: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Answer a question from one user's memories, citing them, or abstain (see
        ``Memory.answer``)."""
        body = _drop_none(
            question=question,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            limit=limit,
            filters=filters,
        )
        data = self._request("POST", "/v1/answer", json=body).json()
        return Answer(
            text=data["text"],
            citations=tuple(data["citations"]),
            abstained=bool(data["abstained"]),
            usage=dict(data.get("usage") or {}),
        )

    # -- export / import --------------------------------------------------------------------

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write memories and history to a local JSONL file (see ``Memory.export``).

        Returns:
            The number of memories written.
        """
        body = _drop_none(user_id=user_id)
        with self._http.stream("POST", "/v1/export", json=body) as response:
            if response.is_error:
                response.read()
                raise _error(response)
            with open(path, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            return int(response.headers.get("x-remem-count", "0"))

    def import_(self, path: str | Path, *, max_origin: str | None = None) -> int:
        """Load a local export file into the server, all or nothing (see ``Memory.import_``).
        ``max_origin`` lowers the origins the file's records come in with; the server also caps
        them at what the API key may claim.

        Returns:
            The number of memories imported.
        """
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise errors.InvalidInput(f"cannot read {path}: {exc}") from exc
        params = {"max_origin": max_origin} if max_origin is not None else None
        data = self._request(
            "POST",
            "/v1/import",
            content=content,
            params=params,
            headers={"Content-Type": "application/x-ndjson"},
        ).json()
        return int(data["imported"])

    # -- plumbing ---------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise errors.StoreError(f"cannot reach the remem server: {exc}") from exc
        if response.is_error:
            raise _error(response)
        return response


def _error(response: httpx.Response) -> errors.RememError:
    """The remem error a JSON error body names (or the one its status implies)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    name = body.get("error") if isinstance(body, dict) else None
    detail = body.get("detail") if isinstance(body, dict) else None
    cls = _ERRORS.get(str(name)) or _BY_STATUS.get(response.status_code, errors.RememError)
    return cls(str(detail or f"HTTP {response.status_code}: {response.text[:200]}"))


def record_from_dict(data: Mapping[str, Any]) -> Record:
    """Rebuild a ``Record`` from ``Record.to_dict()`` output.

    Driven by the dataclass's own field types, so a field added to ``Record`` round-trips
    without a change here; keys this version does not know (a newer server) are ignored.
    """
    fields = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
    for name in _TIMES:
        if isinstance(fields.get(name), str):
            fields[name] = datetime.fromisoformat(fields[name])
    for name in _TUPLES:
        if name in fields:
            fields[name] = tuple(fields[name] or ())
    return Record(**fields)


def hit_from_dict(data: Mapping[str, Any]) -> Hit:
    """Rebuild a ``Hit`` from ``Hit.to_dict()`` output."""
    return Hit(
        record_from_dict(data["record"]),
        float(data["score"]),
        dict(data.get("explain") or {}),
        tuple(data.get("flags") or ()),
    )


def history_from_dict(data: Mapping[str, Any]) -> HistoryEntry:
    """Rebuild a ``HistoryEntry`` from ``HistoryEntry.to_dict()`` output."""
    return HistoryEntry(
        memory_id=data["memory_id"],
        version=int(data["version"]),
        op=data["op"],
        at=datetime.fromisoformat(data["at"]),
        actor=data.get("actor"),
        reason=data.get("reason"),
        before=data.get("before"),
        after=data.get("after"),
    )


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _seg(value: str, *, field: str = "id", safe: str = "") -> str:
    """A URL path segment; an empty one would silently address another route."""
    if not isinstance(value, str) or not value:
        raise errors.InvalidInput(f"{field}: expected a non-empty string")
    return quote(value, safe=safe)
