"""The organizing steps of the write path, after records are stored: links, consolidation and
session units. Each step is rebuildable from the records, so each runs in its own transaction.

- merge (Think-in-Memory): an incoming near-duplicate of a stored fact becomes a new version of it.
- supersede: a fact about the same subject and attribute with a new value closes the old one
  (``valid_to``), links them and leaves the old one in history and in ``as_of`` searches.
- correct: "actually it was Tuesday" amends the speaker's previous statement in that session.

Trust decides who may change whom (``remem.guard.trust``): a write merges into, supersedes or
corrects a record only when its origin class is at least the record's. A lower-trust write that
would have superseded or corrected is kept as a *competing claim*: linked ``conflicts_with`` to
the record it contests, flagged, given a "conflict" history entry, and ranked below it by the
guard's read-time review. A lower-trust repeat only corroborates: its id joins the record's
sources; nothing of its metadata or notes is taken.
- links (A-MEM): similar notes, shared entities, and the next turn of a session.
- session units (MemGAS): rebuilt for every session the call touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from remem.filters import Condition
from remem.guard import trust
from remem.organize import consolidate, units
from remem.store.base import Scope, Store
from remem.types import HistoryEntry, Link, Record, Vector

NEIGHBOURS = 20
SIMILAR = 0.8  # cosine above which two notes are linked as similar
_MAX_SIMILAR_LINKS = 3
_SESSION_PAGE = 256  # turns read at a time when walking a session (any length)


def cosine(score: float) -> float:
    """Undo the store's [0, 1] mapping of cosine similarity."""
    return 2.0 * score - 1.0


DUPLICATE_CANDIDATES = 5  # nearest records a new one is checked against for a repeat


def duplicate_of(store: Store, record: Record, nearest: list[tuple[str, float]]) -> Record | None:
    """A stored record that ``record`` only repeats, or None.

    Facts (any kind but episodic) merge when near-duplicates. An episodic event merges only when it
    is the same event sent again: same content, speaker, session and time (a retried write).
    ``nearest``: the ``DUPLICATE_CANDIDATES`` records nearest to it (``neighbours``).
    """
    near = [(i, cosine(s)) for i, s in nearest if cosine(s) >= consolidate.DUPLICATE_SIMILARITY]
    if not near:
        return None
    found = store.get_many([i for i, _ in near])
    for rid, sim in near:
        old = found.get(rid)
        if old is None or old.kind != record.kind:
            continue
        if record.kind == "episodic":
            same = (old.content, old.speaker, old.session_id, old.occurred_at) == (
                record.content,
                record.speaker,
                record.session_id,
                record.occurred_at,
            )
            if same:
                return old
        elif consolidate.near_duplicate(record.content, old.content, sim):
            return old
    return None


def neighbours(
    store: Store, records: Sequence[Record], vectors: Vector, *, limit: int
) -> list[list[tuple[str, float]]]:
    """Each record's ``limit`` nearest in its own scope (user and agent), as ``store.vector``
    answers now; the records of one scope are searched together (``Store.vector_many``)."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault((record.user_id, record.agent_id), []).append(i)
    out: list[list[tuple[str, float]]] = [[] for _ in records]
    for (user_id, agent_id), members in groups.items():
        scope = Scope(user_id=user_id, agent_id=agent_id)
        found = store.vector_many(vectors[members], scope, limit=limit)
        for i, hits in zip(members, found, strict=True):
            out[i] = hits
    return out


def merged(old: Record, new: Record, at: datetime, *, absorb: bool = True) -> Record:
    """The new version of ``old`` that absorbs ``new``: both provenances are kept.

    With ``absorb=False`` (``new`` is less trusted) only ``new``'s id joins the sources."""
    if not absorb:
        return replace(
            old,
            version=old.version + 1,
            updated_at=at,
            sources=tuple(dict.fromkeys((*old.sources, new.id))),
        )
    meta = {**old.metadata, **new.metadata}
    return replace(
        old,
        metadata=meta,
        version=old.version + 1,
        updated_at=at,
        sources=tuple(dict.fromkeys((*old.sources, new.id))),
        keywords=tuple(dict.fromkeys((*old.keywords, *new.keywords))),
        entities=tuple(dict.fromkeys((*old.entities, *new.entities))),
        dates=tuple(dict.fromkeys((*old.dates, *new.dates))),
    )


def organize(
    store: Store,
    records: Sequence[Record],
    vectors: Vector,
    *,
    at: datetime,
    embed_one: Callable[[Record], Vector],
    order: str = trust.DEFAULT_ORDER,
) -> dict[str, Record]:
    """Link, consolidate and refresh session units after ``records`` were inserted.

    Returns:
        The new versions of those of ``records`` that became competing claims, by id.
    """
    links: dict[str, list[Link]] = {}
    claims: dict[str, Record] = {}
    # Every record's neighbours searched together, as the store stands after the insert; once a
    # record closed, amended or contested another (the vectors or validity a search sees
    # changed), the rest are searched one by one again.
    batched = neighbours(store, records, vectors, limit=NEIGHBOURS + 1)
    changed = False
    # Neighbours read so far in this call: the records of one batch share most of theirs (its
    # turns neighbour each other). Emptied whenever a record changed another.
    read: dict[str, Record] = {}
    for record, vector, found in zip(records, vectors, batched, strict=True):
        if changed:
            scope = Scope(user_id=record.user_id, agent_id=record.agent_id)
            found = store.vector(vector, scope, limit=NEIGHBOURS + 1)
        hits = [(i, s) for i, s in found if i != record.id]
        out = links.setdefault(record.user_id, [])
        out += [
            Link(record.id, i, "similar", round(cosine(s), 4))
            for i, s in hits[:_MAX_SIMILAR_LINKS]
            if cosine(s) >= SIMILAR
        ]
        needs_records = record.entities or consolidate.slots(record.content, speaker=record.speaker)
        if not needs_records and not consolidate.is_correction(record.content):
            continue
        wanted = sorted({i for i, _ in hits})  # the order get_many reads them in (by id)
        read.update(store.get_many([i for i in wanted if i not in read]))
        near = {i: read[i] for i in wanted if i in read}
        mine = {e.casefold() for e in record.entities}
        for rid, other in near.items():
            shared = mine & {e.casefold() for e in other.entities}
            if shared:
                out.append(Link(record.id, rid, "entity", float(len(shared))))
        before = len(out)
        contested = _supersede(store, record, near.values(), at, out, order)
        contested += _correct(store, record, at, out, embed_one, order)
        if contested:
            claims[record.id] = _contest(store, record, contested, at, out)
        wrote = bool(contested) or any(
            link.relation in ("supersedes", "corrects") for link in out[before:]
        )
        if wrote:
            read.clear()
        changed = changed or wrote
    for user_id, user_links in links.items():
        if user_links:
            store.add_links(user_id, user_links)
    refresh_sessions(
        store,
        {(r.user_id, r.session_id) for r in records if r.session_id},
        at=at,
        added={r.id for r in records},
    )
    return claims


def _outranked(record: Record, old: Record, order: str) -> bool:
    return not trust.may_override(record.origin, record.trust, old.origin, old.trust, order)


def _contest(
    store: Store, record: Record, contested: list[Record], at: datetime, out: list[Link]
) -> Record:
    """Keep ``record`` as a competing claim against ``contested`` (more trusted records)."""
    ids = list(dict.fromkeys(r.id for r in contested))
    out += [Link(record.id, i, trust.CONFLICT, 1.0) for i in ids]
    flagged = replace(record, flags=tuple(dict.fromkeys((*record.flags, trust.CONFLICT))))
    return new_version(
        store,
        record,
        flagged,
        None,
        op="conflict",
        at=at,
        reason=f"competing claim against more trusted {', '.join(ids)}: kept, not applied",
    )


def _supersede(
    store: Store,
    record: Record,
    candidates: Iterable[Record],
    at: datetime,
    out: list[Link],
    order: str,
) -> list[Record]:
    """Close the records ``record`` supersedes; returns those it may not (more trusted)."""
    contested: list[Record] = []
    if not consolidate.slots(record.content, speaker=record.speaker):
        return contested
    for old in candidates:
        if old.valid_to is not None or old.level != "record" or old.id == record.id:
            continue
        if (old.occurred_at or at) > (record.occurred_at or at):
            continue  # an older statement arriving late does not override a newer one
        if not consolidate.supersedes(
            record.content, old.content, speaker_new=record.speaker, speaker_old=old.speaker
        ):
            continue
        if _outranked(record, old, order):
            contested.append(old)
            continue
        changed = replace(old, valid_to=record.occurred_at or at)
        new_version(
            store, old, changed, None, op="supersede", at=at, reason=f"superseded by {record.id}"
        )
        out.append(Link(record.id, old.id, "supersedes", 1.0))
    return contested


def _correct(
    store: Store,
    record: Record,
    at: datetime,
    out: list[Link],
    embed_one: Callable[[Record], Vector],
    order: str,
) -> list[Record]:
    """Amend the statement ``record`` corrects; returns it instead when it is more trusted."""
    if not record.session_id or not consolidate.is_correction(record.content):
        return []
    scope = Scope(user_id=record.user_id, session_id=record.session_id)
    when = record.occurred_at or at

    def corrected(r: Record) -> bool:
        return (
            r.id != record.id
            and r.speaker == record.speaker
            and (r.occurred_at or at) <= when
            and not consolidate.is_correction(r.content)
        )

    # The last such statement in event order: walk back from the last turn at or before ``when``
    # a page at a time (usually one), not the whole session.
    old = None
    end = store.count_before(scope, when, None)
    while old is None and end > 0:
        start = max(0, end - _SESSION_PAGE)
        page = store.list_ordered(scope, offset=start, limit=end - start)
        old = next((r for r in reversed(units.order(page)) if corrected(r)), None)
        end = start
    if old is None:
        return []
    if _outranked(record, old, order):
        return [old]
    fixed = replace(old, content=f"{old.content} [corrected: {record.content}]")
    new_version(
        store, old, fixed, embed_one, op="correct", at=at, reason=f"corrected by {record.id}"
    )
    out.append(Link(record.id, old.id, "corrects", 1.0))
    return []


def new_version(
    store: Store,
    old: Record,
    changed: Record,
    embed_one: Callable[[Record], Vector] | None,
    *,
    op: str,
    at: datetime,
    reason: str | None,
    actor: str = "remem",
) -> Record:
    """Store ``changed`` as the next version of ``old`` (re-embedded when given an embedder),
    with a history entry saying who did what and why."""
    new = replace(changed, version=old.version + 1, updated_at=at)
    store.replace(
        new,
        embed_one(new) if embed_one is not None else None,
        HistoryEntry(
            memory_id=old.id,
            version=new.version,
            op=op,
            at=at,
            actor=actor,
            reason=reason,
            before=old.to_dict(),
            after=new.to_dict(),
        ),
    )
    return new


def refresh_sessions(
    store: Store,
    sessions: set[tuple[str, str]],
    *,
    at: datetime,
    added: set[str] | None = None,
) -> None:
    """Rebuild the session units (and "next" links) of each (user_id, session_id).

    With ``added`` (ids just inserted), only the chunks from the first one holding a new turn
    onwards are read and rebuilt, and only the new turns' "next" links written: appending to a
    session of any length costs one chunk, not the whole session. Without it (after a delete or
    an update) the whole session is rebuilt.
    """
    new = store.get_many(sorted(added)) if added else {}
    for user_id, session_id in sessions:
        scope = Scope(user_id=user_id, session_id=session_id)
        first = 0
        if added is not None:
            mine = units.order(
                [r for r in new.values() if (r.user_id, r.session_id) == (user_id, session_id)]
            )
            if not mine:
                continue
            # The turn before the first new one is read too: its "next" link may be new.
            position = store.count_before(scope, mine[0].occurred_at, mine[0].id)
            start = max(0, position // units.CHUNK * units.CHUNK - 1)
            turns = units.order(store.list_ordered(scope, offset=start, limit=None))
            touched = [i for i, r in enumerate(turns) if r.id in added]
            if not touched:
                continue
            first = (start + touched[0]) // units.CHUNK
            rebuilt = turns[first * units.CHUNK - start :]
        else:
            turns = units.order(store.list_ordered(scope, offset=0, limit=None))
            rebuilt = turns
        vectors = store.vectors([r.id for r in rebuilt])
        built = units.session_units(rebuilt, vectors, at=at, first_chunk=first)
        later = (Condition("$gte", first, path=("chunk",)),) if first else ()
        stale = _all(
            store,
            Scope(user_id=user_id, session_id=session_id, levels=(units.LEVEL,), conditions=later),
        )
        keep = {u.id for u, _ in built}
        drop = [u.id for u in stale if u.id not in keep and u.metadata.get("chunk", 0) >= first]
        if drop:
            store.drop_derived(drop)
        if built:
            store.put_derived([u for u, _ in built], np.vstack([v for _, v in built]))
        pairs = zip(turns, turns[1:], strict=False)
        nxt = [
            Link(a.id, b.id, "next", 1.0)
            for a, b in pairs
            if added is None or a.id in added or b.id in added
        ]
        if nxt:
            store.add_links(user_id, nxt)


def _all(store: Store, scope: Scope) -> list[Record]:
    """Every record in ``scope``, a page at a time."""
    out: list[Record] = []
    cursor: str | None = None
    while True:
        page = store.list(scope, limit=_SESSION_PAGE, cursor=cursor)
        out += page.records
        cursor = page.next_cursor
        if cursor is None:
            return out
