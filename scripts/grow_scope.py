"""Grow one benchmark scope far past what ``remem bench scale`` builds in a test run, and probe it.

    python scripts/grow_scope.py STORE.db 1000000 --embedder hashing --probe-at 500000,750000

The scope is ``remem bench scale``'s (user ``scale.USER``, its turns: the dev split's turns,
varied in two words per copy); it is grown with ``add_many`` 2,000 turns at a time from however
many records the file already holds, so a run can be stopped and resumed. At each ``--probe-at``
size and at the end it runs the bench's probes in the same process (no reload): 40 single adds
into the scope, then 120 searches of the split's questions, and prints add and search p50 / p95
and RSS. The store is closed at the end, which saves its HNSW index beside the file.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import time
from pathlib import Path

from remem import Memory
from remem.bench import scale


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path)
    ap.add_argument("size", type=int, help="records the scope should hold")
    ap.add_argument("--embedder", default="hashing")
    ap.add_argument("--data", default="../shared/data/locomo/locomo_dev.json")
    ap.add_argument("--probe-at", default="", help="comma-separated sizes to probe on the way")
    args = ap.parse_args()
    checkpoints = sorted(int(x) for x in args.probe_at.split(",") if x)
    turns, questions = scale.corpus(args.data)
    random.Random(0).shuffle(questions)
    have = 0
    if args.db.exists():
        with sqlite3.connect(args.db) as conn:
            have = conn.execute(
                "SELECT count(*) FROM memories WHERE level = 'record' AND user_id = ?",
                (scale.USER,),
            ).fetchone()[0]
    memory = Memory(args.db, embedder=args.embedder)
    started = time.perf_counter()
    memory.search("warm up", user_id=scale.USER)
    memory.store._cache.wait()  # type: ignore[attr-defined]
    print(f"start at {have}: loaded in {time.perf_counter() - started:.1f} s", flush=True)

    def probe(count: int) -> None:
        adds = []
        for item in scale.items(turns, count, 40):
            t = time.perf_counter()
            memory.add(**item)
            adds.append((time.perf_counter() - t) * 1000)
        searches = []
        for k in range(120):
            t = time.perf_counter()
            memory.search(questions[(count + k) % len(questions)], user_id=scale.USER, limit=10)
            searches.append((time.perf_counter() - t) * 1000)
        status = Path("/proc/self/status").read_text()
        rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"PROBE {args.embedder} n={count}: add p50/p95 {statistics.median(adds):.2f}/"
            f"{_pct(adds, 0.95):.2f} ms; search p50/p95 {statistics.median(searches):.2f}/"
            f"{_pct(searches, 0.95):.2f} ms; RSS {rss:.0f} MB (peak {peak:.0f}); "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )

    t0, done, i = time.perf_counter(), 0, have
    while i < args.size:
        if checkpoints and i >= checkpoints[0]:
            checkpoints.pop(0)
            probe(i)
            i += 40
            continue
        k = min(2000, args.size - i)
        memory.add_many(list(scale.items(turns, i, k)))
        done, i = done + k, i + k
        if (i // 2000) % 5 == 0:
            rate = done / (time.perf_counter() - t0)
            print(f"{i} records, {rate:.0f} turns/s", flush=True)
    probe(i)
    t = time.perf_counter()
    memory.close()
    print(f"closed (index saved) in {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
