"""Row <-> Record conversion and the parts of SQL that every backend shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from remem import _time
from remem.errors import Conflict
from remem.filters import Condition
from remem.store import base
from remem.store.base import Scope
from remem.types import HistoryEntry, Record

# Columns in the order backends store them; the embedding and index text are kept apart.
COLUMNS = (
    "id",
    "user_id",
    "agent_id",
    "session_id",
    "kind",
    "level",
    "content",
    "speaker",
    "metadata",
    "occurred_at",
    "created_at",
    "updated_at",
    "version",
    "origin",
    "trust",
    "valid_from",
    "valid_to",
    "sources",
    "keywords",
    "entities",
    "dates",
    "expires_at",
    "flags",
    "tags",
    "context",
)
_JSON = frozenset({"metadata", "sources", "keywords", "entities", "dates", "flags", "tags"})
# The note columns ``update_notes`` writes without a new version.
NOTE_COLUMNS = ("keywords", "tags", "context")
_TIME = frozenset(
    {"occurred_at", "created_at", "updated_at", "valid_from", "valid_to", "expires_at"}
)
HISTORY_COLUMNS = (
    "memory_id",
    "user_id",
    "version",
    "op",
    "at",
    "actor",
    "reason",
    "before",
    "after",
)


def dumps(value: Any) -> str:
    """Compact, deterministic JSON (the exact text is what export/import round-trips)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    )


def index_text(record: Record) -> str:
    """The full-text index text: ``base.index_text`` plus the LLM notes (tags and context), so a
    search for a tag word finds the note."""
    parts = [base.index_text(record), *record.tags]
    if record.context:
        parts.append(record.context)
    return "\n".join(parts)


def to_row(record: Record) -> tuple[Any, ...]:
    """Values for ``COLUMNS``."""
    out: list[Any] = []
    for name in COLUMNS:
        value = getattr(record, name)
        if name in _JSON:
            if isinstance(value, tuple | list | dict) and not value:
                value = "{}" if isinstance(value, dict) else "[]"  # as ``dumps``, for the many
            else:
                value = dumps(list(value) if isinstance(value, tuple) else value)
        elif name in _TIME:
            value = _time.fmt(value)
        out.append(value)
    return tuple(out)


def _json_list(value: Any) -> Any:
    if value == "[]":  # most note lists are empty: no parse for them (shortlists, units)
        return ()
    if value == "{}":
        return {}
    return tuple((_loads(value) if isinstance(value, str) else value) or ())


def _json_map(value: Any) -> Any:
    if value == "{}":
        return {}
    return _loads(value) if isinstance(value, str) else value


def _time_load(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


_loads = json.JSONDecoder().decode
# One converter per column of ``COLUMNS`` (None: stored as it is).
_CONVERT: tuple[Callable[[Any], Any] | None, ...] = tuple(
    _json_map
    if name == "metadata"
    else _json_list
    if name in _JSON
    else _time_load
    if name in _TIME
    else None
    for name in COLUMNS
)
assert set(COLUMNS) == set(Record.__dataclass_fields__), "a Record field has no column"


def from_row(row: Mapping[str, Any] | tuple[Any, ...]) -> Record:
    """Build a Record from a row holding ``COLUMNS`` (a mapping or a tuple in that order).

    Every search and write reads dozens of rows, so this is built for speed: one converter per
    column, and the frozen dataclass filled directly (every field is a column, and ``Record``
    has no ``__post_init__``), which is what its ``__init__`` would do, without 25 guarded
    ``object.__setattr__`` calls.
    """
    values = tuple(row[name] for name in COLUMNS) if isinstance(row, Mapping) else row
    record = object.__new__(Record)
    record.__dict__.update(
        zip(
            COLUMNS,
            [v if c is None else c(v) for c, v in zip(_CONVERT, values, strict=False)],
            strict=False,
        )
    )
    return record


def history_row(entry: HistoryEntry, user_id: str) -> tuple[Any, ...]:
    """Values for ``HISTORY_COLUMNS``."""
    return (
        entry.memory_id,
        user_id,
        entry.version,
        entry.op,
        _time.fmt(entry.at),
        entry.actor,
        entry.reason,
        None if entry.before is None else dumps(entry.before),
        None if entry.after is None else dumps(entry.after),
    )


def history_rows(
    history: Sequence[HistoryEntry],
    owner: Mapping[str, str],
    lookup: Callable[[str], str | None],
) -> list[tuple[Any, ...]]:
    """Rows for history entries; each entry's user comes from ``owner`` (records written in the
    same call), else ``lookup`` (a stored record), else the entry's own snapshot.

    Raises:
        Conflict: an entry of a memory no one can place.
    """
    rows = []
    for entry in history:
        user_id = owner.get(entry.memory_id) or lookup(entry.memory_id)
        if user_id is None:
            user_id = (entry.after or entry.before or {}).get("user_id")
        if user_id is None:
            raise Conflict(f"history entry for unknown memory {entry.memory_id}")
        rows.append(history_row(entry, user_id))
    return rows


def history_from_row(row: tuple[Any, ...]) -> HistoryEntry:
    """Inverse of ``history_row`` (the user_id column is dropped)."""
    memory_id, _user, version, op, at, actor, reason, before, after = row
    return HistoryEntry(
        memory_id=memory_id,
        version=version,
        op=op,
        at=_time.load(at) if isinstance(at, str) else at,  # type: ignore[arg-type]
        actor=actor,
        reason=reason,
        before=json.loads(before) if isinstance(before, str) else before,
        after=json.loads(after) if isinstance(after, str) else after,
    )


def where(
    scope: Scope,
    ph: str,
    condition: Callable[[Condition, str], tuple[str, list[Any]]],
    prefix: str = "",
    *,
    session_index: bool = False,
) -> tuple[str, list[Any]]:
    """Compile a Scope into a WHERE clause body and its parameters.

    ``ph`` is the driver's placeholder (``?`` or ``%s``); ``condition`` compiles one metadata or
    column condition for the backend's SQL dialect; ``prefix`` qualifies column names.
    ``session_index`` (SQLite): a scope naming a session is looked up by its session, never by
    its level (``+level`` keeps SQLite's planner off the (user, level, id) index, which walks
    every row of that level in the user's scope to find one session's: 8.5 ms at 100k).
    """
    p = prefix
    sql = [f"{p}user_id = {ph}"]
    args: list[Any] = [scope.user_id]
    for column in ("agent_id", "session_id"):
        value = getattr(scope, column)
        if value is not None:
            sql.append(f"{p}{column} = {ph}")
            args.append(value)
    level = f"+{p}level" if session_index and scope.session_id is not None else f"{p}level"
    sql.append(f"{level} IN ({', '.join([ph] * len(scope.levels))})")
    args.extend(scope.levels)
    if scope.as_of is not None:
        at = _time.fmt(scope.as_of)
        sql.append(f"({p}valid_from IS NULL OR {p}valid_from <= {ph})")
        sql.append(f"({p}valid_to IS NULL OR {p}valid_to > {ph})")
        args.extend([at, at])
    elif not scope.include_superseded:
        sql.append(f"{p}valid_to IS NULL")
    # Expired records are forgotten: invisible at once, removed by ``forget_expired``.
    sql.append(f"({p}expires_at IS NULL OR {p}expires_at > {ph})")
    args.append(_time.fmt(scope.as_of or _time.now()))
    if scope.ids is not None:
        if not scope.ids:
            sql.append("1 = 0")
        else:
            sql.append(f"{p}id IN ({', '.join([ph] * len(scope.ids))})")
            args.extend(scope.ids)
    for cond in scope.conditions:
        clause, cargs = condition(cond, p)
        sql.append(clause)
        args.extend(cargs)
    return " AND ".join(sql), args


SQL_OPS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def owner_clause(user_id: str | None, prefix: str | None, ph: str) -> tuple[str, list[str]]:
    """The WHERE clause of an export: one user, the users under a prefix (a tenant), or all."""
    if user_id is not None:
        return f"WHERE user_id = {ph}", [user_id]
    if prefix is not None:
        return f"WHERE substr(user_id, 1, {len(prefix)}) = {ph}", [prefix]
    return "", []


def event_before(occurred_at: datetime | None, id: str | None, ph: str) -> tuple[str, list[Any]]:
    """The condition "before (occurred_at, id) in event order" (see ``Store.count_before``)."""
    at = _time.fmt(occurred_at)
    if at is None:
        return (
            ("occurred_at IS NULL", [])
            if id is None
            else (f"(occurred_at IS NULL AND id < {ph})", [id])
        )
    if id is None:
        return f"(occurred_at IS NULL OR occurred_at <= {ph})", [at]
    return (
        f"(occurred_at IS NULL OR occurred_at < {ph} OR (occurred_at = {ph} AND id < {ph}))",
        [at, at, id],
    )
