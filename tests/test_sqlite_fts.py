"""SQLite's full-text index is scoped: each row carries its (user, level) token, and a store written
before that (migration m005) gains it on open without losing a word."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from remem import Memory
from remem.store._sqlite_schema import scope_token

TURN = "We planted tomatoes by the shed. The basil came up in a week."


def _scopes(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(
            conn.execute(
                "SELECT m.id, f.scope FROM memories_fts f JOIN memories m ON m.rowid = f.rowid"
            ).fetchall()
        )
    finally:
        conn.close()


def test_every_full_text_row_names_its_user_and_level(db_path: Path) -> None:
    with Memory(db_path, embedder="hashing") as mem:
        a = mem.add(TURN, user_id="ana", session_id="s1")
        b = mem.add("tomatoes everywhere", user_id="ben")
    conn = sqlite3.connect(db_path)
    levels = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, user_id, level FROM memories")}
    conn.close()
    assert {level for _, level in levels.values()} >= {"record", "session", "fact"}
    scopes = _scopes(db_path)
    assert set(scopes) == set(levels)
    for rid, (user, level) in levels.items():
        assert scopes[rid] == scope_token(user, level)
    assert scopes[a.id] != scopes[b.id]


def test_a_level_change_moves_the_row_to_its_new_scope(db_path: Path) -> None:
    with Memory(db_path, embedder="hashing") as mem:
        rec = mem.add("tomatoes by the shed", user_id="ana")
        mem.quarantine(rec.id, reason="test")
        assert _scopes(db_path)[rec.id] == scope_token("ana", "quarantine")
        assert mem.search("tomatoes", user_id="ana") == []
        mem.restore(rec.id)
        assert _scopes(db_path)[rec.id] == scope_token("ana", "record")
        assert [h.record.id for h in mem.search("tomatoes", user_id="ana")] == [rec.id]


def test_a_store_from_before_m005_gains_scopes_and_keeps_its_index(db_path: Path) -> None:
    with Memory(db_path, embedder="hashing") as mem:
        ana = mem.add(TURN, user_id="ana", session_id="s1")
        ben = mem.add("tomatoes and basil for ben", user_id="ben")
    # Back to the previous release's layout: one text column, m005 not applied.
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "CREATE VIRTUAL TABLE old_fts USING fts5(text, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        conn.execute("INSERT INTO old_fts (rowid, text) SELECT rowid, text FROM memories_fts")
        conn.execute("DROP TABLE memories_fts")
        conn.execute("ALTER TABLE old_fts RENAME TO memories_fts")
        conn.execute("DELETE FROM _remem_migrations WHERE name = 'm005_full_text_scope'")
    columns = [r[1] for r in conn.execute("PRAGMA table_info(memories_fts)")]
    conn.close()
    assert columns == ["text"]
    with Memory(db_path, embedder="hashing", fact_weight=0) as mem:
        assert [h.record.id for h in mem.search("basil", user_id="ana")] == [ana.id]
        assert [h.record.id for h in mem.search("basil", user_id="ben")] == [ben.id]
        assert mem.search("basil", user_id="ana", level="session")
    assert _scopes(db_path)[ana.id] == scope_token("ana", "record")
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')")
    finally:
        conn.close()
