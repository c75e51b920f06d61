"""The SQLite store's schema: numbered migrations, applied in order when a store opens."""

from __future__ import annotations

import hashlib
import sqlite3

from remem.store.migrations import Migrations

migrations = Migrations("sqlite")


@migrations
def m001_create_memories(conn: sqlite3.Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE memories (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            agent_id TEXT,
            session_id TEXT,
            kind TEXT NOT NULL,
            level TEXT NOT NULL DEFAULT 'record',
            content TEXT NOT NULL,
            speaker TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            occurred_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            origin TEXT NOT NULL,
            trust REAL NOT NULL,
            valid_from TEXT,
            valid_to TEXT,
            sources TEXT NOT NULL DEFAULT '[]',
            keywords TEXT NOT NULL DEFAULT '[]',
            entities TEXT NOT NULL DEFAULT '[]',
            dates TEXT NOT NULL DEFAULT '[]',
            embedding BLOB NOT NULL
        );
        CREATE INDEX memories_scope ON memories (user_id, level, id);
        CREATE INDEX memories_time ON memories (user_id, occurred_at);
        CREATE INDEX memories_session ON memories (user_id, session_id);
        CREATE VIRTUAL TABLE memories_fts USING fts5(
            text, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TABLE history (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            op TEXT NOT NULL,
            at TEXT NOT NULL,
            actor TEXT,
            reason TEXT,
            before TEXT,
            after TEXT
        );
        CREATE INDEX history_memory ON history (memory_id, seq);
        CREATE INDEX history_user ON history (user_id);
        """,
    )


@migrations
def m002_links_and_expiry(conn: sqlite3.Connection) -> None:
    _script(
        conn,
        """
        ALTER TABLE memories ADD COLUMN expires_at TEXT;
        CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE links (
            a TEXT NOT NULL,
            b TEXT NOT NULL,
            relation TEXT NOT NULL,
            weight REAL NOT NULL,
            user_id TEXT NOT NULL,
            PRIMARY KEY (a, b, relation)
        );
        CREATE INDEX links_b ON links (b);
        CREATE INDEX links_user ON links (user_id);
        """,
    )


@migrations
def m003_guard_flags(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE memories ADD COLUMN flags TEXT NOT NULL DEFAULT '[]'")


@migrations
def m004_note_tags_and_context(conn: sqlite3.Connection) -> None:
    # A-MEM notes an optional LLM writes: tags (a JSON list, like keywords) and a one-line context.
    _script(
        conn,
        """
        ALTER TABLE memories ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE memories ADD COLUMN context TEXT;
        """,
    )


def scope_token(user_id: str, level: str) -> str:
    """The full-text token naming one (user, level): full-text queries match only their own scope's
    rows instead of ranking every user's matches (persisted: never change it)."""
    key = f"{user_id}\x1f{level}".encode("utf-8", "surrogatepass")
    return "s" + hashlib.blake2b(key, digest_size=10).hexdigest()


@migrations
def m005_full_text_scope(conn: sqlite3.Connection) -> None:
    # A second full-text column, ``scope``, holding scope_token(user_id, level): a query ANDs its
    # scope's token, so its cost follows the matches in its own scope, not in the whole file.
    conn.execute(
        "CREATE VIRTUAL TABLE memories_fts_scoped USING fts5("
        "text, scope, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    rows = conn.execute(
        "SELECT f.rowid, f.text, m.user_id, m.level FROM memories_fts f "
        "JOIN memories m ON m.rowid = f.rowid"
    ).fetchall()
    conn.executemany(
        "INSERT INTO memories_fts_scoped (rowid, text, scope) VALUES (?, ?, ?)",
        [(rowid, text, scope_token(user, level)) for rowid, text, user, level in rows],
    )
    conn.execute("DROP TABLE memories_fts")
    conn.execute("ALTER TABLE memories_fts_scoped RENAME TO memories_fts")


@migrations
def m006_full_text_partitions(conn: sqlite3.Connection) -> None:
    # Full-text partitions: the rows of one tenant (user ids under one prefix, "acme/") in a
    # full-text table of their own, so BM25's corpus statistics (document counts, frequencies,
    # lengths) are that tenant's alone and no tenant's writes reorder another's results.
    conn.execute("CREATE TABLE fts_partitions (prefix TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE)")


@migrations
def m007_embedder_record(conn: sqlite3.Connection) -> None:
    # remem_meta: the embedder that wrote the store ("embedder": its name, dims, version) and a
    # reindex in progress ("reindex": its target). embedding_next holds a reindex's new vectors
    # until they replace ``embedding`` all at once (NULL: not re-embedded yet).
    _script(
        conn,
        """
        CREATE TABLE remem_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        ALTER TABLE memories ADD COLUMN embedding_next BLOB;
        """,
    )


@migrations
def m008_kind_index(conn: sqlite3.Connection) -> None:
    # A scope's memories of one kind without reading the others: search's standing-memory
    # stage lists a scope's core records on every search (remem.standing.core_records).
    conn.execute("CREATE INDEX memories_kind ON memories (user_id, kind, level, id)")


@migrations
def m009_links_by_target_weight(conn: sqlite3.Connection) -> None:
    # A record's strongest links to it without reading all of them (``links(incoming=k)``): a
    # turn that hundreds of later ones link to. It serves every lookup by ``b`` too.
    conn.execute("CREATE INDEX links_b_weight ON links (b, weight DESC, a, relation)")
    conn.execute("DROP INDEX IF EXISTS links_b")


TOKENIZE = "porter unicode61 remove_diacritics 2"
FTS_COLUMNS = f"text, scope, tokenize = '{TOKENIZE}'"


def partition_table(prefix: str) -> str:
    """The full-text table of the partition for user ids starting with ``prefix``."""
    digest = hashlib.blake2b(prefix.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return f"memories_fts_{digest}"


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run several statements inside the caller's transaction (executescript would commit first)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
