"""Hybrid retrieval: BM25 and vector candidates from the Store, fused with reciprocal ranks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remem import _text
from remem.retrieve import fusion
from remem.store.base import Scope, Store
from remem.types import Vector

MIN_BM25 = 1e-3


@dataclass(frozen=True)
class Scored:
    """An id with its fused score and the evidence for it."""

    id: str
    score: float
    explain: dict[str, Any] = field(default_factory=dict)


def retrieve(
    store: Store,
    query: str,
    query_vector: Vector,
    scope: Scope,
    *,
    limit: int,
    candidates: int,
    rrf_k: int,
    vector_weight: float = 1.0,
) -> list[Scored]:
    """Return the ``limit`` best ids in ``scope`` for ``query``, best first.

    Args:
        store: where to search.
        query: the query text (analyzed into terms for BM25).
        query_vector: the query's unit-length embedding.
        scope: what may be returned.
        limit: how many results.
        candidates: how many candidates each retriever contributes.
        rrf_k: the fusion constant.
        vector_weight: the vector run's weight in fusion (BM25's is 1).
    """
    depth = max(candidates, limit)
    lexical = store.bm25(_text.terms(query), scope, limit=depth)
    runs = {
        # A hit that matched only words found nearly everywhere (a speaker's name, say) scores ~0:
        # its rank says nothing, and RRF would count it as if it did.
        "bm25": [(doc, s) for doc, s in lexical if s > MIN_BM25],
        "vector": store.vector(query_vector, scope, limit=depth),
    }
    fused = fusion.rrf(runs, k=rrf_k, weights={"bm25": 1.0, "vector": vector_weight})
    ranks = fusion.ranks(runs)
    return [
        Scored(doc, score, {**ranks[doc], "rrf": round(score, 6)})
        for doc, score in fusion.top(fused, limit)
    ]
