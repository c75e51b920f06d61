"""The shared backend: PostgreSQL with pgvector (HNSW) and ``tsvector``/GIN full text.

Times are ``timestamptz`` (the shared row helpers send ISO text, which PostgreSQL casts); metadata,
note lists and flags are ``jsonb``. Links live in their own table; expired records are hidden by
the shared WHERE clause on every read path, exactly as in SQLite. Vector search is exact (a scan of
the scope) when the scope holds at most ``exact_limit`` rows, and uses the HNSW index with
iterative scans above that: small scopes get the same answers as SQLite, large ones get index
speed. The schema (numbered migrations), filter and tsquery compilation live in ``_pgsql``.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from remem import _time
from remem.errors import ConfigError, Conflict, MigrationError, MissingDependency, StoreError
from remem.store import _embedder, _pgsql, _rows
from remem.store._rows import index_text
from remem.store.base import CAPABILITIES, Scope, part_ids
from remem.types import HistoryEntry, Link, Page, Record, Vector

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

# The schema's numbered steps live with the rest of the SQL in ``_pgsql``; named here as well,
# because this is where a reader (and the contract tests) looks for a backend's migrations.
migrations = _pgsql.migrations
_COLS = ", ".join(_rows.COLUMNS)
_HCOLS = ", ".join(_rows.HISTORY_COLUMNS)
_EVENT_ORDER = "occurred_at NULLS FIRST, id"  # ``remem.organize.units.order``: undated first


def _import() -> tuple[Any, Any, Any]:
    try:
        import psycopg
        from pgvector.psycopg import register_vector
        from psycopg_pool import ConnectionPool
    except ImportError as exc:
        raise MissingDependency("pip install 'remem[pg]'") from exc
    return psycopg, ConnectionPool, register_vector


class PostgresStore:
    """PostgreSQL + pgvector backend.

    Args:
        url: a libpq URL or conninfo string (``postgresql://user@host:5432/db``).
        dims: the embedding width; the ``vector(dims)`` column is created with it.
        pool_size: the most connections this store opens.
        min_size: connections kept open when idle.
        exact_limit: scopes with at most this many rows are searched exactly, not by HNSW.
        ef_search: the HNSW candidate list size (raised to the query's ``limit`` when lower).
        timeout: seconds to wait for a pooled connection.
        any_dims: open a store of any width (``dims`` becomes the stored one): for ``reindex``.

    Raises:
        MissingDependency: psycopg, psycopg-pool or pgvector is not installed.
        ConfigError: no URL, an unknown option, or a store created with another ``dims``.
        StoreError: the server cannot be reached or the schema cannot be migrated.
    """

    capabilities = CAPABILITIES | {"notes"}

    def __init__(
        self,
        url: str | None,
        *,
        dims: int,
        pool_size: int = 5,
        min_size: int = 1,
        exact_limit: int = 20_000,
        ef_search: int = 100,
        timeout: float = 30.0,
        any_dims: bool = False,
        **options: Any,
    ) -> None:
        pg, pool_cls, register_vector = _import()
        if not url:
            raise ConfigError("the postgres store needs store_url (postgresql://user@host/db)")
        if options:
            raise ConfigError(f"unknown postgres options: {', '.join(sorted(options))}")
        self.dims, self.exact_limit, self.ef_search = dims, exact_limit, ef_search
        self._any_dims = any_dims
        self._embedder: dict[str, Any] | None = None  # the identity bound by bind_embedder
        self._psycopg = pg
        try:
            self._migrate(url)

            def configure(conn: psycopg.Connection[Any]) -> None:
                conn.execute("SET TimeZone = 'UTC'")  # timestamptz come back as UTC datetimes
                register_vector(conn)
                conn.commit()

            self._pool: ConnectionPool[Any] = pool_cls(
                url,
                min_size=min(min_size, pool_size),
                max_size=pool_size,
                timeout=timeout,
                configure=configure,
                open=True,
                name="remem",
            )
            try:
                self._pool.wait(timeout)
            except pg.Error:
                self._pool.close()
                raise
        except pg.Error as exc:
            raise StoreError(f"cannot open PostgreSQL store: {exc}") from exc

    # -- plumbing ---------------------------------------------------------------------------

    def _migrate(self, url: str) -> None:
        """Apply pending migrations under a transaction-level advisory lock: two processes opening
        one database at once run them one after the other, and the second finds nothing to do."""
        pg = self._psycopg
        with pg.connect(url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_pgsql.MIGRATION_LOCK,))
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _remem_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {r[0] for r in conn.execute("SELECT name FROM _remem_migrations")}
            for name, step in migrations.pending(applied):
                try:
                    with conn.transaction():
                        step(_pgsql.MigrationContext(conn, self.dims))
                except pg.Error as exc:
                    raise MigrationError(f"migration {name} failed: {exc}") from exc
                conn.execute("INSERT INTO _remem_migrations (name) VALUES (%s)", (name,))
            row = conn.execute(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = 'memories'::regclass AND attname = 'embedding'"
            ).fetchone()
            stored = _embedder.load(self._meta(conn, _embedder.KEY))
            reindex = _embedder.load(self._meta(conn, _embedder.REINDEX))
        if row is not None and row[0] != self.dims and self._any_dims:
            self.dims = int(row[0])
        if row is not None and row[0] != self.dims and stored is not None:
            raise _embedder.width_mismatch(stored, self.dims, reindex=reindex)
        if row is not None and row[0] != self.dims:
            raise ConfigError(f"this database stores {row[0]}-dim vectors, not {self.dims}")

    @contextlib.contextmanager
    def _conn(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction; driver errors become StoreError."""
        pg = self._psycopg
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except pg.errors.UniqueViolation as exc:
            raise Conflict(f"{what}: a memory with that id already exists ({exc})") from exc
        except pg.Error as exc:
            raise StoreError(f"{what} failed: {exc}") from exc

    # -- writes -----------------------------------------------------------------------------

    def insert(
        self, records: Sequence[Record], vectors: Vector, history: Sequence[HistoryEntry]
    ) -> None:
        """See ``Store.insert``."""
        if len(records) != len(vectors):
            raise StoreError("insert: one vector per record is required")
        marks = ", ".join(["%s"] * (len(_rows.COLUMNS) + 2))
        rows = [
            (*_rows.to_row(r), index_text(r), vec.astype("float32", copy=False))
            for r, vec in zip(records, vectors, strict=True)
        ]
        owner = {r.id: r.user_id for r in records}
        with self._conn("insert") as conn, conn.cursor() as cur:
            self._check_embedder(conn)
            cur.executemany(
                f"INSERT INTO memories ({_COLS}, search_text, embedding) VALUES ({marks})", rows
            )
            self._insert_history(conn, history, owner)

    def _insert_history(
        self, conn: psycopg.Connection[Any], history: Sequence[HistoryEntry], owner: dict[str, str]
    ) -> None:
        def lookup(memory_id: str) -> str | None:
            row = conn.execute(
                "SELECT user_id FROM memories WHERE id = %s", (memory_id,)
            ).fetchone()
            return None if row is None else str(row[0])

        rows = _rows.history_rows(history, owner, lookup)
        if rows:
            marks = ", ".join(["%s"] * len(_rows.HISTORY_COLUMNS))
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO history ({_HCOLS}) VALUES ({marks})", rows)

    def replace(self, record: Record, vector: Vector | None, entry: HistoryEntry) -> None:
        """See ``Store.replace``."""
        sets = ", ".join(f"{c} = %s" for c in _rows.COLUMNS[1:]) + ", search_text = %s"
        args: list[Any] = [*_rows.to_row(record)[1:], index_text(record)]
        if vector is not None:
            sets += ", embedding = %s, embedding_next = NULL"  # a reindex embeds it again
            args.append(vector.astype("float32", copy=False))
        with self._conn("update") as conn:
            self._check_embedder(conn)
            row = conn.execute(
                f"UPDATE memories SET {sets} WHERE id = %s AND user_id = %s AND version = %s "
                "RETURNING id",
                (*args, record.id, record.user_id, record.version - 1),
            ).fetchone()
            if row is None:
                raise Conflict(
                    f"memory {record.id} changed since version {record.version - 1} was read"
                )
            self._insert_history(conn, [entry], {record.id: record.user_id})

    def update_notes(self, record: Record, entry: HistoryEntry) -> bool:
        """Write ``record``'s notes (keywords, tags, context) if it is still at ``record.version``.

        The version stays; ``entry`` goes to history (see ``SQLiteStore.update_notes``).

        Returns:
            False, with nothing written, when the record changed or was deleted since it was read.
        """
        row = _rows.to_row(record)
        sets = ", ".join(f"{c} = %s" for c in _rows.NOTE_COLUMNS) + ", search_text = %s"
        args = [row[_rows.COLUMNS.index(c)] for c in _rows.NOTE_COLUMNS]
        with self._conn("update notes") as conn:
            found = conn.execute(
                f"UPDATE memories SET {sets} WHERE id = %s AND user_id = %s AND version = %s "
                "RETURNING id",
                (*args, index_text(record), record.id, record.user_id, record.version),
            ).fetchone()
            if found is None:
                return False
            self._insert_history(conn, [entry], {record.id: record.user_id})
            return True

    def remove(self, ids: Sequence[str], *, op: str, actor: str | None, reason: str | None) -> int:
        """See ``Store.remove``."""
        at = _time.now()
        with self._conn("delete") as conn:
            rows = conn.execute(
                f"DELETE FROM memories WHERE id = ANY(%s) RETURNING {_COLS}",
                (list(dict.fromkeys(ids)),),
            ).fetchall()
            removed = sorted(map(_rows.from_row, rows), key=lambda r: r.id)
            entries = [
                HistoryEntry(r.id, r.version, op, at, actor, reason, r.to_dict(), None)
                for r in removed
            ]
            self._insert_history(conn, entries, {r.id: r.user_id for r in removed})
            if removed:
                gone = [r.id for r in removed]
                conn.execute("DELETE FROM links WHERE a = ANY(%s) OR b = ANY(%s)", (gone, gone))
                parts = [p for r in removed for p in part_ids(r.id)]
                conn.execute(
                    "DELETE FROM memories WHERE id = ANY(%s) AND level != 'record'", (parts,)
                )
        return len(rows)

    def purge(self, user_id: str) -> int:
        """See ``Store.purge``."""
        with self._conn("purge") as conn:
            count = conn.execute("DELETE FROM memories WHERE user_id = %s", (user_id,)).rowcount
            conn.execute("DELETE FROM history WHERE user_id = %s", (user_id,))
            conn.execute("DELETE FROM links WHERE user_id = %s", (user_id,))
        return int(count)

    # -- the embedder that wrote the vectors (see SQLiteStore) ------------------------------

    @staticmethod
    def _meta(conn: psycopg.Connection[Any], key: str) -> str | None:
        row = conn.execute("SELECT value FROM remem_meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _check_embedder(self, conn: psycopg.Connection[Any]) -> None:
        """Raise ``EmbedderMismatch`` if the store's embedder is no longer the bound one."""
        _embedder.check(self._embedder, lambda key: self._meta(conn, key))

    def embedder(self) -> dict[str, Any] | None:
        """See ``SQLiteStore.embedder``."""
        with self._conn("read the embedder") as conn:
            return _embedder.load(self._meta(conn, _embedder.KEY))

    def bind_embedder(self, ident: dict[str, Any]) -> None:
        """See ``SQLiteStore.bind_embedder``."""
        given = _embedder.dump(ident)
        with self._conn("record the embedder") as conn:
            conn.execute(
                "INSERT INTO remem_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (_embedder.KEY, given),
            )
            stored = self._meta(conn, _embedder.KEY)
            reindex = _embedder.load(self._meta(conn, _embedder.REINDEX))
        if stored != given:
            raise _embedder.mismatch(_embedder.load(stored) or {}, ident, reindex=reindex)
        self._embedder = _embedder.load(given)

    def reindex_begin(self, target: dict[str, Any]) -> bool:
        """See ``SQLiteStore.reindex_begin``."""
        want = _embedder.dump(target)
        with self._conn("start a reindex") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_pgsql.MIGRATION_LOCK,))
            if self._meta(conn, _embedder.REINDEX) == want:
                return True
            conn.execute(
                "UPDATE memories SET embedding_next = NULL WHERE embedding_next IS NOT NULL"
            )
            conn.execute(
                "INSERT INTO remem_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_embedder.REINDEX, want),
            )
            return False

    def reindex_target(self) -> dict[str, Any] | None:
        """See ``SQLiteStore.reindex_target``."""
        with self._conn("read the reindex") as conn:
            return _embedder.load(self._meta(conn, _embedder.REINDEX))

    def reindex_progress(self) -> tuple[int, int]:
        """See ``SQLiteStore.reindex_progress``."""
        with self._conn("reindex progress") as conn:
            row = conn.execute("SELECT count(embedding_next), count(*) FROM memories").fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def reindex_rows(
        self, *, after: str, limit: int, sessions: bool, pending: bool = True
    ) -> builtins.list[Record]:
        """See ``SQLiteStore.reindex_rows``."""
        where = "level = 'session'" if sessions else "level <> 'session'"
        if pending:
            where += " AND embedding_next IS NULL"
        with self._conn("read rows to reindex") as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE id > %s AND {where} ORDER BY id LIMIT %s",
                (after, limit),
            ).fetchall()
        return [_rows.from_row(r) for r in rows]

    def reindex_vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        """See ``SQLiteStore.reindex_vectors``."""
        with self._conn("read new vectors") as conn:
            rows = conn.execute(
                "SELECT id, embedding_next FROM memories WHERE id = ANY(%s) "
                "AND embedding_next IS NOT NULL",
                (list(dict.fromkeys(ids)),),
            ).fetchall()
        return {r[0]: np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows}

    def reindex_put(self, items: Sequence[tuple[Record, Vector]]) -> int:
        """See ``SQLiteStore.reindex_put``."""
        c, sp, src = (_rows.COLUMNS.index(k) for k in ("content", "speaker", "sources"))
        written = 0
        with self._conn("write new vectors") as conn, conn.cursor() as cur:
            for record, vec in items:
                row = _rows.to_row(record)
                cur.execute(
                    "UPDATE memories SET embedding_next = %s WHERE id = %s AND content = %s "
                    "AND speaker IS NOT DISTINCT FROM %s AND sources = %s::jsonb",
                    (vec.astype("float32", copy=False), record.id, row[c], row[sp], row[src]),
                )
                written += cur.rowcount
        return written

    def reindex_finish(self, target: dict[str, Any]) -> bool:
        """See ``SQLiteStore.reindex_finish``: one transaction; a new width retypes the column
        (and rebuilds its HNSW index)."""
        want = _embedder.dump(target)
        dims = int(target["dims"])
        with self._conn("finish a reindex") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_pgsql.MIGRATION_LOCK,))
            conn.execute("LOCK TABLE memories IN SHARE ROW EXCLUSIVE MODE")  # no write slips in
            if self._meta(conn, _embedder.REINDEX) != want:
                raise StoreError("no reindex to this embedder is in progress")
            missing = conn.execute(
                "SELECT 1 FROM memories WHERE embedding_next IS NULL LIMIT 1"
            ).fetchone()
            if missing is not None:
                return False
            if dims != self.dims:
                conn.execute(
                    f"ALTER TABLE memories ALTER COLUMN embedding TYPE vector({dims}) "
                    f"USING embedding_next::vector({dims})"
                )
                conn.execute("UPDATE memories SET embedding_next = NULL")
            else:
                conn.execute(
                    "UPDATE memories SET embedding = embedding_next, embedding_next = NULL"
                )
            conn.execute(
                "INSERT INTO remem_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_embedder.KEY, want),
            )
            conn.execute("DELETE FROM remem_meta WHERE key = %s", (_embedder.REINDEX,))
        self.dims = dims
        return True

    # -- reads ------------------------------------------------------------------------------

    def get_many(self, ids: Sequence[str]) -> dict[str, Record]:
        """See ``Store.get_many``."""
        with self._conn("read") as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE id = ANY(%s)", (list(dict.fromkeys(ids)),)
            ).fetchall()
        return {r.id: r for r in map(_rows.from_row, rows)}

    def sources(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """See ``Store.sources``."""
        with self._conn("read") as conn:
            rows = conn.execute(
                "SELECT id, sources FROM memories WHERE id = ANY(%s)", (list(dict.fromkeys(ids)),)
            ).fetchall()
        out: dict[str, tuple[str, ...]] = {}
        for row in rows:
            rid, raw = row[0], row[1]
            value = json.loads(raw) if isinstance(raw, str) else raw
            out[rid] = tuple(value or ())
        return out

    def list(self, scope: Scope, *, limit: int, cursor: str | None) -> Page:
        """See ``Store.list``."""
        clause, args = _rows.where(scope, "%s", _pgsql.condition)
        if cursor is not None:
            clause += " AND id > %s"
            args.append(cursor)
        with self._conn("list") as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE {clause} ORDER BY id LIMIT %s",
                (*args, limit + 1),
            ).fetchall()
        records = [_rows.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(records, records[-1].id if more and records else None)

    def count_before(self, scope: Scope, occurred_at: datetime | None, id: str | None) -> int:
        """See ``Store.count_before``."""
        clause, args = _rows.where(scope, "%s", _pgsql.condition)
        before, more = _rows.event_before(occurred_at, id, "%s")
        with self._conn("count before") as conn:
            row = conn.execute(
                f"SELECT count(*) FROM memories WHERE {clause} AND {before}", (*args, *more)
            ).fetchone()
        return int(row[0]) if row is not None else 0

    def list_ordered(
        self, scope: Scope, *, offset: int, limit: int | None
    ) -> builtins.list[Record]:
        """See ``Store.list_ordered``."""
        clause, args = _rows.where(scope, "%s", _pgsql.condition)
        page = "LIMIT ALL" if limit is None else "LIMIT %s"
        extra = [] if limit is None else [limit]
        # Sort the narrow (time, id, key) rows first, then read only the page's full rows.
        with self._conn("list in order") as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE id IN (SELECT id FROM memories "
                f"WHERE {clause} ORDER BY {_EVENT_ORDER} {page} OFFSET %s) "
                f"ORDER BY {_EVENT_ORDER}",
                (*args, *extra, max(0, offset)),
            ).fetchall()
        return [_rows.from_row(r) for r in rows]

    def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        """See ``Store.history``."""
        with self._conn("history") as conn:
            rows = conn.execute(
                f"SELECT {_HCOLS} FROM history WHERE memory_id = %s ORDER BY seq", (memory_id,)
            ).fetchall()
        return [_rows.history_from_row(r) for r in rows]

    def bm25(
        self, terms: Sequence[str], scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """See ``Store.bm25``: ``ts_rank`` over an OR of the terms (each term a phrase of its
        word tokens; every other character is dropped, so tsquery syntax in terms is inert)."""
        query = _pgsql.tsquery(terms)
        if not query:
            return []
        clause, args = _rows.where(scope, "%s", _pgsql.condition)
        # ts_rank (not ts_rank_cd) rewards matching more of the terms over repeating one of them,
        # which is what an OR of content words wants (BM25's IDF does the same in SQLite).
        with self._conn("full-text search") as conn:
            rows = conn.execute(
                "SELECT id, ts_rank(tsv, q) AS s "
                "FROM memories, to_tsquery('english'::regconfig, %s) AS q "
                f"WHERE tsv @@ q AND {clause} ORDER BY s DESC, id LIMIT %s",
                (query, *args, limit),
            ).fetchall()
        # A match always has a positive rank; the floor keeps the contract if rounding says 0.
        return [(r[0], max(float(r[1]), 1e-9)) for r in rows]

    def vector_many(
        self, queries: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[builtins.list[tuple[str, float]]]:
        """See ``Store.vector_many``: one ``vector`` query each (the database scores them)."""
        return [self.vector(q, scope, limit=limit) for q in queries]

    def vector(
        self, query: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """See ``Store.vector``: exact in small scopes, HNSW (iterative scan) in large ones."""
        clause, args = _rows.where(scope, "%s", _pgsql.condition)
        q = query.astype("float32", copy=False)
        with self._conn("vector search") as conn:
            self._check_embedder(conn)
            size = conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM memories WHERE {clause} LIMIT %s) AS s",
                (*args, self.exact_limit + 1),
            ).fetchone()
            if size is None or size[0] == 0:
                return []
            if size[0] <= self.exact_limit:
                # MATERIALIZED keeps the planner off the HNSW index: every row in scope is scored.
                sql = (
                    f"WITH s AS MATERIALIZED (SELECT id, embedding FROM memories WHERE {clause}) "
                    "SELECT id, embedding <=> %s AS d FROM s ORDER BY d, id LIMIT %s"
                )
                params: tuple[Any, ...] = (*args, q, limit)
            else:
                conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                conn.execute(f"SET LOCAL hnsw.ef_search = {min(1000, max(self.ef_search, limit))}")
                sql = (
                    f"SELECT id, embedding <=> %s AS d FROM memories WHERE {clause} "
                    "ORDER BY embedding <=> %s LIMIT %s"
                )
                params = (q, *args, q, limit)
            rows = conn.execute(sql, params).fetchall()
        # Cosine distance d = 1 - cos, so (1 + cos) / 2 = 1 - d / 2.
        return [(r[0], min(1.0, max(0.0, 1.0 - float(r[1]) / 2.0))) for r in rows]

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        """See ``Store.vectors``."""
        with self._conn("read vectors") as conn:
            rows = conn.execute(
                "SELECT id, embedding FROM memories WHERE id = ANY(%s)", (list(dict.fromkeys(ids)),)
            ).fetchall()
        return {r[0]: np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows}

    def put_derived(self, records: Sequence[Record], vectors: Vector) -> None:
        """See ``Store.put_derived``: one upsert per unit, refused (and all rolled back) when the
        id is a stored record."""
        if len(records) != len(vectors):
            raise StoreError("put_derived: one vector per record is required")
        if not records:
            return
        marks = ", ".join(["%s"] * (len(_rows.COLUMNS) + 2))
        sets = ", ".join(f"{c} = excluded.{c}" for c in (*_rows.COLUMNS[1:], "search_text"))
        # The WHERE makes the upsert skip a stored record instead of overwriting it, even one
        # inserted by another transaction after we looked; RETURNING tells us it was skipped.
        sql = (
            f"INSERT INTO memories ({_COLS}, search_text, embedding) VALUES ({marks}) "
            f"ON CONFLICT (id) DO UPDATE SET {sets}, embedding = excluded.embedding, "
            "embedding_next = NULL "
            "WHERE memories.level <> 'record' RETURNING id"
        )
        with self._conn("write derived units") as conn, conn.cursor() as cur:
            self._check_embedder(conn)
            for record, vec in zip(records, vectors, strict=True):
                row = (*_rows.to_row(record), index_text(record), vec.astype("float32", copy=False))
                if cur.execute(sql, row).fetchone() is None:
                    raise Conflict(f"{record.id} is a stored record, not a derived unit")

    def drop_derived(self, ids: Sequence[str]) -> None:
        """See ``Store.drop_derived``."""
        with self._conn("drop derived units") as conn:
            conn.execute(
                "DELETE FROM memories WHERE id = ANY(%s) AND level <> 'record'",
                (list(dict.fromkeys(ids)),),
            )

    def add_links(self, user_id: str, links: Sequence[Link]) -> None:
        """See ``Store.add_links``."""
        if not links:
            return
        # SQLite stores NaN as NULL, which the NOT NULL weight refuses; refuse it here too (a NaN
        # weight also has no place in the strongest-first order ``links()`` promises).
        if any(math.isnan(x.weight) for x in links):
            raise StoreError("writing links failed: a link weight is NaN")
        with self._conn("write links") as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO links (a, b, relation, weight, user_id) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (a, b, relation) DO UPDATE SET weight = excluded.weight",
                [(x.a, x.b, x.relation, float(x.weight), user_id) for x in links],
            )

    def links(self, ids: Sequence[str], *, incoming: int | None = None) -> builtins.list[Link]:
        """See ``Store.links``: ordered as SQLite orders them, by (-weight, a, b, relation), the
        ids compared bytewise (their columns are ``COLLATE "C"``: code-point order, as Python's)."""
        wanted = list(dict.fromkeys(ids))
        with self._conn("read links") as conn:
            if incoming is None:
                rows = conn.execute(
                    "SELECT a, b, relation, weight FROM links WHERE a = ANY(%s) OR b = ANY(%s) "
                    "ORDER BY weight DESC, a, b, relation",
                    (wanted, wanted),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT a, b, relation, weight FROM links WHERE a = ANY(%s) UNION "
                    "SELECT a, b, relation, weight FROM (SELECT a, b, relation, weight, "
                    "row_number() OVER (PARTITION BY b ORDER BY weight DESC, a, b, relation) "
                    "AS k FROM links WHERE b = ANY(%s)) AS s WHERE k <= %s "
                    "ORDER BY weight DESC, a, b, relation",
                    (wanted, wanted, incoming),
                ).fetchall()
        return [Link(a, b, rel, float(w)) for a, b, rel, w in rows]

    def export(
        self, user_id: str | None, *, prefix: str | None = None
    ) -> Iterator[Record | HistoryEntry]:
        """See ``Store.export``."""
        where, args = _rows.owner_clause(user_id, prefix, "%s")
        with self._conn("export") as conn:
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

    def generation(self) -> object | None:
        """See ``Store.generation``: None. Other clients' commits leave no cheap trace here
        (no counter short of a trigger-maintained table, which every write would contend on)."""
        return None

    def close(self) -> None:
        """See ``Store.close``."""
        self._pool.close()
