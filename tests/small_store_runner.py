"""Build the small-store suite's stores and rank each case's question (shared by
``tests/test_small_store.py`` and by ``python -m tests.small_store_runner``, which prints a
report)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from remem import Memory, _text
from tests.data.small_stores import BACKGROUNDS, CASES

# A person expects the memory that answers first; when that memory shares no content word with
# the question (beyond the names of the people in it), the record that BM25 and vector both rank
# first stays first by design (``Weights.protect``), and the answer must follow within this many.
GAP_DEPTH = 3


def memories(case: dict[str, Any]) -> list[tuple[str, str | None, str | None, str | None]]:
    """The case's store: its background conversation, then its own memories."""
    return BACKGROUNDS[case["background"]] + case["memories"]


def expected(case: dict[str, Any]) -> tuple[str, ...]:
    """The substrings that identify an answering memory."""
    e = case["expect"]
    return (e,) if isinstance(e, str) else tuple(e)


def lexical_gap(case: dict[str, Any]) -> bool:
    """Whether no answering memory shares a content word (any word form) with the question,
    names of the store's speakers aside."""
    names = {w for _, speaker, _, _ in memories(case) if speaker for w in _text.words(speaker)}
    asked = {_text.stem(t) for t in _text.terms(case["query"]) if t not in names}
    for text, _, _, _ in memories(case):
        if any(e in text for e in expected(case)):
            said = {_text.stem(t) for t in _text.terms(text) if t not in names}
            if asked & said:
                return False
    return True


def rank(case: dict[str, Any], root: Path, **settings: Any) -> list[str]:
    """The ranked contents of ``case``'s question over a fresh store of its memories."""
    with Memory(root / f"{case['name']}.db", **settings) as memory:
        for text, speaker, session, date in memories(case):
            memory.add(text, user_id="u", speaker=speaker, session_id=session, occurred_at=date)
        return [h.record.content for h in memory.search(case["query"], user_id="u", limit=10)]


def position(case: dict[str, Any], ranked: list[str]) -> int | None:
    """0-based position of the first answering memory in ``ranked``."""
    return next((i for i, c in enumerate(ranked) if any(e in c for e in expected(case))), None)


def passes(case: dict[str, Any], ranked: list[str]) -> bool:
    """First; or, for a lexical-gap case, within ``GAP_DEPTH``."""
    pos = position(case, ranked)
    return pos is not None and pos < (GAP_DEPTH if lexical_gap(case) else 1)


def main() -> None:
    failures = first = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            ranked = rank(case, Path(tmp))
            first += position(case, ranked) == 0
            if not passes(case, ranked):
                failures += 1
                gap = " (lexical gap)" if lexical_gap(case) else ""
                print(
                    f"FAIL {case['name']}{gap}: at {position(case, ranked)}; "
                    f"first: {ranked[0][:60]!r}"
                )
    n = len(CASES)
    gaps = sum(lexical_gap(c) for c in CASES)
    print(f"{n - failures}/{n} pass ({first}/{n} first; {gaps} lexical-gap cases)")


if __name__ == "__main__":
    main()
