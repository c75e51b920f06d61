"""Search latency with pathological memories in scope: long unbroken tokens, blobs, code.

Agents store tool output as it comes: a hex or base64 dump, a minified JSON document, a source
file. Each is one memory of up to ``max_content_bytes`` (64 KiB), with no sentence breaks and
tokens thousands of characters long. Every text heuristic that reads stored content must stay
linear in it, or one such memory slows every later search of its scope.

``run`` builds the same conversation twice, once alone and once with the four blobs of
``blobs()`` stored among its turns, asks both the same questions, and reports search p50/p95 of
each and their ratio (target: within 2x), the median of ``runs`` fresh builds.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BLOBS = ("token", "base64", "json", "code")
#: Characters per blob: under the 64 KiB content limit with room for the UTF-8 of the code.
SIZE = 60_000
#: Hits per search: more than the pathological scope holds (24 turns and 4 blobs).
LIMIT = 30

TURNS = [
    ("Ana", "I adopted a golden retriever puppy last week, we named him Biscuit."),
    ("Mel", "Biscuit is such a cute name! How is he settling in?"),
    ("Ana", "He chews everything, but he already sleeps through the night."),
    ("Mel", "My sister Carla moved to Porto in March, she loves it there."),
    ("Ana", "Porto is lovely. Did she find a flat near the river?"),
    ("Mel", "Yes, a small one in Ribeira with a view of the bridge."),
    ("Ana", "I started learning the cello in January, my teacher is very patient."),
    ("Mel", "The cello! That takes real dedication. What are you practising?"),
    ("Ana", "Mostly scales, and a simple Bach minuet for the spring recital."),
    ("Mel", "We are planning a holiday in Kyoto in October to see the temples."),
    ("Ana", "Kyoto in autumn is beautiful, the maple leaves turn bright red."),
    ("Mel", "I booked a ryokan with a hot spring bath for three nights."),
    ("Ana", "My job at the library keeps me busy, we are digitising old maps."),
    ("Mel", "That sounds fascinating. Which maps are you working on?"),
    ("Ana", "Sea charts of the Portuguese coast from the eighteenth century."),
    ("Mel", "I ran my first half marathon on Sunday in two hours and five minutes."),
    ("Ana", "Congratulations! Are you training for a full marathon next?"),
    ("Mel", "Maybe next year, my knees need a rest first."),
    ("Ana", "I am allergic to peanuts, so I always check the labels."),
    ("Mel", "My favourite book is The Left Hand of Darkness by Ursula Le Guin."),
    ("Ana", "We repainted the kitchen a pale green colour over the weekend."),
    ("Mel", "Our neighbour Tom lends us his ladder whenever we need it."),
    ("Ana", "I bake sourdough bread every Saturday morning before the market."),
    ("Mel", "The market sells the best tomatoes in town in August."),
]
QUERIES = [
    "What is the name of my dog?",
    "Where does my sister live?",
    "Which instrument am I learning?",
    "Where are we going on holiday in October?",
    "Where does Ana work?",
    "How long did the half marathon take?",
    "What am I allergic to?",
    "What is Mel's favourite book?",
    "What colour is the kitchen?",
    "When do I bake bread?",
    "Who lends us a ladder?",
    "What did we book in Kyoto?",
]


def blobs(size: int = SIZE, seed: int = 0) -> dict[str, str]:
    """The four pathological memories, ``size`` characters each, the same for the same seed.

    Returns:
        "token": one unbroken [a-z0-9] token; "base64": a base64 blob; "json": minified JSON of
        nested objects; "code": Python source (remem's own, cut at a line end).
    """
    rng = random.Random(seed)
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))
    b64 = base64.b64encode(rng.randbytes(size * 3 // 4 + 3)).decode()[:size]
    return {"token": token, "base64": b64, "json": _json(rng, size), "code": _code(size)}


def _json(rng: random.Random, size: int) -> str:
    def node(depth: int) -> Any:
        if depth >= 4:
            return rng.choice(
                [rng.randint(0, 10**6), rng.random(), True, None, "2024-01-02T03:04:05Z", "ok"]
            )
        return {
            "id": f"{rng.getrandbits(64):016x}",
            "name": rng.choice(["Alpha-Beta", "gamma_delta", "Is Active", "lives in Lisbon"]),
            "tags": [rng.choice(["a", "b", "c"]) for _ in range(3)],
            **{f"k{i}": node(depth + 1) for i in range(rng.randint(1, 3))},
        }

    items: list[Any] = []
    text = "[]"
    while True:
        items.append(node(0))
        longer = json.dumps(items, separators=(",", ":"))
        if len(longer) > size:
            return text
        text = longer


def _code(size: int) -> str:
    # remem's own modules, less the guard and the benchmarks: their attack phrases would get the
    # file quarantined, and a quarantined memory is never searched.
    root = Path(__file__).resolve().parent.parent
    files = [p for p in sorted(root.rglob("*.py")) if p.parent.name not in ("guard", "bench")]
    source = "".join(p.read_text(encoding="utf-8") for p in files)
    while len(source) < size:
        source += source
    return source[: source.rindex("\n", 0, size) + 1]


def scope_items(
    user_id: str, extra: dict[str, str] | None = None, *, start: datetime | None = None
) -> list[dict[str, Any]]:
    """``Memory.add`` keyword arguments: the conversation, with the ``extra`` blobs spread
    evenly among its turns as tool output (each between two ordinary turns)."""
    at = start or datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    blobs_left = list((extra or {}).items())
    every = max(1, len(TURNS) // (len(blobs_left) + 1))
    out: list[dict[str, Any]] = []
    for i, (speaker, text) in enumerate(TURNS):
        out.append({"content": text, "user_id": user_id, "speaker": speaker, "occurred_at": at})
        at += timedelta(minutes=3)
        if blobs_left and (i + 1) % every == 0:
            name, blob = blobs_left.pop(0)
            out.append(
                {
                    "content": blob,
                    "user_id": user_id,
                    "speaker": "tool",
                    "origin": "tool",
                    "occurred_at": at,
                    "metadata": {"blob": name},
                }
            )
            at += timedelta(minutes=3)
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


SCOPES = ("normal", "pathological")


def _latencies(memory: Any, user_id: str, repeats: int, limit: int) -> list[float]:
    out = []
    for _ in range(repeats):
        for query in QUERIES:
            started = time.perf_counter()
            memory.search(query, user_id=user_id, limit=limit)
            out.append((time.perf_counter() - started) * 1000)
    return out


def run(
    memory_factory: Callable[[Path], Any],
    *,
    runs: int = 3,
    repeats: int = 5,
    limit: int = LIMIT,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Search p50/p95 (ms) over the normal scope and over it plus the four blobs.

    Args:
        memory_factory: makes a ``Memory`` on a database path.
        runs: fresh builds; each figure is the median over them.
        repeats: how many times each query is asked per scope and run.
        limit: hits per search; the default covers the whole scope, so every blob is among the
            hits the guard reviews on every search (the worst case).
        progress: called with 1 after each run.

    Returns:
        ``{"normal": {"p50", "p95"}, "pathological": {"p50", "p95"}, "ratio": {"p50", "p95"},
        "first": {scope: {"p50", "max"}}, "runs", "searches", "blob_chars"}``: the timed
        searches follow one untimed pass over each scope, whose figures are ``first``.
    """
    extra = blobs()
    per_run: list[dict[str, dict[str, float]]] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            memory = memory_factory(Path(tmp) / "bench.db")
            try:
                for item in scope_items("normal"):
                    memory.add(**item)
                for item in scope_items("pathological", extra):
                    memory.add(**item)
                # One untimed pass over each scope first: the query vectors are cached after
                # their first use (which would favour whichever scope is searched second), and
                # each stored text's own one-time work (the guard's review of a 60 KB blob, the
                # postings) is done on the first searches that meet it. That first pass over
                # the blobs is reported apart, as "first".
                first = {scope: _latencies(memory, scope, 1, limit) for scope in SCOPES}
                figures = {
                    f"first {scope}": {"p50": _pct(lat, 50), "max": max(lat)}
                    for scope, lat in first.items()
                }
                for scope in SCOPES:
                    lat = _latencies(memory, scope, repeats, limit)
                    figures[scope] = {"p50": _pct(lat, 50), "p95": _pct(lat, 95)}
                per_run.append(figures)
            finally:
                memory.close()
        if progress:
            progress(1)
    summary: dict[str, Any] = {
        scope: {
            p: round(statistics.median(r[scope][p] for r in per_run), 2) for p in ("p50", "p95")
        }
        for scope in SCOPES
    }
    summary["first"] = {
        scope: {
            p: round(statistics.median(r[f"first {scope}"][p] for r in per_run), 2)
            for p in ("p50", "max")
        }
        for scope in SCOPES
    }
    summary["ratio"] = {
        p: round(summary["pathological"][p] / summary["normal"][p], 2) for p in ("p50", "p95")
    }
    summary["runs"] = runs
    summary["limit"] = limit
    summary["searches"] = len(QUERIES) * repeats
    summary["blob_chars"] = {name: len(text) for name, text in extra.items()}
    return summary
