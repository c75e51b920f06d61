"""The store's embedder record and ``remem reindex``, on SQLite and on PostgreSQL.

A store records the embedder that wrote it (name, dims, version), adopts the first one when it has
no record, and refuses another with ``EmbedderMismatch`` naming both and the fix. ``reindex``
re-embeds in place: afterwards every vector is the one a fresh ingest with the new embedder makes;
meanwhile the old embedder's processes search the old vectors (and the new embedder is refused);
after the swap the old embedder's processes are refused; a reindex killed midway (SIGKILL of the
real CLI) finishes when run again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from remem import Memory
from remem.config import Settings
from remem.embed.base import embed, identity
from remem.embed.hashing import HashingEmbedder
from remem.errors import ConfigError, EmbedderMismatch
from remem.reindex import reindex

pytest_plugins = ["pg_server"]

OLD, NEW = 64, 128
USER = "u"


def turns(n: int = 120) -> list[dict[str, Any]]:
    """Turns of three sessions, most of several sentences (so they get fact units)."""
    return [
        {
            "content": f"Turn {i}. Alice went to the market on day {i}. She bought {i} pears!",
            "speaker": "alice" if i % 2 else "bob",
            "session_id": f"s{i % 3}",
            "user_id": USER,
            "occurred_at": f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
        }
        for i in range(n)
    ]


class Backend:
    """One store location (an SQLite file or a PostgreSQL database) and how to open it."""

    def __init__(self, name: str, location: str) -> None:
        self.name, self.location = name, location

    def memory(self, dims: int) -> Memory:
        if self.name == "sqlite":
            return Memory(self.location, embedder="hashing", dims=dims)
        return Memory(store="postgres", store_url=self.location, embedder="hashing", dims=dims)

    def settings(self, dims: int) -> Settings:
        if self.name == "sqlite":
            return Settings.from_env(embedder="hashing", dims=dims)
        return Settings.from_env(
            embedder="hashing", dims=dims, store="postgres", store_url=self.location
        )

    def path(self) -> str | None:
        return self.location if self.name == "sqlite" else None

    def cli(self) -> list[str]:
        return ["--db", self.location] if self.name == "sqlite" else ["--store", self.location]

    def rows(self) -> dict[tuple[str, str, str | None], np.ndarray]:
        """Every row's vectors, by (level, content, speaker): ids differ between stores."""
        sql = "SELECT level, content, speaker, embedding, embedding_next IS NULL FROM memories"
        if self.name == "sqlite":
            with sqlite3.connect(self.location) as conn:
                got = conn.execute(sql).fetchall()
            conn.close()
            vec = lambda b: np.frombuffer(b, dtype=np.float32)  # noqa: E731
        else:
            from pgvector.psycopg import register_vector

            with psycopg.connect(self.location) as pconn:
                register_vector(pconn)
                got = pconn.execute(sql).fetchall()
            vec = lambda v: np.asarray(v.to_numpy(), dtype=np.float32)  # noqa: E731
        assert all(r[4] for r in got), "a finished reindex leaves no second vector behind"
        grouped: dict[tuple[str, str, str | None], list[np.ndarray]] = {}
        for r in got:  # rows of equal text (an episode's steps) are compared as a multiset
            grouped.setdefault((r[0], r[1], r[2]), []).append(vec(r[3]))
        return {
            k: np.stack(sorted(v, key=lambda x: x.round(5).tolist())) for k, v in grouped.items()
        }

    def meta(self) -> dict[str, str]:
        sql = "SELECT key, value FROM remem_meta"
        if self.name == "sqlite":
            with sqlite3.connect(self.location) as conn:
                got = conn.execute(sql).fetchall()
            conn.close()
        else:
            with psycopg.connect(self.location) as pconn:
                got = pconn.execute(sql).fetchall()
        return dict(got)


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path, tag: str) -> Backend:
    if name == "sqlite":
        return Backend("sqlite", str(tmp_path / f"{tag}.db"))
    return Backend("postgres", request.getfixturevalue("pg_server").create_database())


@pytest.fixture(params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, Backend]]:
    """Two empty stores of one backend: the one to reindex and a fresh reference."""
    a = _backend(request.param, request, tmp_path, "a")
    b = _backend(request.param, request, tmp_path, "b")
    yield a, b
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        for backend in (a, b):
            server.drop_database(backend.location)


def same_vectors(got: Backend, want: Backend) -> None:
    a, b = got.rows(), want.rows()
    assert set(a) == set(b)
    for key in b:
        assert a[key].shape == b[key].shape, key
        assert np.allclose(a[key], b[key], atol=1e-6), key


def hits(memory: Memory, query: str) -> list[str]:
    return [h.record.content for h in memory.search(query, user_id=USER, limit=10)]


# -- the record ---------------------------------------------------------------------------------


def test_a_store_adopts_its_first_embedder_and_refuses_another(
    pair: tuple[Backend, Backend],
) -> None:
    a, _ = pair
    with a.memory(OLD) as mem:
        mem.add_many(turns(12))
        assert mem.store.embedder() == identity(HashingEmbedder(OLD))  # type: ignore[attr-defined]
    before = a.rows()
    with pytest.raises(EmbedderMismatch) as caught:
        a.memory(NEW)
    message = str(caught.value)
    assert "hashing-64 (64 dims" in message and "128 dims" in message
    assert "remem reindex --embedder" in message
    assert caught.value.stored["dims"] == OLD and caught.value.given["dims"] == NEW
    assert isinstance(caught.value, ConfigError)
    assert a.rows().keys() == before.keys()  # nothing written by the refused open
    with a.memory(OLD) as mem:  # the right one still opens
        assert len(hits(mem, "pears market")) == 10


def test_a_store_from_before_the_record_adopts_the_embedder(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Memory(db, embedder="hashing", dims=OLD) as mem:
        mem.add("Ana adopted a cat named Miso", user_id=USER)
    # The store as the previous release left it: no meta table, no second vector column.
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE remem_meta")
        conn.execute("ALTER TABLE memories DROP COLUMN embedding_next")
        conn.execute("DELETE FROM _remem_migrations WHERE name = 'm007_embedder_record'")
    conn.close()
    with Memory(db, embedder="hashing", dims=NEW) as mem:  # the first open after upgrading
        assert mem.store.embedder()["name"] == "hashing-128"  # type: ignore[attr-defined]
    with pytest.raises(EmbedderMismatch):
        Memory(db, embedder="hashing", dims=OLD)


def test_postgres_store_from_before_the_record_adopts_the_embedder(pg_fresh_url: str) -> None:
    with Memory(store="postgres", store_url=pg_fresh_url, embedder="hashing") as mem:
        mem.add("Ana adopted a cat named Miso", user_id=USER)
    with psycopg.connect(pg_fresh_url) as conn:
        conn.execute("DROP TABLE remem_meta")
        conn.execute("ALTER TABLE memories DROP COLUMN embedding_next")
        conn.execute("DELETE FROM _remem_migrations WHERE name = 'm005_embedder_record'")
    other = HashingEmbedder(256)
    other.name = "other-256"
    with Memory(store="postgres", store_url=pg_fresh_url, embedder=other) as mem:
        assert mem.store.embedder()["name"] == "other-256"  # type: ignore[attr-defined]
    with pytest.raises(EmbedderMismatch):
        Memory(store="postgres", store_url=pg_fresh_url, embedder="hashing")


def test_another_version_of_the_same_embedder_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    Memory(db, embedder="hashing", dims=OLD).close()
    newer = HashingEmbedder(OLD)
    newer.version = "2"  # type: ignore[attr-defined]
    with pytest.raises(EmbedderMismatch, match="version 2"):
        Memory(db, embedder=newer)


# -- reindex --------------------------------------------------------------------------------------


def test_reindex_makes_the_vectors_a_fresh_ingest_makes(pair: tuple[Backend, Backend]) -> None:
    a, b = pair
    with a.memory(OLD) as mem:
        mem.add_many(turns())
    with b.memory(NEW) as mem:
        mem.add_many(turns())
        fresh = hits(mem, "what did Alice buy at the market on day 7")[0]
        assert "day 7." in fresh
    seen: list[tuple[int, int]] = []
    out = reindex(
        a.settings(NEW),
        a.path(),
        HashingEmbedder(NEW),
        batch=50,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert out.changed and not out.resumed and out.embedded == 360  # 120 turns + 240 facts
    assert out.before is not None and out.before["dims"] == OLD and out.after["dims"] == NEW
    assert len(seen) >= 360 // 50 and seen[-1][0] <= seen[-1][1]
    same_vectors(a, b)
    assert set(a.meta()) == {"embedder"}
    with a.memory(NEW) as mem:
        assert hits(mem, "what did Alice buy at the market on day 7")[0] == fresh
    with pytest.raises(EmbedderMismatch):
        a.memory(OLD)
    again = reindex(a.settings(NEW), a.path(), HashingEmbedder(NEW))
    assert not again.changed and again.embedded == 0


def test_episodes_are_recalled_as_before_after_a_reindex(pair: tuple[Backend, Backend]) -> None:
    a, b = pair
    steps = [
        {"action": "build it", "tool": "build"},
        {"action": "migrate the db. Then check it", "tool": "migrate", "observation": "ok"},
        {"action": "deploy it", "tool": "deploy", "observation": "deployed"},
    ]
    tasks = [f"Deploy the billing service, release {n}. It has a new schema." for n in range(3)]
    for backend, dims in ((a, OLD), (b, NEW)):
        with backend.memory(dims) as mem:
            mem.add_many(turns(10))
            for n, task in enumerate(tasks):
                mem.add_episode(task, steps, "success" if n else "failure", user_id=USER)
    reindex(a.settings(NEW), a.path(), HashingEmbedder(NEW), batch=7)
    # Rows whose text names an episode id (random) differ between the stores: the rest match.
    got, want = a.rows(), b.rows()
    plain = {k for k in want if "ep_" not in k[1]}
    assert plain == {k for k in got if "ep_" not in k[1]}
    for key in plain:
        assert np.allclose(got[key], want[key], atol=1e-6), key
    # A task unit's vector is its task text's (a query's), not a pooled one.
    units = {k: v for k, v in got.items() if k[0] == "episode"}
    assert {k[1] for k in units} == set(tasks)
    for (_, task, _), vecs in units.items():
        assert np.allclose(vecs[0], embed(HashingEmbedder(NEW), [task])[0], atol=1e-6)
    with a.memory(NEW) as mem:
        found = mem.cases("deploy the billing service release 2", user_id=USER)
        assert found and "release 2" in found[0].episode.task


def test_an_interrupted_reindex_leaves_the_old_embedder_in_charge_and_resumes(
    pair: tuple[Backend, Backend],
) -> None:
    a, b = pair
    with a.memory(OLD) as mem:
        mem.add_many(turns())
        before = hits(mem, "pears on day 9")
    with b.memory(NEW) as mem:
        mem.add_many(turns())

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt  # as if the process were stopped after its first batch

    with pytest.raises(KeyboardInterrupt):
        reindex(a.settings(NEW), a.path(), HashingEmbedder(NEW), batch=40, progress=stop)
    # Meanwhile: the old embedder searches the old vectors, as before; the new one is refused.
    with a.memory(OLD) as mem:
        assert hits(mem, "pears on day 9") == before
    with pytest.raises(EmbedderMismatch, match="reindex to hashing-128 .* is in progress"):
        a.memory(NEW)
    out = reindex(a.settings(NEW), a.path(), HashingEmbedder(NEW), batch=40)
    assert out.resumed and out.embedded == 360 - 40
    same_vectors(a, b)


def test_reindex_to_another_target_starts_over(tmp_path: Path) -> None:
    a = Backend("sqlite", str(tmp_path / "a.db"))
    b = Backend("sqlite", str(tmp_path / "b.db"))
    with a.memory(OLD) as mem:
        mem.add_many(turns(30))
    with b.memory(256) as mem:
        mem.add_many(turns(30))

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reindex(a.settings(NEW), a.path(), HashingEmbedder(NEW), batch=10, progress=stop)
    out = reindex(a.settings(256), a.path(), HashingEmbedder(256), batch=10)
    assert not out.resumed and out.embedded == 90
    same_vectors(a, b)


def test_writes_during_a_reindex_are_embedded_before_the_swap(
    pair: tuple[Backend, Backend],
) -> None:
    a, b = pair
    with a.memory(OLD) as mem:
        first = mem.add_many(turns())
    with b.memory(NEW) as mem:
        ref = mem.add_many(turns())
        mem.update(ref[5].id, content="Bob sold his bike. He bought a kayak instead!")
        mem.add("Carol moved to Lisbon. She loves the tram.", user_id=USER, session_id="s1")
    writer = a.memory(OLD)  # another process, still on the old embedder
    calls = 0

    def write_meanwhile(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # rows already re-embedded and rows not yet: both change
            writer.update(first[5].id, content="Bob sold his bike. He bought a kayak instead!")
            writer.add("Carol moved to Lisbon. She loves the tram.", user_id=USER, session_id="s1")

    try:
        out = reindex(
            a.settings(NEW), a.path(), HashingEmbedder(NEW), batch=30, progress=write_meanwhile
        )
        assert out.changed and calls >= 2
        same_vectors(a, b)
        # After the swap the old embedder's process is refused, and writes nothing.
        rows = a.rows()
        with pytest.raises(EmbedderMismatch):
            writer.search("kayak", user_id=USER)
        with pytest.raises(EmbedderMismatch):
            writer.add("Dan learned to juggle", user_id=USER)
        assert a.rows().keys() == rows.keys()
    finally:
        writer.close()


def test_reindex_refuses_bad_input_and_leaves_the_store_unchanged(tmp_path: Path) -> None:
    a = Backend("sqlite", str(tmp_path / "a.db"))
    with a.memory(OLD) as mem:
        mem.add_many(turns(10))
    rows, meta = a.rows(), a.meta()
    with pytest.raises(ConfigError):
        reindex(a.settings(NEW), a.path(), HashingEmbedder(NEW), batch=0)
    cli = [sys.executable, "-m", "remem", "reindex", *a.cli()]
    bad = subprocess.run([*cli, "--embedder", "no-such-embedder"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown embedder 'no-such-embedder'" in bad.stderr
    assert a.rows().keys() == rows.keys() and a.meta() == meta


# -- the real CLI, killed midway --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_reindex_killed_midway_finishes_when_run_again(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    a = _backend(kind, request, tmp_path, "a")
    b = _backend(kind, request, tmp_path, "b")
    with a.memory(OLD) as mem:
        mem.add_many(turns())
    with b.memory(NEW) as mem:
        mem.add_many(turns())
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "remem", "reindex", *a.cli(), "--embedder", "hashing"]
    cli += ["--dims", str(NEW), "--batch", "20"]
    with subprocess.Popen(
        cli, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # two batches written
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert all(line.startswith("embedded ") for line in lines), lines
    assert '"dims": 64' in a.meta()["embedder"] and "reindex" in a.meta()  # not finished
    with a.memory(OLD) as mem:
        assert len(hits(mem, "pears market")) == 10
    done = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr and "-> hashing-128" in done.stderr.replace("\n", " ")
    same_vectors(a, b)
    if kind == "postgres":
        server = request.getfixturevalue("pg_server")
        for backend in (a, b):
            server.drop_database(backend.location)
