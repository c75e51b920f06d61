"""Hybrid retrieval: BM25 and vector candidates from the Store, fused with reciprocal ranks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remem import _text
from remem.retrieve import fusion
from remem.store.base import Scope, Store
from remem.types import Vector


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
    """
    depth = max(candidates, limit)
    runs = {
        "bm25": store.bm25(_text.terms(query), scope, limit=depth),
        "vector": store.vector(query_vector, scope, limit=depth),
    }
    fused = fusion.rrf(runs, k=rrf_k)
    ranks = fusion.ranks(runs)
    return [
        Scored(doc, score, {**ranks[doc], "rrf": round(score, 6)})
        for doc, score in fusion.top(fused, limit)
    ]
