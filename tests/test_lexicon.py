"""BM25 from postings held in memory (``remem.store.lexicon``) ranks exactly as FTS5's bm25() does:
the same rows, the same scores to the last bit, the same order, through every kind of write."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remem import Memory, _text, _time
from remem.store import sqlite as sqlite_store
from remem.store._sqlite_schema import TOKENIZE
from remem.store.base import Scope
from remem.store.lexicon import Lexicon, Tokenizer, idf
from remem.store.sqlite import SQLiteStore
from remem.types import HistoryEntry

# Words that stress the tokenizer: stems, case, diacritics, apostrophes, hyphens, digits, scripts.
WORDS = (
    "running runs ran runner connection connected connecting Café café naïve résumé Zoë "
    "o'clock don't rock-and-roll e-mail v2.3.1 3.5kg 2024-05-01 ΑΘΗΝΑ αθηνα Москва москве "
    "東京 ﬁnance ＦＵＬＬ straße STRASSE tomatoes tomato basil garden gardening gardener "
    "deploy deployment deployed kubernetes k8s postgres PostgreSQL x_y snake_case a1b2c3 "
    "#hashtag @mention C++ node.js 42 0042 ½ ²"
).split()

QUERIES = [
    "running a garden",
    "café résumé",
    "deployment kubernetes",
    "o'clock meeting",
    "Москва",
    "tomatoes and basil",
    "connection connected",
    "v2.3.1 release",
    "finance full",
    "strasse",
    "snake_case k8s",
    "a1b2c3",
    "42",
    "C++ node.js",
]


def _text_of(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _same(held: SQLiteStore, path: Path, user: str, queries: list[str]) -> None:
    """The writer's held ranking equals FTS5's, read through a second connection."""
    fts = SQLiteStore(path, dims=64, lexicon=False)
    try:
        for q in queries:
            terms = _text.terms(q)
            for levels in (("record",), ("session",), ("record", "fact")):
                scope = Scope(user_id=user, levels=levels)
                want = fts.bm25(terms, scope, limit=25)
                got = held.bm25(terms, scope, limit=25)
                assert got == want, (q, levels)
    finally:
        fts.close()


@pytest.fixture(autouse=True)
def _build_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "LEXICON_AFTER", 1)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[tuple[Memory, SQLiteStore, Path]]:
    """A Memory on a fresh file, its SQLite store (the writer whose postings are held), the file."""
    path = tmp_path / "m.db"
    with Memory(path, embedder="hashing") as mem:
        store = mem._parts.store
        assert isinstance(store, SQLiteStore)
        yield mem, store, path


def test_the_tokenizer_is_fts5s(tmp_path: Path) -> None:
    rng = random.Random(7)
    texts = [_text_of(rng, rng.randint(0, 30)) for _ in range(300)]
    texts += ["", "   ", "a" * 5000, "x\x1fy\u00a0z\u3000w", "\ttabs\nand\r\nlines "]
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{TOKENIZE}')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    conn.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", enumerate(texts, 1))
    want: dict[int, list[tuple[int, str]]] = {}
    for doc, term, offset in conn.execute("SELECT doc, term, offset FROM v"):
        want.setdefault(doc, []).append((offset, term))
    tok = Tokenizer(TOKENIZE)
    got = tok.texts(texts)
    for i, ids in enumerate(got, 1):
        assert [tok.names[t] for t in ids] == [t for _, t in sorted(want.get(i, []))]


def test_held_bm25_equals_fts5_through_writes(opened: tuple[Memory, SQLiteStore, Path]) -> None:
    mem, store, path = opened
    rng = random.Random(11)
    for s in range(4):
        mem.add_many(
            [
                {
                    "content": _text_of(rng, rng.randint(3, 25)),
                    "user_id": "ana",
                    "session_id": f"s{s}",
                    "speaker": rng.choice(["Ana", "Bo"]),
                }
                for _ in range(12)
            ]
        )
    mem.add(_text_of(rng, 40), user_id="bo")  # another user shares the corpus statistics
    _same(store, path, "ana", QUERIES)
    vecs = store._cache.get("ana")
    assert vecs is not None and vecs.lex is not None  # the held path answered
    # Updates, deletes, new turns of an existing session.
    listed = mem.list(user_id="ana", limit=100).records
    for rec in listed[:6]:
        mem.update(rec.id, content=_text_of(rng, 8), user_id="ana")
    for rec in listed[6:10]:
        mem.delete(rec.id, user_id="ana")
    mem.add("tomatoes by the shed at seven o'clock", user_id="ana", session_id="s1")
    mem.add("Café résumé connection", user_id="ana")
    # LLM notes (tags and context) are indexed text too: the held postings follow them.
    noted = mem.get(listed[12].id, user_id="ana")
    tagged = replace(noted, tags=("gardening", "kubernetes"), context="o'clock deployment")
    entry = HistoryEntry(
        memory_id=noted.id,
        version=noted.version,
        op="notes",
        at=_time.now(),
        actor="llm",
        reason="test",
        before=noted.to_dict(),
        after=tagged.to_dict(),
    )
    assert store.update_notes(tagged, entry)
    _same(store, path, "ana", QUERIES + ["gardening kubernetes"])
    assert store._cache.get("ana").lex is not None  # kept up to date, not dropped


def test_many_rewrites_fold_and_stay_exact(opened: tuple[Memory, SQLiteStore, Path]) -> None:
    mem, store, path = opened
    rng = random.Random(5)
    first = mem.add(_text_of(rng, 10), user_id="ana", session_id="long")
    _same(store, path, "ana", QUERIES[:3])
    # One long session: its unit is rewritten on every turn (dead slots pile up and fold).
    for _ in range(150):
        mem.add(_text_of(rng, rng.randint(2, 12)), user_id="ana", session_id="long")
    lex = store._cache.get("ana").lex
    assert lex is not None
    _same(store, path, "ana", QUERIES)
    assert first.id


def test_a_phrase_term_is_answered_by_fts5(opened: tuple[Memory, SQLiteStore, Path]) -> None:
    mem, store, path = opened
    mem.add("The train leaves at seven o'clock sharp", user_id="ana")
    mem.add("The clock on the wall stopped", user_id="ana")
    tok = Tokenizer(TOKENIZE)
    assert len(tok.phrase("o'clock")) == 2  # a phrase: "o clock"
    _same(store, path, "ana", ["o'clock", "clock"])
    hits = store.bm25(["o'clock"], Scope(user_id="ana", levels=("record",)), limit=5)
    assert len(hits) == 1  # only the row with the phrase, as FTS5 says


def test_tenants_rank_from_their_own_partition(opened: tuple[Memory, SQLiteStore, Path]) -> None:
    mem, store, path = opened
    rng = random.Random(3)
    for user in ("acme/ana", "acme/bo", "zeta/ana"):
        mem.add_many([{"content": _text_of(rng, 12), "user_id": user} for _ in range(20)])
    _same(store, path, "acme/ana", QUERIES)
    _same(store, path, "zeta/ana", QUERIES)


def test_another_process_write_is_seen(opened: tuple[Memory, SQLiteStore, Path]) -> None:
    mem, store, path = opened
    mem.add("basil and tomatoes", user_id="ana")
    _same(store, path, "ana", ["basil"])
    with Memory(path, embedder="hashing") as other:
        other.add("more basil, basil everywhere", user_id="ana")
    hits = store.bm25(["basil"], Scope(user_id="ana", levels=("record",)), limit=5)
    assert len(hits) == 2
    _same(store, path, "ana", ["basil", "tomatoes"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    docs=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=0, max_size=12), min_size=1, max_size=30
    ),
    ops=st.lists(st.tuples(st.integers(0, 29), st.sampled_from(["put", "drop"])), max_size=40),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
)
def test_lexicon_postings_match_a_recount(
    docs: list[list[str]], ops: list[tuple[int, str]], query: list[str]
) -> None:
    """Whatever the order of puts and drops, a term's postings are the live rows' counts."""
    tok = Tokenizer(TOKENIZE)
    lex = Lexicon()
    current: dict[int, list[int]] = {}
    for i, words in enumerate(docs):
        ids = tok.texts([" ".join(words)])[0]
        lex.put(i, ids, 1)
        current[i] = ids
    rng = random.Random(len(ops))
    for row, op in ops:
        if row >= len(docs):
            continue
        if op == "put":
            ids = tok.texts([" ".join(rng.choice(docs))])[0]
            lex.put(row, ids, 1)
            current[row] = ids
        else:
            lex.drop(row)
            current.pop(row, None)
        if rng.random() < 0.3:
            lex.fold()
    for word in query:
        for tid in tok.texts([word])[0]:
            slots, counts = lex.postings(tid)
            rows = {
                int(lex.vrow[s]): int(c)
                for s, c in zip(slots, counts, strict=True)
                if lex.vrow[s] >= 0
            }
            want = {r: ids.count(tid) for r, ids in current.items() if tid in ids}
            assert rows == want


def _best(found: np.ndarray, scores: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """What ``SQLiteStore._bm25_held`` keeps of ``Lexicon.score``: the best ``limit``, by score
    then row."""
    order = np.lexsort((found, -scores))[:limit]
    return [(int(found[i]), float(scores[i])) for i in order]


@settings(max_examples=200, deadline=None)
@given(
    docs=st.lists(
        st.lists(st.integers(0, 30).map(lambda k: min(k, 12)), min_size=0, max_size=10),
        min_size=1,
        max_size=150,
    ),
    drops=st.sets(st.integers(0, 149), max_size=20),
    folds=st.booleans(),
    query=st.lists(st.integers(0, 14), min_size=2, max_size=5),
    limit=st.integers(1, 12),
    allow=st.integers(0, 3),
    avgdl=st.floats(0.5, 12.0),
)
def test_pruned_scoring_keeps_the_best_and_their_scores(
    docs: list[list[int]],
    drops: set[int],
    folds: bool,
    query: list[int],
    limit: int,
    allow: int,
    avgdl: float,
) -> None:
    """With a limit, ``Lexicon.score`` may skip rows, never one of the ``limit`` best or one
    tied with the last of them, and its scores are the full path's to the last bit. Term ids
    are skewed (most words are 12) so that common terms with long postings lists occur."""

    lex = Lexicon()
    for i, ids in enumerate(docs):
        lex.put(i, ids, 1)
        if folds and i % 37 == 36:
            lex.fold()
    for row in drops:
        lex.drop(row)
    allowed = np.array([allow == 0 or i % (allow + 1) != 0 for i in range(len(docs))])
    rows = max(len(docs), 1)
    phrases = [(t, idf(rows, sum(t in d for d in docs))) for t in query]
    full = _best(*lex.score(phrases, avgdl, allowed), limit)
    pruned_rows, pruned_scores = lex.score(phrases, avgdl, allowed, limit)
    assert _best(pruned_rows, pruned_scores, limit) == full
    # Every row it returns is scored exactly as the full path scores it.
    every = dict(zip(*(a.tolist() for a in lex.score(phrases, avgdl, allowed)), strict=True))
    assert all(
        every[r] == s for r, s in zip(pruned_rows.tolist(), pruned_scores.tolist(), strict=True)
    )


def test_the_vocabulary_is_bounded(
    opened: tuple[Memory, SQLiteStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unbroken tokens (hex dumps) each make a new term; past the bound the vocabulary starts
    over, the held postings are rebuilt, and the ranking stays FTS5's."""
    from remem.store import lexicon

    monkeypatch.setattr(lexicon, "_TERM_CHARS", 2_000)
    mem, store, path = opened
    rng = random.Random(9)
    mem.add("basil and tomatoes", user_id="ana")
    _same(store, path, "ana", ["basil"])
    first = store._tokenizer
    for _ in range(12):
        blob = "".join(rng.choice("0123456789abcdef") for _ in range(400))
        mem.add(f"tool output {blob} basil", user_id="ana")
    assert store._tokenizer is not first  # started over
    _same(store, path, "ana", ["basil", "tool output", "tomatoes"])
    # The live vocabulary itself is past the bound: after a few rebuilds the store stops
    # holding postings, and FTS5 ranks (the same ranking).
    for _ in range(6):
        _same(store, path, "ana", ["basil", "tool output"])
    assert not store._lexicon
    assert store._cache.get("ana").lex is None
