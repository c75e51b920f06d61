"""``remem bench scale``: what one scope costs as it grows, on SQLite or PostgreSQL.

One user's scope is grown to each size in turn (1k, 10k, 100k by default) from real
conversational text: the turns of the LoCoMo dev split, in order. Past the split's end the turns
come round again, each copy varied so that no two memories are the same text: copy ``k`` of a
turn has up to two of its words (of four letters or more) replaced by words drawn from the whole
split's vocabulary (a seeded draw per memory), its session renamed ``<session>~<k>`` (sessions
keep LoCoMo's lengths) and its time moved ``k`` days on. At each size:

- bulk ingest rate: memories per second while ``add_many`` (batches of ``batch``) grows the scope
  from the previous size, with the default write path (organize, guard);
- add p50/p95: single ``add`` calls into the grown scope;
- search p50/p95: ``search`` of LoCoMo questions (limit 10);
- RSS (now and peak) of this process and bytes on disk per memory (SQLite: the file, its WAL and
  the HNSW cache; PostgreSQL: every table and index of the schema);
- SQLite above the exact-search limit: recall@10 of the store's vector search against exact.

The model runs in this process, so with MiniLM the add and search figures include embedding;
``--embedder hashing`` measures everything but the model.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from remem.bench import locomo

USER = "scale"
SIZES = (1_000, 10_000, 100_000)
_WORD = re.compile(r"[A-Za-z]{4,}")


def corpus(data: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The dev split's turns (``add`` arguments, in order) and its questions."""
    samples = locomo.load(data)
    turns = [t for s in samples for t in locomo.turns(s)]
    questions = [q.text for s in samples for q in locomo.questions(s)]
    return turns, questions


def items(
    turns: Sequence[dict[str, Any]], start: int, count: int, *, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """The ``add`` arguments of memories ``start`` .. ``start + count - 1`` of the grown scope."""
    vocab = sorted({w for t in turns for w in _WORD.findall(t["content"])})
    for i in range(start, start + count):
        copy, turn = divmod(i, len(turns))
        base = turns[turn]
        item = {
            "content": base["content"],
            "user_id": USER,
            "session_id": f"{base['user_id']}/{base['session_id']}",
            "speaker": base["speaker"],
            "occurred_at": base["occurred_at"],
            "metadata": {"n": i},
        }
        if copy:
            rng = random.Random(seed * 1_000_003 + i)
            words = base["content"].split(" ")
            spots = [j for j, w in enumerate(words) if _WORD.fullmatch(w.strip(".,!?;:\"'"))]
            for j in rng.sample(spots, min(2, len(spots))):
                words[j] = rng.choice(vocab)
            item["content"] = " ".join(words)
            item["session_id"] = f"{item['session_id']}~{copy}"
            item["occurred_at"] = base["occurred_at"] + timedelta(days=copy)
        yield item


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB (current from /proc on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak, peak
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20, peak


def _disk_bytes(memory: Any, path: Path | None) -> int:
    if path is not None:
        files = [path, *(Path(f"{path}{s}") for s in ("-wal", "-shm"))]
        ann = Path(f"{path}.ann")
        files += list(ann.iterdir()) if ann.is_dir() else []
        return sum(f.stat().st_size for f in files if f.exists())
    with memory.store._pool.connection() as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
    return int(row[0])


def _recall(memory: Any, queries: Sequence[str], limit: int = 10) -> float | None:
    """Recall@``limit`` of the SQLite store's vector search against exact, or None when the
    scope is searched exactly anyway (or the store is not SQLite)."""
    store = memory.store
    cache: Any = getattr(store, "_cache", None)
    if not hasattr(cache, "exact_limit"):  # not remem's SQLite vector cache
        return None
    from remem.store import ann
    from remem.store.base import Scope

    vecs = store._vectors(USER)
    scope = Scope(user_id=USER)
    if vecs is None or int(vecs.mask(scope.levels, time.time()).sum()) <= cache.exact_limit:
        return None
    cache.ann(vecs, wait=True)
    got = []
    for q in memory.embedder.embed_batch(list(queries)):
        mask = vecs.mask(scope.levels, time.time())
        truth = {i for i, _ in ann.exact(vecs, q, np.flatnonzero(mask), limit)}
        found = {i for i, _ in store.vector(q, scope, limit=limit)}
        got.append(len(truth & found) / max(1, len(truth)))
    return statistics.fmean(got)


def run(
    data: str | Path,
    *,
    sizes: Sequence[int] = SIZES,
    store: str = "sqlite",
    embedder: str = "hashing",
    probes: int = 30,
    batch: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Grow one scope through ``sizes`` and measure at each; returns one row per size.

    Args:
        data: the LoCoMo JSON file whose turns are the text.
        sizes: the scope sizes to measure at, ascending.
        store: "sqlite" (a file in a temp dir), "postgres" (an embedded PostgreSQL started for
            the run, as ``remem bench serve`` starts one) or a ``postgresql://`` URL.
        embedder: "hashing" (no model) or a model name ("minilm").
        probes: single adds and searches timed at each size.
        batch: memories per ``add_many`` while growing.
        seed: the seed of the word substitutions and the question order.
        progress: called with a line of text as work advances.
    """
    from remem.bench.serve import EMBEDDED_PG, _embedded_postgres
    from remem.memory import Memory

    say = progress or (lambda _line: None)
    turns, questions = corpus(data)
    random.Random(seed).shuffle(questions)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="remem-bench-scale-")))
        path: Path | None = None
        if store == "sqlite":
            path = tmp / "scale.db"
            memory = Memory(path, embedder=embedder)
        else:
            url = stack.enter_context(_embedded_postgres()) if store == EMBEDDED_PG else store
            memory = Memory(store="postgres", store_url=url, embedder=embedder)
        stack.callback(memory.close)
        backend = "sqlite" if path is not None else "postgres"
        count = 0
        for size in sorted(sizes):
            started, before = time.perf_counter(), count
            while count < size:
                step = min(batch, size - count)
                memory.add_many(list(items(turns, count, step, seed=seed)))
                count += step
                if count // (10 * batch) > (count - step) // (10 * batch) or count == size:
                    say(f"{backend} {embedder}: {count} memories")
            ingest_s = time.perf_counter() - started
            # Warm-up searches first: the one that crosses the exact limit starts the HNSW
            # build, and the held BM25 postings are read on the first few; then wait for the
            # build: measure with the index, not beside its build.
            for query in questions[:3]:
                memory.search(query, user_id=USER, limit=10)
            cache: Any = getattr(memory.store, "_cache", None)
            if hasattr(cache, "wait"):
                cache.wait()
            adds = []
            for item in items(turns, count, probes, seed=seed):  # the next memories, one at a time
                t0 = time.perf_counter()
                memory.add(**item)
                adds.append((time.perf_counter() - t0) * 1000)
            count += probes
            searches = []
            for k in range(probes):
                query = questions[(size + k) % len(questions)]
                t0 = time.perf_counter()
                memory.search(query, user_id=USER, limit=10)
                searches.append((time.perf_counter() - t0) * 1000)
            rss, peak = _rss_mb()
            disk = _disk_bytes(memory, path)
            recall = _recall(memory, questions[:100]) if path is not None else None
            row = {
                "store": backend,
                "embedder": embedder,
                "size": size,
                "ingest_per_s": round((size - before) / ingest_s, 1) if size > before else None,
                "add_p50_ms": round(statistics.median(adds), 2),
                "add_p95_ms": round(_pct(adds, 0.95), 2),
                "search_p50_ms": round(statistics.median(searches), 2),
                "search_p95_ms": round(_pct(searches, 0.95), 2),
                "rss_mb": round(rss, 1),
                "peak_rss_mb": round(peak, 1),
                "disk_bytes_per_memory": round(disk / count),
                "ann_recall_at_10": None if recall is None else round(recall, 4),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
            rows.append(row)
            say(json.dumps(row))
    return rows


def chart(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Add and search latency (p50 solid, p95 dashed) against scope size, one line per
    (store, embedder); a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault((row["store"], row["embedder"]), []).append(row)
    for ax, what in zip(axes, ("add", "search"), strict=True):
        for (store, embedder), points in sorted(series.items()):
            points = sorted(points, key=lambda r: r["size"])
            xs = [p["size"] for p in points]
            line = ax.plot(
                xs, [p[f"{what}_p50_ms"] for p in points], marker="o", label=f"{store}, {embedder}"
            )
            ax.plot(
                xs, [p[f"{what}_p95_ms"] for p in points], linestyle="--", color=line[0].get_color()
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("memories in the scope")
        ax.set_ylabel("ms")
        ax.set_title(f"{what} latency (p50 solid, p95 dashed)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ann-benchmarks' k-NN recall counts a returned row whose distance is within this of the k-th
# true distance (``knn_threshold``): among exact duplicates and near-twins, which of the tied rows
# exact search lists is arbitrary (here: by rowid), and any of them is as near.
TIE_EPSILON = 1e-3


def _recall_at_10(
    vecs: Any, index: Any, asked: Any, mask: np.ndarray
) -> tuple[float, float, float]:
    """Mean recall@10 of the HNSW path against exact search under ``mask``, the same counted
    as ann-benchmarks does (a row within ``TIE_EPSILON`` cosine distance of the 10th true one is
    a hit), and its median ms."""
    from remem.store import ann

    hits, near, took = [], [], []
    for q in asked:
        exact = ann.exact(vecs, q, np.flatnonzero(mask), 10)
        truth = {x for x, _ in exact}
        t0 = time.perf_counter()
        found = ann.approximate(vecs, index, q, mask, 10)
        took.append((time.perf_counter() - t0) * 1000)
        hits.append(len(truth & {x for x, _ in found}) / 10)
        # Scores are (1 + cosine) / 2, re-scored exactly: a distance of e is a score of e / 2.
        edge = exact[-1][1] - TIE_EPSILON / 2 if exact else 1.0
        near.append(min(sum(s >= edge for _, s in found), len(exact)) / max(len(exact), 1))
    return (
        round(statistics.fmean(hits), 4),
        round(statistics.fmean(near), 4),
        round(statistics.median(took), 2),
    )


def ann_recall_store(
    db: str | Path,
    data: str | Path,
    *,
    user_id: str = USER,
    embedder: str = "minilm",
    queries: int = 300,
    levels: Sequence[str] = ("record", "fact"),
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Recall@10 of the HNSW path against exact search on the stored vectors of ``user_id`` in
    an SQLite store (e.g. one grown by ``run``): one index over all of the user's rows, as the
    store builds it, and queries (the dev split's questions, embedded with ``embedder``) asked
    of one level at a time, as retrieval asks them."""
    import sqlite3

    from remem.embed.base import describe, identity
    from remem.errors import EmbedderMismatch
    from remem.memory import Memory
    from remem.store import _embedder, ann

    say = progress or (lambda _line: None)
    _, questions = corpus(data)
    conn = sqlite3.connect(f"file:{Path(db)}?mode=ro", uri=True)
    try:
        meta = conn.execute(
            "SELECT value FROM remem_meta WHERE key = ?", (_embedder.KEY,)
        ).fetchone()
        rows = conn.execute(
            "SELECT rowid, id, embedding, level FROM memories WHERE user_id = ? AND embedding "
            "IS NOT NULL AND valid_to IS NULL",
            (user_id,),
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        raise ValueError(f"{db} holds no vectors of user {user_id!r}")
    dims = len(rows[0][2]) // 4
    vecs = ann.UserVectors.from_rows(
        user_id, dims, [(r, i, e, lv, True, np.inf) for r, i, e, lv in rows]
    )
    memory = Memory(":memory:", embedder=embedder)
    try:
        # Queries from another embedder than the one that wrote the store are out of its
        # vectors' distribution: HNSW recall on them says nothing (a hashing-written store
        # asked with MiniLM queries gave 0.43 where its own queries give 0.9+).
        stored = _embedder.load(meta[0]) if meta else None
        given = identity(memory.embedder)
        if stored is not None and stored != given:
            raise EmbedderMismatch(
                f"{db} was written by embedder {describe(stored)}; --embedder gives "
                f"{describe(given)}: pass the store's own embedder",
                stored=stored,
                given=given,
            )
        asked = memory.embedder.embed_batch(questions[:queries])
    finally:
        memory.close()
    if asked.shape[1] != dims:
        raise ValueError(f"{embedder} gives {asked.shape[1]} dimensions, the store holds {dims}")
    started = time.perf_counter()
    indexed = vecs.indexed_rows()  # as the store builds it (no session units)
    index = ann.Ann.build(vecs.rowids[indexed], vecs.matrix[indexed])
    build_s = round(time.perf_counter() - started, 1)
    distinct = len(np.unique(vecs.matrix[: vecs.n].round(5), axis=0))
    out = []
    for level in levels:
        mask = vecs.mask((level,), 0.0)
        if not mask.any():
            continue
        recall, near, p50 = _recall_at_10(vecs, index, asked, mask)
        row = {
            "rows": len(vecs),
            "distinct_vectors": distinct,
            "level": level,
            "level_rows": int(mask.sum()),
            "build_s": build_s,
            "recall_at_10": recall,
            "recall_at_10_ties": near,
            "search_p50_ms": p50,
        }
        say(json.dumps(row))
        out.append(row)
    return out


def ann_recall(
    data: str | Path,
    *,
    sizes: Sequence[int] = (30_000, 100_000),
    embedder: str = "minilm",
    queries: int = 300,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Recall@10 of the SQLite store's HNSW path against exact search, on real text vectors.

    The dev split's turns and questions are embedded once; the vector set is grown to each size
    by interpolation: row ``i`` past the split is ``a·v + (1 - a)·w`` of two random turn vectors
    (``a`` uniform in [0.55, 0.9]) plus 2% Gaussian noise, normalized: new points that lie among
    real ones, as new turns on the same topics would. The questions are the queries. Measured
    with every row visible and with half the rows masked out (as a level or SQL filter would).
    """
    from remem.memory import Memory
    from remem.store import ann

    say = progress or (lambda _line: None)
    turns, questions = corpus(data)
    memory = Memory(":memory:", embedder=embedder)
    try:
        base = memory.embedder.embed_batch([t["content"] for t in turns])
        asked = memory.embedder.embed_batch(questions[:queries])
    finally:
        memory.close()
    rng = np.random.default_rng(seed)
    out = []
    for size in sizes:
        i, j = rng.integers(0, len(base), size), rng.integers(0, len(base), size)
        a = rng.uniform(0.55, 0.9, size)[:, None].astype(np.float32)
        points = a * base[i] + (1 - a) * base[j]
        points += np.float32(0.02) * rng.standard_normal(points.shape, dtype=np.float32)
        points[: min(size, len(base))] = base[: min(size, len(base))]
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        blobs = [
            (k + 1, f"m{k}", points[k].tobytes(), "record" if k % 2 else "fact", True, np.inf)
            for k in range(size)
        ]
        vecs = ann.UserVectors.from_rows("u", points.shape[1], blobs)
        started = time.perf_counter()
        index = ann.Ann.build(vecs.rowids[:size], vecs.matrix[:size])
        build_s = time.perf_counter() - started
        row: dict[str, Any] = {"size": size, "dims": points.shape[1], "build_s": round(build_s, 1)}
        for name, levels in (("all", ("record", "fact")), ("half", ("record",))):
            recall, near, p50 = _recall_at_10(vecs, index, asked, vecs.mask(levels, 0.0))
            row[f"recall_at_10_{name}"] = recall
            row[f"recall_at_10_ties_{name}"] = near
            row[f"search_p50_ms_{name}"] = p50
        say(json.dumps(row))
        out.append(row)
    return out
