"""Routed, coarse-to-fine retrieval over turns and session units (MemGAS + HCAM), then features.

1. Turn candidates: BM25 and vector over turns, and vector over fact units (one per sentence of a
   turn, see ``organize.facts``) with each turn ranked by its best fact; fused by weighted
   reciprocal rank.
2. Session units: the same over ``level="session"`` units; the router weights them by how peaked
   their scores are. The best sessions lift their turns, and turns next to a strong turn are
   pulled in (a reply is often where the fact is).
3. Links: one hop from the strongest turns along "similar" and "entity" links (multi-hop).
4. Features: a speaker the query names, a time window the query names, dates on turns when the
   query asks "when", and substance (a turn that says more is likelier to hold what is asked than
   an acknowledgement that matched a word or two).
Every hit's ``explain`` says which paths and features contributed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from remem import _text
from remem.organize import facts, timeexpr
from remem.retrieve import fusion, router
from remem.retrieve.hybrid import turn_runs
from remem.store.base import Scope, Store
from remem.types import Hit, Record, Vector

_UNIT_LIMIT = 50
_FACT_LIMIT = 60
_SUBSTANCE_TERMS = 15  # content words at which a turn counts as fully substantive
_LIFT_TOP = 10
_LINK_TOP = 10
_LINK_RELATIONS = frozenset({"similar", "entity"})


@dataclass(frozen=True)
class Weights:
    """How much each component adds to a turn's fused score (0 turns it off).

    Attributes:
        vector: the vector run's weight in turn-level fusion (BM25's is 1).
        fact: the fact-unit run's weight in turn-level fusion (turns ranked by their best fact).
        session: session units' score (routed).
        lift: the summed score of a session's best turns.
        neighbor: the better of a turn's two neighbours' scores.
        link: a linked strong turn's score times the link weight.
        speaker: the turn's speaker is named in the query.
        time: the turn falls in the time window the query names.
        substance: scaled by how many content words the turn has (up to ``_SUBSTANCE_TERMS``).
        router: scale session weights by peakedness.
    """

    vector: float = 0.7
    fact: float = 0.5
    session: float = 0.5
    lift: float = 0.25
    neighbor: float = 0.2
    link: float = 0.1
    speaker: float = 0.3
    time: float = 0.3
    substance: float = 0.3
    router: bool = True


def search(
    store: Store,
    query: str,
    query_vector: Vector,
    scope: Scope,
    *,
    limit: int,
    candidates: int,
    rrf_k: int,
    weights: Weights,
    now: Callable[[], datetime],
) -> list[Hit]:
    """The ``limit`` best records in ``scope`` for ``query``, best first, with explanations."""
    runs = turn_runs(store, query, query_vector, scope, depth=max(candidates, limit))
    if weights.fact and not scope.conditions and scope.levels == ("record",):
        runs["fact"] = _fact_run(store, query_vector, scope)
    fused = fusion.rrf(
        runs, k=rrf_k, weights={"bm25": 1.0, "vector": weights.vector, "fact": weights.fact}
    )
    if not fused:
        return []
    top_score = max(fused.values())
    base = {d: s / top_score for d, s in fused.items()}
    explain: dict[str, dict[str, float | int]] = {d: dict(r) for d, r in fusion.ranks(runs).items()}
    extra: dict[str, dict[str, float]] = {}

    def add(doc: str, name: str, value: float) -> None:
        # The strongest evidence of each kind counts, not how many times it recurs: a generic
        # turn linked to many strong ones must not outscore the strong ones themselves.
        if value > 0:
            parts = extra.setdefault(doc, {})
            parts[name] = max(parts.get(name, 0.0), value)

    # Coarse to fine: units are skipped when the caller already pinned one session or filters.
    turn_unit: dict[str, str] = {}
    order: dict[str, tuple[str, int]] = {}
    unit_sources: dict[str, tuple[str, ...]] = {}
    if scope.session_id is None and not scope.conditions and (weights.session or weights.neighbor):
        uscope = replace(scope, levels=("session",))
        uruns = turn_runs(store, query, query_vector, uscope, depth=_UNIT_LIMIT)
        ufused = fusion.rrf(uruns, k=rrf_k, weights={"bm25": 1.0, "vector": weights.vector})
        units = store.get_many(list(ufused))
        for uid, unit in units.items():
            unit_sources[uid] = unit.sources
            for pos, tid in enumerate(unit.sources):
                turn_unit[tid] = uid
                order[tid] = (uid, pos)
        if ufused and weights.session:
            umax = max(ufused.values())
            w = (
                router.weight(weights.session, list(ufused.values()))
                if weights.router
                else weights.session
            )
            for uid, s in ufused.items():
                for tid in unit_sources.get(uid, ()):
                    add(tid, "session", w * s / umax)

    strongest = fusion.top(base, _LIFT_TOP)
    if weights.lift:
        per_unit: dict[str, float] = {}
        for doc, s in strongest:
            if doc in turn_unit:
                per_unit[turn_unit[doc]] = per_unit.get(turn_unit[doc], 0.0) + s
        if per_unit:
            pmax = max(per_unit.values())
            for uid, summed in per_unit.items():
                for tid in unit_sources[uid]:
                    add(tid, "lift", weights.lift * summed / pmax)
    if weights.neighbor:
        for doc, s in strongest:
            if doc not in order:
                continue
            uid, pos = order[doc]
            src = unit_sources[uid]
            for n in (pos - 1, pos + 1):
                if 0 <= n < len(src):
                    add(src[n], "neighbor", weights.neighbor * s)
    if weights.link:
        strong = dict(fusion.top(base, _LINK_TOP))
        for link in store.links(list(strong)):
            if link.relation not in _LINK_RELATIONS:
                continue
            for origin, dst in ((link.a, link.b), (link.b, link.a)):
                if origin in strong and dst != origin:
                    add(dst, "link", weights.link * strong[origin] * min(1.0, link.weight))

    # Neighbours and linked turns may be new candidates; keep only what the scope allows.
    pool = set(base) | set(extra)
    total = {d: base.get(d, 0.0) + sum(extra.get(d, {}).values()) for d in pool}
    shortlist = [d for d, _ in fusion.top(total, max(limit * 3, 30))]
    page = store.list(replace(scope, ids=tuple(shortlist)), limit=len(shortlist), cursor=None)
    records = {r.id: r for r in page.records}
    _features(query, records, weights, now, add)

    scored = []
    for doc in records:
        parts = extra.get(doc, {})
        score = base.get(doc, 0.0) + sum(parts.values())
        info = explain.get(doc, {})
        info.update({k: round(v, 4) for k, v in parts.items()})
        info["score"] = round(score, 6)
        scored.append(Hit(records[doc], score, info))
    scored.sort(key=lambda h: (-h.score, h.record.id))
    return scored[:limit]


def _fact_run(store: Store, query_vector: Vector, scope: Scope) -> list[tuple[str, float]]:
    """Turns ranked by their best-matching fact unit (by vector: the turn's own BM25 run already
    matches its words, and did as well as sentence-level BM25 on the dev split)."""
    best: dict[str, float] = {}
    for fid, score in store.vector(
        query_vector, replace(scope, levels=("fact",)), limit=_FACT_LIMIT
    ):
        best.setdefault(facts.turn_of(fid), score)
    return list(best.items())


def _features(
    query: str,
    records: dict[str, Record],
    weights: Weights,
    now: Callable[[], datetime],
    add: Callable[[str, str, float], None],
) -> None:
    if weights.speaker:
        words = set(_text.words(query))
        named = {
            r.speaker
            for r in records.values()
            if r.speaker and set(_text.words(r.speaker)) and set(_text.words(r.speaker)) <= words
        }
        # Only when the query singles someone out: naming everyone distinguishes no one.
        if len(named) == 1:
            who = next(iter(named))
            for doc, r in records.items():
                if r.speaker == who:
                    add(doc, "speaker", weights.speaker)
    if weights.substance:
        for doc, r in records.items():
            # The first 600 characters hold 15 content words in any real turn, and keep the
            # cache's keys small.
            add(doc, "substance", weights.substance * _substance(r.content[:600]))
    if weights.time:
        span = timeexpr.query_range(query, now=now())
        asks_when = timeexpr.asks_when(query)
        for doc, r in records.items():
            if span is not None and _in_span(r, span):
                add(doc, "time", weights.time)
            elif asks_when and r.dates:
                add(doc, "dated", weights.time / 3)


@functools.lru_cache(maxsize=16384)
def _substance(content: str) -> float:
    """How much a turn says, in [0, 1]: its content words, up to ``_SUBSTANCE_TERMS``."""
    return min(1.0, len(_text.terms(content)) / _SUBSTANCE_TERMS)


_ISO = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def _in_span(record: Record, span: timeexpr.Span) -> bool:
    if record.occurred_at is not None and span.start <= record.occurred_at.date() <= span.end:
        return True
    for iso in record.dates:
        m = _ISO.match(iso)
        if not m:
            continue
        y, mo, d = int(m.group(1)), m.group(2), m.group(3)
        if mo is None:
            if span.start.year <= y <= span.end.year:
                return True
        elif d is None:
            if (
                (span.start.year, span.start.month)
                <= (y, int(mo))
                <= (span.end.year, span.end.month)
            ):
                return True
        elif span.start.isoformat() <= iso <= span.end.isoformat():
            return True
    return False
