"""``Client``: the verbs of ``Memory`` over the REST API, with the same types and errors.

with Client("http://127.0.0.1:8000", api_key="rmk_...") as memory:
    memory.add("I moved to Lisbon", user_id="ana")
    hits = memory.search("where does Ana live?", user_id="ana")

Every verb is generated from the verb table (``remem.verbs``): ``request_for`` turns a call into
its REST request, ``result_of`` turns the answer back into the library's types. Both are
transport-free, so an async client needs only its own transport. ``add_many``, ``export`` and
``import_`` (a batch body, files) are written out below.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from remem import errors, verbs
from remem.answer import Answer
from remem.types import HistoryEntry, Hit, Link, Page, Record

if TYPE_CHECKING:  # the generated verbs have Memory's signatures and types
    from remem.memory import Memory as _Verbs
else:
    _Verbs = object

_ERRORS = errors.every_error()
# When the body names no known type (a proxy's error page, say), the status decides.
_BY_STATUS = {code: cls for cls, code in reversed(errors.HTTP_STATUS.items())}


class Client(_Verbs):
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

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        """Store many memories in one transaction, all or nothing (see ``Memory.add_many``)."""
        method, url, extra = _batch_request(items)
        data = self._request(method, url, **extra).json()
        return [record_from_dict(r) for r in data["items"]]

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
        method, url, extra = _import_request(path, max_origin)
        return int(self._request(method, url, **extra).json()["imported"])

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise errors.StoreError(f"cannot reach the remem server: {exc}") from exc
        if response.is_error:
            raise _error(response)
        return response


def _batch_request(items: Iterable[Mapping[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """The request of ``add_many``: the batch body of POST /v1/memories."""
    if isinstance(items, Mapping | str | bytes):
        raise errors.InvalidInput("add_many takes an iterable of mappings, not a single value")
    body = {"items": [{k: _iso(v) for k, v in dict(item).items()} for item in items]}
    return "POST", "/v1/memories", {"json": body}


def _import_request(path: str | Path, max_origin: str | None) -> tuple[str, str, dict[str, Any]]:
    """The request of ``import_``: the local file's lines as the body of POST /v1/import."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise errors.InvalidInput(f"cannot read {path}: {exc}") from exc
    params = {"max_origin": max_origin} if max_origin is not None else None
    headers = {"Content-Type": "application/x-ndjson"}
    return "POST", "/v1/import", {"content": content, "params": params, "headers": headers}


def request_for(verb: verbs.Verb, kwargs: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The REST request of one call: (method, url, httpx keyword arguments).

    Path parameters go in the URL, the rest in the query (GET, DELETE; JSON objects as JSON
    text) or the JSON body. A safety argument is set to what the library call means: a forget
    with no id and no filters is a whole-scope forget (``"all": true``).
    """
    assert verb.rest is not None
    method, path = verb.rest
    values = {k: _iso(v) for k, v in kwargs.items()}
    if "all" in {a.name for a in verb.args if a.adapter_only}:
        values["all"] = values.get("id") is None and not values.get("filters")
    for name in ("id", "user_id"):
        if "{" + name + "}" in path:
            safe = "/" if name == "user_id" else ""
            path = path.replace("{" + name + "}", _seg(values.pop(name), field=name, safe=safe))
    rest = _drop_none(**values)
    if method in ("GET", "DELETE"):
        params = {k: json.dumps(v) if isinstance(v, Mapping) else v for k, v in rest.items()}
        return method, path, {"params": params}
    return method, path, {"json": rest} if rest else {}


def result_of(verb: verbs.Verb, data: Any) -> Any:
    """The library's value for one verb's JSON answer (``verbs.to_json`` the other way)."""
    kind = verb.result
    if kind == "record":
        return record_from_dict(data)
    if kind == "hits":
        return [hit_from_dict(h) for h in data["hits"]]
    if kind == "page":
        return Page([record_from_dict(r) for r in data["records"]], data.get("next_cursor"))
    if kind == "records":
        return [record_from_dict(r) for r in data["records"]]
    if kind == "entries":
        return [history_from_dict(e) for e in data["entries"]]
    if kind == "links":
        return [Link(x["a"], x["b"], x["relation"], float(x["weight"])) for x in data["links"]]
    if kind == "pair":
        return hit_from_dict(data["earlier"]), hit_from_dict(data["later"])
    if kind == "answer":
        return Answer(
            text=data["text"],
            citations=tuple(data["citations"]),
            abstained=bool(data["abstained"]),
            usage=dict(data.get("usage") or {}),
        )
    if kind in ("forgotten", "purged"):
        return int(data[kind])
    if kind == "profile":
        from remem.standing import Profile

        return Profile.from_dict(data)
    if kind in ("episode", "cases", "lessons"):  # constructed from the dicts
        from remem import episodes

        if kind == "episode":
            return episodes.Episode.from_dict(data)
        cls = episodes.Case if kind == "cases" else episodes.Lesson
        return [cls.from_dict(x) for x in data[kind]]
    return None


def _call(client: Client, verb: verbs.Verb, call: dict[str, Any]) -> Any:
    http_method, url, extra = request_for(verb, call)
    response = client._request(http_method, url, **extra)
    return result_of(verb, None if response.status_code == 204 else response.json())


verbs.attach(Client, "client", _call)


class AsyncClient(_Verbs):
    """``Client`` for asyncio: the same verbs as coroutines, over ``httpx.AsyncClient``.

    Args: as for ``Client`` (``transport`` an ``httpx.AsyncBaseTransport``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:  # type: ignore[override]
        """Store many memories in one transaction, all or nothing (see ``Memory.add_many``)."""
        method, url, extra = _batch_request(items)
        data = (await self._request(method, url, **extra)).json()
        return [record_from_dict(r) for r in data["items"]]

    async def export(self, path: str | Path, *, user_id: str | None = None) -> int:  # type: ignore[override]
        """Write memories and history to a local JSONL file (see ``Memory.export``)."""
        async with self._http.stream("POST", "/v1/export", json=_drop_none(user_id=user_id)) as r:
            if r.is_error:
                await r.aread()
                raise _error(r)
            with open(path, "wb") as out:
                async for chunk in r.aiter_bytes():
                    out.write(chunk)
            return int(r.headers.get("x-remem-count", "0"))

    async def import_(self, path: str | Path, *, max_origin: str | None = None) -> int:  # type: ignore[override]
        """Load a local export file into the server, all or nothing (see ``Memory.import_``)."""
        method, url, extra = _import_request(path, max_origin)
        return int((await self._request(method, url, **extra)).json()["imported"])

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise errors.StoreError(f"cannot reach the remem server: {exc}") from exc
        if response.is_error:
            raise _error(response)
        return response


async def _acall(client: AsyncClient, verb: verbs.Verb, call: dict[str, Any]) -> Any:
    http_method, url, extra = request_for(verb, call)
    response = await client._request(http_method, url, **extra)
    return result_of(verb, None if response.status_code == 204 else response.json())


verbs.attach(AsyncClient, "client", _acall)


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


record_from_dict = Record.from_dict
hit_from_dict = Hit.from_dict
history_from_dict = HistoryEntry.from_dict


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _seg(value: str, *, field: str = "id", safe: str = "") -> str:
    """A URL path segment; an empty one would silently address another route."""
    if not isinstance(value, str) or not value:
        raise errors.InvalidInput(f"{field}: expected a non-empty string")
    return quote(value, safe=safe)
