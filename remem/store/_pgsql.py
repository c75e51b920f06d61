"""The SQL of the PostgreSQL backend: its schema migrations, and filters and tsquery compiled to
answer exactly as the SQLite backend does.

SQLite is the reference. A filter compiled here holds on exactly the rows where the SQLite
backend's version holds, including its typing quirks (``json_extract`` typing, column affinity,
numbers ordered before text); ``tsquery`` turns search terms into a ``to_tsquery`` text in which no
user input is ever read as tsquery syntax.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from remem.filters import TIME_FIELDS, Condition
from remem.store import _rows
from remem.store.migrations import Migrations

if TYPE_CHECKING:
    import psycopg

migrations = Migrations("postgres")
# Any constant works; it only has to be the same in every process opening the same database.
MIGRATION_LOCK = 0x72656D656D  # "remem"


@dataclass(frozen=True)
class MigrationContext:
    """What a migration gets: the connection (inside the migrating transaction) and the width."""

    conn: psycopg.Connection[Any]
    dims: int


@migrations
def m001_create_memories(ctx: MigrationContext) -> None:
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
def m002_links_and_expiry(ctx: MigrationContext) -> None:
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


@migrations
def m003_guard_flags(ctx: MigrationContext) -> None:
    # The memory guard's flags: a JSON list of names, like sources/keywords (SQLite's m003 twin).
    ctx.conn.execute("ALTER TABLE memories ADD COLUMN flags jsonb NOT NULL DEFAULT '[]'")


@migrations
def m004_note_tags_and_context(ctx: MigrationContext) -> None:
    # A-MEM notes an optional LLM writes (SQLite's m004 twin); search_text already carries them.
    ctx.conn.execute(
        "ALTER TABLE memories ADD COLUMN tags jsonb NOT NULL DEFAULT '[]', ADD COLUMN context text"
    )


@migrations
def m005_embedder_record(ctx: MigrationContext) -> None:
    # SQLite's m007 twin: the embedder that wrote the store and a reindex in progress
    # (remem_meta), and a reindex's new vectors (any width: the target's dims may differ).
    ctx.conn.execute(
        """
        CREATE TABLE remem_meta (key text PRIMARY KEY, value text NOT NULL);
        ALTER TABLE memories ADD COLUMN embedding_next vector;
        """
    )


@migrations
def m006_kind_index(ctx: MigrationContext) -> None:
    # SQLite's m008 twin: a scope's memories of one kind (search's standing-memory stage).
    ctx.conn.execute("CREATE INDEX memories_kind ON memories (user_id, kind, level, id)")


# -- filters and full text ---------------------------------------------------------------------

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


def condition(cond: Condition, prefix: str) -> tuple[str, list[Any]]:
    """Compile one filter so that it holds exactly where the SQLite backend's version does.

    A missing key or NULL column fails every test except ``$ne`` / ``$nin``, which it passes.

    Args:
        cond: one parsed filter condition (on a column or a metadata path).
        prefix: what qualifies column names (``""`` or ``"m."``).

    Returns:
        The SQL expression (``%s`` placeholders) and its parameters, in order.
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


def tsquery(terms: Sequence[str]) -> str:
    """A ``to_tsquery`` text from word tokens only, so no input is ever read as tsquery syntax.

    Args:
        terms: search terms; each becomes a phrase (``<->``) of its word tokens.

    Returns:
        The OR of the distinct phrases, or ``""`` when no term has a word token.
    """
    phrases = []
    for term in terms:
        tokens = _TOKEN.findall(term)
        if tokens:
            phrases.append("(" + " <-> ".join(tokens) + ")")
    return " | ".join(dict.fromkeys(phrases))
