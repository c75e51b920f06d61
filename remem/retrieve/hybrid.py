"""Hybrid retrieval: BM25 and vector candidates from the Store, fused with reciprocal ranks."""

from __future__ import annotations

from remem import _text
from remem.store.base import Scope, Store
from remem.types import Vector

MIN_BM25 = 1e-3


def turn_runs(
    store: Store, query: str, query_vector: Vector, scope: Scope, *, depth: int
) -> dict[str, list[tuple[str, float]]]:
    """BM25 and vector candidates of ``scope``, each best first (``depth`` of each at most)."""
    lexical = store.bm25(_text.terms(query), scope, limit=depth)
    return {
        # A hit that matched only words found in most documents scores ~0 (SQLite clamps such
        # words' idf): its order says nothing, so all such hits tie, after the informative ones.
        "bm25": [(doc, s if s > MIN_BM25 else 0.0) for doc, s in lexical],
        "vector": store.vector(query_vector, scope, limit=depth),
    }
