"""A LangGraph long-term memory store (``langgraph.store.base.BaseStore``) backed by remem.

    from remem import Memory
    from remem.integrations.langgraph import RememStore

    store = RememStore(Memory("memory.db"))
    graph = builder.compile(store=store)        # nodes get it as ``store`` / ``runtime.store``
    store.put(("ana", "memories"), "home", {"content": "Ana moved to Lisbon"})
    store.search(("ana", "memories"), query="where does Ana live?")

Namespaces and scopes. By default the first label of a namespace is the remem ``user_id``: a
LangGraph namespace ``("ana", "memories", "prefs")`` lives in user ``ana``'s scope, so remem's
isolation holds (a search under ``("ana", ...)`` never reads another user's memories). The whole
namespace is kept in the record's metadata (``langgraph.namespace``, and one ``langgraph.lN``
per label for prefix filters). ``RememStore(memory, user_id="ana")`` instead keeps every
namespace inside one fixed scope (for namespaces that do not start with the user, such as
``("memories", user_id)``). Operations that must span users (a search with an empty prefix, a
namespace listing whose prefix does not fix the first label) read a small registry of the users
this store has written to, kept under the reserved user ``langgraph.users`` (a name no LangGraph
namespace can have: labels have no periods).

Items. Each (namespace, key) is one remem record; ``langgraph.ref`` (a hash of the pair) finds it,
so ``put`` of an existing key is a ``Memory.update`` (a new version, the old one in history) and a
``put`` of ``None`` is a ``Memory.delete``. The value is kept whole in ``metadata["value"]``; the
record's content (what remem embeds and searches) is the text at the ``index`` fields (the
store's ``index={"fields": [...]}`` or the ``put``'s ``index=``), else the value's ``content`` or
``text`` string, else the value as JSON. ``index=False`` keeps an item out of query searches.

Reads. ``get`` and a search without a query (a listing, in creation order) return every stored
item, even one remem's guard quarantined or a newer fact superseded; a search with a query is
``Memory.search`` (hybrid retrieval, remem's ranking and guard), with ``score`` its score.
Filters on value fields (``{"status": "active"}``, ``{"score": {"$gte": 3}}``) are evaluated as
LangGraph's in-memory store does; the ones remem can index are pushed down to it. Batches run
their operations in order. TTLs are not supported (``supports_ttl`` is False): use remem's
``default_ttl`` and ``forget_expired``. ``index["embed"]`` and ``index["dims"]`` are ignored: the
``Memory``'s embedder is used.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    validate_op_namespace,
)

from remem import filters as _filters
from remem.errors import InvalidInput
from remem.integrations._records import Clock, clip, scan
from remem.memory import MAX_LIMIT, Memory
from remem.types import Record

REGISTRY_USER = "langgraph.users"
_META = "langgraph"
_PUSHED_OPS = frozenset({"$eq", "$gt", "$gte", "$lt", "$lte"})
_MARKER = {f"{_META}.depth": {"$gte": 1}}


class RememStore(BaseStore):
    """A LangGraph ``BaseStore`` whose items are remem memories (see the module docstring).

    Args:
        memory: the remem ``Memory`` to keep the items in (the store does not close it).
        user_id: keep every namespace in this one user's scope; default: each namespace's first
            label is its user.
        agent_id: the remem agent the items are stored under (and read from), if any.
        origin: the remem origin of the items written ("agent" by default: a graph wrote them;
            "user" for what the user stated), which sets their trust.
        index: LangGraph's index config; only ``fields`` is used (the text paths to embed).
    """

    supports_ttl = False

    def __init__(
        self,
        memory: Memory,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        origin: str = "agent",
        index: IndexConfig | None = None,
    ) -> None:
        self.memory = memory
        self.user_id = user_id
        self.agent_id = agent_id
        self.origin = origin
        self.fields: list[str] | None = list((index or {}).get("fields") or []) or None
        self._clock = Clock()
        self._lock = threading.RLock()
        self._registered: set[str] = set()

    # -- the two methods BaseStore requires -------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` in order; one result per op (None for a put)."""
        return [self._run(op) for op in list(ops)]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """``batch`` in a worker thread (remem's calls block)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- operations -------------------------------------------------------------------------------

    def _run(self, op: Op) -> Result:
        validate_op_namespace(op)
        if isinstance(op, GetOp):
            found = self._find(op.namespace, op.key)
            return _item(found[-1]) if found else None
        if isinstance(op, PutOp):
            self._put(op)
            return None
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, ListNamespacesOp):
            return self._list_namespaces(op)
        raise ValueError(f"unknown operation type: {type(op).__name__}")

    def _user(self, namespace: tuple[str, ...]) -> str:
        if self.user_id is not None:
            return self.user_id
        if not namespace:
            raise InvalidInput("namespace: the first label is the user and cannot be missing")
        return namespace[0]

    def _find(self, namespace: tuple[str, ...], key: str) -> list[Record]:
        """The records of (namespace, key), newest last (more than one only after a race)."""
        if self.user_id is None and not namespace:
            return []
        found = scan(
            self.memory,
            user_id=self._user(namespace),
            agent_id=self.agent_id,
            filters={f"{_META}.ref": _ref(namespace, key)},
        )
        mine = [r for r in found if _namespace(r) == namespace and _key(r) == key]
        return sorted(mine, key=lambda r: (r.updated_at or _EPOCH, r.id))

    def _put(self, op: PutOp) -> None:
        with self._lock:
            found = self._find(op.namespace, op.key)
            user = self._user(op.namespace)
            current = found[-1] if found else None
            for record in found[:-1]:
                self.memory.delete(record.id, user_id=user, reason="langgraph: duplicate key")
            if op.value is None:
                if current is not None:
                    self.memory.delete(current.id, user_id=user, reason="langgraph: delete")
                return
            value = dict(op.value)
            text, indexed = self._text(value, op.index)
            metadata = {_META: _where(op.namespace, op.key, indexed), "value": value}
            content = clip(text, self.memory.settings.max_content_bytes)
            if current is not None:
                if current.metadata == metadata and current.content == content:
                    return
                self.memory.update(
                    current.id,
                    content=content if content != current.content else None,
                    metadata=metadata,
                    user_id=user,
                    reason="langgraph: put",
                )
                return
            self._register(user)
            (at,) = self._clock.ticks(1)
            record = self.memory.add(
                content,
                user_id=user,
                agent_id=self.agent_id,
                metadata=metadata,
                occurred_at=at,
                origin=self.origin,
            )
            if record.version != 1:  # merged into a stored record: cannot happen at a fresh time
                raise RuntimeError(f"langgraph put of {op.key!r} merged into {record.id}")

    def _text(
        self, value: dict[str, Any], index: Literal[False] | list[str] | None
    ) -> tuple[str, bool]:
        """The text remem embeds for ``value`` and whether the item is searchable by query."""
        if index is False:
            return _json(value), False
        fields = index if index is not None else self.fields
        if fields:
            texts = [t for path in fields for t in get_text_at_path(value, path) if t.strip()]
            return ("\n".join(texts), True) if texts else (_json(value), False)
        for name in ("content", "text"):
            field = value.get(name)
            if isinstance(field, str) and field.strip():
                return field, True
        return _json(value), True

    def _register(self, user: str) -> None:
        """Note ``user`` in the registry of users (once per user)."""
        if self.user_id is not None or user in self._registered:
            return
        if not scan(self.memory, user_id=REGISTRY_USER, filters={"langgraph_user": user}):
            (at,) = self._clock.ticks(1)
            self.memory.add(
                f"LangGraph namespaces of user {user}",
                user_id=REGISTRY_USER,
                metadata={"langgraph_user": user},
                occurred_at=at,
                origin=self.origin,
            )
        self._registered.add(user)

    def _users(self, first: str | None) -> list[str]:
        """The users a read must visit: the fixed one, the given first label, or all known."""
        if self.user_id is not None:
            return [self.user_id]
        if first is not None and first != "*":
            return [first]
        known = {r.metadata.get("langgraph_user") for r in scan(self.memory, user_id=REGISTRY_USER)}
        return sorted(u for u in known if isinstance(u, str))

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        where: dict[str, Any] = dict(_MARKER)
        where.update({f"{_META}.l{i}": label for i, label in enumerate(prefix)})
        where.update(_pushdown(op.filter or {}))
        users = self._users(prefix[0] if prefix else None)
        end = op.offset + op.limit
        if op.limit <= 0 or op.offset < 0:
            return []

        def keep(record: Record) -> bool:
            ns = _namespace(record)
            return (
                ns is not None
                and ns[: len(prefix)] == prefix
                and _matches(_value(record), op.filter or {})
            )

        if op.query:
            where[f"{_META}.indexed"] = True
            scored: list[tuple[float, Record]] = []
            for user in users:
                hits = self.memory.search(
                    op.query,
                    user_id=user,
                    agent_id=self.agent_id,
                    limit=min(MAX_LIMIT, end),
                    filters=where,
                )
                scored += [(h.score, h.record) for h in hits if keep(h.record)]
            scored.sort(key=lambda pair: -pair[0])
            return [_item(r, score) for score, r in scored[op.offset : end]]
        records = [
            r
            for user in users
            for r in scan(self.memory, user_id=user, agent_id=self.agent_id, filters=where)
            if keep(r)
        ]
        records.sort(key=lambda r: r.id)
        return [_item(r, None) for r in records[op.offset : end]]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        first: str | None = None
        where: dict[str, Any] = dict(_MARKER)
        for cond in conditions:
            if cond.match_type == "prefix":
                for i, label in enumerate(cond.path):
                    if label != "*":
                        where[f"{_META}.l{i}"] = label
                if cond.path and cond.path[0] != "*":
                    first = cond.path[0]
        found: set[tuple[str, ...]] = set()
        for user in self._users(first):
            for record in scan(self.memory, user_id=user, agent_id=self.agent_id, filters=where):
                ns = _namespace(record)
                if ns is not None and all(_does_match(c, ns) for c in conditions):
                    found.add(ns if op.max_depth is None else ns[: op.max_depth])
        return sorted(found)[op.offset : op.offset + op.limit]


# -- records <-> items ---------------------------------------------------------------------------

_EPOCH = datetime.min.replace(tzinfo=UTC)


def _ref(namespace: tuple[str, ...], key: str) -> str:
    """The stable id of (namespace, key): what finds its record."""
    return hashlib.sha256(json.dumps([list(namespace), key]).encode("utf-8")).hexdigest()[:32]


def _where(namespace: tuple[str, ...], key: str, indexed: bool) -> dict[str, Any]:
    return {
        "namespace": list(namespace),
        "key": key,
        "ref": _ref(namespace, key),
        "depth": len(namespace),
        "indexed": indexed,
        **{f"l{i}": label for i, label in enumerate(namespace)},
    }


def _namespace(record: Record) -> tuple[str, ...] | None:
    meta = record.metadata.get(_META)
    if not isinstance(meta, Mapping) or not isinstance(meta.get("namespace"), list):
        return None
    return tuple(str(label) for label in meta["namespace"])


def _key(record: Record) -> str | None:
    meta = record.metadata.get(_META)
    return str(meta.get("key")) if isinstance(meta, Mapping) else None


def _value(record: Record) -> dict[str, Any]:
    value = record.metadata.get("value")
    return dict(value) if isinstance(value, Mapping) else {}


def _item(record: Record, score: float | None | Literal[False] = False) -> Any:
    """``record`` as a LangGraph ``Item`` (``score`` False) or ``SearchItem``."""
    namespace = _namespace(record) or ()
    key = _key(record) or ""
    created = record.created_at or _EPOCH
    updated = record.updated_at or created
    if score is False:
        return Item(
            value=_value(record),
            key=key,
            namespace=namespace,
            created_at=created,
            updated_at=updated,
        )
    return SearchItem(namespace, key, _value(record), created, updated, score)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# -- filters: LangGraph's semantics, the indexable part pushed down to remem --------------------


def _pushdown(flt: Mapping[str, Any]) -> dict[str, Any]:
    """The conditions of ``flt`` remem evaluates the same way (scalar equality, numeric ranges)."""
    out: dict[str, Any] = {}
    for key, spec in flt.items():
        if not isinstance(key, str) or "." in key:
            continue
        if isinstance(spec, Mapping):
            if not spec or not all(
                op in _PUSHED_OPS and (_scalar(v) if op == "$eq" else _number(v))
                for op, v in spec.items()
            ):
                continue
            candidate: Any = dict(spec)
        elif _scalar(spec):
            candidate = spec
        else:
            continue
        try:
            _filters.parse({f"value.{key}": candidate})
        except InvalidInput:
            continue
        out[f"value.{key}"] = candidate
    return out


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lookup(value: Mapping[str, Any], key: str) -> Any:
    if key in value or "." not in key:
        return value.get(key)
    node: Any = value
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _matches(value: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """LangGraph's in-memory filter: every field compares equal (JSON-like) or passes its
    operators."""
    return all(_compare(_lookup(value, key), spec) for key, spec in flt.items())


def _compare(item: Any, spec: Any) -> bool:
    if isinstance(spec, Mapping):
        if any(str(k).startswith("$") for k in spec):
            return all(_operator(item, op, arg) for op, arg in spec.items())
        return isinstance(item, Mapping) and all(_compare(item.get(k), v) for k, v in spec.items())
    if isinstance(spec, list | tuple):
        return (
            isinstance(item, list | tuple)
            and len(item) == len(spec)
            and all(_compare(a, b) for a, b in zip(item, spec, strict=True))
        )
    return bool(item == spec)


def _operator(item: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return bool(item == arg)
    if op == "$ne":
        return bool(item != arg)
    if op == "$in":
        return item in list(arg)
    if op == "$nin":
        return item not in list(arg)
    compare = {
        "$gt": lambda a, b: a > b,
        "$gte": lambda a, b: a >= b,
        "$lt": lambda a, b: a < b,
        "$lte": lambda a, b: a <= b,
    }.get(op)
    if compare is None:
        raise ValueError(f"unsupported filter operator: {op}")
    try:
        return bool(compare(float(item), float(arg)))
    except (TypeError, ValueError):
        return False


def _does_match(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """A namespace matches a prefix or suffix condition ("*" matches any label)."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"unsupported match type: {condition.match_type}")
    return all(p == "*" or n == p for n, p in pairs)


__all__ = ["REGISTRY_USER", "RememStore"]
