"""Two real ``remem serve`` processes on one PostgreSQL database: concurrent writers lose nothing,
duplicate nothing and see no 5xx; concurrent edits of one record never share a version.

Each server is a separate ``python -m remem serve`` process (no API keys, so 127.0.0.1 only) with
the hashing embedder, on a free port, the second with ``--workers 2``; both are always terminated
by the fixture's finalizer. A last test runs ``remem.bench.serve`` briefly on SQLite.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:  # imported by pytest as a plugin; importing it here first would stop that
    from pg_server import PgServer

pytest_plugins = ["pg_server"]

# Nouns only: nothing reads as an instruction (guard) or as a single-valued fact (supersede), and
# the numbers in each text make every write distinct (no near-duplicate merge).
VOCAB = (
    "river stone lantern maple harbor violin meadow copper falcon orchard canvas glacier "
    "pepper saddle thunder velvet walnut compass ember quartz tulip anchor barley cobalt"
).split()
WRITERS_PER_SERVER = 3
SINGLES = 24  # POST /v1/memories with one object, per writer thread
BATCHES = 8  # POST /v1/memories with {"items": [...]}, per writer thread
BATCH_SIZE = 5
EDITORS_PER_SERVER = 3
EDITS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def _start(store_url: str, tmp: Path, name: str, *, workers: int = 1) -> Server:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMEM_")}
    env["HF_HUB_OFFLINE"] = "1"
    log = tmp / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "remem",
                "serve",
                "--port",
                str(port),
                "--store",
                store_url,
                "--embedder",
                "hashing",
                "--workers",
                str(workers),
                # A keys file that does not exist: open mode, whatever the user's data dir holds.
                "--keys",
                str(tmp / "no-keys.db"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(f"http://127.0.0.1:{port}", proc, log)


def _wait_ready(server: Server, deadline: float) -> None:
    while True:
        try:
            if httpx.get(server.url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{server.log.read_text()}")
        time.sleep(0.1)


def _stop(server: Server) -> None:
    # Each server leads its own process group (start_new_session): the signal reaches uvicorn's
    # worker processes too, and nothing else.
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def servers(
    pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """Two server processes on one fresh database (module-wide: starting them costs seconds)."""
    url = pg_server.create_database()
    tmp = tmp_path_factory.mktemp("multiworker")
    started: list[Server] = []
    try:
        # Start both, then wait: they migrate the same empty database at the same moment.
        # The second runs two uvicorn workers (the app_from_env factory): three processes in all.
        started = [_start(url, tmp, "server0"), _start(url, tmp, "server1", workers=2)]
        deadline = time.monotonic() + 60
        for server in started:
            _wait_ready(server, deadline)
        yield started
    finally:
        for server in started:
            _stop(server)
        pg_server.drop_database(url)


@dataclass
class Outcome:
    acked: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, response: httpx.Response, what: str) -> None:
        with self.lock:
            self.statuses.append(response.status_code)
            if response.status_code >= 500:
                self.failures.append(f"{what}: {response.status_code} {response.text[:300]}")


def _run(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(timeout=30)  # everyone starts at once: maximal contention
                fn()
            except BaseException as exc:  # re-raised below, in the test's thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    if errors:
        raise errors[0]


def _text(rng: random.Random, tag: str) -> str:
    return f"{tag} {' '.join(rng.sample(VOCAB, 6))}"


def _writer(base: str, user: str, tag: str, seed: int, out: Outcome) -> Callable[[], None]:
    def write() -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=60) as client:
            # Batches interleaved with single writes, in a per-thread random order.
            plan = [True] * BATCHES + [False] * SINGLES
            rng.shuffle(plan)
            for i, is_batch in enumerate(plan):
                if is_batch:
                    items = [
                        {"content": _text(rng, f"{tag} batch {i} item {j}"), "user_id": user}
                        for j in range(BATCH_SIZE)
                    ]
                    r = client.post("/v1/memories", json={"items": items})
                    out.note(r, f"batch {tag}/{i}")
                    if r.status_code == 201:
                        ids = [rec["id"] for rec in r.json()["items"]]
                        assert len(ids) == BATCH_SIZE
                        with out.lock:
                            out.acked.extend(ids)
                else:
                    body = {"content": _text(rng, f"{tag} single {i}"), "user_id": user}
                    r = client.post("/v1/memories", json=body)
                    out.note(r, f"single {tag}/{i}")
                    if r.status_code == 201:
                        with out.lock:
                            out.acked.append(r.json()["id"])

    return write


def _list_all(base: str, user: str) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    with httpx.Client(base_url=base, timeout=60) as client:
        while True:
            params: dict[str, str | int] = {"user_id": user, "limit": 17}
            if cursor is not None:
                params["cursor"] = cursor
            r = client.get("/v1/memories", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            ids.extend(rec["id"] for rec in page["records"])
            cursor = page["next_cursor"]
            if cursor is None:
                return ids


def test_concurrent_writes_through_two_servers_are_all_visible_through_both(
    servers: list[Server],
) -> None:
    user = "writers"
    out = Outcome()
    _run(
        [
            _writer(server.url, user, f"s{s}w{w}", seed=100 * s + w, out=out)
            for s, server in enumerate(servers)
            for w in range(WRITERS_PER_SERVER)
        ]
    )
    assert not out.failures, "\n".join(out.failures)
    assert set(out.statuses) == {201}, sorted(set(out.statuses))
    per_writer = SINGLES + BATCHES * BATCH_SIZE
    assert len(out.acked) == len(servers) * WRITERS_PER_SERVER * per_writer
    assert len(set(out.acked)) == len(out.acked), "one id acknowledged twice"
    for server in servers:
        listed = _list_all(server.url, user)
        assert len(listed) == len(set(listed)), "a listing returned a record twice"
        assert set(listed) == set(out.acked)
        assert listed == sorted(listed), "listing is in id order"
    # Every acknowledged record can be read by id through either server.
    with (
        httpx.Client(base_url=servers[0].url, timeout=60) as a,
        httpx.Client(base_url=servers[1].url, timeout=60) as b,
    ):
        for i, memory_id in enumerate(out.acked):
            client = a if i % 2 else b
            r = client.get(f"/v1/memories/{memory_id}", params={"user_id": user})
            assert r.status_code == 200, r.text
            assert r.json()["id"] == memory_id


def test_concurrent_edits_through_two_servers_never_share_a_version(
    servers: list[Server],
) -> None:
    user = "editors"
    created = httpx.post(
        servers[0].url + "/v1/memories", json={"content": "lantern harbor", "user_id": user}
    )
    assert created.status_code == 201, created.text
    memory_id = created.json()["id"]
    assert created.json()["version"] == 1
    out = Outcome()
    won: list[tuple[str, int]] = []  # (editor, version it was given)

    def editor(base: str, tag: str, seed: int) -> Callable[[], None]:
        def edit() -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=base, timeout=60) as client:
                seen: list[int] = []
                for i in range(EDITS):
                    # Alternate content edits (re-embedded) and metadata-only edits.
                    body: dict[str, object] = (
                        {"content": _text(rng, f"{tag} edit {i}")}
                        if i % 2
                        else {"metadata": {"editor": tag, "n": i}}
                    )
                    r = client.patch(f"/v1/memories/{memory_id}", json=body)
                    out.note(r, f"patch {tag}/{i}")
                    assert r.status_code in (200, 409), r.text
                    if r.status_code == 200:
                        seen.append(r.json()["version"])
                    else:
                        assert r.json()["error"] == "Conflict"
                # What one client sees of one record only moves forward.
                assert seen == sorted(set(seen)), seen
                with out.lock:
                    won.extend((tag, v) for v in seen)

        return edit

    _run(
        [
            editor(server.url, f"s{s}e{e}", seed=1000 + 10 * s + e)
            for s, server in enumerate(servers)
            for e in range(EDITORS_PER_SERVER)
        ]
    )
    assert not out.failures, "\n".join(out.failures)
    versions = sorted(v for _, v in won)
    # Each success made exactly the next version: none given twice, none skipped.
    assert versions == list(range(2, 2 + len(versions))), versions
    assert out.statuses.count(409) == len(out.statuses) - len(versions)
    # Six editors started together on one row lose about half their races (measured 49-60 of
    # 96); none losing would mean the edits never overlapped and the test proved nothing.
    assert 0 < out.statuses.count(409) < len(out.statuses)
    for server in servers:
        got = httpx.get(f"{server.url}/v1/memories/{memory_id}", params={"user_id": user})
        assert got.json()["version"] == 1 + len(versions)
        history = httpx.get(f"{server.url}/v1/memories/{memory_id}/history").json()["entries"]
        assert [e["version"] for e in history] == list(range(1, 2 + len(versions)))
        assert [e["op"] for e in history] == ["add"] + ["update"] * len(versions)


def test_bench_serve_runs_briefly_without_errors(tmp_path: Path) -> None:
    from remem.bench import serve

    result = serve.run(
        tmp_path / "bench.db",
        memories=60,
        clients=3,
        workers=2,
        duration_s=1.0,
        embedder="hashing",
        batch_size=20,
    )
    assert result["backend"] == "sqlite"
    assert result["errors"] == 0
    assert result["requests"] > 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["load_per_s"] > 0
