"""Rank fusion: pure functions over ranked (id, score) lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Ranked = Sequence[tuple[str, float]]


def rrf(
    runs: Mapping[str, Ranked], *, k: int = 60, weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Reciprocal-rank fusion: score(d) = sum over runs of weight / (k + rank(d)).

    RRF uses ranks, not scores, because BM25 scores are unbounded and cosine scores are not:
    the two cannot be added as they are. Equal scores share a rank.

    Args:
        runs: retriever name -> its results, best first.
        k: damping constant; larger flattens the head of each run.
        weights: retriever name -> weight (default 1.0).

    Returns:
        id -> fused score, unsorted.
    """
    fused: dict[str, float] = {}
    for name, ranked in runs.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for doc, rank in _tied_ranks(ranked):
            fused[doc] = fused.get(doc, 0.0) + share(w, rank, k)
    return fused


def share(weight: float, rank: int, k: int) -> float:
    """What a run of ``weight`` gives the document it ranks ``rank`` (1-based) in ``rrf``."""
    return weight / (k + rank)


def _tied_ranks(ranked: Ranked) -> list[tuple[str, int]]:
    """Competition ranks ("1224"): equal scores share a rank, so a tie carries no order."""
    out = []
    rank, previous = 0, None
    for position, (doc, score) in enumerate(ranked, start=1):
        if score != previous:
            rank, previous = position, score
        out.append((doc, rank))
    return out


def ranks(runs: Mapping[str, Ranked]) -> dict[str, dict[str, int]]:
    """id -> {retriever name: 1-based rank} for every id any run returned."""
    out: dict[str, dict[str, int]] = {}
    for name, ranked in runs.items():
        for rank, (doc, _score) in enumerate(ranked, start=1):
            out.setdefault(doc, {})[name] = rank
    return out


def top(scores: Mapping[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` best (id, score) pairs, ties broken by id for a stable order."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
