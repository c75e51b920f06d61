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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from remem import _text
from remem.config import Weights as Weights  # the weights and their defaults live in Settings
from remem.organize import facts, timeexpr
from remem.retrieve import answertype, fusion, multihop, router, updates
from remem.retrieve.hybrid import turn_runs
from remem.store.base import Scope, Store
from remem.types import Hit, Record, Vector

_UNIT_LIMIT = 50
_FACT_LIMIT = 60
_SUBSTANCE_TERMS = 15  # content words at which a turn counts as fully substantive
_LIFT_TOP = 10
_LINK_TOP = 10
# Links read to each strong turn, at most (every link from it is read): a turn that hundreds of
# later ones link to (702 in-links at 470k turns of bench scale's scope) would make the stage
# grow with the scope. In the dev split's scopes one turn in 2,748 has more than 128.
_LINK_IN = 128
_LINK_RELATIONS = frozenset({"similar", "entity"})
_PREVIOUS = (
    0.5  # what a superseded record reached by a past question gets, of its successor's score
)


@dataclass
class Row:
    """One candidate turn.

    Attributes:
        ranks: its 1-based rank in each retriever that found it (bm25, vector, fact).
        fused: its fused score over those retrievers, scaled so the best candidate has 1 (0 for
            a candidate only a component brought in: a neighbour, a linked turn).
        parts: what each other component adds (session, lift, neighbor, link, speaker, ...).
        record: the record, once the shortlist is read from the store.
    """

    ranks: dict[str, int] = field(default_factory=dict)
    fused: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    record: Record | None = None

    @property
    def score(self) -> float:
        """The fused score plus every component's addition."""
        return self.fused + sum(self.parts.values())

    def explain(self) -> dict[str, Any]:
        """The hit's ``explain``: retriever ranks, each component's addition, the score."""
        info: dict[str, Any] = dict(self.ranks)
        info.update({k: round(v, 4) for k, v in self.parts.items()})
        info["score"] = round(self.score, 6)
        return info


@dataclass
class Sessions:
    """The session units found for a query, where each turn sits in them, and what each unit
    gives all of its turns.

    A unit's score reaches every turn it holds (up to 64), but only the shortlist's turns are
    ever looked at: the additions are kept once per unit and merged into a turn's parts when
    the turn is read (``Candidates.parts``, stage shortlist), not written into thousands of
    rows per search.

    Attributes:
        fused: unit id -> its fused score.
        sources: unit id -> its turn ids, in order.
        unit_of: turn id -> the unit holding it.
        parts: unit id -> component name -> what the unit adds to each of its turns.
    """

    fused: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unit_of: dict[str, str] = field(default_factory=dict)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, uid: str, name: str, value: float) -> None:
        """Component ``name`` adds ``value`` to every turn of unit ``uid`` (the strongest
        addition of each kind counts, as in ``Candidates.add``)."""
        if value > 0:
            parts = self.parts.setdefault(uid, {})
            parts[name] = max(parts.get(name, 0.0), value)

    def position(self, doc: str) -> tuple[str, int] | None:
        """(unit id, index among its sources) of a turn, or None when no unit holds it."""
        uid = self.unit_of.get(doc)
        return None if uid is None else (uid, self.sources[uid].index(doc))


@dataclass
class Candidates:
    """The candidate table of one search: one ``Row`` per turn id, filled in by the stages.

    Attributes:
        rows: turn id -> its row.
        units: the session units and what each adds to its turns (stages sessions, lift).
        first: retriever name -> the candidates it ranks first.
        replies: turn id -> the strong question turn it answers (stage neighbors).
        newer: record id -> the older record of the same subject it replaces (stage latest).
        fixes: turn id -> the problem statement it answers (a fix question, stage neighbors).
        previous: superseded records a question about the past reached (stage links).
        scale, rrf_k: how stage fuse scored (a later stage adds to a run's weight).
    """

    rows: dict[str, Row] = field(default_factory=dict)
    units: Sessions = field(default_factory=Sessions)
    first: dict[str, set[str]] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)
    newer: dict[str, str] = field(default_factory=dict)
    fixes: dict[str, str] = field(default_factory=dict)
    previous: set[str] = field(default_factory=set)
    scale: float = 1.0  # the best fused score, which the rows' fused scores are divided by
    rrf_k: int = 5

    def add(self, doc: str, name: str, value: float) -> None:
        """Component ``name`` adds ``value`` to ``doc`` (made a candidate if it is not one).

        The strongest evidence of each kind counts, not how many times it recurs: a generic turn
        linked to many strong ones must not outscore the strong ones themselves.
        """
        if value > 0:
            parts = self.rows.setdefault(doc, Row()).parts
            parts[name] = max(parts.get(name, 0.0), value)

    def parts(self, doc: str) -> dict[str, float]:
        """Every addition ``doc`` has: its unit's (session, lift) first, then its own."""
        row = self.rows.get(doc)
        own = row.parts if row is not None else {}
        uid = self.units.unit_of.get(doc)
        given = self.units.parts.get(uid) if uid is not None else None
        if not given:
            return dict(own)
        merged = dict(given)
        for name, value in own.items():
            merged[name] = max(merged.get(name, 0.0), value)
        return merged

    def score(self, doc: str) -> float:
        """``doc``'s fused score plus every addition (its unit's included)."""
        row = self.rows.get(doc)
        return (row.fused if row is not None else 0.0) + sum(self.parts(doc).values())

    def fused(self) -> dict[str, float]:
        """id -> fused score, for the candidates a retriever found."""
        return {d: r.fused for d, r in self.rows.items() if r.ranks}

    def strongest(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` candidates of best fused score (ties by id)."""
        return fusion.top(self.fused(), n)


# A turn this long (characters: about six sentences) is found by its best line (``Weights.line``).
LONG_TURN = 800


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
    """The ``limit`` best records in ``scope`` for ``query``, best first, with explanations.

    The stages, each over one ``Candidates`` table: ``fuse`` (turn retrievers), ``sessions``
    (routed session units), ``lift``, ``neighbors``, ``links``, ``shortlist`` (read what the
    scope allows), ``features`` (speaker, substance, time), ``latest``, ``diversify`` (below the
    head, sessions already shown give way: ``remem.retrieve.multihop``), ``hits``.
    """
    table = fuse(
        store,
        query,
        query_vector,
        scope,
        depth=max(candidates, limit),
        rrf_k=rrf_k,
        weights=weights,
    )
    if not table.rows:
        return []
    units = sessions(table, store, query, query_vector, scope, rrf_k=rrf_k, weights=weights)
    lift(table, units, weights)
    neighbors(table, units, weights, store, fix=scope if answertype.asks_fix(query) else None)
    present = updates.asks_present(query)
    links(table, store, weights, past=not present and scope.as_of is None)
    shortlist(table, store, scope, limit=limit)
    features(table, query, weights, now)
    if weights.newer and scope.as_of is None and present:
        latest(table, store, query_vector, updates.codes(query))
    if table.fixes:
        answered(table)
    multihop.diversify(table, scope, weights.diverse)
    return hits(table, limit, protect=weights.protect)


def fuse(
    store: Store,
    query: str,
    query_vector: Vector,
    scope: Scope,
    *,
    depth: int,
    rrf_k: int,
    weights: Weights,
) -> Candidates:
    """Stage fuse: BM25 and vector over turns, and (record level, no filters) turns ranked by
    their best fact unit, fused by weighted reciprocal rank; scores scaled to a best of 1."""
    runs = turn_runs(store, query, query_vector, scope, depth=depth)
    if weights.fact and not scope.conditions and scope.levels == ("record",):
        runs["fact"] = _fact_run(store, query_vector, scope)
    fused = fusion.rrf(
        runs, k=rrf_k, weights={"bm25": 1.0, "vector": weights.vector, "fact": weights.fact}
    )
    table = Candidates()
    if not fused:
        return table
    top_score = max(fused.values())
    ranks = fusion.ranks(runs)
    table.scale, table.rrf_k = top_score, rrf_k
    for doc, score in fused.items():
        table.rows[doc] = Row(ranks=dict(ranks[doc]), fused=score / top_score)
    table.first = _firsts(runs)
    return table


def _firsts(runs: dict[str, list[tuple[str, float]]]) -> dict[str, set[str]]:
    """run name -> the candidates it ranks first (all of them when several tie at the top)."""
    return {
        name: {doc for doc, score in ranked if score == ranked[0][1]}
        for name, ranked in runs.items()
        if ranked
    }


def sessions(
    table: Candidates,
    store: Store,
    query: str,
    query_vector: Vector,
    scope: Scope,
    *,
    rrf_k: int,
    weights: Weights,
) -> Sessions:
    """Stage sessions: the session units for the query (skipped when the caller pinned one
    session or filters); each unit's turns get its routed score."""
    units = table.units
    if (
        scope.session_id is not None
        or scope.conditions
        or not (weights.session or weights.neighbor)
    ):
        return units
    uscope = replace(scope, levels=("session",))
    uruns = turn_runs(store, query, query_vector, uscope, depth=_UNIT_LIMIT)
    units.fused = fusion.rrf(uruns, k=rrf_k, weights={"bm25": 1.0, "vector": weights.vector})
    units.sources = store.sources(list(units.fused))
    for uid, sources in units.sources.items():
        units.unit_of.update(dict.fromkeys(sources, uid))
    if units.fused and weights.session:
        umax = max(units.fused.values())
        w = (
            router.weight(weights.session, list(units.fused.values()))
            if weights.router
            else weights.session
        )
        for uid, s in units.fused.items():
            if uid in units.sources:
                units.add(uid, "session", w * s / umax)
    return units


def lift(table: Candidates, units: Sessions, weights: Weights) -> None:
    """Stage lift: the sessions holding the strongest turns lift all their turns (by the summed
    fused score of those strong turns)."""
    if not weights.lift:
        return
    table.units = units
    per_unit: dict[str, float] = {}
    for doc, s in table.strongest(_LIFT_TOP):
        if doc in units.unit_of:
            uid = units.unit_of[doc]
            per_unit[uid] = per_unit.get(uid, 0.0) + s
    if per_unit:
        pmax = max(per_unit.values())
        for uid, summed in per_unit.items():
            units.add(uid, "lift", weights.lift * summed / pmax)


def neighbors(
    table: Candidates,
    units: Sessions,
    weights: Weights,
    store: Store | None = None,
    *,
    fix: Scope | None = None,
) -> None:
    """Stage neighbors: the turns either side of a strong turn in its session are pulled in (a
    reply is often where the fact is); the turn after a strong question is its reply, and gets
    ``weights.reply`` times the question's score (reading the strong turns needs ``store``).

    When the query asks how a problem was fixed (``fix``: its scope), what answers a strong turn
    is what someone else said next: the next turn of its session, or for a record of no session
    (a tool's error output) the next record in time, when another speaker said it."""
    if not weights.neighbor:
        return
    strongest = table.strongest(_LIFT_TOP)
    questions: set[str] = set()
    if weights.reply and store is not None:
        ids = [d for d, _ in strongest if d in units.unit_of or fix is not None]
        read = store.get_many(ids)
        questions = {d for d, r in read.items() if updates.asks(r.content)}
        if fix is not None:
            _answers(table, units, store, fix, read, dict(strongest), weights.reply)
    for doc, s in strongest:
        at = units.position(doc)
        if at is None:
            continue
        uid, pos = at
        src = units.sources[uid]
        for n in (pos - 1, pos + 1):
            if 0 <= n < len(src):
                table.add(src[n], "neighbor", weights.neighbor * s)
        if doc in questions and pos + 1 < len(src):
            table.add(src[pos + 1], "reply", weights.reply * s)
            table.replies.setdefault(src[pos + 1], doc)


def _answers(
    table: Candidates,
    units: Sessions,
    store: Store,
    scope: Scope,
    read: dict[str, Record],
    strong: dict[str, float],
    weight: float,
) -> None:
    """What another speaker said right after each strong turn gets reply credit (a fix
    question: the answer follows the problem's statement)."""
    after: dict[str, str] = {}
    timeline = replace(scope, levels=("record",), ids=None, session_id=None)
    for doc, record in read.items():
        at = units.position(doc)
        if at is not None:
            src = units.sources[at[0]]
            if at[1] + 1 < len(src):
                after[doc] = src[at[1] + 1]
        elif record.session_id is None and record.occurred_at is not None:
            offset = store.count_before(timeline, record.occurred_at, record.id) + 1
            following = store.list_ordered(timeline, offset=offset, limit=1)
            if following:
                after[doc] = following[0].id
    nexts = store.get_many(list(after.values()))
    for doc, nxt in after.items():  # strongest first
        reply = nexts.get(nxt)
        if reply is None or reply.speaker == read[doc].speaker:
            continue
        table.add(nxt, "reply", weight * strong[doc])
        table.replies.setdefault(nxt, doc)
        if (
            doc not in table.fixes
            and not updates.asks(reply.content)
            and not _acknowledges(reply.content)
        ):
            table.fixes.setdefault(nxt, doc)  # a reply to a reply is not a problem's answer


def links(table: Candidates, store: Store, weights: Weights, *, past: bool = False) -> None:
    """Stage links: one hop from the strongest turns along "similar" and "entity" links; for a
    question about the past (``past``), also to the records a strong turn superseded: what held
    before is what such a question asks for, and it is hidden from every other search."""
    if not weights.link:
        return
    strong = dict(table.strongest(_LINK_TOP))
    for link in store.links(list(strong), incoming=_LINK_IN):
        if past and link.relation == "supersedes" and link.a in strong:
            table.add(link.b, "previous", _PREVIOUS * strong[link.a])
            table.previous.add(link.b)
            continue
        if link.relation not in _LINK_RELATIONS:
            continue
        for origin, dst in ((link.a, link.b), (link.b, link.a)):
            if origin in strong and dst != origin:
                table.add(dst, "link", weights.link * strong[origin] * min(1.0, link.weight))


def shortlist(table: Candidates, store: Store, scope: Scope, *, limit: int) -> None:
    """Stage shortlist: the best ``max(3 * limit, 30)`` candidates read from the store; those the
    scope does not allow (a neighbour or linked turn may be out of it) leave the table. A turn
    that only its session unit gives a score (``Sessions.parts``) competes too; the shortlisted
    turns get their unit's parts in their own, so later stages see one row per turn."""
    n = max(limit * 3, 30)
    total = {d: table.score(d) for d in table.rows}
    ids = [d for d, _ in fusion.top({**total, **_unit_only(table, total, n)}, n)]
    units = table.units
    for doc in ids:
        if units.parts.get(units.unit_of.get(doc, ""), None):
            row = table.rows.get(doc) or Row()
            row.parts = table.parts(doc)
            table.rows[doc] = row
    units.parts = {}  # now in the rows: from here on a row's score is the whole score
    wanted = replace(scope, ids=tuple(ids), include_superseded=bool(table.previous))
    page = store.list(wanted, limit=len(ids), cursor=None)
    rows = {}
    for record in page.records:
        if table.previous and record.valid_to is not None and record.id not in table.previous:
            continue  # superseded: only the ones a past question reached may stay
        row = table.rows.get(record.id, Row())
        row.record = record
        rows[record.id] = row
    table.rows = rows


def _unit_only(table: Candidates, total: dict[str, float], n: int) -> dict[str, float]:
    """The turns only their unit scores (no row of their own) that could be among the ``n``
    best: a unit's such turns all score the same, so only its ``n`` first by id (the order
    ties are broken in) can make it, and only from a unit scoring at least the n-th row."""
    units = table.units
    floor = fusion.top(total, n)[-1][1] if len(total) >= n else float("-inf")
    out: dict[str, float] = {}
    for uid, parts in units.parts.items():
        score = 0.0 + sum(parts.values())
        if score < floor or uid not in units.sources:
            continue
        fresh = [d for d in units.sources[uid] if d not in table.rows and units.unit_of[d] == uid]
        out.update(dict.fromkeys(sorted(fresh)[:n], score))
    return out


def latest(table: Candidates, store: Store, query_vector: Vector, named: set[str]) -> None:
    """Stage latest: a record newer than a better-ranked one of the same subject (see
    ``remem.retrieve.updates``) is placed just above it (``explain["newer"]``), unless the query
    names a code (``named``) only the older has."""
    rows = {d: r for d, r in table.rows.items() if r.record is not None}
    order = sorted(rows, key=lambda d: (-rows[d].score, d))
    strong = {
        d
        for d in order
        if min(rows[d].ranks.values(), default=updates.STRONG_RANK + 1) <= updates.STRONG_RANK
    }
    # The head, and below it the records a retriever ranks among its first STRONG_RANK (the best
    # DEEP of them: a run whose hits tie gives them all one rank): a newer statement in another
    # session of a long chat matches the query as well as the older, but the older's session
    # lifts every turn around it, and the newer sat 10-40 deep.
    ids = order[: updates.DEEP] + [d for d in order[updates.DEEP :] if d in strong][: updates.DEEP]
    head = [rows[d].record for d in ids]
    vectors = store.vectors(ids)
    replaced = updates.newer_first(head, vectors, query_vector, strong, named)  # type: ignore[arg-type]
    for doc, older in replaced.items():
        table.newer[doc] = older
        _place_above(rows[doc], rows[older], "newer")


def answered(table: Candidates) -> None:
    """Stage answered (a fix question): what another speaker said right after a strong problem
    statement, when the query also matched it (a retriever ranks it), is placed just above the
    statement (``explain["answers"]``): asked how something was fixed, the fix is the answer."""
    for doc, problem in table.fixes.items():
        row, above = table.rows.get(doc), table.rows.get(problem)
        if row is None or above is None or not row.ranks or row.record is None:
            continue
        _place_above(row, above, "answers")


def _place_above(row: Row, other: Row, name: str) -> None:
    """Give ``row`` (as part ``name``) just what it needs to score above ``other``, if it
    does not already."""
    above = other.score
    if row.score <= above:
        row.parts[name] = above - row.score + 1e-6 * max(abs(above), 1.0)


def hits(table: Candidates, limit: int, *, protect: bool = True) -> list[Hit]:
    """Stage hits: the ``limit`` best shortlisted candidates, best first (ties by id).

    With ``protect``, the record that both BM25 and vector (turns or facts) rank first keeps its
    place above every record that no retriever ranks first: additions re-rank among what the
    query matched, they never lift a weak match over the best one. Its own reply (stage
    neighbors) may pass it: a question and its answer are one exchange. A passer is given the
    score just below the protected record (``explain["capped"]`` says by how much).
    """
    rows = {d: r for d, r in table.rows.items() if r.record is not None}
    order = sorted(rows, key=lambda d: (-rows[d].score, d))
    best = _agreed_best(table, order) if protect else None
    if best is not None:
        at = order.index(best)
        tops = set().union(*table.first.values())
        weak = [
            d
            for d in order[:at]
            if d not in tops
            and table.replies.get(d) != best
            and table.newer.get(d) != best
            and table.fixes.get(d) != best
        ]
        ceiling = rows[best].score
        for n, doc in enumerate(weak, start=1):
            row = rows[doc]
            row.parts["capped"] = ceiling - 1e-3 * n * max(abs(ceiling), 1.0) - row.score
        strong = [d for d in order[:at] if d not in weak]
        order = strong + [best] + weak + order[at + 1 :]
    return [Hit(rows[d].record, rows[d].score, rows[d].explain()) for d in order[:limit]]  # type: ignore[arg-type]


def _agreed_best(table: Candidates, order: list[str]) -> str | None:
    """The best-scored record that BM25 and a vector run (turns or facts) both rank first."""
    lexical = table.first.get("bm25", set())
    vector = table.first.get("vector", set()) | table.first.get("fact", set())
    return next((d for d in order if d in lexical and d in vector), None)


def _fact_run(store: Store, query_vector: Vector, scope: Scope) -> list[tuple[str, float]]:
    """Turns ranked by their best-matching fact unit (by vector: the turn's own BM25 run already
    matches its words, and did as well as sentence-level BM25 on the dev split)."""
    best: dict[str, float] = {}
    for fid, score in store.vector(
        query_vector, replace(scope, levels=("fact",)), limit=_FACT_LIMIT
    ):
        best.setdefault(facts.turn_of(fid), score)
    return list(best.items())


def features(table: Candidates, query: str, weights: Weights, now: Callable[[], datetime]) -> None:
    """Stage features, over the shortlist: the one speaker the query names, substance, and the
    time window the query names (or, when it asks "when", dates the turn mentions)."""
    records = {d: r.record for d, r in table.rows.items() if r.record is not None}
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
            name = set(_text.words(who))
            for doc, r in records.items():
                # A note about them (no session, no speaker of its own) is about them too.
                about = r.session_id is None and name <= _words(r.content)
                if r.speaker == who or about:
                    table.add(doc, "speaker", weights.speaker)
    if weights.substance:
        for doc, r in records.items():
            # The first 600 characters hold 15 content words in any real turn, and keep the
            # cache's keys small.
            table.add(doc, "substance", weights.substance * _substance(r.content[:600]))
    for doc, r in records.items():
        if r.session_id is None:
            # A record of no session is its own session: it gets what the best session's turns
            # get, scaled by its own score (else every chat turn starts ahead of every note).
            fused = table.rows[doc].fused
            table.add(doc, "session", weights.session * fused)
            table.add(doc, "lift", weights.lift * fused)
    if weights.line:
        # A long turn's own vector is the mean of a dozen lines and its BM25 is diluted by their
        # words: how well its best line matches is the better evidence, so it counts more.
        for doc, r in records.items():
            rank = table.rows[doc].ranks.get("fact")
            if rank is not None and len(r.content) >= LONG_TURN:
                table.add(doc, "line", fusion.share(weights.line, rank, table.rrf_k) / table.scale)
    kind = answertype.asked(query) if weights.answer else None
    if kind is not None:
        exclude = frozenset(_text.words(query)) | {
            w for r in records.values() if r.speaker for w in _text.words(r.speaker)
        }
        for doc, r in records.items():
            if answertype.holds(kind, r.content, exclude=exclude):
                table.add(doc, "answer", weights.answer)
    if weights.asks:
        for doc, r in records.items():
            if updates.asks(r.content):
                table.rows[doc].parts["asks"] = -weights.asks
    if weights.time:
        span = timeexpr.query_range(query, now=now())
        asks_when = timeexpr.asks_when(query)
        for doc, r in records.items():
            if span is not None and _in_span(r, span):
                table.add(doc, "time", weights.time)
            elif asks_when and r.dates:
                table.add(doc, "dated", weights.time / 3)


# A short thanks or "ok, that worked": what follows a fix, not a fix.
_ACK = re.compile(
    r"^\W{0,8}(?:thanks|thank\s+you|thx|ok(?:ay)?|great|cool|nice|perfect|awesome|got\s+it|"
    r"sounds\s+good|that\s+(?:worked|works|did\s+it|fixed\s+it)|it\s+works|yes|yep|sure)\b",
    re.I,
)
_ACK_TERMS = 6


def _acknowledges(content: str) -> bool:
    """Whether a turn is a short acknowledgement ("Thanks, that worked!")."""
    return _ACK.match(content) is not None and len(_text.terms(content[:600])) <= _ACK_TERMS


@functools.lru_cache(maxsize=256)
def _words(content: str) -> frozenset[str]:
    """The words of a note, kept for the next searches: a note may be a 60 KB tool output, read
    in full (the name asked about may be anywhere in it) but once, not on every search that
    ranks it. Few entries: only records of no session are asked, and each key holds its text."""
    return frozenset(_text.words(content))


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
