"""A user's full-text postings held in memory and scored exactly as FTS5's ``bm25()`` scores them.

Why: FTS5's ``bm25()`` runs once per matching row and costs ~1.3 µs each (the row's instance list
and size are fetched through the auxiliary-function API): 31 ms of a 50 ms search at 100k
memories, 5 ms at 10k. Listing the matches costs a tenth of that. This module keeps, per cached
user, each row's term counts and token count, and scores a query's matches with a few numpy
operations per query term.

Exactness: the ranking is FTS5's, to the last bit, so every quality figure stays valid.
- Tokens come from SQLite's own tokenizer (the store's ``porter unicode61 remove_diacritics 2``),
  run in a private in-memory database on each whitespace-separated chunk of a text (the
  tokenizer reads characters and tokens one at a time, so a text's tokens are its chunks' tokens
  in order). Chunks are memoized: a store's vocabulary of chunks is small next to its texts.
- The corpus statistics FTS5 uses (row count, mean row size, and the number of rows holding a
  term) are read from the partition itself on every query: they cover every user and level of
  the partition, as FTS5's do.
- The arithmetic is FTS5's (``fts5Bm25Function``: k1 = 1.2, b = 0.75, the same operations in the
  same order, an IDF floor of 1e-6), and ties are broken by rowid.

A query term that the tokenizer splits into several tokens is a phrase in FTS5 ("o'clock" is
``"o clock"``); this index keeps no positions, so such a query is answered by FTS5 itself
(``Lexicon.phrases`` returns None). So is any scope other than a plain one (user and levels).

What is stored: per row, its token count and a slot; per term, the slots and counts of the rows
holding it, as one sorted block (built in bulk) plus the rows added since (appended one by one).
A rewritten row gets a new slot and its old one is dead; dead slots and the appended rows are
folded into the block once they pass a quarter of it. The index belongs to its user's cached
vectors (``UserVectors.lex``): it is dropped and rebuilt with them, never written to disk.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

K1 = 1.2  # FTS5's bm25 constants (fts5_aux.c)
B = 0.75
IDF_FLOOR = 1e-6

_MEMO_CHARS = 16_000_000  # characters of chunks a Tokenizer remembers before it starts over
_BATCH = 4096  # chunks tokenized per round trip
_TERM_CHARS = 32_000_000  # characters of distinct terms before the vocabulary starts over


class Tokenizer:
    """SQLite's FTS5 tokenizer, run on text outside any table; tokens are numbered (term ids).

    Each distinct chunk (a whitespace-separated run) is tokenized once and remembered as a range
    of ``tokens``; a text is then its chunks' ranges, gathered with numpy. Not thread-safe: the
    store calls it with its lock held.
    """

    def __init__(self, tokenize: str) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        quoted = tokenize.replace("'", "''")
        self._conn.execute(
            f"CREATE VIRTUAL TABLE chunks USING fts5(text, content='', tokenize='{quoted}')"
        )
        self._conn.execute("CREATE VIRTUAL TABLE tokens USING fts5vocab(chunks, instance)")
        self.ids: dict[str, int] = {}  # term -> term id (kept while postings use them)
        self.names: list[str] = []
        self.term_chars = 0
        self._reset()

    def close(self) -> None:
        self._conn.close()

    def _reset(self) -> None:
        self._chunk: dict[str, int] = {}  # chunk -> chunk id
        self._start = array("q")  # chunk id -> its first token in ``_tokens``
        self._count = array("q")  # chunk id -> how many tokens it has
        self._tokens = array("q")
        self._chars = 0

    def _id(self, term: str) -> int:
        tid = self.ids.get(term)
        if tid is None:
            tid = self.ids[term] = len(self.names)
            self.names.append(term)
            self.term_chars += len(term)
        return tid

    @property
    def full(self) -> bool:
        """The vocabulary passed its bound: make a new Tokenizer (and drop the postings that
        use this one's term ids)."""
        return self.term_chars > _TERM_CHARS

    def _learn(self, chunks: Sequence[str]) -> None:
        """Tokenize new chunks with SQLite's tokenizer and remember them."""
        for start in range(0, len(chunks), _BATCH):
            part = chunks[start : start + _BATCH]
            self._conn.executemany(
                "INSERT INTO chunks (rowid, text) VALUES (?, ?)",
                [(i + 1, c) for i, c in enumerate(part)],
            )
            found: list[list[tuple[int, str]]] = [[] for _ in part]
            for doc, term, offset in self._conn.execute("SELECT doc, term, offset FROM tokens"):
                found[doc - 1].append((offset, term))
            self._conn.execute("INSERT INTO chunks (chunks) VALUES ('delete-all')")
            for chunk, tokens in zip(part, found, strict=True):
                tokens.sort()
                self._chunk[chunk] = len(self._start)
                self._start.append(len(self._tokens))
                self._count.append(len(tokens))
                self._tokens.extend(self._id(term) for _, term in tokens)
                self._chars += len(chunk)

    def flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every text's token ids, in order, in one array; and each text's token count."""
        split = [t.split() for t in texts]
        known = self._chunk
        ids = [known.get(c, -1) for chunks in split for c in chunks]
        if -1 in ids:
            unknown = list({c for chunks in split for c in chunks if c not in known})
            if self._chars + sum(map(len, unknown)) > _MEMO_CHARS:
                self._reset()
                known = self._chunk
                unknown = list({c for chunks in split for c in chunks})
            self._learn(unknown)
            ids = [known[c] for chunks in split for c in chunks]
        chunk = np.asarray(ids, dtype=np.int64)
        count = np.frombuffer(self._count, dtype=np.int64)[chunk]
        start = np.frombuffer(self._start, dtype=np.int64)[chunk]
        # Each chunk's range of tokens, one after another.
        ends = np.cumsum(count)
        at = np.repeat(start - (ends - count), count) + np.arange(int(ends[-1]) if ends.size else 0)
        tokens = np.frombuffer(self._tokens, dtype=np.int64)[at]
        owner = np.repeat(np.arange(len(texts)), [len(c) for c in split])
        per_text = np.bincount(owner, weights=count, minlength=len(texts)).astype(np.int64)
        return tokens, per_text

    def texts(self, texts: Sequence[str]) -> list[list[int]]:
        """The term ids of each text's tokens, in order."""
        tokens, per_text = self.flat(texts)
        bounds = np.cumsum(per_text)
        return [part.tolist() for part in np.split(tokens, bounds[:-1])]

    def phrase(self, term: str) -> tuple[int, ...]:
        """The tokens FTS5 makes of a quoted query term."""
        return tuple(self.texts([term])[0])


class Lexicon:
    """One user's postings (see the module docstring). ``rows`` index the user's ``UserVectors``."""

    def __init__(self) -> None:
        self.levels: set[str] = set()  # the levels whose rows are held
        self.slot_of: dict[int, int] = {}  # vector row -> its live slot
        self.vrow = array("i")  # slot -> vector row (-1: dead)
        self.size = array("i")  # slot -> the row's tokens, every column (FTS5's "D")
        self.dead = 0
        # The sorted block: term id -> postings [ptr[t], ptr[t + 1]) of slots and counts.
        self.ptr = np.zeros(1, dtype=np.int64)
        self.slots = np.zeros(0, dtype=np.int32)
        self.counts = np.zeros(0, dtype=np.int32)
        # Rows added since the block was built: term id -> (slots, counts).
        self.added: dict[int, tuple[array[int], array[int]]] = {}
        self.n_added = 0
        self.most = np.zeros(0, dtype=np.int32)  # per term of the block (see ``_fold``)
        self.fewest = np.zeros(0, dtype=np.int32)
        # Zeroed buffers, one entry per slot, that ``score`` gathers in (and zeroes after).
        self._total = np.zeros(0, dtype=np.float64)
        self._hit = np.zeros(0, dtype=bool)

    def nbytes(self) -> int:
        block = self.ptr.nbytes + self.slots.nbytes + self.counts.nbytes
        return (
            block
            + self._total.nbytes
            + self._hit.nbytes
            + 8 * len(self.vrow)
            + 8 * self.n_added
            + 120 * (len(self.slot_of) + len(self.added))
        )

    # -- writes ------------------------------------------------------------------------------

    def put(self, row: int, ids: Sequence[int], extra: int) -> None:
        """Hold vector row ``row`` with these token ids (its text) and ``extra`` more tokens
        (the other columns): added, or replacing what the row held."""
        self._kill(row)
        slot = len(self.vrow)
        self.vrow.append(row)
        self.size.append(len(ids) + extra)
        self.slot_of[row] = slot
        for tid, n in Counter(ids).items():
            got = self.added.get(tid)
            if got is None:
                got = self.added[tid] = (array("i"), array("i"))
            got[0].append(slot)
            got[1].append(n)
            self.n_added += 1
        if self.n_added > max(4096, self.slots.size // 4) or self.dead > max(
            1024, len(self.slot_of) // 4
        ):
            self.fold()

    def drop(self, row: int) -> None:
        """The row is gone (its slot is dead)."""
        self._kill(row)

    def _kill(self, row: int) -> None:
        old = self.slot_of.pop(row, None)
        if old is not None:
            self.vrow[old] = -1
            self.dead += 1

    def load(
        self, rows: Sequence[int], tokens: np.ndarray, per_row: np.ndarray, extra: Sequence[int]
    ) -> None:
        """Hold many rows at once (a level's rows read from the store): ``tokens`` are their
        token ids one row after another, ``per_row`` how many each has (``Tokenizer.flat``)."""
        base = len(self.vrow)
        for row in rows:
            self._kill(row)
        self.vrow.extend(rows)
        self.size.extend(
            (np.asarray(per_row, dtype=np.int64) + np.asarray(extra, dtype=np.int64)).tolist()
        )
        self.slot_of.update(zip(rows, range(base, base + len(rows)), strict=True))
        owner = np.repeat(np.arange(base, base + len(rows), dtype=np.int64), per_row)
        self._fold(owner, tokens.astype(np.int64), np.ones(tokens.size, dtype=np.int64))

    def fold(self) -> None:
        """Merge the appended rows into the block and drop dead slots."""
        self._fold(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def _fold(self, slots: np.ndarray, tids: np.ndarray, counts: np.ndarray) -> None:
        have = np.repeat(np.arange(self.ptr.size - 1, dtype=np.int64), np.diff(self.ptr))
        parts_s, parts_t, parts_c = (
            [self.slots.astype(np.int64), slots],
            [have, tids],
            [
                self.counts.astype(np.int64),
                counts,
            ],
        )
        for tid, (s, c) in self.added.items():
            parts_s.append(np.frombuffer(s, dtype=np.int32).astype(np.int64))
            parts_t.append(np.full(len(s), tid, dtype=np.int64))
            parts_c.append(np.frombuffer(c, dtype=np.int32).astype(np.int64))
        s_all, t_all, c_all = (
            np.concatenate(parts_s),
            np.concatenate(parts_t),
            np.concatenate(parts_c),
        )
        vrow = np.frombuffer(self.vrow, dtype=np.int32)
        keep = vrow[s_all] >= 0 if s_all.size else np.zeros(0, dtype=bool)
        s_all, t_all, c_all = s_all[keep], t_all[keep], c_all[keep]
        # Renumber the live slots in order.
        alive = np.flatnonzero(vrow >= 0)
        new_of = np.full(vrow.size, -1, dtype=np.int64)
        new_of[alive] = np.arange(alive.size)
        s_all = new_of[s_all]
        # One posting per (term, slot): bulk-loaded tokens arrive one per occurrence.
        key = t_all * max(int(alive.size), 1) + s_all
        order = np.argsort(key, kind="stable")
        key, c_all = key[order], c_all[order]
        if key.size:
            first = np.concatenate(([True], key[1:] != key[:-1]))
            starts = np.flatnonzero(first)
            c_all = np.add.reduceat(c_all, starts)
            key = key[starts]
        width = max(int(alive.size), 1)
        t_all, s_all = key // width, key % width
        terms = int(t_all.max()) + 1 if t_all.size else 0
        self.ptr = np.concatenate(([0], np.cumsum(np.bincount(t_all, minlength=terms)))).astype(
            np.int64
        )
        self.slots = s_all.astype(np.int32)
        self.counts = c_all.astype(np.int32)
        size = np.frombuffer(self.size, dtype=np.int32)[alive]
        # Per term, the most times a row holds it and the fewest tokens of a row holding it:
        # no row's part of the term's score exceeds what those two give (``_bound``).
        self.most = np.zeros(terms, dtype=np.int32)
        self.fewest = np.zeros(terms, dtype=np.int32)
        held = np.flatnonzero(np.diff(self.ptr) > 0)
        if held.size:
            starts = self.ptr[held]
            self.most[held] = np.maximum.reduceat(self.counts, starts)
            self.fewest[held] = np.minimum.reduceat(size[self.slots], starts)
        self.vrow = array("i", vrow[alive].tobytes())
        self.size = array("i", size.tobytes())
        self.slot_of = dict(zip(self.vrow.tolist(), range(alive.size), strict=True))
        self.dead = 0
        self.added = {}
        self.n_added = 0

    # -- reads -------------------------------------------------------------------------------

    def postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots and counts of the rows holding term ``tid``."""
        parts_s: list[np.ndarray] = []
        parts_c: list[np.ndarray] = []
        if tid + 1 < self.ptr.size:
            a, b = int(self.ptr[tid]), int(self.ptr[tid + 1])
            if b > a:
                parts_s.append(self.slots[a:b])
                parts_c.append(self.counts[a:b])
        got = self.added.get(tid)
        if got is not None:
            parts_s.append(np.frombuffer(got[0], dtype=np.int32))
            parts_c.append(np.frombuffer(got[1], dtype=np.int32))
        if not parts_s:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        if len(parts_s) == 1:
            return parts_s[0], parts_c[0]
        return np.concatenate(parts_s), np.concatenate(parts_c)

    def score(
        self,
        phrases: Iterable[tuple[int, float]],
        avgdl: float,
        allowed: np.ndarray,
        limit: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FTS5's bm25 (higher is better) of the rows holding any of ``phrases`` ((term id, IDF)
        in query order) whose vector row ``allowed`` lets through: (vector rows, scores).

        Without ``limit``, every such row. With it, a set of rows that holds the ``limit`` best
        and every row tied with the last of them (what the caller keeps), with the same scores:
        the rarest terms' postings are scored first, and once no row they miss could reach the
        ``limit``-th best by the common terms alone (each term adds at most its part for the
        row holding it the most times in the fewest tokens: ``_bound``),
        the common terms are only looked up for the rows found (``_pruned``). A query with a
        common word ("time", "work") then reads a few rows of its long postings list, not all.

        The work is the postings read, not the rows held: scores gather in a zeroed buffer
        kept between calls (only the slots touched are reset), not in a new one per query.
        """
        phrases = list(phrases)
        lists = [(*self.postings(tid), idf) for tid, idf in phrases]
        if limit is not None and limit > 0 and len(lists) > 1:
            bounds = [self._bound(tid, idf, avgdl) for tid, idf in phrases]
            got = self._pruned(lists, bounds, avgdl, allowed, limit)
            if got is not None:
                return got
        total, hit = self._buffers()
        size = np.frombuffer(self.size, dtype=np.int32)
        vrow = np.frombuffer(self.vrow, dtype=np.int32)
        touched: list[np.ndarray] = []
        try:
            for slots, counts, idf in lists:
                if not slots.size:
                    continue
                total[slots] += _bm25(idf, counts, size[slots], avgdl)
                fresh = slots[~hit[slots]]
                hit[fresh] = True
                touched.append(fresh)
            found = np.concatenate(touched) if touched else np.zeros(0, np.int32)
            scores = total[found]
        finally:
            for t in touched:
                total[t] = 0.0
                hit[t] = False
        rows = vrow[found].astype(np.int64)
        live = rows >= 0
        rows, scores = rows[live], scores[live]
        ok = allowed[rows]
        return rows[ok], scores[ok]

    def _buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """The zeroed score and flag buffers, one entry per slot (grown as slots are added)."""
        n = len(self.vrow)
        if self._total.size < n:
            grown = max(n, 2 * self._total.size)
            self._total = np.zeros(grown, dtype=np.float64)
            self._hit = np.zeros(grown, dtype=bool)
        return self._total, self._hit

    def _bound(self, tid: int, idf: float, avgdl: float) -> float:
        """At most what term ``tid`` adds to a row's score: its part for a row holding it the
        most times in the fewest tokens that any row holding it does (the part grows with the
        count and shrinks with the row's size)."""
        most, fewest = 0, 0
        if tid < self.most.size and self.ptr[tid + 1] > self.ptr[tid]:
            most, fewest = int(self.most[tid]), int(self.fewest[tid])
        got = self.added.get(tid)
        if got is not None and len(got[0]):
            size = np.frombuffer(self.size, dtype=np.int32)
            slots = np.frombuffer(got[0], dtype=np.int32)
            extra = int(size[slots].min())
            most = max(most, int(np.frombuffer(got[1], dtype=np.int32).max()))
            fewest = extra if not fewest else min(fewest, extra)
        if not most:
            return 0.0
        part = _bm25(idf, np.array([most]), np.array([fewest]), avgdl)
        return float(part[0])

    def _pruned(
        self,
        lists: list[tuple[np.ndarray, np.ndarray, float]],
        bounds: list[float],
        avgdl: float,
        allowed: np.ndarray,
        limit: int,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``score`` with ``limit`` by max-score pruning, or None when it would not prune.

        The terms are taken shortest postings first; the rows they hold (live and allowed) get
        partial scores, lower bounds of their final ones. Once the terms left could add at most
        less than the ``limit``-th best partial score, no row outside the found ones can reach
        the ``limit`` best or tie the last of them, nor can a found one whose partial score plus
        that falls short of it. The rows left are scored exactly, term by term in query order
        as FTS5 and the full path sum them, to the last bit.
        """
        vrow = np.frombuffer(self.vrow, dtype=np.int32)
        size = np.frombuffer(self.size, dtype=np.int32)
        order = sorted(range(len(lists)), key=lambda i: lists[i][0].size)
        bound = [bounds[i] for i in order]  # what each term adds to a row, at most
        total_postings = sum(s.size for s, _, _ in lists)
        read = 0
        partial, hit = self._buffers()
        touched: list[np.ndarray] = []
        try:
            for k, i in enumerate(order[:-1]):
                slots, counts, idf = lists[i]
                left, done = _reach(bound[k + 1 :]), _reach(bound[: k + 1])
                read += slots.size
                if slots.size:
                    rows = vrow[slots]
                    ok = rows >= 0
                    ok[ok] = allowed[rows[ok]]
                    slots, counts = slots[ok], counts[ok]
                    partial[slots] += _bm25(idf, counts, size[slots], avgdl)
                    fresh = slots[~hit[slots]]
                    hit[fresh] = True
                    touched.append(fresh)
                if 2 * read > total_postings:
                    return None  # most postings read already: the full path is as cheap
                if left >= done:  # the floor is below ``done``: it cannot pass ``left`` yet
                    continue
                found = np.concatenate(touched) if touched else np.zeros(0, np.int32)
                if found.size < limit:
                    continue
                got = partial[found]
                floor = -np.partition(-got, limit - 1)[limit - 1]
                if left < floor:
                    rest = (order[k + 1 :], bound[k + 1 :])
                    keep = self._narrow(lists, rest, found, got, left, limit, avgdl)
                    return self._exact(lists, keep, avgdl, vrow, size)
            return None
        finally:
            for t in touched:
                partial[t] = 0.0
                hit[t] = False

    def _narrow(
        self,
        lists: list[tuple[np.ndarray, np.ndarray, float]],
        rest: tuple[list[int], list[float]],
        found: np.ndarray,
        partial: np.ndarray,
        left: float,
        limit: int,
        avgdl: float,
    ) -> np.ndarray:
        """The found slots that can still make the cut, ascending: the terms ``rest`` (with
        their ``bounds``) are looked up for them one by one, and after each a row whose partial
        score plus what the terms still left could add falls under the floor (the ``limit``-th
        best partial score, which only rises) drops out. ``rest`` is (term indices, bounds)."""
        size = np.frombuffer(self.size, dtype=np.int32)
        floor = -np.partition(-partial, limit - 1)[limit - 1]
        keep = partial + left >= floor
        found, partial = found[keep], partial[keep]
        order = np.argsort(found, kind="stable")
        found, partial = found[order], partial[order]
        terms, bounds = rest
        for k, i in enumerate(terms):
            slots, counts, idf = lists[i]
            left = _reach(bounds[k + 1 :])
            if slots.size:
                at, has = _lookup(slots, found)
                partial[has] += _bm25(idf, counts[at[has]], size[found[has]], avgdl)
            if found.size > limit:
                floor = -np.partition(-partial, limit - 1)[limit - 1]
                keep = partial + left >= floor
                found, partial = found[keep], partial[keep]
        return found

    @staticmethod
    def _exact(
        lists: list[tuple[np.ndarray, np.ndarray, float]],
        found: np.ndarray,
        avgdl: float,
        vrow: np.ndarray,
        size: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(vector rows, scores) of the slots ``found`` (ascending): each term looked up in its
        postings (ascending slots) and added in query order."""
        total = np.zeros(found.size, dtype=np.float64)
        for slots, counts, idf in lists:
            if not slots.size:
                continue
            at, has = _lookup(slots, found)
            if has.any():
                total[has] += _bm25(idf, counts[at[has]], size[found[has]], avgdl)
        return vrow[found].astype(np.int64), total


def _lookup(slots: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``found`` sits in the ascending postings ``slots``, and whether it is
    there at all (a binary search per row, not a pass over the list)."""
    at = np.searchsorted(slots, found)
    at[at >= slots.size] = 0
    return at, slots[at] == found


def _reach(bounds: Sequence[float]) -> float:
    """What terms of these bounds could add at most, rounded up a little: partial scores and
    these sums are rounded in other orders than the exact scores are summed in."""
    return math.fsum(bounds) * (1.0 + 1e-9) + 1e-12


def _bm25(idf: float, counts: np.ndarray, sizes: np.ndarray, avgdl: float) -> np.ndarray:
    """One term's part of FTS5's bm25 for rows holding it ``counts`` times, of ``sizes`` tokens
    (fts5Bm25Function: idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl)))."""
    f = counts.astype(np.float64)
    d = sizes.astype(np.float64)
    k1, b = K1, B
    out: np.ndarray = idf * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + b * d / avgdl)))
    return out


def idf(rows: int, holding: int) -> float:
    """FTS5's IDF of a term that ``holding`` of ``rows`` rows hold."""
    value = math.log((rows - holding + 0.5) / (holding + 0.5))
    return value if value > 0.0 else IDF_FLOOR


def varints(blob: bytes) -> list[int]:
    """SQLite varints (as FTS5 writes its "averages" record: row count, then each column's
    total token count)."""
    out: list[int] = []
    i = 0
    while i < len(blob):
        value = 0
        for k in range(9):
            byte = blob[i]
            i += 1
            if k == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        out.append(value)
    return out
