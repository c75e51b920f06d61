"""The read verbs (``Memory.get``, ``list``, ``history``, ``search``, ``links``, ``timeline``,
``first_of``) as functions over a memory's ``Parts``; ``Memory`` keeps their docstrings."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from remem import _text, _time, _validate, standing
from remem import filters as _filters
from remem.errors import NotFound
from remem.guard import policy, trust
from remem.parts import Parts
from remem.retrieve import coverage, hierarchy
from remem.retrieve import timeline as _timeline
from remem.store.base import Scope, Store
from remem.types import HistoryEntry, Hit, Link, Page, Record, Vector

MAX_LIMIT = 1000
_QUERY_CACHE = 256


def scope(user_id: Any, agent_id: Any, session_id: Any, filters: Mapping[str, Any] | None) -> Scope:
    """A validated scope: one user, optionally one agent and session, and filter conditions.

    Raises:
        InvalidInput: a bad id or filter.
    """
    uid = _validate.ident(user_id, field="user_id", required=True)
    assert uid is not None
    return Scope(
        user_id=uid,
        agent_id=_validate.ident(agent_id, field="agent_id"),
        session_id=_validate.ident(session_id, field="session_id"),
        conditions=tuple(_filters.parse(filters)),
    )


def all_records(store: Store, where: Scope) -> list[Record]:
    """Every record of ``where``, in id order (paged through the store)."""
    out: list[Record] = []
    cursor = None
    while True:
        page = store.list(where, limit=1000, cursor=cursor)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def get(store: Store, id: str, *, user_id: str | None) -> Record:
    """One memory (of ``user_id`` when given). Raises NotFound."""
    _validate.ident(id, field="id", required=True)
    record = store.get_many([id]).get(id)
    if record is None or (user_id is not None and record.user_id != user_id):
        raise NotFound(f"memory {id} not found")
    return record


def page(
    store: Store,
    where: Scope,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of a scope's memories, in id order."""
    _validate.positive(limit, field="limit", maximum=MAX_LIMIT * 10)
    _validate.ident(cursor, field="cursor")
    return store.list(where, limit=limit, cursor=cursor)


def history(store: Store, id: str, *, user_id: str | None) -> list[HistoryEntry]:
    """Every version of a memory, oldest first. Raises NotFound."""
    _validate.ident(id, field="id", required=True)
    entries = store.history(id)
    if user_id is not None and entries:
        snapshot = entries[0].after or entries[0].before or {}
        if snapshot.get("user_id") != user_id:
            entries = []
    if not entries:
        raise NotFound(f"no history for memory {id}")
    return entries


def weights(parts: Parts, level: str) -> hierarchy.Weights:
    """The retrieval weights of the settings; coarse levels (session, fact units) skip the
    components that work on turns."""
    w = parts.settings.retrieval.weights
    if level == "record":
        return w
    return replace(w, session=0.0, lift=0.0, neighbor=0.0, link=0.0, diverse=0.0)


def search(
    parts: Parts,
    query: str,
    *,
    user_id: Any,
    agent_id: Any,
    session_id: Any,
    limit: int,
    filters: Mapping[str, Any] | None,
    as_of: Any,
    level: str,
    query_vector: Callable[[str], Vector],
) -> list[Hit]:
    """``Memory.search``: validated (in this order: query, limit, level, scope, as_of), retrieved
    (``hierarchy.search``), reviewed by the guard when it is on, then given the scope's standing
    memory that bears on the query (``standing.surface``: at most one slot of the top 5).

    Raises:
        InvalidInput: an empty query, a bad scope, filter, time or level.
    """
    s = parts.settings
    query = _validate.text(query, field="query", max_bytes=s.max_content_bytes)
    limit = _validate.positive(limit, field="limit", maximum=MAX_LIMIT)
    _validate.choice(level, field="level", options=("record", "session", "fact"))
    where = replace(
        scope(user_id, agent_id, session_id, filters),
        as_of=_time.parse(as_of, field="as_of"),
        levels=(level,),
    )
    vector = query_vector(query)
    # A summary, "list every …" or order question: a deeper pool, then each session's best turns
    # in time order (``remem.retrieve.coverage``).
    arc = level == "record" and coverage.asks_coverage(query)
    hits = hierarchy.search(
        parts.store,
        query,
        vector,
        where,
        limit=max(limit, coverage.POOL) if arc else limit,
        candidates=s.candidates,
        rrf_k=s.rrf_k,
        weights=weights(parts, level),
        now=_time.now,
    )
    hits = review(parts.store, hits, where.user_id) if s.guard else hits
    if arc:
        hits = coverage.arc(hits, limit)
    return standing.surface(parts.store, hits, query, vector, where, limit=limit)


def review(store: Store, hits: list[Hit], user_id: str) -> list[Hit]:
    """The guard's read-time pass: consensus, lessons and trust reorder and flag the hits."""
    if not hits:
        return hits
    explain = {h.record.id: h.explain for h in hits}
    claims = [h.record.id for h in hits if trust.CONFLICT in h.record.flags]
    rivals: dict[str, list[str]] = {}
    for link in store.links(claims) if claims else []:
        if link.relation == trust.CONFLICT and link.a in explain:
            rivals.setdefault(link.a, []).append(link.b)
    for claim, contested in rivals.items():
        explain[claim] = {**explain[claim], "conflict": {"contests": contested}}
    reviewed = policy.review(
        [(h.record, h.score) for h in hits],
        store.vectors([h.record.id for h in hits]),
        policy.lessons(store, user_id),
        rivals,
    )
    return [Hit(r, score, explain[r.id], flags) for r, score, flags in reviewed]


def links(store: Store, id: str, *, user_id: str | None) -> list[Link]:
    """The links of one memory (similar, shared entity, next turn, supersedes, ...).

    Raises:
        NotFound: no such memory (in this user's scope).
    """
    get(store, id, user_id=user_id)
    return store.links([id])


def timeline(
    store: Store,
    *,
    user_id: Any,
    agent_id: Any,
    session_id: Any,
    start: Any,
    end: Any,
    limit: int,
) -> list[Record]:
    """One scope's memories in event order (``occurred_at``), optionally within [start, end).

    Raises:
        InvalidInput: a bad scope, time or limit.
    """
    _validate.positive(limit, field="limit", maximum=MAX_LIMIT * 10)
    where = scope(user_id, agent_id, session_id, None)
    return _timeline.between(
        all_records(store, where),
        start=_time.parse(start, field="start"),
        end=_time.parse(end, field="end"),
    )[:limit]


def first_of(search: Callable[[str], list[Hit]], event_a: str, event_b: str) -> tuple[Hit, Hit]:
    """Which of two described events happened first (sequence-order recall).

    Each description is matched to its best memory; the two are ordered by when they
    happened (the dates a memory mentions, else ``occurred_at``).

    Returns:
        (earlier, later) hits; the two are always different memories.

    Raises:
        NotFound: a description matches no memory (other than the first one's).
    """
    hits: list[Hit] = []
    for text in (event_a, event_b):
        found = [
            h
            for h in search(text)
            if (not hits or h.record.id != hits[0].record.id) and _mentions(h.record, text)
        ]
        if not found:
            raise NotFound(f"no memory matches {text!r} (apart from the other event)")
        hits.append(found[0])
    a, b = hits
    return (a, b) if _timeline.when(a.record) <= _timeline.when(b.record) else (b, a)


def _mentions(record: Record, description: str) -> bool:
    """A memory matches an event's description only when it says one of its content words (in
    any word form): the nearest vector alone is not a match."""
    said = {_text.stem(t) for t in _text.terms(record.content)}
    return any(_text.stem(t) in said for t in _text.terms(description))


class QueryVectors:
    """The vectors of the last ``_QUERY_CACHE`` queries (least recently used goes first)."""

    def __init__(self, embed: Callable[[list[str]], Vector]) -> None:
        self._embed = embed
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, query: str) -> Vector:
        """The vector of ``query``, embedded on a miss."""
        with self._lock:
            cached = self._vectors.get(query)
            if cached is not None:
                self._vectors.move_to_end(query)
                return cached
        vector: Vector = self._embed([query])[0]  # outside the lock: embedding is the slow part
        with self._lock:
            self._vectors[query] = vector
            while len(self._vectors) > _QUERY_CACHE:
                self._vectors.popitem(last=False)
        return vector
