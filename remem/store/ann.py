"""The SQLite store's in-process vector index: one matrix per user, updated in place by the
store's own writes, bounded by an LRU over users, with an HNSW index (usearch) for large scopes.

SQLite stays the source of truth. ``UserVectors`` holds every vector of one user (all levels,
with a level array used as a mask) in a matrix with spare capacity: an insert appends a row
(capacity doubles when full), a replace updates its row, a delete marks it removed (a tombstone,
compacted away once tombstones pass a quarter of the rows). Only another connection's commit
makes the store reload (see ``SQLiteStore._vectors``).

Search is exact (numpy) while the rows a query may see number at most ``EXACT_LIMIT``; above
that, an HNSW index over the user's rows gives the candidates, which are filtered by the query's
mask (level, validity, expiry, any SQL filter) and re-scored exactly. A missing index is built in
a background thread (searches stay exact meanwhile; the writes made during the build are
replayed into it before it is used), so crossing the limit never stalls a write or a search. The HNSW index is a cache:
saved beside the database (``<db>.ann/<hash of user>.usearch``) with a header that records the
rows it was built from (count, rowid high-water mark and a digest of rowids and vectors) and a
digest of its own bytes. A file that does not match the user's rows in SQLite, or whose bytes do
not match their digest, is rebuilt; nothing is ever read from it that SQLite does not also hold.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import math
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from remem._fs import private_dir
from remem.types import Vector

# Rows a query may see, at most, for an exact search. An exact scan costs ~0.12 ms per 1,000
# rows (memory-bound: 24.5k fact rows of a 10k-memory scope, 2.9-3.1 ms); an HNSW search with its
# exact re-scoring ~1 ms (1.0-1.3 ms on those rows, since usearch runs in the caller's thread;
# 5.4 ms in stop 17, when 40,000 was chosen). At 12,000 a 10k-memory scope's fact run goes
# through HNSW: search p95 26.2 -> 21.7 ms (medians of 3), top-10 overlap with exact 0.992, the
# first search of a process +0.2 s (the index file), +47 MB: docs/benchmarks.md, stop 22.
EXACT_LIMIT = 12_000
CACHE_BYTES = 512 * 2**20  # the default bound of one store's vector cache
_ROW_OVERHEAD = 160  # bytes per row besides its vector: rowid, id string, position map, flags
_MIN_CAPACITY = 64
_DIGEST_ROWS = 4096  # rows hashed at a time by ``signature`` (not a copy of every vector)
_MAX_HEADER = 1 << 16  # bytes of the header line, at most
_MAGIC = b"REMEM-ANN 2\n"  # 2: no session units in the index (``UNINDEXED_LEVELS``)
# HNSW parameters: recall@10 >= 0.98 against exact search on MiniLM vectors (docs/benchmarks.md).
CONNECTIVITY = 16
EXPANSION_ADD = 64
EXPANSION_SEARCH = 512
# A search for only a few candidates (a write's duplicate and neighbour lookups ask for 5-10
# rows, ~20-70 candidates) explores less: 4x the candidates, at least this. Retrieval's runs ask
# for 100+ candidates, so they keep ``EXPANSION_SEARCH``.
EXPANSION_FEW = 128
# The index only proposes candidates, which are re-scored exactly from the f32 matrix, so it
# keeps its vectors as int8: a quarter of the bytes (100k rows of 384 dims: 38 MB, not 154 MB)
# at the same recall (measured at 100k on interpolated MiniLM vectors: recall@10 0.987 with int8,
# 0.976 with f32, 0.987 f16; on a grown scope full of near-twins, int8 0.88-0.92 and f16 0.90 on
# records: docs/benchmarks.md, "Stop 20").
DTYPE = "i8"
# Levels whose rows the HNSW index never holds: wherever a search reaches them they are scored
# exactly. A session unit is rewritten on every add to its session, its vector moving a little
# each time, and usearch inserts a vector among its own removed predecessors slowly: 6.7 ms
# (median of 60 such rewrites) against 0.1-0.2 ms for a new row, on a 345k-row index; that was
# most of an add's index time at 100k. Session units are few (one per chunk of turns).
UNINDEXED_LEVELS = frozenset({"session"})


# Rows added per call while an index is built in the background, between checks of whether the
# store is closing (a few tens of ms of work each), and the threads that build it: one core is
# left to the searches and writes that go on meanwhile (on 2 cores, a build on both made the
# searches beside it wait: p95 326 ms at 5k memories).
_BUILD_CHUNK = 4096
_BUILD_THREADS = max(
    1,
    (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) - 1,
)


# A matrix of at least this many bytes lives in its own anonymous mapping, so that growing it
# remaps its pages (mremap) instead of copying them: doubling 345k rows of 384 floats (530 MB)
# took 1.3 s inside one add, with both copies resident meanwhile; remapped, 2 ms and no copy.
_MAPPED_BYTES = 1 << 20


def _matrix(rows: int, dims: int) -> np.ndarray:
    """A zeroed float32 (rows, dims) matrix; a large one in a growable mapping (see
    ``UserVectors._grow_matrix``)."""
    size = rows * dims * 4
    if size < _MAPPED_BYTES:
        return np.zeros((rows, dims), dtype=np.float32)
    area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(area, dtype=np.float32).reshape(rows, dims)


def _mapping(matrix: np.ndarray) -> mmap.mmap | None:
    """The mapping under a matrix made by ``_matrix`` (array -> memoryview -> mmap), if any."""
    base: Any = matrix
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, mmap.mmap) else None


def _usearch() -> Any:
    from usearch.index import Index

    return Index


class Ann:
    """An HNSW index over one user's rows, keyed by SQLite rowid (cosine metric, int8 vectors:
    ``DTYPE``)."""

    def __init__(self, dims: int, index: Any = None) -> None:
        self.dims = dims
        self.index = index if index is not None else self._new(dims)
        self.dirty = index is None
        self.complete = True  # False: a build stopped part-way (``build``)

    @staticmethod
    def _new(dims: int) -> Any:
        return _usearch()(
            ndim=dims,
            metric="cos",
            dtype=DTYPE,
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )

    @classmethod
    def build(
        cls,
        rowids: np.ndarray,
        matrix: Vector,
        *,
        stop: threading.Event | None = None,
        threads: int = 0,
    ) -> Ann:
        """An index of these rows (rowids and their vectors), on ``threads`` threads (0: every
        core). With ``stop``, rows are added ``_BUILD_CHUNK`` at a time and the build is left
        unfinished (``complete`` False) once ``stop`` is set: a process that closes its store
        does not wait for a whole build, nor exit while usearch's threads run (that aborts)."""
        ann = cls(matrix.shape[1])
        if rowids.size:
            dtype = matrix.dtype if matrix.dtype in (np.float16, np.float32) else np.float32
            keys = rowids.astype(np.uint64)
            step = _BUILD_CHUNK if stop is not None else rowids.size
            for a in range(0, rowids.size, step):
                if stop is not None and stop.is_set():
                    ann.complete = False
                    break
                rows = np.ascontiguousarray(matrix[a : a + step], dtype)
                ann.index.add(keys[a : a + step], rows, threads=threads)
        return ann

    def __len__(self) -> int:
        return int(len(self.index))

    def add(self, rowid: int, vec: Vector) -> None:
        # One vector, one thread: usearch's default (every core) starts a pool per call, which
        # cost 2.8 ms per insert on average against 0.16 ms in the caller's thread (0.34 at
        # most; 16 ms at worst with the pool) on a 345k-row index, 2 busy cores.
        self.index.add(np.uint64(rowid), np.ascontiguousarray(vec, np.float32), threads=1)
        self.dirty = True

    def remove(self, rowid: int) -> None:
        self.index.remove(np.uint64(rowid))
        self.dirty = True

    def replay(self, changes: Sequence[tuple[int, np.ndarray | None]]) -> None:
        """Apply index changes made while this index was being built."""
        for rowid, vec in changes:
            if self.index.contains(np.uint64(rowid)):
                self.remove(rowid)
            if vec is not None:
                self.add(rowid, vec)

    def search(self, query: Vector, count: int) -> np.ndarray:
        """The rowids of (about) the ``count`` nearest rows."""
        expansion = min(EXPANSION_SEARCH, max(EXPANSION_FEW, 4 * count))
        if self.index.expansion_search != expansion:
            self.index.expansion_search = expansion  # callers hold the store's lock
        found = self.index.search(np.ascontiguousarray(query, np.float32), count, threads=1)
        return np.asarray(found.keys, dtype=np.int64)

    def nbytes(self) -> int:
        return int(self.index.memory_usage)

    # -- the file beside the database -------------------------------------------------------

    def save(self, path: Path, signature: dict[str, Any]) -> None:
        """Write the index with its header (``signature`` of the rows it holds), atomically."""
        payload = bytes(self.index.save())
        header = dict(signature, payload=len(payload), digest=_digest(payload), dtype=DTYPE)
        private_dir(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload)
        os.replace(tmp, path)
        self.dirty = False

    @classmethod
    def load(cls, path: Path, signature: dict[str, Any], dims: int) -> Ann | None:
        """The index saved at ``path`` if it holds exactly the rows ``signature`` describes and
        its bytes are intact; None otherwise (missing, stale, corrupt: the caller rebuilds)."""
        # The header is read first: a stale file's payload (183 MB at 100k turns) is never read,
        # and the payload is read once, not copied out of the whole file again.
        try:
            with path.open("rb") as file:
                if file.read(len(_MAGIC)) != _MAGIC:
                    return None
                head = file.readline(_MAX_HEADER)
                try:
                    header = json.loads(head) if head.endswith(b"\n") else None
                except ValueError:
                    return None
                if not isinstance(header, dict):
                    return None
                if any(header.get(k) != v for k, v in signature.items()):
                    return None  # built from other rows: stale
                if header.get("dtype", "f32") != DTYPE:
                    return None  # written with another vector type: rebuilt with this one
                payload = file.read()
        except OSError:
            return None
        if header.get("payload") != len(payload) or header.get("digest") != _digest(payload):
            return None  # torn or overwritten: corrupt
        try:
            index = _usearch().restore(payload)
        except Exception:  # noqa: BLE001 - whatever usearch makes of bad bytes, rebuild
            return None
        if index is None or index.ndim != dims or len(index) != signature.get("count"):
            return None
        # The file keeps the graph, not the settings: a restored index would add with usearch's
        # default expansion (128, not ``EXPANSION_ADD``: twice the cost of an insert). Search's
        # expansion is set by each ``search``.
        index.expansion_add = EXPANSION_ADD
        return cls(dims, index)


def _digest(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class _Kept:
    """A kept mask: the rows of some levels, over the whole capacity (``rows``), as of ``when``
    (good until ``soonest``, its soonest row's expiry), allowing ``count`` rows."""

    __slots__ = ("rows", "codes", "when", "soonest", "count", "shown")

    def __init__(
        self, rows: np.ndarray, codes: frozenset[int], when: float, soonest: float, count: int
    ) -> None:
        self.rows, self.codes, self.when, self.soonest, self.count = (
            rows,
            codes,
            when,
            soonest,
            count,
        )
        self.shown: np.ndarray | None = None  # the read-only view last handed out

    def view(self, n: int) -> np.ndarray:
        """The first ``n`` rows, read-only (a view: the kept rows are updated in place)."""
        shown = self.shown
        if shown is None or shown.shape[0] != n or shown.base is not self.rows:
            shown = self.rows[:n]
            shown.flags.writeable = False
            self.shown = shown
        return shown


class UserVectors:
    """Every vector of one user, with each row's rowid, id, level, validity, expiry and liveness."""

    def __init__(self, user_id: str, dims: int, capacity: int = 0) -> None:
        self.user_id, self.dims = user_id, dims
        cap = max(capacity, 0)
        self.n = 0  # rows used (live or tombstoned)
        self.dead = 0
        self.matrix = _matrix(cap, dims)
        self.rowids = np.zeros(cap, dtype=np.int64)
        self.level = np.zeros(cap, dtype=np.int16)
        self.valid = np.zeros(cap, dtype=bool)
        self.expires = np.zeros(cap, dtype=np.float64)
        self.live = np.zeros(cap, dtype=bool)
        self.ids: list[str] = []
        self.pos: dict[int, int] = {}
        self.codes: dict[str, int] = {}
        self._unindexed = np.zeros(0, dtype=bool)  # by level code: kept out of the index
        self.ann: Ann | None = None
        # The user's full-text postings (``lexicon.Lexicon``), when the store keeps them: its
        # rows are this object's rows, so it lives and dies with them.
        self.lex: Any = None
        # Masks already made: levels -> ``_Kept`` (the mask over the whole capacity, when it
        # was made, the soonest expiry among its rows, how many rows it allows). This object's
        # own writes update them row by row; a mask is good from when it was made until its
        # soonest row expires.
        self._masks: dict[tuple[str, ...], _Kept] = {}
        # Positions of rows at ``UNINDEXED_LEVELS`` (some may have died since; None: not made).
        self._small: np.ndarray | None = None
        # While an HNSW index is built in the background: the index changes made meanwhile
        # (rowid, vector; None for a removal), replayed into it before it is used.
        self.pending: list[tuple[int, np.ndarray | None]] | None = None

    @classmethod
    def from_rows(
        cls,
        user_id: str,
        dims: int,
        rows: Sequence[tuple[int, str, bytes, str, bool, float]],
    ) -> UserVectors:
        """Load from (rowid, id, embedding blob, level, valid, expires) rows, in any order
        (``SQLiteStore`` groups them by level: one level's rows are then scored in place)."""
        vecs = cls(user_id, dims, len(rows))
        vecs.extend(rows)
        return vecs

    def extend(self, rows: Sequence[tuple[int, str, bytes, str, bool, float]]) -> None:
        """Append loaded rows (as ``from_rows`` takes them): a page of a user read from SQLite,
        written into the matrix in place (no index update: the rows are what it is built from)."""
        k = len(rows)
        if not k:
            return
        self._changed()
        if self.n + k > self.matrix.shape[0]:
            self._grow(self.n + k)
        a, b = self.n, self.n + k
        rowids, ids, blobs, levels, valid, expires = zip(*rows, strict=True)
        self.matrix[a:b] = np.frombuffer(b"".join(blobs), np.float32).reshape(k, -1)
        self.rowids[a:b] = rowids
        codes = {x: self._code(x) for x in set(levels)}
        self.level[a:b] = [codes[x] for x in levels]
        self.valid[a:b] = valid
        self.expires[a:b] = expires
        self.live[a:b] = True
        self.ids.extend(ids)
        self.pos.update(zip(rowids, range(a, b), strict=True))
        self.n = b

    def __len__(self) -> int:
        """Live rows."""
        return self.n - self.dead

    def _code(self, level: str) -> int:
        code = self.codes.get(level)
        if code is None:
            code = self.codes[level] = len(self.codes)
            self._unindexed = np.append(self._unindexed, level in UNINDEXED_LEVELS)
            for key, kept in self._masks.items():  # a mask kept for this level, before its rows
                if level in key:
                    kept.codes = kept.codes | {code}
        return code

    def indexed(self, i: int) -> bool:
        """Whether the row at position ``i`` belongs in the HNSW index (its level's)."""
        return not self._unindexed[self.level[i]]

    def _changed(self) -> None:
        """Rows were renumbered or loaded: every kept mask and position list is made again."""
        self._masks.clear()
        self._small = None

    def _reflect(self, i: int) -> None:
        """Row ``i`` was written: set its bit in every kept mask (and count it)."""
        for kept in self._masks.values():
            bit = bool(
                self.live[i]
                and int(self.level[i]) in kept.codes
                and self.valid[i]
                and self.expires[i] > kept.when
            )
            if bit != bool(kept.rows[i]):
                kept.rows[i] = bit
                kept.count += 1 if bit else -1
            if bit:
                kept.soonest = min(kept.soonest, float(self.expires[i]))

    def nbytes(self) -> int:
        """What this user's vectors take in memory, about."""
        cap = self.matrix.shape[0]
        ann = self.ann.nbytes() if self.ann is not None else 0
        lex = self.lex.nbytes() if self.lex is not None else 0
        return int(cap * (self.dims * 4 + 20) + self.n * _ROW_OVERHEAD + ann + lex)

    # -- this connection's writes ------------------------------------------------------------

    def append(
        self, rowid: int, id_: str, vec: Vector, level: str, valid: bool, expires: float
    ) -> None:
        if self.n == self.matrix.shape[0]:
            self._grow(max(_MIN_CAPACITY, 2 * self.n))
        i = self.n
        self.matrix[i] = vec
        self.rowids[i], self.level[i], self.valid[i] = rowid, self._code(level), valid
        self.expires[i], self.live[i] = expires, True
        self.ids.append(id_)
        self.pos[rowid] = i
        self.n += 1
        self._reflect(i)
        if self.indexed(i):
            self._index_add(rowid, self.matrix[i])
        elif self._small is not None:
            self._small = np.append(self._small, i)

    def update(
        self,
        rowid: int,
        vec: Vector | None,
        level: str,
        valid: bool,
        expires: float,
        *,
        new_rowid: int | None = None,
    ) -> bool:
        """Update one row in place (a new rowid, when the row was rewritten); False if unknown."""
        i = self.pos.get(rowid)
        if i is None:
            return False
        was = self.indexed(i)
        if vec is not None:
            self.matrix[i] = vec
        self.level[i], self.valid[i], self.expires[i] = self._code(level), valid, expires
        moved = False
        if new_rowid is not None and new_rowid != rowid:
            del self.pos[rowid]
            self.pos[new_rowid] = i
            self.rowids[i] = new_rowid
            moved = True
        self._reflect(i)
        now = self.indexed(i)
        if was and (vec is not None or moved or not now):
            self._index_remove(rowid)
        if now and (vec is not None or moved or not was):
            self._index_add(int(self.rowids[i]), self.matrix[i])
        if not now and was and self._small is not None:  # kept ascending
            self._small = np.insert(self._small, np.searchsorted(self._small, i), i)
        return True

    def remove(self, rowid: int) -> None:
        i = self.pos.pop(rowid, None)
        if i is None:
            return
        self.live[i] = False
        self.dead += 1
        self._reflect(i)
        if self.indexed(i):
            self._index_remove(rowid)
        if self.dead > max(_MIN_CAPACITY, self.n // 4):
            self._compact()

    def _index_add(self, rowid: int, vec: np.ndarray) -> None:
        if self.ann is not None:
            self.ann.add(rowid, vec)
        if self.pending is not None:
            self.pending.append((rowid, vec.copy()))

    def _index_remove(self, rowid: int) -> None:
        if self.ann is not None:
            self.ann.remove(rowid)
        if self.pending is not None:
            self.pending.append((rowid, None))

    def _grow(self, cap: int) -> None:
        def grown(a: np.ndarray) -> np.ndarray:
            out = np.zeros((cap, *a.shape[1:]), dtype=a.dtype)
            out[: self.n] = a[: self.n]
            return out

        self._grow_matrix(cap)
        self.rowids, self.level = grown(self.rowids), grown(self.level)
        self.valid, self.expires, self.live = (
            grown(self.valid),
            grown(self.expires),
            grown(self.live),
        )
        for kept in self._masks.values():
            kept.rows = grown(kept.rows)

    def _grow_matrix(self, cap: int) -> None:
        """Room for ``cap`` rows. A mapped matrix is remapped when no view of it is held
        elsewhere (this object's reference is dropped first); otherwise, and for a small one,
        its rows are copied into a new matrix."""
        area = _mapping(self.matrix)
        size = cap * self.dims * 4
        if area is not None and size >= _MAPPED_BYTES:
            self.matrix = np.zeros((0, self.dims), dtype=np.float32)  # the view over ``area``
            try:
                area.resize(size)
            except (BufferError, OSError, ValueError, SystemError):  # viewed, or no mremap
                self.matrix = np.frombuffer(area, dtype=np.float32).reshape(-1, self.dims)
            else:
                self.matrix = np.frombuffer(area, dtype=np.float32).reshape(cap, self.dims)
                return
        out = _matrix(cap, self.dims)
        out[: self.n] = self.matrix[: self.n]
        self.matrix = out

    def _compact(self) -> None:
        self.lex = None  # its rows are renumbered: rebuilt when next needed
        self._changed()
        keep = np.flatnonzero(self.live[: self.n])
        cap = max(_MIN_CAPACITY, self.matrix.shape[0] if keep.size > self.n // 4 else 2 * keep.size)
        for name in ("matrix", "rowids", "level", "valid", "expires", "live"):
            old = getattr(self, name)
            new = (
                _matrix(cap, self.dims)
                if name == "matrix"
                else np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            )
            new[: keep.size] = old[keep]
            setattr(self, name, new)
        self.ids = [self.ids[i] for i in keep]
        self.n, self.dead = int(keep.size), 0
        self.pos = {int(r): i for i, r in enumerate(self.rowids[: self.n])}

    # -- reads -------------------------------------------------------------------------------

    def mask(self, levels: Iterable[str], now: float) -> np.ndarray:
        """Live rows of these levels, not superseded, not expired (read-only: it is kept)."""
        key = tuple(levels)
        kept = self._masks.get(key)
        if kept is not None and kept.when <= now < kept.soonest:
            return kept.view(self.n)
        codes = frozenset(self.codes[x] for x in key if x in self.codes)
        wanted = np.zeros(max(len(self.codes), 1), dtype=bool)
        wanted[list(codes)] = True
        n, cap = self.n, self.matrix.shape[0]
        rows = np.zeros(cap, dtype=bool)
        rows[:n] = (
            self.live[:n] & wanted[self.level[:n]] & self.valid[:n] & (self.expires[:n] > now)
        )
        expiring = self.expires[:n][rows[:n]]
        soonest = float(expiring.min()) if expiring.size else float("inf")
        if len(self._masks) >= 16:
            self._masks.clear()
        kept = self._masks[key] = _Kept(rows, codes, now, soonest, int(rows.sum()))
        return kept.view(n)

    def count(self, mask: np.ndarray) -> int:
        """How many rows ``mask`` allows (kept with a kept mask, not counted on every search:
        0.1 ms for 345k rows)."""
        for kept in self._masks.values():
            if kept.shown is mask:
                return kept.count
        return int(mask.sum())

    def unindexed(self) -> np.ndarray:
        """Positions of the live rows the HNSW index does not hold (``UNINDEXED_LEVELS``),
        ascending."""
        if self._small is None:
            n = self.n
            self._small = np.flatnonzero(self.live[:n] & self._unindexed[self.level[:n]])
        small = self._small
        if small.size:
            alive = self.live[small] & self._unindexed[self.level[small]]
            if not alive.all():
                small = self._small = small[alive]
        return small

    def indexed_rows(self) -> np.ndarray:
        """Positions of the live rows the HNSW index holds, in rowid order."""
        rows = self.rows_in_rowid_order()
        out: np.ndarray = rows[~self._unindexed[self.level[rows]]]
        return out

    def allowed(self, rowids: Sequence[int]) -> np.ndarray:
        """Live rows among ``rowids`` (those an SQL filter let through)."""
        rows: np.ndarray = self.live[: self.n] & np.isin(
            self.rowids[: self.n], np.asarray(rowids, dtype=np.int64)
        )
        return rows

    def rows_in_rowid_order(self) -> np.ndarray:
        live = np.flatnonzero(self.live[: self.n])
        out: np.ndarray = live[np.argsort(self.rowids[live], kind="stable")]
        return out

    def signature(self) -> dict[str, Any]:
        """What identifies the rows the HNSW index holds (every live row but those of
        ``UNINDEXED_LEVELS``): count, rowid high-water mark, digest of rowids and vectors."""
        rows = self.indexed_rows()
        digest = hashlib.blake2b(digest_size=16)
        digest.update(self.rowids[rows].tobytes())
        for start in range(0, rows.size, _DIGEST_ROWS):  # the same digest as of all at once
            digest.update(self.matrix[rows[start : start + _DIGEST_ROWS]].tobytes())
        top = int(self.rowids[rows[-1]]) if rows.size else 0
        return {
            "dims": self.dims,
            "count": int(rows.size),
            "high_water": top,
            "rows": digest.hexdigest(),
        }


def exact(
    vecs: UserVectors, query: Vector, rows: np.ndarray, limit: int
) -> builtins.list[tuple[str, float]]:
    """The ``limit`` best of ``rows`` (indices into ``vecs``) by exact cosine."""
    if rows.size == 0 or limit <= 0:
        return []
    q = query.astype(np.float32, copy=False)
    # einsum, not BLAS: OpenBLAS spreads one matrix-vector product over every core, which on a
    # busy machine costs 10-50x more than one core's SIMD loop (measured: docs/benchmarks.md).
    return _top(vecs, rows, _products(vecs.matrix[: vecs.n], rows, q), limit)


_QUERY_BLOCK = 64  # queries scored together by ``exact_many`` (64 x 40k rows: 10 MB of scores)
# Fewer queries than this are scored one by one: a product of 64 queries with 32k rows took
# 16 ms against 159 ms one by one, but for 1-2 queries BLAS's threads cost more than they give.
_MIN_BLOCK = 4


def exact_many(
    vecs: UserVectors, queries: Vector, rows: np.ndarray, limit: int
) -> builtins.list[builtins.list[tuple[str, float]]]:
    """``exact`` for each row of ``queries``: a block of queries is scored against the rows in
    one matrix product, so the vectors are read once per block, not once per query."""
    if rows.size == 0 or limit <= 0:
        return [[] for _ in range(len(queries))]
    if len(queries) < _MIN_BLOCK:  # one or two queries: the single-core loop is as fast
        return [exact(vecs, q, rows, limit) for q in queries]
    matrix = vecs.matrix[: vecs.n]
    block = np.ascontiguousarray(queries, dtype=np.float32)
    out: builtins.list[builtins.list[tuple[str, float]]] = []
    for start in range(0, block.shape[0], _QUERY_BLOCK):
        sims = _products_many(matrix, rows, block[start : start + _QUERY_BLOCK])
        out.extend(_top(vecs, rows, s, limit) for s in sims)
    return out


def _products_many(matrix: Vector, rows: np.ndarray, queries: Vector) -> np.ndarray:
    """``queries @ matrix[rows].T`` (one row of scores per query), by the runs of ``rows`` as
    in ``_products``: a matrix product per run, in place."""
    cut = np.flatnonzero(np.diff(rows) > _GAP) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [rows.size]))
    spans = rows[ends - 1] + 1 - rows[starts]
    if cut.size >= _MAX_RUNS or int(spans.sum()) > 2 * rows.size:  # scattered rows
        out: np.ndarray = queries @ matrix[rows].T
        return out
    sims = np.empty((queries.shape[0], rows.size), dtype=np.float32)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        first, last = int(rows[a]), int(rows[b - 1]) + 1
        block = queries @ matrix[first:last].T
        sims[:, a:b] = block[:, rows[a:b] - first]
    return sims


def _top(
    vecs: UserVectors, rows: np.ndarray, sims: np.ndarray, limit: int
) -> builtins.list[tuple[str, float]]:
    """The ``limit`` best of ``rows`` by their scores ``sims``, best first, ties by rowid."""
    take = min(limit, sims.size)
    top = np.argpartition(-sims, take - 1)[:take]
    # Every row tied with the last one taken competes, so which of them make the cut is decided
    # by rowid, not by where they sit in the matrix.
    kth = sims[top].min()
    top = np.concatenate((top[sims[top] > kth], np.flatnonzero(sims == kth)))
    top = top[np.lexsort((vecs.rowids[rows[top]], -sims[top]))][:take]  # best first, ties by rowid
    scores = np.clip((sims[top] + 1.0) / 2.0, 0.0, 1.0).tolist()
    return [(vecs.ids[int(rows[i])], s) for i, s in zip(top, scores, strict=True)]


_GAP = 64  # rows between two runs of wanted rows that are scored anyway (cheaper than a copy)
_MAX_RUNS = 16


def _products(matrix: Vector, rows: np.ndarray, q: Vector) -> np.ndarray:
    """``matrix[rows] @ q`` for ascending ``rows``, by runs of nearby rows: rows are loaded
    grouped by level (``SQLiteStore._vectors``), so one level's rows are a few long runs, scored
    in place instead of gathered into a copy of their vectors first (a 10k-row level of a 35k-row
    user: 0.6 ms instead of 3.2)."""
    cut = np.flatnonzero(np.diff(rows) > _GAP) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [rows.size]))
    spans = rows[ends - 1] + 1 - rows[starts]
    if cut.size >= _MAX_RUNS or int(spans.sum()) > 2 * rows.size:  # scattered rows
        if rows.size * 2 > matrix.shape[0]:  # most rows: one product over all beats a gather
            out: np.ndarray = np.einsum("ij,j->i", matrix, q)[rows]
        else:
            out = np.einsum("ij,j->i", matrix[rows], q)
        return out
    sims = np.empty(rows.size, dtype=np.float32)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        first, last = int(rows[a]), int(rows[b - 1]) + 1
        block = np.einsum("ij,j->i", matrix[first:last], q)
        sims[a:b] = block[rows[a:b] - first]
    return sims


def approximate(
    vecs: UserVectors, ann: Ann, query: Vector, mask: np.ndarray, limit: int
) -> builtins.list[tuple[str, float]]:
    """The ``limit`` best rows under ``mask`` by HNSW candidates re-scored exactly.

    The index holds every live row of the user but those of ``UNINDEXED_LEVELS``, so it is
    asked for more than ``limit`` (as many more as the mask is selective) and asked again for
    more while too few candidates pass. The mask's rows at unindexed levels join the candidates
    (all of them: they are few), and all are re-scored exactly.
    """
    small = vecs.unindexed()
    extra = small[mask[small]] if small.size else small
    allowed = vecs.count(mask) - int(extra.size)
    total = max(len(ann), 1)
    want = min(allowed, limit)
    count = min(total, max(2 * limit, math.ceil(2 * limit * total / max(allowed, 1))))
    rows = np.zeros(0, dtype=np.int64)
    while allowed > 0:
        keys = ann.search(query, count)
        idx = np.asarray([vecs.pos.get(int(k), -1) for k in keys], dtype=np.int64)
        idx = idx[idx >= 0]
        rows = np.unique(idx[mask[idx]]) if idx.size else idx
        if rows.size >= want or count >= total:
            break
        count = min(total, count * 4)
    if rows.size < want:  # the index could not give enough: fall back to every allowed row
        return exact(vecs, query, np.flatnonzero(mask), limit)
    if extra.size:
        # Both ascending; a search of session units alone finds no candidates in the index and
        # scores the units as they are (a union would sort them again: 5 ms for 50k units).
        rows = np.union1d(rows, extra) if rows.size else extra
    return exact(vecs, query, rows, limit)


class VectorCache:
    """Users' vectors, least recently used evicted first once they pass ``max_bytes`` in all.

    Only users with rows are kept: a lookup for an unknown or empty user leaves no trace.
    ``ann_dir`` is where HNSW indexes are saved (None: never saved, e.g. ``":memory:"``).
    """

    def __init__(
        self,
        dims: int,
        *,
        max_bytes: int = CACHE_BYTES,
        ann_dir: Path | None = None,
        exact_limit: int = EXACT_LIMIT,
        lock: threading.RLock | None = None,
    ) -> None:
        self.dims, self.max_bytes, self.ann_dir = dims, max_bytes, ann_dir
        self.exact_limit = exact_limit
        self._users: OrderedDict[str, UserVectors] = OrderedDict()
        # Held by every caller (the store's lock); the background builder takes it to attach.
        self._lock = lock or threading.RLock()
        self._builders: list[threading.Thread] = []
        self._stop = threading.Event()  # set by ``stop_builds``: the store is closing

    def __len__(self) -> int:
        return len(self._users)

    def nbytes(self) -> int:
        return sum(v.nbytes() for v in self._users.values())

    def get(self, user_id: str) -> UserVectors | None:
        vecs = self._users.get(user_id)
        if vecs is not None:
            self._users.move_to_end(user_id)
        return vecs

    def put(self, vecs: UserVectors) -> None:
        if not len(vecs):
            return
        self._users[vecs.user_id] = vecs
        self._users.move_to_end(vecs.user_id)
        self.trim()

    def trim(self) -> None:
        """Evict least recently used users until within bounds (the newest always stays)."""
        total = self.nbytes()
        while total > self.max_bytes and len(self._users) > 1:
            _, old = self._users.popitem(last=False)
            total -= old.nbytes()
            self._save(old)

    def drop_lexicons(self) -> None:
        """Drop every user's held full-text postings (they are rebuilt when next needed)."""
        for vecs in self._users.values():
            vecs.lex = None

    def forget(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._users.pop(user_id, None)

    def clear(self, *, save: bool = False) -> None:
        if save:
            for vecs in self._users.values():
                self._save(vecs)
        self._users.clear()

    # -- HNSW --------------------------------------------------------------------------------

    def path(self, user_id: str) -> Path | None:
        if self.ann_dir is None:
            return None
        name = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=16)
        return self.ann_dir / f"{name.hexdigest()}.usearch"

    def ann(self, vecs: UserVectors, *, wait: bool = False) -> Ann | None:
        """The user's HNSW index: in memory, else the saved one if it matches, else None while
        one is built in the background (``wait``: built here and now)."""
        if vecs.ann is not None or vecs.pending is not None and not wait:
            return vecs.ann
        path = self.path(vecs.user_id)
        if path is not None:
            vecs.ann = Ann.load(path, vecs.signature(), self.dims)
            if vecs.ann is not None:
                self.trim()
                return vecs.ann
        rows = vecs.indexed_rows()
        # The builder's own copy of the rows (writes go on meanwhile), in float16: half the
        # bytes of the matrix, and finer than the index's int8 (``DTYPE``).
        snapshot = (vecs.rowids[rows].copy(), vecs.matrix[rows].astype(np.float16))
        vecs.pending = []
        if wait:
            self._attach(vecs, Ann.build(*snapshot))
            return vecs.ann
        builder = threading.Thread(
            target=self._build, args=(vecs, snapshot), name="remem-ann-build", daemon=True
        )
        self._builders = [t for t in self._builders if t.is_alive()] + [builder]
        builder.start()
        return None

    def _build(self, vecs: UserVectors, snapshot: tuple[np.ndarray, Vector]) -> None:
        built = Ann.build(*snapshot, stop=self._stop, threads=_BUILD_THREADS)
        if not built.complete:
            return
        with self._lock:
            if self._stop.is_set():
                return
            if self._users.get(vecs.user_id) is vecs:  # not evicted, cleared or reloaded since
                self._attach(vecs, built)

    def stop_builds(self) -> None:
        """Stop the background builds (within one chunk of rows) and wait for them: called on
        close, without the store's lock (a finished build takes it to attach). An unfinished
        index is dropped; the next process builds it again."""
        self._stop.set()
        for builder in self._builders:
            builder.join()
        self._builders = []

    def _attach(self, vecs: UserVectors, built: Ann) -> None:
        built.replay(vecs.pending or [])
        vecs.ann, vecs.pending = built, None
        self._save(vecs)
        self.trim()

    def wait(self) -> None:
        """Wait for the HNSW indexes being built (tests, benchmarks)."""
        for builder in self._builders:
            builder.join()
        self._builders = []

    def _save(self, vecs: UserVectors) -> None:
        path = self.path(vecs.user_id)
        if vecs.ann is not None and vecs.ann.dirty and path is not None:
            try:
                vecs.ann.save(path, vecs.signature())
            except OSError:
                self.discard(vecs.user_id)  # a stale file is rebuilt on load anyway

    def discard(self, user_id: str) -> None:
        """Delete the user's saved HNSW index (its rows were deleted or purged)."""
        path = self.path(user_id)
        if path is not None:
            with_suffix = [path, path.with_name(path.name + ".tmp")]
            for item in with_suffix:
                try:
                    item.unlink()
                except FileNotFoundError:
                    pass

    def search_many(
        self, vecs: UserVectors, queries: Vector, mask: np.ndarray, limit: int
    ) -> builtins.list[builtins.list[tuple[str, float]]]:
        """``search`` for each of ``queries`` under one mask."""
        allowed = vecs.count(mask)
        index = self.ann(vecs) if allowed > self.exact_limit else None
        if index is None:
            return exact_many(vecs, queries, np.flatnonzero(mask), limit)
        return [approximate(vecs, index, q, mask, limit) for q in queries]

    def search(
        self, vecs: UserVectors, query: Vector, mask: np.ndarray, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """Exact while at most ``exact_limit`` rows are allowed, HNSW above."""
        allowed = vecs.count(mask)
        index = self.ann(vecs) if allowed > self.exact_limit else None
        if index is None:  # a small scope, or its index is still being built
            return exact(vecs, query, np.flatnonzero(mask), limit)
        return approximate(vecs, index, query, mask, limit)
