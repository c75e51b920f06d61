"""SQLite reads of one session find it through the session index, whatever else the user stores:
a read proportional to the session, not to the user's scope (issue 15, flat write cost)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from remem import Memory
from remem.filters import Condition
from remem.store.base import Scope


def _plans(conn: sqlite3.Connection, statements: list[str]) -> list[str]:
    details = []
    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        details.append(" | ".join(str(r[3]) for r in rows))
    return details


def test_a_session_scoped_read_uses_the_session_index(db_path: Path) -> None:
    # Many sessions, so the (user, level, id) index holds many session units of this user: the
    # planner walking it would read every one of them to find one session's.
    with Memory(db_path, embedder="hashing") as mem:
        mem.add_many(
            [
                {
                    "content": f"turn {t} of session {s} about topic {s * 7 + t}",
                    "user_id": "u",
                    "session_id": f"s{s}",
                }
                for s in range(30)
                for t in range(3)
            ]
        )
        store = mem.store
        seen: list[str] = []
        store._conn.set_trace_callback(seen.append)  # type: ignore[attr-defined]
        try:
            levels_scope = Scope(
                user_id="u",
                session_id="s7",
                levels=("session",),
                conditions=(Condition("$gte", 0, path=("chunk",)),),
            )
            page = store.list(levels_scope, limit=100, cursor=None)
            assert page.records and {r.session_id for r in page.records} == {"s7"}
            store.count_before(Scope(user_id="u", session_id="s7"), None, None)
            store.list_ordered(Scope(user_id="u", session_id="s7"), offset=0, limit=None)
        finally:
            store._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        plans = _plans(sqlite3.connect(db_path), seen)
    assert plans, seen
    for plan in plans:
        assert "memories_session" in plan, plan
        assert "memories_scope" not in plan, plan


def test_a_records_strongest_links_to_it_are_an_index_range(db_path: Path) -> None:
    """``links(ids, incoming=k)`` reads each id's links to it from the (b, weight DESC, a,
    relation) index, in its order, k rows at most: no sort of all of a hub's links."""
    from remem.types import Link

    with Memory(db_path, embedder="hashing") as mem:
        store = mem.store
        store.add_links("u", [Link(f"n{i:03d}", "hub", "entity", float(i % 9)) for i in range(300)])
        seen: list[str] = []
        store._conn.set_trace_callback(seen.append)  # type: ignore[attr-defined]
        try:
            got = store.links(["hub"], incoming=5)
        finally:
            store._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        assert [x.weight for x in got] == [8.0] * 5
        assert [x.a for x in got] == ["n008", "n017", "n026", "n035", "n044"]
        plans = _plans(sqlite3.connect(db_path), [s for s in seen if "ORDER BY weight DESC" in s])
    assert plans, seen
    for plan in plans:
        assert "links_b_weight" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
