"""Crash safety on PostgreSQL: a writer process is SIGKILLed at random moments; nothing it had
acknowledged is lost, and the killed connections leave nothing behind on the server.

The writer (``tests/_writer.py crash URL SEED``) is the one the SQLite crash test uses, on
``Memory(store="postgres", store_url=URL, embedder="hashing")``: it prints a line only after
``add``, ``add_many`` or ``update`` has returned. After each kill the test waits until the server
has ended the killed process's connections (an open transaction is rolled back then), and checks,
through the library and in SQL: every acknowledged id is there with at least its version; every
batch is complete or absent; versions match history; a search finds the last acknowledged
records; every record has its ``add`` entry, a full-text vector and a 384-wide embedding; session
units name only stored turns and cover every acknowledged one; no link dangles; no transaction is
left prepared or open.

The default run makes 10 kills; ``REMEM_CRASH_TRIALS=200`` runs the long variant (read at import,
like the SQLite test). A fresh database starts every 25 kills.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from test_crash import Acked, count_acked, run_writer, verify_memory

from remem import Memory

if TYPE_CHECKING:
    from pg_server import PgServer

pytest_plugins = ["pg_server"]

TRIALS = int(os.environ.get("REMEM_CRASH_TRIALS") or "10")
TRIALS_PER_DATABASE = 25
WINDOW = 0.5  # seconds after READY: each call is a few round trips, slower than SQLite


@pytest.fixture
def databases(pg_server: PgServer) -> Iterator[list[str]]:
    """Databases made during the test (a new one every 25 kills), dropped afterwards."""
    made: list[str] = []
    yield made
    for url in made:
        pg_server.drop_database(url)


def _wait_for_disconnect(url: str) -> float:
    """Wait until no other connection is open on the database; return how long it took."""
    started = time.monotonic()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                "pg_backend_pid()",
                (name,),
            ).fetchone()
            if row is not None and row[0] == 0:
                return time.monotonic() - started
            assert time.monotonic() - started < 10, "the killed writer's connections stay open"
            time.sleep(0.01)


def _check_sql(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:

        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return int(row[0])

        # Every batch is complete (all or nothing), acknowledged or not.
        for tag, size, count in conn.execute(
            "SELECT metadata->>'batch', (metadata->>'size')::int, count(*) FROM memories "
            "WHERE metadata ? 'batch' GROUP BY 1, 2"
        ):
            assert count == size, f"batch {tag}: {count} of {size} records visible"
        assert one("SELECT count(*) FROM memories WHERE tsv IS NULL OR search_text = ''") == 0
        assert one("SELECT count(*) FROM memories WHERE vector_dims(embedding) <> 384") == 0
        # Every stored record has its add entry; derived units (level "session") keep none.
        orphans = one(
            "SELECT count(*) FROM memories m WHERE m.level = 'record' AND NOT EXISTS "
            "(SELECT 1 FROM history h WHERE h.memory_id = m.id AND h.op = 'add')"
        )
        assert orphans == 0
        # History rows carry their memory's owner (purge and export select on it).
        assert (
            one(
                "SELECT count(*) FROM history h JOIN memories m ON m.id = h.memory_id "
                "WHERE h.user_id <> m.user_id"
            )
            == 0
        )
        levels = {r[0] for r in conn.execute("SELECT DISTINCT level FROM memories")}
        assert levels <= {"record", "session", "fact"}
        # A fact unit never outlives its turn (removal drops them in one transaction).
        assert (
            one(
                "SELECT count(*) FROM memories f WHERE f.level = 'fact' AND NOT EXISTS "
                "(SELECT 1 FROM memories m WHERE m.id = f.sources->>0)"
            )
            == 0
        )
        dangling = one(
            "SELECT count(*) FROM links l WHERE NOT EXISTS (SELECT 1 FROM memories m "
            "WHERE m.id = l.a) OR NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = l.b)"
        )
        assert dangling == 0
        assert one("SELECT count(*) FROM pg_prepared_xacts") == 0
        # The one migration run per database, however early a writer was killed in it.
        names = [r[0] for r in conn.execute("SELECT name FROM _remem_migrations ORDER BY name")]
        assert names == sorted(set(names))


def _migrated(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('memories') IS NOT NULL").fetchone()
        return bool(row and row[0])


def test_sigkill_loses_no_acknowledged_write_on_postgres(
    pg_server: PgServer, databases: list[str], tmp_path: Path
) -> None:
    rng = random.Random(20240612)
    acked = Acked()
    started = time.monotonic()
    lines = 0
    totals = {"records": 0, "batches": 0, "updates": 0}
    stale: set[str] = set()
    slowest_disconnect = 0.0
    for trial in range(TRIALS):
        if trial % TRIALS_PER_DATABASE == 0:
            if databases:
                count_acked(totals, acked)
            databases.append(pg_server.create_database())
            acked = Acked()
        url = databases[-1]
        out = run_writer(url, trial, rng, tmp_path / "writer.log", window=WINDOW)
        lines += acked.read(out)
        slowest_disconnect = max(slowest_disconnect, _wait_for_disconnect(url))
        if not _migrated(url):
            assert not acked.versions  # killed before its first migration committed
            continue
        with Memory(store="postgres", store_url=url, embedder="hashing") as mem:
            stale |= verify_memory(mem, acked, rng)
        _check_sql(url)
    elapsed = time.monotonic() - started
    count_acked(totals, acked)
    summary = {
        "trials": TRIALS,
        "acknowledged_lines": lines,
        **totals,
        "stale_session_turns": len(stale),
        "slowest_disconnect_s": round(slowest_disconnect, 3),
        "seconds": round(elapsed, 1),
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    print(f"postgres crash trials: {summary}")
    assert lines > TRIALS  # the writer did real work between kills
