"""The shared backend: PostgreSQL with pgvector (HNSW) and ``tsvector``/GIN full text.

Times are ``timestamptz`` (the shared row helpers send ISO text, which PostgreSQL casts), metadata
and note lists are ``jsonb``. Links live in their own table; expired records are hidden by the
shared WHERE clause on every read path, exactly as in SQLite. Vector search is exact (a scan of the scope) when the scope holds at
most ``exact_limit`` rows, and uses the HNSW index with iterative scans above that: small scopes
get the same answers as SQLite, large ones get index speed.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from remem import _time
from remem.errors import ConfigError, Conflict, MigrationError, MissingDependency, StoreError
from remem.filters import TIME_FIELDS, Condition
from remem.store import _rows
from remem.store.base import CAPABILITIES, Scope, index_text
from remem.store.migrations import Migrations
from remem.types import HistoryEntry, Link, Page, Record, Vector

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

migrations = Migrations("postgres")
# Any constant works; it only has to be the same in every process opening the same database.
_MIGRATION_LOCK = 0x72656D656D  # "remem"


@dataclass(frozen=True)
class _Ctx:
    """What a migration gets: the connection (inside the migrating transaction) and the width."""

    conn: psycopg.Connection[Any]
    dims: int


@migrations
def m001_create_memories(ctx: _Ctx) -> None:
    # COLLATE "C": ids and text filters compare bytewise, like SQLite, whatever the DB locale.
    ctx.conn.execute(
        f"""
        CREATE TABLE memories (
            id text COLLATE "C" PRIMARY KEY,
            user_id text NOT NULL,
            agent_id text,
            session_id text,
            kind text COLLATE "C" NOT NULL,
            level text NOT NULL DEFAULT 'record',
            content text NOT NULL,
            speaker text COLLATE "C",
            metadata jsonb NOT NULL DEFAULT '{{}}',
            occurred_at timestamptz,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version integer NOT NULL,
            origin text COLLATE "C" NOT NULL,
            trust double precision NOT NULL,
            valid_from timestamptz,
            valid_to timestamptz,
            sources jsonb NOT NULL DEFAULT '[]',
            keywords jsonb NOT NULL DEFAULT '[]',
            entities jsonb NOT NULL DEFAULT '[]',
            dates jsonb NOT NULL DEFAULT '[]',
            search_text text NOT NULL,
            tsv tsvector
                GENERATED ALWAYS AS (to_tsvector('english'::regconfig, search_text)) STORED,
            embedding vector({int(ctx.dims)}) NOT NULL
        );
        CREATE INDEX memories_scope ON memories (user_id, level, id);
        CREATE INDEX memories_time ON memories (user_id, occurred_at);
        CREATE INDEX memories_session ON memories (user_id, session_id);
        CREATE INDEX memories_tsv ON memories USING gin (tsv);
        CREATE INDEX memories_embedding ON memories USING hnsw (embedding vector_cosine_ops);
        CREATE TABLE history (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            memory_id text NOT NULL,
            user_id text NOT NULL,
            version integer NOT NULL,
            op text NOT NULL,
            at timestamptz NOT NULL,
            actor text,
            reason text,
            before jsonb,
            after jsonb
        );
        CREATE INDEX history_memory ON history (memory_id, seq);
        CREATE INDEX history_user ON history (user_id);
        """
    )


@migrations
def m002_links_and_expiry(ctx: _Ctx) -> None:
    # COLLATE "C" on the link ids: ``links()`` orders by them bytewise, as SQLite does.
    ctx.conn.execute(
        """
        ALTER TABLE memories ADD COLUMN expires_at timestamptz;
        CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE links (
            a text COLLATE "C" NOT NULL,
            b text COLLATE "C" NOT NULL,
            relation text COLLATE "C" NOT NULL,
            weight double precision NOT NULL,
            user_id text NOT NULL,
            PRIMARY KEY (a, b, relation)
        );
        CREATE INDEX links_b ON links (b);
        CREATE INDEX links_user ON links (user_id);
        """
    )


_COLS = ", ".join(_rows.COLUMNS)
_HCOLS = ", ".join(_rows.HISTORY_COLUMNS)
_NUMERIC_COLUMNS = frozenset({"trust", "version"})
# A number literal as SQLite's numeric affinity reads it (so "3" matches version 3).
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_TOKEN = re.compile(r"\w+", re.UNICODE)
# SQLite orders every number before every string: the ops that hold for "number OP text" and for
# "text OP number" when a stored value and the filter value differ in type.
_NUM_VS_TEXT = frozenset({"$ne", "$lt", "$lte"})
_TEXT_VS_NUM = frozenset({"$ne", "$gt", "$gte"})
# json_extract's typing: strings are text, numbers and booleans (0/1) numbers, objects and arrays
# their JSON text, JSON null and missing keys NULL. {x} is the value at the path, {v} the operand.
_META_NUM = (
    "CASE COALESCE(jsonb_typeof({x}), 'null') WHEN 'number' THEN ({x})::numeric {op} {v} "
    "WHEN 'boolean' THEN ({x})::boolean::int {op} {v} WHEN 'null' THEN NULL ELSE {other} END"
)
_META_TEXT = (
    "CASE COALESCE(jsonb_typeof({x}), 'null') "
    "WHEN 'string' THEN ({x} #>> '{{}}') COLLATE \"C\" {op} {v} "
    "WHEN 'object' THEN ({x})::text COLLATE \"C\" {op} {v} "
    "WHEN 'array' THEN ({x})::text COLLATE \"C\" {op} {v} WHEN 'null' THEN NULL ELSE {other} END"
)
_MARKS = re.compile(r"\{[xv]\}")


def _meta_compare(op: str, value: Any, path: list[str], prefix: str) -> tuple[str, list[Any]]:
    """One comparison of the metadata value at ``path``, typed as SQLite's json_extract types it."""
    if isinstance(value, bool | int | float):
        value = float(value) if isinstance(value, float) else int(value)
        template, other = _META_NUM, "TRUE" if op in _TEXT_VS_NUM else "FALSE"
    else:
        value = str(value)
        template, other = _META_TEXT, "TRUE" if op in _NUM_VS_TEXT else "FALSE"
    sql = template.format(
        x=f"({prefix}metadata #> %s::text[])", v="%s", op=_rows.SQL_OPS[op], other=other
    )
    args = [path if mark == "{x}" else value for mark in _MARKS.findall(template)]
    return f"({sql})", args


def _column_compare(op: str, value: Any, column: str, prefix: str) -> tuple[str, list[Any]]:
    col, sop = f"{prefix}{column}", _rows.SQL_OPS[op]
    if column in TIME_FIELDS:
        return f"{col} {sop} %s::timestamptz", [value]
    if column in _NUMERIC_COLUMNS:
        if isinstance(value, str):
            if not _NUMBER.fullmatch(value):
                return str(op in _NUM_VS_TEXT).upper(), []
            value = float(value)
        return f"{col} {sop} %s", [float(value) if isinstance(value, float) else int(value)]
    # A TEXT column reads a number as its text, as SQLite's column affinity does.
    if not isinstance(value, str):
        value = str(int(value)) if isinstance(value, bool) else str(value)
    return f'{col} COLLATE "C" {sop} %s', [value]


def _condition(cond: Condition, prefix: str) -> tuple[str, list[Any]]:
    """Compile one filter so that it holds exactly where the SQLite backend's version does.

    A missing key or NULL column fails every test except ``$ne`` / ``$nin``, which it passes.
    """
    many = cond.op in ("$in", "$nin")
    op = "$eq" if many else cond.op
    parts, args = [], []
    for value in cond.value if many else (cond.value,):
        if cond.column is not None:
            sql, vargs = _column_compare(op, value, cond.column, prefix)
        else:
            sql, vargs = _meta_compare(op, value, list(cond.path), prefix)
        parts.append(sql)
        args.extend(vargs)
    any_of = " OR ".join(f"({p})" for p in parts)
    if cond.op == "$nin":
        return f"COALESCE(NOT ({any_of}), TRUE)", args
    if cond.op == "$ne":
        return f"COALESCE({any_of}, TRUE)", args
    return f"COALESCE({any_of}, FALSE)", args


def _tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery text from word tokens only, so no input is ever read as tsquery syntax."""
    phrases = []
    for term in terms:
        tokens = _TOKEN.findall(term)
        if tokens:
            phrases.append("(" + " <-> ".join(tokens) + ")")
    return " | ".join(dict.fromkeys(phrases))


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

    Raises:
        MissingDependency: psycopg, psycopg-pool or pgvector is not installed.
        ConfigError: no URL, an unknown option, or a store created with another ``dims``.
        StoreError: the server cannot be reached or the schema cannot be migrated.
    """

    capabilities = CAPABILITIES

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
        **options: Any,
    ) -> None:
        pg, pool_cls, register_vector = _import()
        if not url:
            raise ConfigError("the postgres store needs store_url (postgresql://user@host/db)")
        if options:
            raise ConfigError(f"unknown postgres options: {', '.join(sorted(options))}")
        self.dims, self.exact_limit, self.ef_search = dims, exact_limit, ef_search
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
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _remem_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {r[0] for r in conn.execute("SELECT name FROM _remem_migrations")}
            for name, step in migrations.pending(applied):
                try:
                    with conn.transaction():
                        step(_Ctx(conn, self.dims))
                except pg.Error as exc:
                    raise MigrationError(f"migration {name} failed: {exc}") from exc
                conn.execute("INSERT INTO _remem_migrations (name) VALUES (%s)", (name,))
            row = conn.execute(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = 'memories'::regclass AND attname = 'embedding'"
            ).fetchone()
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
            cur.executemany(
                f"INSERT INTO memories ({_COLS}, search_text, embedding) VALUES ({marks})", rows
            )
            self._insert_history(conn, history, owner)

    def _insert_history(
        self, conn: psycopg.Connection[Any], history: Sequence[HistoryEntry], owner: dict[str, str]
    ) -> None:
        rows = []
        for entry in history:
            user_id = owner.get(entry.memory_id)
            if user_id is None:
                row = conn.execute(
                    "SELECT user_id FROM memories WHERE id = %s", (entry.memory_id,)
                ).fetchone()
                user_id = row[0] if row else (entry.after or entry.before or {}).get("user_id")
            if user_id is None:
                raise Conflict(f"history entry for unknown memory {entry.memory_id}")
            rows.append(_rows.history_row(entry, user_id))
        if rows:
            marks = ", ".join(["%s"] * len(_rows.HISTORY_COLUMNS))
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO history ({_HCOLS}) VALUES ({marks})", rows)

    def replace(self, record: Record, vector: Vector | None, entry: HistoryEntry) -> None:
        """See ``Store.replace``."""
        sets = ", ".join(f"{c} = %s" for c in _rows.COLUMNS[1:]) + ", search_text = %s"
        args: list[Any] = [*_rows.to_row(record)[1:], index_text(record)]
        if vector is not None:
            sets += ", embedding = %s"
            args.append(vector.astype("float32", copy=False))
        with self._conn("update") as conn:
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

    def remove(self, ids: Sequence[str], *, op: str, actor: str | None, reason: str | None) -> int:
        """See ``Store.remove``."""
        at = _time.now()
        with self._conn("delete") as conn:
            rows = conn.execute(
                f"DELETE FROM memories WHERE id = ANY(%s) RETURNING {_COLS}",
                (list(dict.fromkeys(ids)),),
            ).fetchall()
            history = []
            for row in sorted(rows, key=lambda r: r[0]):
                record = _rows.from_row(row)
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
                history.append(_rows.history_row(entry, record.user_id))
            if history:
                marks = ", ".join(["%s"] * len(_rows.HISTORY_COLUMNS))
                with conn.cursor() as cur:
                    cur.executemany(f"INSERT INTO history ({_HCOLS}) VALUES ({marks})", history)
                gone = [r[0] for r in rows]
                conn.execute("DELETE FROM links WHERE a = ANY(%s) OR b = ANY(%s)", (gone, gone))
        return len(rows)

    def purge(self, user_id: str) -> int:
        """See ``Store.purge``."""
        with self._conn("purge") as conn:
            count = conn.execute("DELETE FROM memories WHERE user_id = %s", (user_id,)).rowcount
            conn.execute("DELETE FROM history WHERE user_id = %s", (user_id,))
            conn.execute("DELETE FROM links WHERE user_id = %s", (user_id,))
        return int(count)

    # -- reads ------------------------------------------------------------------------------

    def get_many(self, ids: Sequence[str]) -> dict[str, Record]:
        """See ``Store.get_many``."""
        with self._conn("read") as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories WHERE id = ANY(%s)", (list(dict.fromkeys(ids)),)
            ).fetchall()
        return {r.id: r for r in map(_rows.from_row, rows)}

    def list(self, scope: Scope, *, limit: int, cursor: str | None) -> Page:
        """See ``Store.list``."""
        clause, args = _rows.where(scope, "%s", _condition)
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
        query = _tsquery(terms)
        if not query:
            return []
        clause, args = _rows.where(scope, "%s", _condition)
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

    def vector(
        self, query: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """See ``Store.vector``: exact in small scopes, HNSW (iterative scan) in large ones."""
        clause, args = _rows.where(scope, "%s", _condition)
        q = query.astype("float32", copy=False)
        with self._conn("vector search") as conn:
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
            f"ON CONFLICT (id) DO UPDATE SET {sets}, embedding = excluded.embedding "
            "WHERE memories.level <> 'record' RETURNING id"
        )
        with self._conn("write derived units") as conn, conn.cursor() as cur:
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
        with self._conn("write links") as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO links (a, b, relation, weight, user_id) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (a, b, relation) DO UPDATE SET weight = excluded.weight",
                [(x.a, x.b, x.relation, float(x.weight), user_id) for x in links],
            )

    def links(self, ids: Sequence[str]) -> builtins.list[Link]:
        """See ``Store.links``."""
        wanted = list(dict.fromkeys(ids))
        with self._conn("read links") as conn:
            rows = conn.execute(
                "SELECT a, b, relation, weight FROM links WHERE a = ANY(%s) OR b = ANY(%s) "
                "ORDER BY weight DESC, a, b, relation",
                (wanted, wanted),
            ).fetchall()
        return [Link(a, b, rel, float(w)) for a, b, rel, w in rows]

    def export(self, user_id: str | None) -> Iterator[Record | HistoryEntry]:
        """See ``Store.export``."""
        where, args = ("WHERE user_id = %s", [user_id]) if user_id is not None else ("", [])
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

    def close(self) -> None:
        """See ``Store.close``."""
        self._pool.close()
