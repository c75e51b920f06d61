"""Several processes and threads on one SQLite file: no lost writes, no "database is locked"
surfaced to a caller, and optimistic versioning that never silently overwrites."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from remem import Conflict, Memory
from remem._time import now
from remem.types import HistoryEntry

WRITER = Path(__file__).with_name("_writer.py")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> list[str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "locked" not in err.lower()
    return out.split()


def _run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # collected and re-raised by the test
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_processes_and_threads_write_and_read_one_file(db_path: Path) -> None:
    with Memory(db_path, embedder="hashing") as mem, Memory(db_path, embedder="hashing") as own:
        procs = [_spawn("write", str(db_path), f"proc{i}", "60") for i in range(3)]
        written: list[str] = []
        lock = threading.Lock()
        writers_done = threading.Event()

        def writer(m: Memory, name: str) -> Callable[[], None]:
            def run() -> None:
                for i in range(40):
                    if i % 10 == 9:
                        ids = [
                            r.id
                            for r in m.add_many(
                                [
                                    {"content": f"{name} batch {i} {k}", "user_id": "shared"}
                                    for k in range(3)
                                ]
                            )
                        ]
                    else:
                        ids = [m.add(f"{name} thread note {i}", user_id="shared").id]
                    with lock:
                        written.extend(ids)

            return run

        def reader() -> None:
            n = 0
            while not writers_done.is_set() or n < 20:
                n += 1
                # Many distinct queries also churn the shared query-vector cache.
                hits = mem.search(f"note {n} proc thread", user_id="shared", limit=5)
                assert all(h.record.user_id == "shared" for h in hits)
                page = own.list(user_id="shared", limit=50)
                for rec in page:
                    assert rec.user_id == "shared"

        writers = [writer(mem, "t1"), writer(mem, "t2"), writer(own, "t3")]
        errors: list[BaseException] = []
        readers = threading.Thread(target=lambda: errors.extend(_run_threads([reader, reader])))
        readers.start()
        errors.extend(_run_threads(writers))
        proc_ids = [i for p in procs for i in _finish(p)]
        writers_done.set()
        readers.join(timeout=120)
        assert not errors, errors

        expected = set(written) | set(proc_ids)
        assert len(expected) == len(written) + len(proc_ids) == 3 * 60 + 3 * (36 + 12)
        stored = set()
        cursor = None
        while True:
            page = mem.list(user_id="shared", limit=500, cursor=cursor)
            stored.update(r.id for r in page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert stored == expected
        assert mem.store.integrity_check() == "ok"


def test_concurrent_updates_increment_versions_by_exactly_one(db_path: Path) -> None:
    with Memory(db_path, embedder="hashing") as mem:
        rid = mem.add("the shared counter note", user_id="u").id
        procs = [_spawn("update", str(db_path), rid, "15") for _ in range(2)]
        conflicts = [0]
        lock = threading.Lock()

        def updater(tag: str) -> Callable[[], None]:
            def run() -> None:
                with Memory(db_path, embedder="hashing") as m:
                    done = 0
                    while done < 15:
                        try:
                            before = m.get(rid).version
                            rec = m.update(rid, content=f"{tag} edit {done}", reason=tag)
                        except Conflict:
                            with lock:
                                conflicts[0] += 1
                            continue
                        assert rec.version >= before + 1
                        done += 1

            return run

        errors = _run_threads([updater("a"), updater("b")])
        outputs = [_finish(p) for p in procs]
        assert not errors, errors
        proc_conflicts = sum(out.count("C") for out in outputs)
        print(f"updates: 60 succeeded, {conflicts[0] + proc_conflicts} Conflicts retried")
        for out in outputs:
            versions = [int(v) for v in out if v not in ("U", "C")]
            assert len(versions) == 15
            assert versions == sorted(versions)  # one process sees its versions grow

        final = mem.get(rid)
        assert final.version == 1 + 4 * 15
        hist = mem.history(rid)
        assert [h.version for h in hist] == list(range(1, final.version + 1))
        # Each version was built on the one before it: no update was lost or overwritten.
        for prev, entry in zip(hist, hist[1:], strict=False):
            assert entry.before is not None and prev.after is not None
            assert entry.before["version"] == entry.version - 1
            assert entry.before["content"] == prev.after["content"]
        assert hist[-1].after is not None and hist[-1].after["content"] == final.content


def test_a_stale_write_raises_conflict_and_changes_nothing(db_path: Path) -> None:
    with Memory(db_path, embedder="hashing") as a, Memory(db_path, embedder="hashing") as b:
        rid = a.add("original text", user_id="u").id
        stale = a.get(rid)
        b.update(rid, content="written by b")
        attempt = replace(
            stale, content="written by a", version=stale.version + 1, updated_at=now()
        )
        entry = HistoryEntry(
            memory_id=rid,
            version=attempt.version,
            op="update",
            at=now(),
            before=stale.to_dict(),
            after=attempt.to_dict(),
        )
        with pytest.raises(Conflict):
            a.store.replace(attempt, None, entry)
        current = a.get(rid)
        assert current.content == "written by b" and current.version == 2
        assert [h.version for h in a.history(rid)] == [1, 2]


def test_many_processes_open_a_fresh_file_at_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    procs = [_spawn("open", str(db), f"p{i}") for i in range(6)]
    ids = [i for p in procs for i in _finish(p)]
    with Memory(db, embedder="hashing") as mem:
        assert {r.id for r in mem.list(user_id="fresh")} == set(ids)
        assert len(ids) == 6
        assert mem.store.integrity_check() == "ok"
