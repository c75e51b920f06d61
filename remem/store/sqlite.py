"""The embedded default store: one SQLite file, WAL, FTS5 for BM25, float32 vectors in blobs.

Vectors are searched from an in-process index per user (``remem.store.ann``): loaded lazily, updated
in place by this connection's own writes, dropped when another connection commits
(``data_version``), bounded by an LRU over users; exact with numpy in small scopes, HNSW in large
ones.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from remem import _heap, _time
from remem._fs import private_sqlite
from remem.errors import Conflict, MigrationError, StoreError
from remem.filters import Condition
from remem.store import _embedder, _rows
from remem.store._rows import index_text
from remem.store._sqlite_schema import (
    FTS_COLUMNS,
    TOKENIZE,
    migrations,
    partition_table,
    scope_token,
)
from remem.store.ann import CACHE_BYTES, EXACT_LIMIT, UserVectors, VectorCache
from remem.store.base import CAPABILITIES, Scope, part_ids
from remem.store.lexicon import Lexicon, Tokenizer, idf, varints
from remem.types import HistoryEntry, Link, Page, Record, Vector

_COLS = ", ".join(_rows.COLUMNS)
_ALL = 1 << 62  # a LIMIT that is no limit
# Full-text searches of one user before its postings are held in memory (``lexicon``): a one-off
# CLI search is answered by FTS5 alone, without reading the user's texts.
LEXICON_AFTER = 3
_SERIALS = itertools.count()
_MAX_RESETS = 3  # vocabulary resets before a store stops holding postings
_KEPT_IDS = 50_000  # ids a per-id read cache holds before it starts over
_HCOLS = ", ".join(_rows.HISTORY_COLUMNS)


def _condition(cond: Condition, prefix: str) -> tuple[str, list[Any]]:
    if cond.column is not None:
        expr, json_path = f"{prefix}{cond.column}", False
    else:
        expr, json_path = f"json_extract({prefix}metadata, ?)", True
    path_arg: list[Any] = ["$." + ".".join(f'"{p}"' for p in cond.path)] if json_path else []
    if cond.op in ("$in", "$nin"):
        marks = ", ".join("?" * len(cond.value))
        neg = "NOT " if cond.op == "$nin" else ""
        # A missing key is NULL; "not in" should hold for it, as it does for "!=" below.
        clause = f"({expr} IS NULL OR {expr} NOT IN ({marks}))" if neg else f"{expr} IN ({marks})"
        args = path_arg + list(cond.value) if not neg else path_arg + path_arg + list(cond.value)
        return clause, args
    if cond.op == "$ne":
        return f"({expr} IS NULL OR {expr} != ?)", path_arg + path_arg + [cond.value]
    return f"{expr} {_rows.SQL_OPS[cond.op]} ?", path_arg + [cond.value]


def _expiry(record: Record) -> float:
    return np.inf if record.expires_at is None else record.expires_at.timestamp()


def _expiry_text(text: str | None) -> float:
    at = _time.load(text)
    return np.inf if at is None else at.timestamp()


class SQLiteStore:
    """SQLite backend. ``path`` is a file (created if missing) or ``":memory:"``.

    ``vector_cache_bytes`` bounds the in-process vector cache (LRU over users);
    ``exact_limit`` is the most rows a vector search scans exactly before the user's HNSW index
    (kept beside the file, ``<path>.ann/``) is used. ``lexicon`` (default on) holds a searched
    user's full-text postings beside its cached vectors and ranks BM25 from them, exactly as
    FTS5 does (``remem.store.lexicon``); off, every BM25 query is FTS5's.
    """

    capabilities = CAPABILITIES | {"backup", "notes", "partitions"}

    def __init__(
        self,
        path: str | Path,
        *,
        dims: int,
        busy_timeout: float = 30.0,
        vector_cache_bytes: int = CACHE_BYTES,
        exact_limit: int = EXACT_LIMIT,
        lexicon: bool = True,
    ) -> None:
        self.path = str(path)
        self.dims = dims
        if self.path != ":memory:":
            # Owner-only (0600 file, 0700 new folders) before SQLite opens it; see remem._fs.
            private_sqlite(self.path)
        self._lock = threading.RLock()
        # One matrix per user (every level), updated in place by this connection's writes; HNSW
        # indexes of large scopes are saved beside the file (a cache, rebuilt when stale).
        ann_dir = None if self.path == ":memory:" else Path(self.path + ".ann")
        self._cache = VectorCache(
            dims,
            max_bytes=vector_cache_bytes,
            ann_dir=ann_dir,
            exact_limit=exact_limit,
            lock=self._lock,
        )
        self._data_version = -1
        self._embedder: dict[str, Any] | None = None  # the identity bound by bind_embedder
        self._partitions: set[str] = set()  # prefixes known to have a full-text partition
        self._lexicon = lexicon
        self._tokenizer: Tokenizer | None = None  # made on first use
        self._resets = 0  # tokenizers replaced because their vocabulary was full
        self._searched: dict[str, int] = {}  # full-text searches per user, until LEXICON_AFTER
        self._writes = 0  # write transactions begun by this connection (a cache stamp)
        self._serial = next(_SERIALS)  # this store among every one this process opened
        self._kept_stamp: tuple[int, int] = (-1, -1)
        self._kept_reads: dict[str, dict[str, Any]] = {}
        # Per full-text partition: (stamp, row count, column token counts, rows holding a term).
        self._stats: dict[str, tuple[tuple[int, int], int, builtins.list[int], dict[int, int]]] = {}
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._enable_wal(busy_timeout)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store at {self.path}: {exc}") from exc

    # -- plumbing ---------------------------------------------------------------------------

    def _enable_wal(self, busy_timeout: float) -> None:
        # Switching a new file to WAL takes an exclusive lock that SQLite does not retry under
        # busy_timeout: several processes opening one new file at once must retry it themselves.
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _remem_migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            applied = {r[0] for r in conn.execute("SELECT name FROM _remem_migrations")}
            for name, step in migrations.pending(applied):
                try:
                    step(conn)
                except sqlite3.Error as exc:
                    raise MigrationError(f"migration {name} failed: {exc}") from exc
                conn.execute("INSERT INTO _remem_migrations VALUES (?, datetime('now'))", (name,))

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: take the write lock up front, no upgrade deadlock)."""
        with self._lock:
            self._writes += 1
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot start a write: {exc}") from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise StoreError(f"commit failed: {exc}") from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite read failed: {exc}") from exc

    def _forget_vectors(self, user_ids: set[str]) -> None:
        """Drop the cached vectors of these users (after a write that failed part-way)."""
        with self._lock:
            self._cache.forget(user_ids)

    def _cached_add(self, rowid: int | None, record: Record, vec: Vector) -> None:
        """Append a row this connection just wrote to its user's cached vectors, if cached."""
        vecs = self._cache.get(record.user_id)
        if vecs is not None and rowid is not None:
            valid = record.valid_to is None
            vecs.append(rowid, record.id, vec, record.level, valid, _expiry(record))
            self._relex(vecs, rowid, record)

    def _relex(self, vecs: UserVectors, rowid: int, record: Record) -> None:
        """Hold ``record``'s new full-text row in its user's postings, if they are held."""
        lex = vecs.lex
        if lex is None or record.level not in lex.levels:
            return
        row = vecs.pos.get(rowid)
        if row is None:  # not cached as it is on disk
            vecs.lex = None
            return
        assert self._tokenizer is not None  # made with the postings
        text, scope = self._tokenizer.texts(
            [index_text(record), scope_token(record.user_id, record.level)]
        )
        lex.put(row, text, len(scope))
        if self._tokenizer.full:  # bounded: start over (every user's postings are rebuilt)
            self._new_tokenizer()

    def _cached_remove(self, user_id: str, rowid: int) -> None:
        vecs = self._cache.get(user_id)
        if vecs is not None:
            row = vecs.pos.get(rowid)
            if vecs.lex is not None and row is not None:
                vecs.lex.drop(row)
            vecs.remove(rowid)
            if vecs.ann is not None:
                self._cache.discard(user_id)  # no removed vector stays on disk; re-saved at close

    # -- writes -----------------------------------------------------------------------------

    def insert(
        self, records: Sequence[Record], vectors: Vector, history: Sequence[HistoryEntry]
    ) -> None:
        """See ``Store.insert``."""
        users = {r.user_id: r.user_id for r in records}
        owner = {r.id: r.user_id for r in records}
        done = False
        try:
            with self._write() as conn:
                self._check_embedder(conn)
                rowids = []
                for record, vec in zip(records, vectors, strict=True):
                    try:
                        cur = conn.execute(
                            f"INSERT INTO memories ({_COLS}, embedding) "
                            f"VALUES ({', '.join('?' * (len(_rows.COLUMNS) + 1))})",
                            (*_rows.to_row(record), _blob(vec)),
                        )
                    except sqlite3.IntegrityError as exc:
                        raise Conflict(f"a memory with id {record.id} already exists") from exc
                    _index(conn, cur.lastrowid, record, new=True)
                    rowids.append(cur.lastrowid)
                self._insert_history(conn, history, owner)
                for rowid, record, vec in zip(rowids, records, vectors, strict=True):
                    self._cached_add(rowid, record, vec)
            done = True
        except sqlite3.Error as exc:
            raise StoreError(f"insert failed: {exc}") from exc
        finally:
            if not done:  # rolled back: the cached rows may hold what was never committed
                self._forget_vectors(set(users))

    def _insert_history(
        self, conn: sqlite3.Connection, history: Sequence[HistoryEntry], owner: dict[str, str]
    ) -> None:
        def lookup(memory_id: str) -> str | None:
            row = conn.execute("SELECT user_id FROM memories WHERE id = ?", (memory_id,)).fetchone()
            return None if row is None else str(row[0])

        rows = _rows.history_rows(history, owner, lookup)
        conn.executemany(
            f"INSERT INTO history ({_HCOLS}) VALUES ({', '.join('?' * len(_rows.HISTORY_COLUMNS))})",
            rows,
        )

    def replace(self, record: Record, vector: Vector | None, entry: HistoryEntry) -> None:
        """See ``Store.replace``."""
        sets = ", ".join(f"{c} = ?" for c in _rows.COLUMNS[1:])
        args = list(_rows.to_row(record)[1:])
        if vector is not None:
            sets += ", embedding = ?, embedding_next = NULL"  # a reindex embeds it again
            args.append(_blob(vector))
        done = False
        try:
            with self._write() as conn:
                self._check_embedder(conn)
                cur = conn.execute(
                    f"UPDATE memories SET {sets} WHERE id = ? AND user_id = ? AND version = ? "
                    "RETURNING rowid",
                    (*args, record.id, record.user_id, record.version - 1),
                )
                row = cur.fetchone()
                if row is None:
                    raise Conflict(
                        f"memory {record.id} changed since version {record.version - 1} was read"
                    )
                _index(conn, row[0], record, new=False)
                self._insert_history(conn, [entry], {record.id: record.user_id})
                vecs = self._cache.get(record.user_id)
                valid = record.valid_to is None
                if vecs is not None:
                    if vecs.update(row[0], vector, record.level, valid, _expiry(record)):
                        self._relex(vecs, row[0], record)
                    else:
                        self._forget_vectors({record.user_id})  # not cached as it is on disk
            done = True
        except sqlite3.Error as exc:
            raise StoreError(f"update failed: {exc}") from exc
        finally:
            if not done:
                self._forget_vectors({record.user_id})

    def update_notes(self, record: Record, entry: HistoryEntry) -> bool:
        """Write ``record``'s notes (keywords, tags, context) if it is still at ``record.version``.

        The version stays (notes are not what the user stored); ``entry`` goes to history. The
        "notes" capability: the LLM enricher's way to annotate without racing the user's updates.

        Returns:
            False, with nothing written, when the record changed or was deleted since it was read.
        """
        notes = _rows.to_row(record)
        sets = ", ".join(f"{c} = ?" for c in _rows.NOTE_COLUMNS)
        args = [notes[_rows.COLUMNS.index(c)] for c in _rows.NOTE_COLUMNS]
        done = False
        try:
            with self._write() as conn:
                row = conn.execute(
                    f"UPDATE memories SET {sets} WHERE id = ? AND user_id = ? AND version = ? "
                    "RETURNING rowid",
                    (*args, record.id, record.user_id, record.version),
                ).fetchone()
                if row is None:
                    done = True  # nothing written
                    return False
                _index(conn, row[0], record, new=False)
                self._insert_history(conn, [entry], {record.id: record.user_id})
                vecs = self._cache.get(record.user_id)
                if vecs is not None:  # the held postings follow the new full-text row
                    self._relex(vecs, row[0], record)
            done = True
            return True
        except sqlite3.Error as exc:
            raise StoreError(f"updating notes failed: {exc}") from exc
        finally:
            if not done:  # rolled back: the held postings may hold what was never committed
                self._forget_vectors({record.user_id})

    def remove(self, ids: Sequence[str], *, op: str, actor: str | None, reason: str | None) -> int:
        """See ``Store.remove``."""
        at = _time.now()
        users: set[str] = set()
        removed = 0
        done = False
        try:
            with self._write() as conn:
                for chunk in _chunks(list(ids), 500):
                    rows = conn.execute(
                        f"SELECT rowid, {_COLS} FROM memories "
                        f"WHERE id IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                    for row in rows:
                        record = _rows.from_row(row[1:])
                        users.add(record.user_id)
                        _unindex(conn, row[0], record.user_id)
                        conn.execute("DELETE FROM memories WHERE rowid = ?", (row[0],))
                        conn.execute(
                            "DELETE FROM links WHERE a = ? OR b = ?", (record.id, record.id)
                        )
                        self._cached_remove(record.user_id, row[0])
                        for part in self._drop_parts(conn, record.id, record.user_id):
                            self._cached_remove(record.user_id, part)
                        entry = HistoryEntry(
                            memory_id=record.id,
                            version=record.version,
                            op=op,
                            at=at,
                            actor=actor,
                            reason=reason,
                            before=record.to_dict(),
                            after=None,
                        )
                        conn.execute(
                            f"INSERT INTO history ({_HCOLS}) VALUES "
                            f"({', '.join('?' * len(_rows.HISTORY_COLUMNS))})",
                            _rows.history_row(entry, record.user_id),
                        )
                        removed += 1
            done = True
        except sqlite3.Error as exc:
            raise StoreError(f"delete failed: {exc}") from exc
        finally:
            if not done:
                self._forget_vectors(users)
        return removed

    @staticmethod
    def _drop_parts(conn: sqlite3.Connection, record_id: str, user_id: str) -> builtins.list[int]:
        """Delete the parts of one record; returns their rowids."""
        parts = part_ids(record_id)
        marks = ", ".join("?" * len(parts))
        rowids = [
            int(r[0])
            for r in conn.execute(
                f"SELECT rowid FROM memories WHERE id IN ({marks}) AND level != 'record'", parts
            ).fetchall()
        ]
        for rowid in rowids:
            _unindex(conn, rowid, user_id)
            conn.execute("DELETE FROM memories WHERE rowid = ?", (rowid,))
        return rowids

    def partition(self, prefix: str) -> None:
        """Give the user ids starting with ``prefix`` (a tenant's ``"name/"``) a full-text table
        of their own, moving their rows there: BM25's corpus statistics are then theirs alone,
        so no other tenant's writes change their ranking. Idempotent; never undone.

        Raises:
            StoreError: ``prefix`` is not one name followed by "/".
        """
        if prefix in self._partitions:
            return
        if not prefix.endswith("/") or prefix.count("/") != 1 or len(prefix) < 2:
            raise StoreError(f"a partition prefix is a name followed by '/', got {prefix!r}")
        select = "SELECT name FROM fts_partitions WHERE prefix = ?"
        try:
            with self._read() as conn:
                known = conn.execute(select, (prefix,)).fetchone() is not None
            if not known:
                with self._write() as conn:
                    if conn.execute(select, (prefix,)).fetchone() is None:
                        self._make_partition(conn, prefix)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot make a full-text partition: {exc}") from exc
        self._partitions.add(prefix)

    @staticmethod
    def _make_partition(conn: sqlite3.Connection, prefix: str) -> None:
        name = partition_table(prefix)
        mine = "SELECT rowid FROM memories WHERE substr(user_id, 1, ?) = ?"
        conn.execute(f"CREATE VIRTUAL TABLE {name} USING fts5({FTS_COLUMNS})")
        conn.execute(
            f"INSERT INTO {name} (rowid, text, scope) SELECT rowid, text, scope "
            f"FROM memories_fts WHERE rowid IN ({mine})",
            (len(prefix), prefix),
        )
        conn.execute(f"DELETE FROM memories_fts WHERE rowid IN ({mine})", (len(prefix), prefix))
        conn.execute("INSERT INTO fts_partitions (prefix, name) VALUES (?, ?)", (prefix, name))

    def purge(self, user_id: str) -> int:
        """See ``Store.purge``."""
        try:
            with self._write() as conn:
                conn.execute(
                    f"DELETE FROM {_fts(conn, user_id)} WHERE rowid IN "
                    "(SELECT rowid FROM memories WHERE user_id = ?)",
                    (user_id,),
                )
                count = conn.execute("DELETE FROM memories WHERE user_id = ?", (user_id,)).rowcount
                conn.execute("DELETE FROM history WHERE user_id = ?", (user_id,))
                conn.execute("DELETE FROM links WHERE user_id = ?", (user_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"purge failed: {exc}") from exc
        finally:
            with self._lock:
                self._forget_vectors({user_id})
                self._cache.discard(user_id)
        return int(count)

    # -- the embedder that wrote the vectors -----------------------------------------------

    def _meta(self, conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM remem_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _check_embedder(self, conn: sqlite3.Connection) -> None:
        """Raise ``EmbedderMismatch`` if the store's embedder is no longer the bound one."""
        _embedder.check(self._embedder, lambda key: self._meta(conn, key))

    def embedder(self) -> dict[str, Any] | None:
        """The identity (name, dims, version) of the embedder that wrote this store, or None."""
        with self._read() as conn:
            return _embedder.load(self._meta(conn, _embedder.KEY))

    def bind_embedder(self, ident: dict[str, Any]) -> None:
        """Use this store with the embedder ``ident`` names (``remem.embed.base.identity``).

        A store without a record adopts it; later searches and writes of this connection are
        refused if a reindex replaces it.

        Raises:
            EmbedderMismatch: the store was written by another embedder.
        """
        given = _embedder.dump(ident)
        try:
            with self._read() as conn:
                stored = self._meta(conn, _embedder.KEY)
            if stored is None:
                with self._write() as conn:
                    conn.execute(
                        "INSERT OR IGNORE INTO remem_meta (key, value) VALUES (?, ?)",
                        (_embedder.KEY, given),
                    )
                    stored = self._meta(conn, _embedder.KEY)
            if stored != given:
                with self._read() as conn:
                    reindex = _embedder.load(self._meta(conn, _embedder.REINDEX))
                raise _embedder.mismatch(_embedder.load(stored) or {}, ident, reindex=reindex)
        except sqlite3.Error as exc:
            raise StoreError(f"reading the store's embedder failed: {exc}") from exc
        self._embedder = _embedder.load(given)

    def reindex_begin(self, target: dict[str, Any]) -> bool:
        """Start (or resume) re-embedding into ``target``'s space; progress is kept in the file.

        Returns:
            True when a reindex to the same target was already under way (it resumes).
        """
        want = _embedder.dump(target)
        with _mapped("starting a reindex"), self._write() as conn:
            current = self._meta(conn, _embedder.REINDEX)
            if current == want:
                return True
            # Another target (or none): vectors of an abandoned reindex are not this one's.
            conn.execute(
                "UPDATE memories SET embedding_next = NULL WHERE embedding_next IS NOT NULL"
            )
            conn.execute(
                "INSERT INTO remem_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_embedder.REINDEX, want),
            )
            return False

    def reindex_target(self) -> dict[str, Any] | None:
        """The target of the reindex in progress, or None."""
        with self._read() as conn:
            return _embedder.load(self._meta(conn, _embedder.REINDEX))

    def reindex_progress(self) -> tuple[int, int]:
        """(rows re-embedded, rows in the store)."""
        with self._read() as conn:
            row = conn.execute("SELECT count(embedding_next), count(*) FROM memories").fetchone()
        return int(row[0]), int(row[1])

    def reindex_rows(
        self, *, after: str, limit: int, sessions: bool, pending: bool = True
    ) -> builtins.list[Record]:
        """Rows to re-embed, in id order after ``after``: session units (``sessions``), or every
        other row whose new vector is missing (``pending``) or not."""
        where = "level = 'session'" if sessions else "level != 'session'"
        if pending:
            where += " AND embedding_next IS NULL"
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE id > ? AND {where} ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_rows.from_row(r) for r in rows]

    def reindex_vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        """The new vectors already written for these ids (rows without one are left out)."""
        out: dict[str, Vector] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(ids)), 500):
                marks = ", ".join("?" * len(chunk))
                for rid, blob in conn.execute(
                    f"SELECT id, embedding_next FROM memories WHERE id IN ({marks}) "
                    "AND embedding_next IS NOT NULL",
                    chunk,
                ):
                    out[rid] = np.frombuffer(blob, dtype=np.float32)
        return out

    def reindex_put(self, items: Sequence[tuple[Record, Vector]]) -> int:
        """Write new vectors, each only if its row still holds what was embedded (content,
        speaker, sources); a row changed since it was read stays pending. Returns rows written."""
        c, sp, src = (_rows.COLUMNS.index(k) for k in ("content", "speaker", "sources"))
        written = 0
        with _mapped("writing new vectors"), self._write() as conn:
            for record, vec in items:
                row = _rows.to_row(record)
                cur = conn.execute(
                    "UPDATE memories SET embedding_next = ? WHERE id = ? AND content = ? "
                    "AND speaker IS ? AND sources = ?",
                    (_blob(vec), record.id, row[c], row[sp], row[src]),
                )
                written += cur.rowcount
        return written

    def reindex_finish(self, target: dict[str, Any]) -> bool:
        """Replace every vector with its new one and record ``target`` as the store's embedder,
        in one transaction: searches see the old vectors or the new ones, never a mix.

        Returns:
            False, with nothing changed, while some row has no new vector yet (written meanwhile).
        """
        want = _embedder.dump(target)
        with _mapped("finishing a reindex"), self._write() as conn:
            if self._meta(conn, _embedder.REINDEX) != want:
                raise StoreError("no reindex to this embedder is in progress")
            missing = conn.execute(
                "SELECT 1 FROM memories WHERE embedding_next IS NULL LIMIT 1"
            ).fetchone()
            if missing is not None:
                return False
            conn.execute("UPDATE memories SET embedding = embedding_next, embedding_next = NULL")
            conn.execute(
                "INSERT INTO remem_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_embedder.KEY, want),
            )
            conn.execute("DELETE FROM remem_meta WHERE key = ?", (_embedder.REINDEX,))
            self._cache.clear()
            self.dims = int(target["dims"])
            self._cache.dims = self.dims
        return True

    # -- reads ------------------------------------------------------------------------------

    def get_many(self, ids: Sequence[str]) -> dict[str, Record]:
        """See ``Store.get_many``."""
        out: dict[str, Record] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(ids)), 500):
                for row in conn.execute(
                    f"SELECT {_COLS} FROM memories WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ):
                    record = _rows.from_row(row)
                    out[record.id] = record
        return out

    def sources(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """See ``Store.sources``. Kept per id until the next write (``_kept``)."""
        out: dict[str, tuple[str, ...]] = {}
        with self._read() as conn:
            kept = self._kept("sources")
            wanted = list(dict.fromkeys(ids))
            missing = [rid for rid in wanted if rid not in kept]
            for chunk in _chunks(missing, 500):
                for rid, raw in conn.execute(
                    f"SELECT id, sources FROM memories WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ):
                    kept[rid] = tuple(json.loads(raw)) if raw and raw != "[]" else ()
            for rid in wanted:
                got = kept.get(rid)
                if got is not None:
                    out[rid] = got
        return out

    def list(self, scope: Scope, *, limit: int, cursor: str | None) -> Page:
        """See ``Store.list``."""
        clause, args = _where(scope)
        if cursor is not None:
            clause += " AND id > ?"
            args.append(cursor)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE {clause} ORDER BY id LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        records = [_rows.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(records, records[-1].id if more and records else None)

    def count_before(self, scope: Scope, occurred_at: datetime | None, id: str | None) -> int:
        """See ``Store.count_before``."""
        clause, args = _where(scope)
        before, more = _rows.event_before(occurred_at, id, "?")
        with self._read() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM memories WHERE {clause} AND {before}", (*args, *more)
            ).fetchone()
        return int(row[0]) if row is not None else 0

    def list_ordered(
        self, scope: Scope, *, offset: int, limit: int | None
    ) -> builtins.list[Record]:
        """See ``Store.list_ordered``."""
        clause, args = _where(scope)
        page = "LIMIT -1" if limit is None else "LIMIT ?"
        extra = [] if limit is None else [limit]
        # Sort the narrow (time, id) rows first, then read only the page's full rows. "+" keeps
        # the planner from walking the user's whole time index to skip that sort: the session
        # index finds the session's rows.
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE id IN (SELECT id FROM memories "
                f"WHERE {clause} ORDER BY +occurred_at, id {page} OFFSET ?) "
                "ORDER BY occurred_at, id",
                (*args, *extra, max(0, offset)),
            ).fetchall()
        return [_rows.from_row(r) for r in rows]

    def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        """See ``Store.history``."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_HCOLS} FROM history WHERE memory_id = ? ORDER BY seq", (memory_id,)
            ).fetchall()
        return [_rows.history_from_row(r) for r in rows]

    def bm25(
        self, terms: Sequence[str], scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """See ``Store.bm25``. Terms are quoted, so FTS5 syntax in them is inert."""
        # NUL ends a string inside FTS5's parser; quoting makes everything else inert.
        cleaned = [t.replace("\x00", "") for t in terms]
        cleaned = [t for t in cleaned if t.strip()]
        if not cleaned:
            return []
        if self._lexicon and scope.is_plain:
            held = self._bm25_held(cleaned, scope, limit)
            if held is not None:
                return held
        words = " OR ".join('"' + t.replace('"', '""') + '"' for t in cleaned)
        scopes = " OR ".join(scope_token(scope.user_id, level) for level in scope.levels)
        match = f"text : ({words}) AND scope : ({scopes})"
        clause, args = _where(scope, "m.")
        # The full-text matches are ranked first and only the best of them joined to their rows
        # for the scope's other conditions (validity, expiry, filters): joining every match
        # before the sort read thousands of rows per query in a large scope. While the
        # conditions drop so many that fewer than ``limit`` remain, more matches are ranked.
        fetch = max(2 * limit, limit + 16)
        with self._read() as conn:
            fts = _fts(conn, scope.user_id)
            while True:
                rows = conn.execute(
                    f"SELECT m.id, f.s FROM (SELECT rowid, bm25({fts}, 1.0, 0.0) AS s "
                    f"FROM {fts} WHERE {fts} MATCH ? ORDER BY s LIMIT ?) AS f "
                    f"JOIN memories m ON m.rowid = f.rowid WHERE {clause} ORDER BY f.s",
                    (match, fetch, *args),
                ).fetchall()
                if len(rows) >= limit or fetch >= _ALL:
                    break
                ranked = conn.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH ? LIMIT ?)",
                    (match, fetch),
                ).fetchone()[0]
                if ranked < fetch:  # every match was ranked: no more to find
                    break
                fetch = _ALL if fetch * 4 > _ALL // 4 else fetch * 4
        # FTS5's bm25() is lower-is-better; flip it so higher is more relevant.
        return [(r[0], -float(r[1])) for r in rows[:limit]]

    def generation(self) -> object | None:
        """See ``Store.generation``: this store's ``_stamp``, and which store it is."""
        with self._read():
            return (self._serial, *self._stamp())

    def _stamp(self) -> tuple[int, int]:
        """What moves on any write: SQLite's ``PRAGMA data_version`` (another connection's
        commits) and this connection's writes begun. Every cache kept until a write is keyed
        by it (the BM25 statistics, ``_kept``, ``generation``). Called with the lock held."""
        return (self._current_version(), self._writes)

    def _bm25_held(
        self, terms: Sequence[str], scope: Scope, limit: int
    ) -> builtins.list[tuple[str, float]] | None:
        """``bm25`` from the user's postings held in memory: the same rows, scores and order as
        FTS5's (``remem.store.lexicon``). None when FTS5 must answer: the user has not been
        searched ``LEXICON_AFTER`` times yet, or a term is a phrase of several tokens."""
        with self._lock:
            user = scope.user_id
            cached = self._cache.get(user)
            if cached is None or cached.lex is None:
                count = self._searched.get(user, 0) + 1
                if count < LEXICON_AFTER:
                    if len(self._searched) >= 10_000:  # bounded: a count is only a hint
                        self._searched.clear()
                    self._searched[user] = count
                    return None
                self._searched.pop(user, None)
            if self._tokenizer is None or self._tokenizer.full:
                self._new_tokenizer()
                if not self._lexicon:
                    return None
            tok = self._tokenizer
            assert tok is not None
            phrases = [tok.phrase(t) for t in terms]
            if any(len(p) != 1 for p in phrases):
                return None
            vecs = self._vectors(user)
            if vecs is None:
                return []
            with self._read() as conn:
                fts = _fts(conn, user)
                lex = self._held(conn, fts, vecs, scope.levels)
                own = not conn.in_transaction
                if own:
                    conn.execute("BEGIN")  # the statistics of one snapshot
                try:
                    rows, sizes, holding = self._statistics(conn, fts, [p[0] for p in phrases])
                finally:
                    if own:
                        conn.execute("COMMIT")
            if not rows:
                return []
            avgdl = float(sum(sizes)) / float(rows)
            mask = vecs.mask(scope.levels, _time.now().timestamp())
            found, scores = lex.score(
                [(tid, idf(rows, holding[tid])) for (tid,) in phrases], avgdl, mask, limit
            )
            if not found.size:
                return []
            if found.size > limit:  # the best ``limit``, ties at the edge included
                edge = np.partition(-scores, limit - 1)[limit - 1]
                keep = -scores <= edge
                found, scores = found[keep], scores[keep]
            order = np.lexsort((vecs.rowids[found], -scores))[:limit]
            return [(vecs.ids[int(found[i])], float(scores[i])) for i in order]

    def _new_tokenizer(self) -> None:
        """A fresh tokenizer; every held postings (numbered by the old one's terms) is dropped.
        A store whose live vocabulary fills a fresh one again and again (millions of distinct
        unbroken tokens) stops holding postings: FTS5 ranks for it, as before."""
        if self._tokenizer is not None:
            self._tokenizer.close()
            self._resets += 1
        self._cache.drop_lexicons()
        self._stats.clear()  # its counts are by term id too
        self._tokenizer = Tokenizer(TOKENIZE)
        if self._resets > _MAX_RESETS:
            self._lexicon = False

    def _held(
        self, conn: sqlite3.Connection, fts: str, vecs: UserVectors, levels: Sequence[str]
    ) -> Lexicon:
        """The user's held postings, with every row of ``levels`` (read now if missing)."""
        lex = vecs.lex if vecs.lex is not None else Lexicon()
        missing = [level for level in dict.fromkeys(levels) if level not in lex.levels]
        if missing:
            assert self._tokenizer is not None
            tok = self._tokenizer
            marks = ", ".join("?" * len(missing))
            rows = conn.execute(
                f"SELECT m.rowid, c.c0, m.level FROM memories m "
                f"JOIN {fts}_content c ON c.id = m.rowid WHERE m.user_id = ? AND m.level IN ({marks})",
                (vecs.user_id, *missing),
            ).fetchall()
            rows = [r for r in rows if r[0] in vecs.pos]
            extra = {lv: len(tok.phrase(scope_token(vecs.user_id, lv))) for lv in missing}
            # Tokenized a page at a time: the split chunks of every text at once were most of
            # the peak (Python strings), the token ids are compact arrays.
            pages = [
                tok.flat([r[1] or "" for r in rows[a : a + _LOAD_PAGE]])
                for a in range(0, len(rows), _LOAD_PAGE)
            ]
            tokens = np.concatenate([p[0] for p in pages]) if pages else np.zeros(0, np.int64)
            per_row = np.concatenate([p[1] for p in pages]) if pages else np.zeros(0, np.int64)
            lex.load([vecs.pos[r[0]] for r in rows], tokens, per_row, [extra[r[2]] for r in rows])
            lex.levels.update(missing)
            vecs.lex = lex
            self._cache.trim()
            _heap.trim()
        return lex

    def _statistics(
        self, conn: sqlite3.Connection, fts: str, tids: Sequence[int]
    ) -> tuple[int, builtins.list[int], dict[int, int]]:
        """What FTS5's bm25() reads of the whole partition ``fts``: its row count, each
        column's token count and how many rows hold each of ``tids`` in ``text``. Kept until
        any write (this connection's or, by ``PRAGMA data_version``, another's)."""
        assert self._tokenizer is not None
        stamp = self._stamp()
        kept = self._stats.get(fts)
        if kept is None or kept[0] != stamp:
            if len(self._stats) >= 256:
                self._stats.clear()
            block = conn.execute(f"SELECT block FROM {fts}_data WHERE id = 1").fetchone()
            rows, *sizes = varints(block[0]) if block is not None else [0]
            kept = self._stats[fts] = (stamp, rows, sizes, {})
        _, rows, sizes, holding = kept
        wanted = [t for t in dict.fromkeys(tids) if t not in holding]
        if rows and wanted:
            if len(holding) > 100_000:
                holding.clear()
            vocab = self._vocab(conn, fts)
            for tid in wanted:
                got = conn.execute(
                    f"SELECT doc FROM {vocab} WHERE term = ? AND col = 'text'",
                    (self._tokenizer.names[tid],),
                ).fetchone()
                holding[tid] = int(got[0]) if got is not None else 0
        return rows, sizes, holding

    @staticmethod
    def _vocab(conn: sqlite3.Connection, fts: str) -> str:
        """A (connection-private) fts5vocab table over ``fts``: how many rows hold a term."""
        name = f"temp.{fts}_vocab"
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5vocab(main, {fts}, col)")
        return name

    def vector(
        self, query: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """See ``Store.vector``: exact cosine over the scope's vectors while they are at most
        ``exact_limit``, HNSW candidates re-scored exactly above that."""
        with self._lock:
            found = self._masked(scope)
            if found is None:
                return []
            vecs, mask = found
            return self._cache.search(vecs, query, mask, limit)

    def vector_many(
        self, queries: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[builtins.list[tuple[str, float]]]:
        """See ``Store.vector_many``: the scope's mask is made once, and an exact scope is
        scored for a block of queries in one matrix product (each ``vector`` call streams every
        vector of the scope through memory: 49 MB for 32k rows)."""
        if len(queries) == 0:
            return []
        with self._lock:
            found = self._masked(scope)
            if found is None:
                return [[] for _ in range(len(queries))]
            vecs, mask = found
            return self._cache.search_many(vecs, queries, mask, limit)

    def _masked(self, scope: Scope) -> tuple[UserVectors, np.ndarray] | None:
        """The scope's user's vectors and the rows the scope allows (None: no vectors). Called
        with the store's lock held."""
        vecs = self._vectors(scope.user_id)
        if vecs is None:
            return None
        if scope.is_plain:
            return vecs, vecs.mask(scope.levels, _time.now().timestamp())
        clause, args = _where(scope)
        with self._read() as conn:
            allowed = [
                r[0] for r in conn.execute(f"SELECT rowid FROM memories WHERE {clause}", args)
            ]
        return vecs, vecs.allowed(allowed)

    def _vectors(self, user_id: str) -> UserVectors | None:
        """The user's cached vectors (loaded if missing), or None when the user has none."""
        with self._read() as conn:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                # Another connection committed: which users it wrote cannot be told cheaply
                # (deletes and derived units leave no trace), so every user is reloaded lazily.
                # It may have been a reindex: this process's embedder must still be the store's.
                self._check_embedder(conn)
                self._cache.clear()
                self._data_version = version
            cached = self._cache.get(user_id)
            if cached is not None:
                return cached
            count = conn.execute(
                "SELECT count(*) FROM memories WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            if not count:
                return None  # unknown or empty users are not cached
            # Read in pages straight into the matrix: the whole result at once held every blob
            # and a joined copy beside the matrix (3x the vectors' bytes at the peak: 1.5 GB for
            # 344k rows), and the freed heap stayed in the process. In the scope index's order
            # (level, id): grouped by level, with no sort (order within a level decides nothing:
            # ties are broken by rowid wherever a row sits).
            cursor = conn.execute(
                "SELECT rowid, id, embedding, level, valid_to IS NULL, expires_at "
                "FROM memories WHERE user_id = ? ORDER BY level, id",
                (user_id,),
            )
            vecs = UserVectors(user_id, self.dims, count)
            while page := cursor.fetchmany(_LOAD_PAGE):
                vecs.extend(
                    [(r[0], r[1], r[2], r[3], bool(r[4]), _expiry_text(r[5])) for r in page]
                )
        if not len(vecs):
            return None
        self._cache.put(vecs)
        _heap.trim()  # the pages read are freed: give them back
        return vecs

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        """See ``Store.vectors``."""
        out: dict[str, Vector] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(ids)), 500):
                marks = ", ".join("?" * len(chunk))
                for rid, blob in conn.execute(
                    f"SELECT id, embedding FROM memories WHERE id IN ({marks})", chunk
                ):
                    out[rid] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_derived(self, records: Sequence[Record], vectors: Vector) -> None:
        """See ``Store.put_derived``."""
        users = {r.user_id for r in records}
        done = False
        try:
            with self._write() as conn:
                self._check_embedder(conn)
                # The rows these ids hold now, read in one query per 500 (not one per unit).
                olds: dict[str, tuple[int, str, str]] = {}
                for chunk in _chunks(list(dict.fromkeys(r.id for r in records)), 500):
                    marks = ", ".join("?" * len(chunk))
                    for rid, *row in conn.execute(
                        f"SELECT id, rowid, level, user_id FROM memories WHERE id IN ({marks})",
                        chunk,
                    ):
                        olds[rid] = tuple(row)
                written: set[str] = set()
                for record, vec in zip(records, vectors, strict=True):
                    if record.id in written:  # a second unit of one id: the first one's row
                        old = conn.execute(
                            "SELECT rowid, level, user_id FROM memories WHERE id = ?",
                            (record.id,),
                        ).fetchone()
                    else:
                        old = olds.get(record.id)
                    written.add(record.id)
                    if old is not None:
                        if old[1] == "record":
                            raise Conflict(f"{record.id} is a stored record, not a derived unit")
                        users.add(old[2])
                        _unindex(conn, old[0], old[2])
                        conn.execute("DELETE FROM memories WHERE rowid = ?", (old[0],))
                    cur = conn.execute(
                        f"INSERT INTO memories ({_COLS}, embedding) "
                        f"VALUES ({', '.join('?' * (len(_rows.COLUMNS) + 1))})",
                        (*_rows.to_row(record), _blob(vec)),
                    )
                    _index(conn, cur.lastrowid, record, new=True)
                    vecs = self._cache.get(record.user_id)
                    valid, expires = record.valid_to is None, _expiry(record)
                    moved = (
                        old is not None
                        and old[2] == record.user_id
                        and vecs is not None
                        and vecs.update(
                            old[0], vec, record.level, valid, expires, new_rowid=cur.lastrowid
                        )
                    )
                    if moved:
                        assert vecs is not None and cur.lastrowid is not None
                        self._relex(vecs, cur.lastrowid, record)
                    else:
                        if old is not None:
                            self._cached_remove(old[2], old[0])
                        self._cached_add(cur.lastrowid, record, vec)
            done = True
        except sqlite3.Error as exc:
            raise StoreError(f"writing derived units failed: {exc}") from exc
        finally:
            if not done:
                self._forget_vectors(users)

    def drop_derived(self, ids: Sequence[str]) -> None:
        """See ``Store.drop_derived``."""
        users: set[str] = set()
        done = False
        try:
            with self._write() as conn:
                for chunk in _chunks(list(ids), 500):
                    marks = ", ".join("?" * len(chunk))
                    rows = conn.execute(
                        f"SELECT rowid, user_id FROM memories WHERE id IN ({marks}) "
                        "AND level != 'record'",
                        chunk,
                    ).fetchall()
                    for rowid, user_id in rows:
                        users.add(user_id)
                        _unindex(conn, rowid, user_id)
                        conn.execute("DELETE FROM memories WHERE rowid = ?", (rowid,))
                        self._cached_remove(user_id, rowid)
            done = True
        except sqlite3.Error as exc:
            raise StoreError(f"dropping derived units failed: {exc}") from exc
        finally:
            if not done:
                self._forget_vectors(users)

    def add_links(self, user_id: str, links: Sequence[Link]) -> None:
        """See ``Store.add_links``."""
        try:
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO links (a, b, relation, weight, user_id) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (a, b, relation) DO UPDATE SET weight = excluded.weight",
                    [(x.a, x.b, x.relation, x.weight, user_id) for x in links],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"writing links failed: {exc}") from exc

    def links(self, ids: Sequence[str], *, incoming: int | None = None) -> builtins.list[Link]:
        """See ``Store.links``. Each id's links are kept until the next write (``_kept``)."""
        rows: dict[tuple[str, str, str, float], None] = {}  # deduplicated as plain tuples
        with self._read() as conn:
            kept = self._kept("links" if incoming is None else f"links<={incoming}")
            wanted = list(dict.fromkeys(ids))
            for rid in wanted:
                got = kept.get(rid)
                if got is not None:
                    rows.update(dict.fromkeys(got))
            missing = [rid for rid in wanted if rid not in kept]
            for chunk in _chunks(missing, 400):
                marks = ", ".join("?" * len(chunk))
                found: dict[str, list[tuple[str, str, str, float]]] = {r: [] for r in chunk}
                if incoming is None:
                    query = (
                        f"SELECT a, b, relation, weight FROM links WHERE a IN ({marks}) "
                        f"OR b IN ({marks})"
                    )
                    for row in conn.execute(query, (*chunk, *chunk)):
                        for end in (row[0], row[1]):
                            if end in found:
                                found[end].append(row)
                        rows[row] = None
                else:
                    # Every link from an id; its ``incoming`` strongest to it, each id's read as
                    # a range of the (b, weight DESC, a, relation) index: no more rows than that.
                    query = f"SELECT a, b, relation, weight FROM links WHERE a IN ({marks})"
                    for row in conn.execute(query, chunk):
                        found[row[0]].append(row)
                        rows[row] = None
                    for rid in chunk:
                        for row in conn.execute(
                            "SELECT a, b, relation, weight FROM links WHERE b = ? "
                            "ORDER BY weight DESC, a, relation LIMIT ?",
                            (rid, incoming),
                        ):
                            found[rid].append(row)
                            rows[row] = None
                kept.update((r, tuple(v)) for r, v in found.items())
        ordered = sorted(rows, key=lambda r: (-r[3], r[0], r[1], r[2]))
        return [Link(a, b, rel, w) for a, b, rel, w in ordered]

    def _kept(self, what: str) -> dict[str, Any]:
        """A per-id read cache (``links``, ``sources``), emptied whenever anything was written
        since it was filled: by this connection, or by another (``PRAGMA data_version``)."""
        stamp = self._stamp()
        if stamp != self._kept_stamp:
            self._kept_stamp = stamp
            self._kept_reads = {}
        kept = self._kept_reads.setdefault(what, {})
        if len(kept) > _KEPT_IDS:
            kept.clear()
        return kept

    def export(
        self, user_id: str | None, *, prefix: str | None = None
    ) -> Iterator[Record | HistoryEntry]:
        """See ``Store.export``."""
        where, args = _rows.owner_clause(user_id, prefix, "?")
        with self._read() as conn:
            records = conn.execute(
                f"SELECT {_COLS} FROM memories {where} ORDER BY id", args
            ).fetchall()
            history = conn.execute(
                f"SELECT {_HCOLS} FROM history {where} ORDER BY seq", args
            ).fetchall()
        for row in records:
            yield _rows.from_row(row)
        for hrow in history:
            yield _rows.history_from_row(hrow)

    def backup(self, path: str | Path) -> None:
        """Copy the whole store to ``path`` with SQLite's online backup API (writers may go on)."""
        target = Path(path).expanduser()
        if target.exists():
            raise Conflict(f"{target} already exists; choose a new file for the backup")
        try:
            dest = sqlite3.connect(str(target))
            try:
                with self._lock:
                    self._conn.backup(dest)
            finally:
                dest.close()
        except sqlite3.Error as exc:
            raise StoreError(f"backup to {target} failed: {exc}") from exc

    def _current_version(self) -> int:
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return -2

    def integrity_check(self) -> str:
        """Run SQLite's integrity check; returns "ok" when the file is sound."""
        with self._read() as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """See ``Store.close``."""
        self._cache.stop_builds()  # outside the lock: a finished build takes it to attach
        with self._lock:
            try:
                self._cache.clear(save=self._data_version == self._current_version())
            finally:
                self._conn.close()
                if self._tokenizer is not None:
                    self._tokenizer.close()
                    self._tokenizer = None


def _where(scope: Scope, prefix: str = "") -> tuple[str, list[Any]]:
    """``scope`` as this backend's WHERE clause body and parameters (a session looked up by the
    session index: ``_rows.where``'s ``session_index``)."""
    return _rows.where(scope, "?", _condition, prefix, session_index=True)


@contextlib.contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Driver errors inside become ``StoreError`` naming ``what``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"{what} failed: {exc}") from exc


_LOAD_PAGE = 4096  # rows of a user's vectors read at a time (6 MB of 384-dim blobs)


def _fts(conn: sqlite3.Connection, user_id: str) -> str:
    """The full-text table of ``user_id``'s rows: its tenant's partition (see
    ``SQLiteStore.partition``), or the main one. Read inside the caller's transaction, so a
    partition another process made is seen at once."""
    if "/" not in user_id:
        return "memories_fts"
    prefix = user_id.split("/", 1)[0] + "/"
    row = conn.execute("SELECT name FROM fts_partitions WHERE prefix = ?", (prefix,)).fetchone()
    return "memories_fts" if row is None else str(row[0])


def _index(conn: sqlite3.Connection, rowid: int | None, record: Record, *, new: bool) -> None:
    """Write ``record``'s full-text row: its text and its scope token (user and level)."""
    fts = _fts(conn, record.user_id)
    values = (index_text(record), scope_token(record.user_id, record.level), rowid)
    if new:
        conn.execute(f"INSERT INTO {fts} (text, scope, rowid) VALUES (?, ?, ?)", values)
    else:
        conn.execute(f"UPDATE {fts} SET text = ?, scope = ? WHERE rowid = ?", values)


def _unindex(conn: sqlite3.Connection, rowid: int, user_id: str) -> None:
    conn.execute(f"DELETE FROM {_fts(conn, user_id)} WHERE rowid = ?", (rowid,))


def _blob(vec: Vector) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
