"""``remem doctor``: one report on a store, as rows of (check, status, detail).

Each ``check_*`` function returns rows; ``run`` gathers them all. A status is "ok", "warn" (worth a
look, nothing is broken) or "fail" (something is wrong: ``remem doctor`` exits 1). Nothing here
writes to the store: SQLite is opened without creating the file, and its one statement that looks
like a write (FTS5's ``integrity-check``) runs in a transaction that is rolled back.

- integrity: SQLite's ``PRAGMA integrity_check`` and FTS5's integrity check of every full-text
  table (``memories_fts`` and each tenant's partition in ``fts_partitions``); PostgreSQL: the
  connection;
- migrations: applied vs known (``remem.store.migrations``);
- index freshness: every row has a vector of the right width and a full-text row in its table
  (and no full-text row is left without its record); counts of records, derived units,
  quarantined records and lessons;
- the model: its name and width, whether it loads, a test embedding's time;
- settings: every effective ``Settings`` value, secrets masked;
- permissions: the store file (and its WAL files) and the keys file are owner-only (0600).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from remem.config import Settings, default_path
from remem.guard import policy
from remem.store import _pgsql
from remem.store._sqlite_schema import migrations as sqlite_migrations

OK, WARN, FAIL = "ok", "warn", "fail"
Row = tuple[str, str, str]
SECRETS = frozenset({"llm_api_key"})
# Levels that are not derived units: what the user stored, quarantined records, the guard's lessons.
NOT_DERIVED = ("record", policy.QUARANTINE, policy.LESSON)
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def run(
    path: str | Path | None = None,
    *,
    keys_path: str | Path | None = None,
    settings: Settings | None = None,
) -> list[Row]:
    """Every check on one store.

    Args:
        path: the SQLite file (default ``default_path()``); ignored for the postgres store.
        keys_path: the API keys file (default ``<store dir>/keys.db``).
        settings: the effective settings (default ``Settings.from_env()``).

    Returns:
        The rows, in the order of the report.
    """
    settings = settings or Settings.from_env()
    rows: list[Row] = []
    if settings.store in ("postgres", "postgresql"):
        rows += check_postgres(settings)
        files: list[Path] = []
    else:
        db = Path(path).expanduser() if path is not None else default_path()
        rows += check_sqlite(db, dims=settings.dims)
        files = [db, *(Path(f"{db}{end}") for end in ("-wal", "-shm"))]
        if keys_path is None:
            from remem.keys import default_keys_path

            keys_path = default_keys_path(db)
    rows += check_model(settings)
    rows += check_permissions(files, Path(keys_path) if keys_path is not None else None)
    rows += check_settings(settings)
    return rows


def failed(rows: list[Row]) -> bool:
    """True when any row failed."""
    return any(status == FAIL for _, status, _ in rows)


# -- SQLite ------------------------------------------------------------------------------------


@contextmanager
def _open(db: Path) -> Iterator[sqlite3.Connection]:
    # Read-write (FTS5's integrity check is spelled as an INSERT), never creating the file: the
    # caller checked it exists; mode=rw fails rather than create one.
    conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, isolation_level=None, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def check_sqlite(db: Path, *, dims: int) -> list[Row]:
    """Integrity, migrations, index freshness and counts of one SQLite file."""
    if not db.exists():
        return [("store", FAIL, f"no store at {db}")]
    rows: list[Row] = [("store", OK, f"SQLite file {db} ({_size(db)})")]
    try:
        with _open(db) as conn:
            rows.append(_integrity(conn))
            tables = _fts_tables(conn)
            rows.append(_fts_integrity(conn, tables))
            rows.append(_migrations(_applied(conn), [n for n, _ in sqlite_migrations.steps]))
            rows += _freshness(conn, tables, dims)
            rows.append(_counts(conn))
    except sqlite3.Error as exc:
        rows.append(("sqlite", FAIL, f"cannot read {db}: {exc}"))
    return rows


def _integrity(conn: sqlite3.Connection) -> Row:
    found = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    if found == ["ok"]:
        return ("integrity", OK, "PRAGMA integrity_check: ok")
    return ("integrity", FAIL, "; ".join(found[:5]))


def _fts_tables(conn: sqlite3.Connection) -> dict[str, str | None]:
    """Full-text tables: the main one (prefix None) and each partition (its tenant's prefix)."""
    tables: dict[str, str | None] = {"memories_fts": None}
    for prefix, name in conn.execute("SELECT prefix, name FROM fts_partitions ORDER BY prefix"):
        tables[str(name)] = str(prefix)
    return tables


def _fts_integrity(conn: sqlite3.Connection, tables: dict[str, str | None]) -> Row:
    bad = []
    for name in tables:
        conn.execute("BEGIN")
        try:
            conn.execute(f"INSERT INTO {name} ({name}) VALUES ('integrity-check')")
        except sqlite3.Error as exc:
            bad.append(f"{name}: {exc}")
        finally:
            conn.execute("ROLLBACK")
    if bad:
        return ("full-text integrity", FAIL, "; ".join(bad))
    return ("full-text integrity", OK, f"{len(tables)} FTS5 table(s) pass integrity-check")


def _applied(conn: sqlite3.Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT name FROM _remem_migrations ORDER BY name")]


def _migrations(applied: list[str], known: list[str]) -> Row:
    pending = [n for n in known if n not in applied]
    unknown = [n for n in applied if n not in known]
    if unknown:
        return (
            "migrations",
            FAIL,
            f"applied by a newer remem: {', '.join(unknown)} (upgrade remem to use this store)",
        )
    if pending:
        return (
            "migrations",
            WARN,
            f"{len(applied)}/{len(known)} applied; pending (applied when the store next opens): "
            f"{', '.join(pending)}",
        )
    return ("migrations", OK, f"{len(applied)}/{len(known)} applied (latest {known[-1]})")


def _freshness(conn: sqlite3.Connection, tables: dict[str, str | None], dims: int) -> list[Row]:
    """Every row has a vector of ``dims`` floats and a full-text row in its own table."""
    width = dims * 4
    (bad_vectors,) = conn.execute(
        "SELECT count(*) FROM memories WHERE embedding IS NULL OR length(embedding) != ?",
        (width,),
    ).fetchone()
    widths = [
        int(w) // 4
        for (w,) in conn.execute(
            "SELECT DISTINCT length(embedding) FROM memories WHERE length(embedding) != ? LIMIT 3",
            (width,),
        )
    ]
    rows: list[Row] = [
        (
            "vectors",
            FAIL if bad_vectors else OK,
            f"{bad_vectors} row(s) without a {dims}-wide vector (found widths {widths}; is dims "
            f"the store's?)"
            if bad_vectors
            else f"every row has its {dims}-wide vector",
        )
    ]
    missing, orphans = 0, 0
    partitioned = (
        "EXISTS (SELECT 1 FROM fts_partitions p "
        "WHERE substr(m.user_id, 1, length(p.prefix)) = p.prefix)"
    )
    for name, prefix in tables.items():
        args: tuple[Any, ...] = ()
        if prefix is None:
            mine = f"NOT {partitioned}"
        else:
            mine, args = "substr(m.user_id, 1, ?) = ?", (len(prefix), prefix)
        missing += conn.execute(
            f"SELECT count(*) FROM memories m WHERE {mine} "
            f"AND NOT EXISTS (SELECT 1 FROM {name} f WHERE f.rowid = m.rowid)",
            args,
        ).fetchone()[0]
        orphans += conn.execute(
            f"SELECT count(*) FROM {name} f WHERE NOT EXISTS "
            f"(SELECT 1 FROM memories m WHERE m.rowid = f.rowid AND {mine})",
            args,
        ).fetchone()[0]
    if missing:
        detail = f"{missing} row(s) without their full-text row: BM25 search misses them"
        if orphans:
            detail += f"; {orphans} full-text row(s) without their record"
        rows.append(("full-text index", FAIL, detail))
    elif orphans:
        rows.append(("full-text index", WARN, f"{orphans} full-text row(s) without their record"))
    else:
        rows.append(("full-text index", OK, "every row has its full-text row"))
    return rows


def _counts(conn: sqlite3.Connection) -> Row:
    levels = dict(conn.execute("SELECT level, count(*) FROM memories GROUP BY level").fetchall())
    return ("counts", OK, _count_detail({str(k): int(v) for k, v in levels.items()}))


def _count_detail(levels: dict[str, int]) -> str:
    derived = sum(n for level, n in levels.items() if level not in NOT_DERIVED)
    return (
        f"{levels.get('record', 0)} records, {derived} derived units, "
        f"{levels.get(policy.QUARANTINE, 0)} quarantined, {levels.get(policy.LESSON, 0)} lessons"
    )


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


# -- PostgreSQL --------------------------------------------------------------------------------


def check_postgres(settings: Settings) -> list[Row]:
    """The connection, migrations, vectors and counts of the postgres store."""
    url = settings.store_url
    if not url:
        return [("store", FAIL, "the postgres store needs store_url")]
    try:
        import psycopg
    except ImportError:
        return [("store", FAIL, "psycopg is not installed: pip install 'remem[pg]'")]
    try:
        with closing(psycopg.connect(url, connect_timeout=10)) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            rows: list[Row] = [
                ("store", OK, f"PostgreSQL {version[0] if version else '?'} at {mask_url(url)}")
            ]
            known = [n for n, _ in _pgsql.migrations.steps]
            applied = [
                str(r[0]) for r in conn.execute("SELECT name FROM _remem_migrations ORDER BY name")
            ]
            rows.append(_migrations(applied, known))
            (no_vector,) = conn.execute(
                "SELECT count(*) FROM memories WHERE embedding IS NULL"
            ).fetchone() or (0,)
            rows.append(
                (
                    "vectors",
                    FAIL if no_vector else OK,
                    f"{no_vector} row(s) without a vector" if no_vector else "every row has one",
                )
            )
            levels = {
                str(k): int(v)
                for k, v in conn.execute(
                    "SELECT level, count(*) FROM memories GROUP BY level"
                ).fetchall()
            }
            rows.append(("counts", OK, _count_detail(levels)))
            return rows
    except psycopg.Error as exc:
        return [("store", FAIL, f"cannot use PostgreSQL at {mask_url(url)}: {exc}")]


# -- the model, the settings, the files ------------------------------------------------------


def check_model(settings: Settings) -> list[Row]:
    """The embedder the settings name: it loads and embeds a test text of the right width."""
    from remem.embed.base import embed
    from remem.parts import make_embedder

    name = settings.embedder
    start = time.perf_counter()
    try:
        embedder = make_embedder(settings)
        first = embed(embedder, ["remem doctor test embedding"])
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        embed(embedder, ["a second test embedding, model loaded"])
        again = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - any failure to load or run is the finding
        return [("model", FAIL, f"{name} does not load or embed: {type(exc).__name__}: {exc}")]
    if first.shape != (1, settings.dims):
        return [
            (
                "model",
                FAIL,
                f"{embedder.name} gives {first.shape[1]} dims, settings say {settings.dims}",
            )
        ]
    return [
        (
            "model",
            OK,
            f"{embedder.name}, {embedder.dims} dims; loads and embeds in {loaded * 1000:.0f} ms, "
            f"then {again * 1000:.1f} ms per text",
        )
    ]


def check_settings(settings: Settings) -> list[Row]:
    """Every effective setting by its flat name, secrets masked."""
    return [(f"setting {name}", OK, _shown(name, value)) for name, value in settings.flat().items()]


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "None"
    if name in SECRETS:
        return "****" if value else "(empty)"
    if name == "store_url":
        return mask_url(str(value))
    if isinstance(value, dict) or hasattr(value, "items"):
        return repr(dict(value))
    return repr(value)


def mask_url(url: str) -> str:
    """``url`` with its password (``user:password@``) masked."""
    return _URL_PASSWORD.sub(r"\1****@", url)


def check_permissions(store_files: list[Path], keys: Path | None) -> list[Row]:
    """The store's files and the keys file are owner-only (0600)."""
    if os.name == "nt":
        return [("permissions", WARN, "not checked on Windows")]
    rows: list[Row] = []
    for path in store_files:
        if path.exists():
            rows.append(_mode_row("store file", path))
    if keys is not None:
        if keys.exists():
            rows.append(_mode_row("keys file", keys))
        else:
            rows.append(("keys file", OK, f"no keys file at {keys} (keyless: loopback only)"))
    return rows


def _mode_row(what: str, path: Path) -> Row:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return (
            f"{what} permissions",
            FAIL,
            f"{path} is {mode:04o}, expected 0600: others may read it (chmod 600 {path})",
        )
    return (f"{what} permissions", OK, f"{path} is {mode:04o}")
