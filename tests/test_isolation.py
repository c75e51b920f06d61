"""Isolation between users, as properties: whatever the operations, no read returns another
user's data (search, get with user_id, list, history, export), and no write crosses users."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remem import Memory, NotFound

USERS = ["alice", "bob", "carol"]
WORDS = ["apple", "budget", "cat", "dentist", "Lisbon", "piano", "secret", "trip", "alice", "bob"]

users = st.sampled_from(USERS)
content = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
sessions = st.sampled_from([None, "s1", "s2"])
ops = st.one_of(
    st.tuples(st.just("add"), users, content, sessions),
    st.tuples(st.just("add_many"), users, st.lists(content, min_size=1, max_size=4), sessions),
    st.tuples(st.just("update"), st.integers(0, 60), content, users),
    st.tuples(st.just("delete"), st.integers(0, 60), users),
    st.tuples(st.just("purge"), users),
)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Model:
    """What each user should see: ids alive per user and every id ever made."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        self.alive: dict[str, str] = {}

    def apply(self, mem: Memory, op: tuple[Any, ...]) -> None:
        name = op[0]
        if name == "add":
            rec = mem.add(op[2], user_id=op[1], session_id=op[3])
            self.owner[rec.id] = self.alive[rec.id] = op[1]
        elif name == "add_many":
            recs = mem.add_many(
                [{"content": c, "user_id": op[1], "session_id": op[3]} for c in op[2]]
            )
            for rec in recs:
                self.owner[rec.id] = self.alive[rec.id] = op[1]
        elif name in ("update", "delete"):
            if not self.alive:
                return
            rid = sorted(self.alive)[op[1] % len(self.alive)]
            who = op[-1]
            before = mem.get(rid)
            if who != self.alive[rid]:
                # A user cannot touch another user's memory, and the attempt changes nothing.
                with pytest.raises(NotFound):
                    if name == "update":
                        mem.update(rid, content=op[2], user_id=who)
                    else:
                        mem.delete(rid, user_id=who)
                assert mem.get(rid) == before
            elif name == "update":
                mem.update(rid, content=op[2], user_id=who)
            else:
                mem.delete(rid, user_id=who)
                del self.alive[rid]
        elif name == "purge":
            mem.purge(user_id=op[1])
            self.alive = {i: u for i, u in self.alive.items() if u != op[1]}
            self.owner = {i: u for i, u in self.owner.items() if u != op[1]}

    def ids_of(self, user: str) -> set[str]:
        return {i for i, u in self.alive.items() if u == user}


def _list_all(mem: Memory, user: str, **kw: Any) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        page = mem.list(user_id=user, limit=7, cursor=cursor, **kw)
        out.extend(r.id for r in page)
        assert all(r.user_id == user for r in page)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


@SETTINGS
@given(
    steps=st.lists(ops, min_size=1, max_size=25), queries=st.lists(content, min_size=1, max_size=3)
)
def test_reads_never_cross_users(steps: list[tuple[Any, ...]], queries: list[str]) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Memory(Path(tmp) / "m.db", embedder="hashing") as mem,
    ):
        model = Model()
        for op in steps:
            model.apply(mem, op)
        for user in USERS:
            mine = model.ids_of(user)
            for query in queries + USERS:  # other users' names as queries, too
                hits = mem.search(query, user_id=user, limit=100)
                assert {h.record.id for h in hits} <= mine
                assert all(h.record.user_id == user for h in hits)
                for session in ("s1", "s2"):
                    for h in mem.search(query, user_id=user, session_id=session, limit=100):
                        assert h.record.user_id == user and h.record.session_id == session
            assert set(_list_all(mem, user)) == mine
            assert set(_list_all(mem, user, session_id="s1")) <= mine
            for rid, owner in model.alive.items():
                if owner != user:
                    with pytest.raises(NotFound):
                        mem.get(rid, user_id=user)
                else:
                    assert mem.get(rid, user_id=user).user_id == user
            for rid, owner in model.owner.items():
                # history(id) holds only that record's versions, all of its owner.
                for entry in mem.history(rid):
                    assert entry.memory_id == rid
                    for side in (entry.before, entry.after):
                        assert side is None or side["user_id"] == owner
            path = Path(tmp) / f"{user}.jsonl"
            count = mem.export(path, user_id=user)
            lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
            records = [x for x in lines if x["type"] == "record"]
            assert count == len(records) and {r["id"] for r in records} == mine
            assert all(r["user_id"] == user for r in records)
            mine_ever = {i for i, u in model.owner.items() if u == user}
            for entry in (x for x in lines if x["type"] == "history"):
                assert entry["memory_id"] in mine_ever
                for side in (entry["before"], entry["after"]):
                    assert side is None or side["user_id"] == user


@SETTINGS
@given(steps=st.lists(ops, min_size=1, max_size=15))
def test_history_is_scoped_to_its_user(steps: list[tuple[Any, ...]]) -> None:
    """history(id, user_id=other) must not disclose another user's versions (like get does)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Memory(Path(tmp) / "m.db", embedder="hashing") as mem,
    ):
        model = Model()
        for op in steps:
            model.apply(mem, op)
        for rid, owner in model.owner.items():
            assert mem.history(rid, user_id=owner)
            for user in USERS:
                if user != owner:
                    with pytest.raises(NotFound):
                        mem.history(rid, user_id=user)


@SETTINGS
@given(steps=st.lists(ops, min_size=1, max_size=15), user=users)
def test_imported_export_keeps_users_apart(steps: list[tuple[Any, ...]], user: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with Memory(Path(tmp) / "a.db", embedder="hashing") as mem:
            model = Model()
            for op in steps:
                model.apply(mem, op)
            mem.export(Path(tmp) / "out.jsonl", user_id=user)
        with Memory(Path(tmp) / "b.db", embedder="hashing") as other:
            other.import_(Path(tmp) / "out.jsonl")
            assert set(_list_all(other, user)) == model.ids_of(user)
            for name in USERS:
                if name != user:
                    assert _list_all(other, name) == []
                    assert other.search("apple secret trip", user_id=name) == []
