"""Exact vector search over one user's cached rows, loaded grouped by level and scored by runs
(``remem.store.ann._products``): the same answers as a brute-force scan, ties by rowid.

Real SQLite files; random vectors (some repeated, to make ties).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remem.store import ann
from remem.store.base import Scope
from remem.store.sqlite import SQLiteStore
from remem.types import HistoryEntry, Record

DIMS = 8
T0 = datetime(2024, 1, 1, tzinfo=UTC)
_FILES = itertools.count()  # hypothesis reuses tmp_path: a new file per example


def _record(i: int, level: str) -> Record:
    return Record(
        id=f"r{i:05d}",
        user_id="u",
        kind="episodic",
        level=level,
        content=f"row {i}",
        occurred_at=T0,
        created_at=T0,
        updated_at=T0,
        origin="user" if level == "record" else "derived",
    )


def _brute(
    vectors: dict[str, np.ndarray], rowid: dict[str, int], q: np.ndarray, limit: int
) -> list[str]:
    scored = sorted(vectors, key=lambda i: (-float(np.float32(vectors[i] @ q)), rowid[i]))
    return scored[:limit]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    levels=st.lists(st.sampled_from(["record", "fact", "session"]), min_size=1, max_size=300),
    seed=st.integers(0, 2**16),
    limit=st.integers(1, 40),
)
def test_exact_search_by_runs_matches_a_brute_force_scan(
    tmp_path: Path, levels: list[str], seed: int, limit: int
) -> None:
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((max(2, len(levels) // 3), DIMS)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    vecs = pool[rng.integers(0, len(pool), len(levels))]  # repeated vectors: exact ties
    db = tmp_path / f"runs-{next(_FILES)}.db"
    store = SQLiteStore(db, dims=DIMS)
    try:
        records = [_record(i, lv) for i, lv in enumerate(levels)]
        half = len(records) // 2
        stored = [r for r in records[:half] if r.level == "record"]
        derived = [r for r in records[:half] if r.level != "record"]
        idx = {r.id: i for i, r in enumerate(records)}
        history = [HistoryEntry(r.id, 1, "add", T0, None, None, None, r.to_dict()) for r in stored]
        if stored:
            store.insert(stored, vecs[[idx[r.id] for r in stored]], history)
        if derived:
            store.put_derived(derived, vecs[[idx[r.id] for r in derived]])
        q = pool[0] + 0.01 * rng.standard_normal(DIMS).astype(np.float32)
        q /= np.linalg.norm(q)
        store.vector(q, Scope(user_id="u", levels=("record",)), limit=1)  # loaded grouped by level
        rest = records[half:]  # appended to the cached rows after the load: a second run
        for r in rest:
            if r.level == "record":
                h = [HistoryEntry(r.id, 1, "add", T0, None, None, None, r.to_dict())]
                store.insert([r], vecs[[idx[r.id]]], h)
            else:
                store.put_derived([r], vecs[[idx[r.id]]])
        with store._read() as conn:
            rowid = dict(conn.execute("SELECT id, rowid FROM memories").fetchall())
        for level in ("record", "fact", "session"):
            mine = {r.id: vecs[idx[r.id]] for r in records if r.level == level}
            got = [i for i, _ in store.vector(q, Scope(user_id="u", levels=(level,)), limit=limit)]
            assert got == _brute(mine, rowid, q, limit)
    finally:
        store.close()


def test_products_score_runs_as_a_gather_does() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((3000, DIMS)).astype(np.float32)
    q = rng.standard_normal(DIMS).astype(np.float32)
    cases = [
        np.arange(100, 900),
        np.r_[np.arange(0, 1000), np.arange(2990, 3000)],
        np.sort(rng.choice(3000, 200, replace=False)),
        np.sort(rng.choice(3000, 2500, replace=False)),
        np.array([5]),
        np.arange(10, 2000, 3),
    ]
    for rows in cases:
        assert np.allclose(ann._products(matrix, rows, q), matrix[rows] @ q, atol=1e-5)
