"""Crash safety: a writer process is SIGKILLed at random moments; nothing acknowledged is lost.

The writer (``tests/_writer.py crash``) prints a line only after ``add``, ``add_many`` or
``update`` has returned. After every kill the store is reopened and checked: every acknowledged
id is there, every batch is complete or absent, versions match history, the FTS index and the
vectors cover exactly the stored rows, session units name only stored turns and cover every
acknowledged one, no link dangles, and SQLite's integrity check passes. ``test_crash_pg.py``
runs the same writer and checks against PostgreSQL.

The default run makes 25 kills; ``REMEM_CRASH_TRIALS=200`` runs the long variant.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from remem import Memory
from remem.store.base import Scope
from remem.types import Record

WRITER = Path(__file__).with_name("_writer.py")
TRIALS_PER_FILE = 25  # a fresh file every 25 kills keeps the checks fast in the long variant
USER = "crash"  # the user_id the writer writes as


# Read at import: the conftest fixture clears REMEM_* variables before each test runs.
TRIALS = int(os.environ.get("REMEM_CRASH_TRIALS") or "25")


@dataclass
class Acked:
    """What the writer acknowledged before it died."""

    tokens: dict[str, str] = field(default_factory=dict)  # id -> unique search token
    batches: dict[str, list[str]] = field(default_factory=dict)  # batch tag -> ids
    versions: dict[str, int] = field(default_factory=dict)  # id -> highest acknowledged version
    last: list[str] = field(default_factory=list)  # ids acknowledged in the latest trial

    def read(self, out: str) -> int:
        self.last = []
        lines = out.split("\n")[:-1]  # a line cut by the kill has no newline: not acknowledged
        for line in lines:
            parts = line.split()
            if parts[0] == "A":
                self.tokens[parts[1]] = parts[2]
                self.versions[parts[1]] = 1
                self.last.append(parts[1])
            elif parts[0] == "B":
                ids = parts[3].split(",")
                assert len(ids) == int(parts[2])
                self.batches[parts[1]] = ids
                self.versions.update(dict.fromkeys(ids, 1))
                self.last.extend(ids)
            elif parts[0] == "U":
                self.versions[parts[1]] = max(self.versions[parts[1]], int(parts[2]))
                self.last.append(parts[1])
        return len(lines)


def run_writer(db: str, seed: int, rng: random.Random, log: Path, *, window: float = 0.2) -> str:
    """Start the writer on ``db`` (a file or a PostgreSQL URL), SIGKILL it within ``window``
    seconds of its READY line (or at any time from its start on every fifth seed), return its
    output."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), "crash", db, str(seed)],
            stdout=out,
            stderr=subprocess.PIPE,
        )
        try:
            if seed % 5 == 0:
                # Sometimes kill early: while importing, opening or migrating the file.
                time.sleep(rng.uniform(0.0, 0.5))
            else:
                start = time.monotonic()
                while "READY" not in log.read_text():
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() - start < 30, "writer did not start"
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, window))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()
    return log.read_text()


def _verify(db: Path, acked: Acked, rng: random.Random) -> set[str]:
    with Memory(db, embedder="hashing") as mem:
        assert mem.store.integrity_check() == "ok"  # type: ignore[attr-defined]
        stale = verify_memory(mem, acked, rng)
    _check_raw(db)
    return stale


def verify_memory(mem: Memory, acked: Acked, rng: random.Random) -> set[str]:
    """The backend-neutral checks, through the public API; returns the uncovered session turns."""
    stored = mem.store.get_many(list(acked.versions))
    missing = set(acked.versions) - set(stored)
    assert not missing, f"{len(missing)} acknowledged records lost"
    for rid, version in acked.versions.items():
        assert stored[rid].version >= version
    # Versions agree with history: one entry per version, the last one is what is stored.
    for rid in rng.sample(sorted(stored), min(20, len(stored))) + acked.last:
        rec = stored[rid]
        hist = mem.history(rid)
        assert [h.version for h in hist] == list(range(1, rec.version + 1))
        assert hist[-1].after is not None and hist[-1].after["content"] == rec.content
    # Searches find what was acknowledged last (the most likely to be half-written).
    for rid in acked.last[-3:] + rng.sample(sorted(acked.tokens), min(3, len(acked.tokens))):
        token = acked.tokens.get(rid)
        if token is None or stored[rid].version > 1:
            continue
        hits = mem.search(token, user_id=USER, limit=3)
        assert hits and hits[0].record.id == rid
    return check_session_units(mem, stored)


def check_session_units(mem: Memory, acked: dict[str, Record]) -> set[str]:
    """Session units never name a missing turn and cover every acknowledged turn.

    A turn whose ``add`` was cut by the kill may be stored (its insert committed) while the
    session units, refreshed in a later transaction, do not include it yet: the return value
    returns those stale turns (they are no failure: the call was never acknowledged).
    """
    stale: set[str] = set()
    sessions = {r.session_id for r in acked.values() if r.session_id}
    for session in sorted(sessions):
        turns = {r.id for r in _all(mem, Scope(user_id=USER, session_id=session))}
        units = _all(mem, Scope(user_id=USER, session_id=session, levels=("session",)))
        covered = {s for u in units for s in u.sources}
        assert covered <= turns, f"session {session}: a unit names a turn that is not stored"
        lost = {r.id for r in acked.values() if r.session_id == session} - covered
        assert not lost, f"session {session}: acknowledged turns missing from its units: {lost}"
        stale |= turns - covered
    return stale


def _all(mem: Memory, scope: Scope) -> list[Record]:
    out: list[Record] = []
    cursor = None
    while True:
        page = mem.store.list(scope, limit=1000, cursor=cursor)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def _check_raw(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        # Every batch is complete (all or nothing), acknowledged or not.
        for tag, size, count in conn.execute(
            "SELECT json_extract(metadata, '$.batch'), json_extract(metadata, '$.size'), count(*) "
            "FROM memories WHERE json_extract(metadata, '$.batch') IS NOT NULL GROUP BY 1, 2"
        ):
            assert count == size, f"batch {tag}: {count} of {size} records visible"
        # The full-text index and the vectors cover exactly the stored rows (units included).
        rows = {r[0] for r in conn.execute("SELECT rowid FROM memories")}
        fts = {r[0] for r in conn.execute("SELECT rowid FROM memories_fts")}
        assert rows == fts
        bad = conn.execute(
            "SELECT count(*) FROM memories WHERE length(embedding) != 384 * 4"
        ).fetchone()[0]
        assert bad == 0
        # Every stored record has its add entry; derived units (level "session") keep no history.
        orphans = conn.execute(
            "SELECT count(*) FROM memories m WHERE m.level = 'record' AND NOT EXISTS "
            "(SELECT 1 FROM history h WHERE h.memory_id = m.id AND h.op = 'add')"
        ).fetchone()[0]
        assert orphans == 0
        levels = {r[0] for r in conn.execute("SELECT DISTINCT level FROM memories")}
        assert levels <= {"record", "session", "fact"}
        # A fact unit never outlives its turn (removal drops them in one transaction).
        orphan_facts = conn.execute(
            "SELECT count(*) FROM memories f WHERE f.level = 'fact' AND NOT EXISTS "
            "(SELECT 1 FROM memories m WHERE m.id = json_extract(f.sources, '$[0]'))"
        ).fetchone()[0]
        assert orphan_facts == 0
        dangling = conn.execute(
            "SELECT count(*) FROM links l WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = l.a)"
            " OR NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = l.b)"
        ).fetchone()[0]
        assert dangling == 0
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')")
    finally:
        conn.close()


def count_acked(totals: dict[str, int], acked: Acked) -> None:
    totals["records"] += len(acked.versions)
    totals["batches"] += len(acked.batches)
    totals["updates"] += sum(v - 1 for v in acked.versions.values())


def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    trials = TRIALS
    acked = Acked()
    db = tmp_path / "crash-0.db"
    started = time.monotonic()
    lines = 0
    totals = {"records": 0, "batches": 0, "updates": 0, "stale_session_turns": 0}
    stale: set[str] = set()
    for trial in range(trials):
        if trial and trial % TRIALS_PER_FILE == 0:
            count_acked(totals, acked)
            db = tmp_path / f"crash-{trial}.db"
            acked = Acked()
        out = run_writer(str(db), trial, rng, tmp_path / "writer.log")
        lines += acked.read(out)
        if db.exists():
            stale |= _verify(db, acked, rng)
    elapsed = time.monotonic() - started
    count_acked(totals, acked)
    totals["stale_session_turns"] = len(stale)
    summary = {
        "trials": trials,
        "acknowledged_lines": lines,
        **totals,
        "seconds": round(elapsed, 1),
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    print(f"crash trials: {summary}")
    assert lines > trials  # the writer did real work between kills
