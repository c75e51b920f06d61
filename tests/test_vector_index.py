"""The SQLite store's in-process vector index (``remem.store.ann``) and long sessions.

- Incremental updates (this connection's inserts, replaces, deletes, derived units) leave the
  cache equal to a fresh load from the file: a hypothesis property over random write sequences.
- The cache is bounded by bytes over users; unknown or empty users leave no trace in it.
- The HNSW index saved beside the file is used when it matches, rebuilt when stale or corrupt.
- ANN recall@10 against exact search on a clustered synthetic set.
- A 6,000-turn session keeps getting session units (no cap on session length).

Real SQLite files; random or hashed vectors for speed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remem import Memory
from remem.embed.hashing import HashingEmbedder
from remem.organize import units, writer
from remem.store import ann
from remem.store.base import Scope, Store, part_id
from remem.store.postgres import PostgresStore
from remem.store.sqlite import SQLiteStore
from remem.types import HistoryEntry, Record

pytest_plugins = ["pg_server"]

DIMS = 16
T0 = datetime(2024, 1, 1, tzinfo=UTC)
LEVELS = ("record", "session", "quarantine")


def unit(rng: np.random.Generator, dims: int = DIMS) -> np.ndarray:
    v = rng.standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def rec(id: str, user: str = "u", **kw: Any) -> Record:
    kw.setdefault("created_at", T0)
    kw.setdefault("updated_at", kw["created_at"])
    kw.setdefault("occurred_at", kw["created_at"])
    return Record(id=id, user_id=user, content=kw.pop("content", f"memory {id}"), **kw)


def entry(r: Record, op: str = "add") -> HistoryEntry:
    return HistoryEntry(memory_id=r.id, version=r.version, op=op, at=T0, after=r.to_dict())


def live_rows(vecs: ann.UserVectors | None) -> dict[int, tuple[Any, ...]]:
    """What a cached user holds, row by row, independent of row positions."""
    if vecs is None:
        return {}
    out = {}
    for i in np.flatnonzero(vecs.live[: vecs.n]):
        level = next(k for k, c in vecs.codes.items() if c == vecs.level[i])
        out[int(vecs.rowids[i])] = (
            vecs.ids[i],
            level,
            bool(vecs.valid[i]),
            float(vecs.expires[i]),
            vecs.matrix[i].tobytes(),
        )
    assert len(out) == len(vecs) and set(out) == set(vecs.pos)
    return out


# -- incremental index == fresh load -----------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["insert", "insert", "replace", "supersede", "relevel", "remove", "derive", "underive"]
        ),
        st.integers(0, 30),
        st.integers(0, 2**31),
    ),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_incremental_index_equals_a_fresh_load(
    tmp_path_factory: pytest.TempPathFactory, ops: Any
) -> None:
    path = tmp_path_factory.mktemp("inc") / "m.db"
    store = SQLiteStore(path, dims=DIMS)
    rng = np.random.default_rng(0)
    records: dict[str, Record] = {}
    derived: set[str] = set()
    q = unit(rng)
    try:
        for n, (op, pick, seed) in enumerate(ops):
            r = np.random.default_rng(seed)
            store.vector(q, Scope(user_id="u"), limit=3)  # keep the user cached between writes
            ids = sorted(records)
            target = records[ids[pick % len(ids)]] if ids else None
            if op == "insert" or target is None:
                new = rec(f"r{n:03d}", expires_at=T0 + timedelta(days=seed % 5000))
                store.insert([new], np.stack([unit(r)]), [entry(new)])
                records[new.id] = new
            elif op in ("replace", "supersede", "relevel"):
                changed = replace(target, version=target.version + 1)
                vector = unit(r) if op == "replace" else None
                if op == "supersede":
                    changed = replace(changed, valid_to=T0)
                if op == "relevel":
                    changed = replace(
                        changed, level="quarantine" if target.level == "record" else "record"
                    )
                store.replace(changed, vector, entry(changed, "update"))
                records[target.id] = changed
            elif op == "remove":
                store.remove([target.id], op="delete", actor=None, reason=None)
                del records[target.id]
                derived -= {part_id(target.id, i) for i in range(3)}
            elif op == "derive":
                part = rec(part_id(target.id, seed % 3), level="session")
                store.put_derived([part], np.stack([unit(r)]))
                derived.add(part.id)
            elif op == "underive" and derived:
                gone = sorted(derived)[pick % len(derived)]
                store.drop_derived([gone])
                derived.discard(gone)
        cached = live_rows(store._cache.get("u"))
        fresh_store = SQLiteStore(path, dims=DIMS)
        try:
            fresh = live_rows(fresh_store._vectors("u"))
            if store._cache.get("u") is not None:  # None: the user had no rows before the last op
                assert cached == fresh
            for levels in (("record",), ("session",), LEVELS):
                scope = Scope(user_id="u", levels=levels)
                got, want = store.vector(q, scope, limit=5), fresh_store.vector(q, scope, limit=5)
                assert [i for i, _ in got] == [i for i, _ in want]
                assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)
        finally:
            fresh_store.close()
    finally:
        store.close()


def test_own_writes_never_reload_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "m.db", dims=DIMS)
    rng = np.random.default_rng(1)
    first = rec("a")
    store.insert([first], np.stack([unit(rng)]), [entry(first)])
    store.vector(unit(rng), Scope(user_id="u"), limit=1)
    loads: list[int] = []
    real = ann.UserVectors.extend

    def counted(self: ann.UserVectors, rows: Any) -> None:
        if self.n == 0:  # a user read from SQLite: its first page
            loads.append(1)
        real(self, rows)

    monkeypatch.setattr(ann.UserVectors, "extend", counted)
    for i in range(200):
        r = rec(f"b{i:03d}")
        store.insert([r], np.stack([unit(rng)]), [entry(r)])
        assert store.vector(unit(rng), Scope(user_id="u"), limit=5)
    store.remove([f"b{i:03d}" for i in range(150)], op="delete", actor=None, reason=None)
    assert len(store.vector(unit(rng), Scope(user_id="u"), limit=100)) == 51
    assert loads == []
    # Another connection's commit still invalidates.
    other = SQLiteStore(tmp_path / "m.db", dims=DIMS)
    r = rec("c")
    other.insert([r], np.stack([unit(rng)]), [entry(r)])
    other.close()
    assert len(store.vector(unit(rng), Scope(user_id="u"), limit=100)) == 52
    assert loads == [1]
    store.close()


# -- bounded cache -----------------------------------------------------------------------------


def test_cache_is_bounded_by_bytes_over_users(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db", dims=DIMS, vector_cache_bytes=64 * 1024)
    rng = np.random.default_rng(2)
    for u in range(40):
        rs = [rec(f"{u}-{i}", user=f"user{u}") for i in range(100)]
        store.insert(rs, np.stack([unit(rng) for _ in rs]), [entry(r) for r in rs])
    for u in range(40):
        assert len(store.vector(unit(rng), Scope(user_id=f"user{u}"), limit=3)) == 3
        assert store._cache.nbytes() <= 64 * 1024
    assert 0 < len(store._cache) < 40
    store.close()


def test_unknown_and_empty_users_do_not_grow_the_cache(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db", dims=DIMS)
    rng = np.random.default_rng(3)
    r = rec("gone", user="emptied")
    store.insert([r], np.stack([unit(rng)]), [entry(r)])
    store.remove(["gone"], op="delete", actor=None, reason=None)
    for i in range(2000):
        assert store.vector(unit(rng), Scope(user_id=f"stranger-{i}"), limit=5) == []
    assert store.vector(unit(rng), Scope(user_id="emptied"), limit=5) == []
    assert len(store._cache) == 0 and store._cache.nbytes() == 0
    store.close()


# -- the HNSW index beside the file ------------------------------------------------------------


def _filled(path: Path, n: int, rng: np.random.Generator, exact_limit: int = 100) -> SQLiteStore:
    store = SQLiteStore(path, dims=DIMS, exact_limit=exact_limit)
    rs = [rec(f"x{i:05d}") for i in range(n)]
    store.insert(rs, np.stack([unit(rng) for _ in rs]), [entry(r) for r in rs])
    return store


def _exact(store: SQLiteStore, q: np.ndarray, scope: Scope, limit: int) -> list[tuple[str, float]]:
    vecs = store._vectors(scope.user_id)
    assert vecs is not None
    return ann.exact(vecs, q, np.flatnonzero(vecs.mask(scope.levels, 0.0)), limit)


def test_closing_stops_a_background_build_and_the_process_exits_cleanly(tmp_path: Path) -> None:
    """A store closed while its HNSW index is being built stops the build within a chunk of rows
    and waits for it; the process then exits with 0 (it aborted in C++ when the interpreter
    exited under usearch's running threads). The unfinished index is not saved."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        import numpy as np
        from remem.store import ann
        from remem.store.base import Scope
        from remem.store.sqlite import SQLiteStore
        from tests.test_vector_index import entry, rec, unit
        rng = np.random.default_rng(5)
        store = SQLiteStore({str(tmp_path / "m.db")!r}, dims=384, exact_limit=100)
        rs = [rec(f"x{{i:05d}}") for i in range(20000)]
        store.insert(rs, np.stack([unit(rng, 384) for _ in rs]), [entry(r) for r in rs])
        store.vector(unit(rng, 384), Scope(user_id="u"), limit=5)  # starts the build
        assert store._cache._builders and store._cache._builders[0].is_alive()
        t0 = time.perf_counter()
        store.close()
        print(f"closed {{time.perf_counter() - t0:.2f}}")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 5.0  # one chunk, not the whole build
    saved = tmp_path / "m.db.ann"
    assert not saved.exists() or not any(saved.iterdir())


def test_ann_index_saved_reused_and_rebuilt_when_stale_or_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []
    real = ann.Ann.build

    def counted(*a: Any, **k: Any) -> ann.Ann:
        builds.append(1)
        return real(*a, **k)

    monkeypatch.setattr(ann.Ann, "build", staticmethod(counted))
    rng = np.random.default_rng(4)
    path = tmp_path / "m.db"
    q = unit(rng)
    scope = Scope(user_id="u")
    store = _filled(path, 600, rng)
    hits = store.vector(q, scope, limit=10)  # exact while the index is built in the background
    store._cache.wait()
    assert builds == [1]
    assert store.vector(q, scope, limit=10) == hits == _exact(store, q, scope, 10)
    (index_file,) = (tmp_path / "m.db.ann").iterdir()
    assert index_file.stat().st_mode & 0o077 == 0
    store.close()

    store = SQLiteStore(path, dims=DIMS, exact_limit=100)  # unchanged: the saved index is used
    assert store.vector(q, scope, limit=10) == hits
    assert builds == [1]
    loaded = store._cache.get("u")
    assert loaded is not None and loaded.ann is not None
    # The file holds the graph, not the settings: a loaded index searches and adds as a built one.
    assert loaded.ann.index.expansion_add == ann.EXPANSION_ADD
    loaded.ann.search(q, 200)  # retrieval's candidate counts: the full expansion
    assert loaded.ann.index.expansion_search == ann.EXPANSION_SEARCH
    loaded.ann.search(q, 5)  # a write's few nearest: a smaller one
    assert loaded.ann.index.expansion_search == ann.EXPANSION_FEW < ann.EXPANSION_SEARCH
    new = rec("late")
    store.insert([new], np.stack([q]), [entry(new)])  # kept in the index in memory, saved at close
    assert store.vector(q, scope, limit=1)[0][0] == "late"
    store.close()
    store = SQLiteStore(path, dims=DIMS, exact_limit=100)
    assert store.vector(q, scope, limit=1)[0][0] == "late"
    assert builds == [1]
    store.close()

    other = sqlite_connection(path)  # a write the index never saw: stale
    other.execute("DELETE FROM memories WHERE id = 'late'")
    other.commit()
    other.close()
    store = SQLiteStore(path, dims=DIMS, exact_limit=100)
    assert store.vector(q, scope, limit=10) == hits
    store._cache.wait()
    assert builds == [1, 1]
    store.close()

    whole = index_file.read_bytes()
    torn_header = whole[: len(ann._MAGIC) + 10]  # cut inside the header line
    for garbage in (b"\x00" * 4096, whole[:-100] + b"x" * 100, b"", torn_header):
        index_file.write_bytes(garbage)
        store = SQLiteStore(path, dims=DIMS, exact_limit=100)
        assert store.vector(q, scope, limit=10) == hits
        store._cache.wait()
        assert store.vector(q, scope, limit=10) == hits
        store.close()
    assert builds == [1, 1, 1, 1, 1, 1]

    # A file written with float32 vectors (before ``ann.DTYPE``) is rebuilt as int8, once.
    store = SQLiteStore(path, dims=DIMS, exact_limit=100)
    store.vector(q, scope, limit=10)
    store._cache.wait()
    store.close()
    head, _, payload = index_file.read_bytes()[len(ann._MAGIC) :].partition(b"\n")
    header = json.loads(head)
    assert header["dtype"] == ann.DTYPE == "i8"
    del header["dtype"]
    index_file.write_bytes(ann._MAGIC + json.dumps(header).encode() + b"\n" + payload)
    for _ in range(2):
        store = SQLiteStore(path, dims=DIMS, exact_limit=100)
        assert store.vector(q, scope, limit=10) == hits
        store._cache.wait()
        store.close()
    assert builds == [1, 1, 1, 1, 1, 1, 1]

    store = SQLiteStore(path, dims=DIMS, exact_limit=100)
    store.purge("u")
    assert not index_file.exists()
    store.close()


def sqlite_connection(path: Path) -> Any:
    import sqlite3

    return sqlite3.connect(path)


def test_ann_search_filters_levels_validity_and_sql_conditions(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    store = _filled(tmp_path / "m.db", 800, rng)
    q = unit(rng)
    store.vector(q, Scope(user_id="u"), limit=1)
    store._cache.wait()
    vecs = store._cache.get("u")
    assert vecs is not None and vecs.ann is not None
    top = store.vector(q, Scope(user_id="u"), limit=20)
    closed = [i for i, _ in top[:5]]
    for rid in closed:
        (old,) = store.get_many([rid]).values()
        store.replace(replace(old, version=2, valid_to=T0), None, entry(old, "supersede"))
    hits = store.vector(q, Scope(user_id="u"), limit=10)
    assert not set(closed) & {i for i, _ in hits}
    assert hits == _exact(store, q, Scope(user_id="u"), 10)
    both = store.vector(q, Scope(user_id="u", include_superseded=True), limit=5)
    assert [i for i, _ in both] == [i for i, _ in top[:5]]
    assert vecs.ann is not None and len(vecs.ann) == 800
    # A selective SQL filter: the few allowed rows are searched exactly.
    few = store.vector(q, Scope(user_id="u", ids=("x00001", "x00002")), limit=10)
    assert {i for i, _ in few} == {"x00001", "x00002"}
    store.close()


def test_ann_recall_on_clustered_vectors() -> None:
    rng = np.random.default_rng(6)
    dims, n = 64, 6000
    centres = rng.standard_normal((60, dims)).astype(np.float32)
    points = centres[rng.integers(0, 60, n)] + 0.35 * rng.standard_normal((n, dims)).astype(
        np.float32
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    rows = [(i + 1, f"m{i}", points[i].tobytes(), "record", True, float("inf")) for i in range(n)]
    vecs = ann.UserVectors.from_rows("u", dims, rows)
    index = ann.Ann.build(vecs.rowids[:n], vecs.matrix[:n])
    mask = vecs.mask(("record",), 0.0)
    recall = []
    for _ in range(200):
        q = points[rng.integers(n)] + 0.2 * rng.standard_normal(dims).astype(np.float32)
        q /= np.linalg.norm(q)
        truth = {i for i, _ in ann.exact(vecs, q, np.flatnonzero(mask), 10)}
        got = {i for i, _ in ann.approximate(vecs, index, q, mask, 10)}
        recall.append(len(truth & got) / 10)
    assert float(np.mean(recall)) >= 0.98


def test_ann_recall_measured_on_a_stores_own_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from remem.bench import scale

    questions = [f"what happened with topic {i}" for i in range(12)]
    monkeypatch.setattr(scale, "corpus", lambda data: ([], questions))
    db = tmp_path / "grown.db"
    with Memory(db, embedder="hashing") as mem:
        mem.add_many(
            [
                {
                    "content": f"We talked about topic {i % 40}. It went {i} ways.",
                    "user_id": scale.USER,
                    "session_id": f"s{i // 10}",
                }
                for i in range(200)
            ]
        )
    rows = scale.ann_recall_store(db, "unused", embedder="hashing", queries=12)
    assert [r["level"] for r in rows] == ["record", "fact"]
    for row in rows:
        assert row["rows"] >= row["level_rows"] > 0
        assert row["distinct_vectors"] <= row["rows"]
        assert row["recall_at_10"] >= 0.9  # a few hundred rows: HNSW finds nearly all
        # A hit by rowid is also a hit within the tie margin.
        assert row["recall_at_10"] <= row["recall_at_10_ties"] <= 1.0
    with pytest.raises(ValueError, match="no vectors of user"):
        scale.ann_recall_store(db, "unused", user_id="nobody", embedder="hashing")


# -- long sessions -----------------------------------------------------------------------------


def test_a_6000_turn_session_keeps_getting_units(tmp_path: Path) -> None:
    embedder = HashingEmbedder(dims=64)
    store = SQLiteStore(tmp_path / "m.db", dims=64)
    turns = [
        rec(
            f"t{i:05d}",
            session_id="long",
            speaker="A" if i % 2 else "B",
            content=f"turn {i} about topic {i % 97}",
            occurred_at=T0 + timedelta(seconds=i),
        )
        for i in range(6000)
    ]
    store.insert(turns, embedder.embed_batch([t.content for t in turns]), [entry(t) for t in turns])
    writer.refresh_sessions(store, {("u", "long")}, at=T0)
    before = store.list(Scope(user_id="u", levels=(units.LEVEL,)), limit=1000, cursor=None)
    assert len(before.records) == 6000 // units.CHUNK + 1
    with Memory(store=store, embedder=embedder) as mem:
        for i in range(6000, 6070):
            mem.add(
                f"turn {i}: a new thing",
                user_id="u",
                session_id="long",
                speaker="A",
                occurred_at=T0 + timedelta(seconds=i),
            )
        last = store.get_many([units.unit_id("u", "long", 6069 // units.CHUNK)])
        (unit_rec,) = last.values()
        assert "turn 6069: a new thing" in unit_rec.content
        assert unit_rec.metadata["turns"] == 6070 - (6069 // units.CHUNK) * units.CHUNK
        links = {(x.a, x.b) for x in store.links([unit_rec.sources[-1]]) if x.relation == "next"}
        assert (unit_rec.sources[-2], unit_rec.sources[-1]) in links
        units_now = store.list(Scope(user_id="u", levels=(units.LEVEL,)), limit=1000, cursor=None)
        assert len(units_now.records) == 6069 // units.CHUNK + 1
        # A correction far into the session amends the speaker's last statement, not an early one.
        mem.add(
            "actually it was turn 6068",
            user_id="u",
            session_id="long",
            speaker="A",
            occurred_at=T0 + timedelta(seconds=7000),
        )
        (fixed,) = store.get_many([unit_rec.sources[-1]]).values()
        assert "[corrected:" in fixed.content


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_session_tail_reads_match_python_order(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: Store
    if backend == "sqlite":
        store = SQLiteStore(tmp_path / "m.db", dims=DIMS)
    else:
        store = PostgresStore(request.getfixturevalue("pg_fresh_url"), dims=DIMS)
    rng = np.random.default_rng(7)
    times = [None, T0, T0, T0 + timedelta(hours=1), None, T0 - timedelta(days=1)]
    rs = [rec(f"s{i}", session_id="s", occurred_at=t) for i, t in enumerate(times)]
    store.insert(rs, np.stack([unit(rng) for _ in rs]), [entry(r) for r in rs])
    scope = Scope(user_id="u", session_id="s")
    ordered = units.order(rs)
    assert [r.id for r in store.list_ordered(scope, offset=0, limit=None)] == [
        r.id for r in ordered
    ]
    assert [r.id for r in store.list_ordered(scope, offset=2, limit=3)] == [
        r.id for r in ordered[2:5]
    ]
    for i, r in enumerate(ordered):
        assert store.count_before(scope, r.occurred_at, r.id) == i
    assert store.count_before(scope, T0, None) == 5
    assert store.count_before(scope, None, None) == 2
    store.close()


def test_writes_during_a_background_build_reach_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real = ann.Ann.build

    def slow(*a: Any, **k: Any) -> ann.Ann:
        assert gate.wait(30)
        return real(*a, **k)

    monkeypatch.setattr(ann.Ann, "build", staticmethod(slow))
    rng = np.random.default_rng(8)
    store = _filled(tmp_path / "m.db", 600, rng)
    q = unit(rng)
    scope = Scope(user_id="u")
    first = store.vector(q, scope, limit=3)  # starts the build, answers exactly
    new = rec("during")
    store.insert([new], np.stack([q]), [entry(new)])
    store.remove([first[0][0]], op="delete", actor=None, reason=None)
    gate.set()
    store._cache.wait()
    vecs = store._cache.get("u")
    assert vecs is not None and vecs.ann is not None and len(vecs.ann) == 600
    hits = store.vector(q, scope, limit=3)
    assert hits[0][0] == "during" and first[0][0] not in {i for i, _ in hits}
    assert hits == _exact(store, q, scope, 3)
    store.close()


def test_vector_many_matches_vector_on_the_hnsw_path_too(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    store = _filled(tmp_path / "m.db", 600, rng)  # 600 rows, exact_limit 100: HNSW
    scope = Scope(user_id="u")
    store.vector(unit(rng), scope, limit=5)
    store._cache.wait()  # the index, built in the background
    queries = np.stack([unit(rng) for _ in range(20)])
    assert store.vector_many(queries, scope, limit=10) == [
        store.vector(q, scope, limit=10) for q in queries
    ]
    exact = SQLiteStore(tmp_path / "m.db", dims=DIMS)  # the same rows, searched exactly
    many = exact.vector_many(queries, scope, limit=10)
    assert [[i for i, _ in m] for m in many] == [
        [i for i, _ in _exact(exact, q, scope, 10)] for q in queries
    ]
    exact.close()
    store.close()


def test_a_user_read_in_pages_equals_one_read_whole(tmp_path: Path) -> None:
    from remem.store import sqlite as sqlite_store

    rng = np.random.default_rng(13)
    store = _filled(tmp_path / "m.db", 300, rng, exact_limit=10_000)
    store.remove(["x00007"], op="delete", actor=None, reason=None)
    paged = store._vectors("u")
    assert paged is not None
    rows = (
        sqlite_connection(tmp_path / "m.db")
        .execute(
            "SELECT rowid, id, embedding, level, valid_to IS NULL, expires_at FROM memories "
            "WHERE user_id = 'u' ORDER BY level, id"
        )
        .fetchall()
    )
    whole = ann.UserVectors.from_rows(
        "u", DIMS, [(r[0], r[1], r[2], r[3], bool(r[4]), float("inf")) for r in rows]
    )
    old = sqlite_store._LOAD_PAGE
    try:
        sqlite_store._LOAD_PAGE = 7  # many pages, the last one short
        store._cache.clear()
        small = store._vectors("u")
    finally:
        sqlite_store._LOAD_PAGE = old
    assert small is not None and paged is not None
    for vecs in (paged, small):
        assert vecs.n == whole.n == 299 and vecs.ids == whole.ids
        assert np.array_equal(vecs.matrix[: vecs.n], whole.matrix[: whole.n])
        assert np.array_equal(vecs.rowids[: vecs.n], whole.rowids[: whole.n])
        assert vecs.pos == whole.pos
    store.close()


def test_a_kept_mask_follows_expiry_time_and_writes() -> None:
    """``UserVectors.mask`` keeps what it made, but never past a row's expiry, never for an
    earlier time, and never across a change of a row."""
    vecs = ann.UserVectors("u", DIMS)
    one = np.ones(DIMS, dtype=np.float32)
    vecs.append(1, "a", one, "record", True, 100.0)  # expires at t=100
    vecs.append(2, "b", one, "record", True, np.inf)
    assert vecs.mask(("record",), 50.0).tolist() == [True, True]
    assert vecs.mask(("record",), 150.0).tolist() == [False, True]  # a expired
    assert vecs.mask(("record",), 50.0).tolist() == [True, True]  # an earlier time: made afresh
    vecs.update(2, None, "record", False, np.inf)  # b superseded
    assert vecs.mask(("record",), 50.0).tolist() == [True, False]
    vecs.append(3, "c", one, "session", True, np.inf)
    assert vecs.mask(("record", "session"), 50.0).tolist() == [True, False, True]
    vecs.remove(1)
    assert vecs.mask(("record", "session"), 50.0).tolist() == [False, False, True]
    with pytest.raises(ValueError):
        vecs.mask(("session",), 50.0)[0] = False  # read-only: callers cannot spoil it


def test_kept_links_and_sources_follow_every_write(tmp_path: Path) -> None:
    """``links`` and ``sources`` are kept per id until a write: this connection's or another's."""
    from remem.types import Link

    db = tmp_path / "m.db"
    with Memory(db, embedder="hashing") as mem:
        a = mem.add("We planted tomatoes by the shed.", user_id="u", session_id="s")
        b = mem.add("The basil came up in a week.", user_id="u", session_id="s")
        store = mem._parts.store
        assert isinstance(store, SQLiteStore)
        before = store.links([a.id])
        assert store.links([a.id]) == before  # from the cache
        other = SQLiteStore(db, dims=store.dims)
        try:
            other.add_links("u", [Link(a.id, b.id, "test", 0.5)])  # another connection
        finally:
            other.close()
        assert Link(a.id, b.id, "test", 0.5) in store.links([a.id])
        assert Link(a.id, b.id, "test", 0.5) in store.links([b.id])
        store.add_links("u", [Link(b.id, a.id, "mine", 0.25)])  # this connection
        assert Link(b.id, a.id, "mine", 0.25) in store.links([a.id])
        session = [
            r.id for r in store.list(Scope(user_id="u", levels=("session",)), limit=5, cursor=None)
        ]
        assert session
        first = store.sources(session)[session[0]]
        assert set(first) == {a.id, b.id}
        c = mem.add("Then the peppers.", user_id="u", session_id="s")  # the unit is rewritten
        session = [
            r.id for r in store.list(Scope(user_id="u", levels=("session",)), limit=5, cursor=None)
        ]
        assert set(store.sources(session)[session[0]]) == {a.id, b.id, c.id}


# -- kept masks follow writes row by row; session units stay out of the HNSW index -------------

MASK_OPS = st.lists(
    st.tuples(
        st.sampled_from(["append", "append", "update", "relevel", "remove", "look"]),
        st.integers(0, 40),
        st.sampled_from(["record", "fact", "session"]),
        st.booleans(),
        st.sampled_from([10.0, 60.0, np.inf]),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(ops=MASK_OPS)
def test_kept_masks_updated_in_place_equal_fresh_ones(ops: Any) -> None:
    """Every write updates the kept masks and their counts row by row (no mask is made again
    after a write); at every step each kept mask equals one made from scratch."""
    vecs = ann.UserVectors("u", DIMS, capacity=2)  # small: appends grow the arrays
    rng = np.random.default_rng(1)
    wanted = [("record",), ("fact", "record"), ("session",), ("record", "session", "fact")]
    rowid = 0
    for op, pick, level, valid, expires in ops:
        live = sorted(vecs.pos)
        now = 5.0 if pick % 3 else 30.0
        if op == "append" or not live:
            rowid += 1
            vecs.append(rowid, f"m{rowid}", unit(rng), level, valid, expires)
        elif op == "update":
            vecs.update(live[pick % len(live)], unit(rng), level, valid, expires)
        elif op == "relevel":
            target = live[pick % len(live)]
            rowid += 1
            vecs.update(target, None, level, valid, expires, new_rowid=rowid)
        elif op == "remove":
            vecs.remove(live[pick % len(live)])
        for levels in wanted:
            got = vecs.mask(levels, now)
            n = vecs.n
            codes = [vecs.codes[x] for x in levels if x in vecs.codes]
            fresh = (
                vecs.live[:n]
                & np.isin(vecs.level[:n], codes)
                & vecs.valid[:n]
                & (vecs.expires[:n] > now)
            )
            assert got.tolist() == fresh.tolist()
            assert vecs.count(got) == int(fresh.sum())
        positions = vecs.unindexed().tolist()
        assert positions == sorted(positions)  # ascending, as exact scoring reads them
        small = set(positions)
        assert small == {
            i
            for i in np.flatnonzero(vecs.live[: vecs.n])
            if vecs.level[i] == vecs.codes.get("session")
        }


def test_session_units_stay_out_of_the_index_and_are_still_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    store = _filled(tmp_path / "m.db", 600, rng)  # 600 records, exact_limit 100: HNSW
    sessions = [rec(f"~s{i:03d}", level="session") for i in range(150)]
    store.put_derived(sessions, np.stack([unit(rng) for _ in sessions]))
    q = unit(rng)
    store.vector(q, Scope(user_id="u"), limit=1)
    store._cache.wait()
    vecs = store._cache.get("u")
    assert vecs is not None and vecs.ann is not None
    assert len(vecs.ann) == 600  # the records only
    # A unit rewritten (as every add to its session does) stays out of the index.
    (first,) = store.get_many(["~s000"]).values()
    store.put_derived([first], np.stack([unit(rng)]))
    assert len(vecs.ann) == 600
    exact = SQLiteStore(tmp_path / "m.db", dims=DIMS)  # the same rows, searched exactly
    try:
        for levels in (("session",), ("record", "session"), ("record",)):
            scope = Scope(user_id="u", levels=levels)
            for query in [q, *(unit(rng) for _ in range(10))]:
                got = store.vector(query, scope, limit=10)
                want = _exact(exact, query, scope, 10)
                if levels == ("session",) or levels == ("record", "session"):
                    # session rows are always scored exactly: each one of the top 10 is found
                    want_sessions = [i for i, _ in want if i.startswith("~")]
                    assert [i for i, _ in got if i.startswith("~")][: len(want_sessions)] == (
                        want_sessions
                    )
                if levels == ("session",):
                    assert got == want
    finally:
        exact.close()
        store.close()
    # The saved index (written at close) holds the records only and is reused as it is.
    again = SQLiteStore(tmp_path / "m.db", dims=DIMS, exact_limit=100)
    try:
        again.vector(q, Scope(user_id="u"), limit=1)
        vecs = again._cache.get("u")
        assert vecs is not None and vecs.ann is not None and len(vecs.ann) == 600
    finally:
        again.close()


def test_a_large_matrix_grows_by_remapping_and_copies_when_viewed() -> None:
    """A matrix past ``_MAPPED_BYTES`` lives in its own mapping: growing it keeps every row and
    moves no data (the mapping is resized in place); while a view of it is held elsewhere it is
    copied instead, and the view stays valid."""
    dims = 384
    rows = ann._MAPPED_BYTES // (dims * 4) + 8
    vecs = ann.UserVectors("u", dims, rows)
    assert ann._mapping(vecs.matrix) is not None
    rng = np.random.default_rng(3)
    written = [unit(rng, dims) for _ in range(rows + 1)]
    for i, v in enumerate(written):  # the last append doubles the capacity
        vecs.append(i + 1, f"m{i}", v, "record", True, np.inf)
    area = ann._mapping(vecs.matrix)
    assert area is not None and vecs.matrix.shape[0] == 2 * rows
    assert np.array_equal(vecs.matrix[: rows + 1], np.stack(written))
    assert not vecs.matrix[rows + 1 :].any()
    held = vecs.matrix[:4]  # a view kept by someone else: the next growth must copy
    while vecs.n < vecs.matrix.shape[0]:
        vecs.append(vecs.n + 1, f"m{vecs.n}", written[0], "record", True, np.inf)
    vecs.append(vecs.n + 1, "last", written[1], "record", True, np.inf)
    assert ann._mapping(vecs.matrix) is not area  # copied into a new mapping
    assert np.array_equal(held, np.stack(written[:4]))
    assert np.array_equal(vecs.matrix[:4], held)
    assert np.array_equal(vecs.matrix[vecs.n - 1], written[1])
    q = written[2]
    assert ann.exact(vecs, q, np.flatnonzero(vecs.mask(("record",), 0.0)), 1)[0][0] == "m2"
