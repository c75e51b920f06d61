"""``remem reindex``: re-embed a store in place with another embedder, resumable.

Every row gets its new vector the way a fresh ingest with the new embedder would have made it:
a stored record (or a quarantined one) the pooled vector of its sentences
(``Parts.embed_records``), a fact unit its sentence's vector, a session unit the normalized mean of
its turns' new vectors, an episode's task unit its task text's vector, a guard lesson none
(zeros). The new vectors go to a column of their own
(``embedding_next``), a batch per transaction, so a killed reindex keeps what it did and the next
run goes on from there (its target is kept in the store too). When every row has one, a single
transaction swaps them in and records the new embedder.

Meanwhile the store is the old embedder's: processes using it search the old vectors and write
as before (rows written meanwhile are re-embedded before the swap; a row changed after it was
read is embedded again). Processes with the new embedder are refused (``EmbedderMismatch``) until
the swap; after it, the old embedder's processes are refused on their next search or write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from remem import _registry
from remem.config import Settings, default_path
from remem.embed.base import Embedder, identity
from remem.errors import ConfigError, StoreError
from remem.organize import facts
from remem.parts import Parts
from remem.store.base import part_id
from remem.types import Record, Vector

BATCH = 256
# Rounds of (rows, session units, swap) before giving up while writes keep arriving.
MAX_ROUNDS = 20


@dataclass(frozen=True)
class Outcome:
    """What a reindex did: the embedder before and after, rows embedded, whether it resumed."""

    before: dict[str, Any] | None
    after: dict[str, Any]
    embedded: int
    rows: int
    resumed: bool
    changed: bool


def open_for_reindex(settings: Settings, path: str | Path | None) -> Any:
    """The store the settings name, opened whatever its embedder or width."""
    cls = _registry.resolve("store", settings.store)
    if settings.store in ("postgres", "postgresql"):
        options = dict(settings.options.get("postgres", {}))
        return cls(settings.store_url, dims=settings.dims, any_dims=True, **options)
    return cls(path if path is not None else default_path(), dims=settings.dims)


def reindex(
    settings: Settings,
    path: str | Path | None,
    embedder: Embedder,
    *,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Re-embed the store ``settings`` and ``path`` name with ``embedder``; see the module.

    Raises:
        ConfigError: the store cannot record its embedder (a backend without reindex support).
        EmbeddingError: the embedder failed (what was embedded so far is kept).
        StoreError: the store failed, or writes kept arriving for ``MAX_ROUNDS`` rounds.
    """
    if batch < 1:
        raise ConfigError(f"batch: expected at least 1, got {batch}")
    store = open_for_reindex(settings, path)
    try:
        if not hasattr(store, "reindex_begin"):
            raise ConfigError(f"the {settings.store} store cannot be re-embedded in place")
        target = identity(embedder)
        before = store.embedder()
        if before == target and store.reindex_target() is None:
            _, rows = store.reindex_progress()
            return Outcome(before, target, 0, rows, resumed=False, changed=False)
        resumed = store.reindex_begin(target)
        parts = Parts(settings, store, embedder)
        embedded = 0
        for _ in range(MAX_ROUNDS):
            embedded += _rows(parts, store, batch, progress)
            _session_units(store, batch, embedder.dims)
            if store.reindex_finish(target):
                _, rows = store.reindex_progress()
                return Outcome(before, target, embedded, rows, resumed=resumed, changed=True)
        raise StoreError(
            f"writes kept arriving through {MAX_ROUNDS} rounds; run remem reindex again"
        )
    finally:
        store.close()


def _rows(parts: Parts, store: Any, batch: int, progress: Callable[[int, int], None] | None) -> int:
    """Embed every row (but session units) still without a new vector; returns how many."""
    after, count = "", 0
    while True:
        rows: list[Record] = store.reindex_rows(after=after, limit=batch, sessions=False)
        if not rows:
            return count
        store.reindex_put(_vectors(parts, rows))
        count += len(rows)
        after = rows[-1].id
        if progress is not None:
            progress(*store.reindex_progress())


def _vectors(parts: Parts, rows: list[Record]) -> list[tuple[Record, Vector]]:
    """Each row's vector under the new embedder, made as the write path makes it."""
    dims = parts.embedder.dims
    out: dict[str, Vector] = {}
    tasks = [r for r in rows if _task_unit(r)]
    if tasks:  # an episode's (or episode lesson's) task unit: its task text, as a query
        out.update(zip((r.id for r in tasks), parts.embed([r.content for r in tasks]), strict=True))
    for r in rows:
        if r.level == "lesson" and r.id not in out:  # a guard lesson: matched by signature,
            out[r.id] = np.zeros(dims, dtype=np.float32)  # never by similarity (derive.learn)
    pieces = [r for r in rows if r.level == facts.LEVEL and r.id not in out]
    if pieces:
        flat = parts.embed([t for r in pieces for t in facts.embed_texts([r.content], r.speaker)])
        out.update(zip((r.id for r in pieces), flat, strict=True))
    stored = [r for r in rows if r.id not in out]
    if stored:
        pooled, _ = parts.embed_records(stored)
        out.update(zip((r.id for r in stored), pooled, strict=True))
    return [(r, out[r.id]) for r in rows]


def _task_unit(record: Record) -> bool:
    """A task unit of ``remem.episodes`` (``<record id>#<UNIT_INDEX>``, levels "episode" and
    "lesson"), whose vector is its task text's embedding."""
    from remem.episodes import UNIT_INDEX, UNIT_LEVEL

    return (
        record.level in UNIT_LEVEL.values()
        and len(record.sources) == 1
        and record.id == part_id(record.sources[0], UNIT_INDEX)
    )


def _session_units(store: Any, batch: int, dims: int) -> None:
    """Every session unit's new vector: the normalized mean of its turns' new vectors (as
    ``organize.units.session_units`` makes it). All of them, every round: a turn embedded again
    since the last round changes its unit's mean."""
    after = ""
    while True:
        found: list[Record] = store.reindex_rows(
            after=after, limit=batch, sessions=True, pending=False
        )
        if not found:
            return
        new = store.reindex_vectors([s for u in found for s in u.sources])
        items = []
        for unit in found:
            stack = [new[s] for s in unit.sources if s in new]
            mean = np.mean(stack, axis=0) if stack else np.zeros(dims, dtype=np.float32)
            norm = float(np.linalg.norm(mean))
            items.append((unit, (mean / norm if norm else mean).astype(np.float32)))
        store.reindex_put(items)
        after = found[-1].id
