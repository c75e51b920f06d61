"""The write path (``Memory.add`` / ``add_many``) as named stages over one ``Batch``.

validate -> notes -> guard -> standing -> embed -> merge -> index -> organize -> units -> enrich

- validate: each item checked and normalized (``remem._validate``); a bad one stops the batch.
- notes: each item becomes a ``Record`` with its heuristic notes (keywords, entities, dates).
- guard: each record screened (``policy.screen``) against its scope's lessons; instruction-like
  ones are quarantined.
- standing: a trusted record that states a standing instruction or preference becomes
  ``kind="core"`` (``remem.standing.classify``; update and import call it too).
- embed: every record's vector and its sentences' vectors, in one embedding call.
- merge: a record (not quarantined) that only repeats a stored one becomes a new version of it
  (or, from a less trusted origin, corroborates it): it is not stored again.
- index: the rest inserted in one transaction with their "add" history; each quarantined record
  leaves a lesson.
- organize: links, supersede and correct (``writer.organize``), session units; a record that would
  override a more trusted one becomes a competing claim.
- units: the fact units of the stored, trusted records.
- enrich: what was stored handed to the background LLM enricher.

Each stage is a function of the batch and the collaborators it needs, and fills in the items'
state; ``run`` calls them in order. ``settings.guard`` and ``settings.organize`` switch the guard
and the merge/organize/units stages off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from remem import _ids, _time, _validate, derive, standing
from remem.config import Settings
from remem.errors import InvalidInput
from remem.guard import policy, trust
from remem.guard.consensus import Lesson
from remem.organize import notes as heuristic_notes
from remem.organize import writer
from remem.parts import Parts, Pieces
from remem.ports import EnricherPort
from remem.store.base import Store
from remem.types import HistoryEntry, Record, Vector

STORED, MERGED, QUARANTINED, CLAIM = "stored", "merged", "quarantined", "claim"


@dataclass
class Item:
    """One incoming memory on its way through the stages.

    Attributes:
        record: the record as built and screened (what is inserted, when it is).
        vector: its vector (after ``embed``).
        pieces: its sentences with their vectors (after ``embed``).
        outcome: ``STORED``; ``MERGED`` into ``result`` (not inserted); ``QUARANTINED`` by the
            guard (inserted, never merged or organized); ``CLAIM``: a competing claim (inserted,
            ``result`` is its flagged version).
        result: what the caller gets back: ``record``, or the version it became.
    """

    record: Record
    vector: Vector | None = None
    pieces: Pieces = field(default_factory=list)
    outcome: str = STORED
    result: Record | None = None

    @property
    def inserted(self) -> bool:
        """True unless the record merged into one already stored."""
        return self.outcome != MERGED

    @property
    def trusted(self) -> bool:
        """Inserted at level "record" (not quarantined): organized and given fact units."""
        return self.inserted and self.record.level == "record"


@dataclass
class Batch:
    """The memories of one ``add`` / ``add_many`` call, all written at ``at``.

    Attributes:
        at: the time of the write (created_at, updated_at, history).
        items: one per memory, in input order.
        lessons: the guard's lessons, by user id (read once per user).
        dims: the vectors' width (after ``embed``).
    """

    at: datetime
    items: list[Item]
    lessons: dict[str, list[Lesson]] = field(default_factory=dict)
    dims: int = 0

    @property
    def records(self) -> list[Record]:
        """Every item's record, in input order."""
        return [item.record for item in self.items]

    def vectors(self, items: list[Item]) -> Vector:
        """The vectors of ``items`` as one matrix (one row each, ``dims`` wide)."""
        rows = [item.vector for item in items if item.vector is not None]
        if len(rows) != len(items):
            raise ValueError("the batch is not embedded yet")
        return np.asarray(rows, dtype=np.float32).reshape(len(items), self.dims)

    def results(self) -> list[Record]:
        """What each item became, in input order."""
        return [item.result or item.record for item in self.items]


def validate(item: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Stage validate, for one item: its fields checked and normalized.

    Raises:
        InvalidInput: a bad field.
    """
    return _validate.add_item(
        item, max_content=settings.max_content_bytes, max_metadata=settings.max_metadata_bytes
    )


def validate_many(items: Iterable[Mapping[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """Stage validate, for a batch: every item (at most ``max_batch``) checked.

    Raises:
        InvalidInput: a single value instead of an iterable, too many items, or a bad item (the
            message names its index).
    """
    if isinstance(items, Mapping | str | bytes):
        raise InvalidInput("add_many takes an iterable of mappings, not a single value")
    clean = []
    for i, item in enumerate(items):
        if i >= settings.max_batch:
            raise InvalidInput(f"a batch holds at most {settings.max_batch} items")
        try:
            clean.append(validate(item, settings))
        except InvalidInput as exc:
            raise type(exc)(f"item {i}: {exc}") from exc
    return clean


def notes(clean: list[dict[str, Any]], *, at: datetime, default_ttl: int | None) -> Batch:
    """Stage notes: each validated item as a new record with its heuristic notes, at ``at``."""
    items = []
    for given in clean:
        fields = dict(given)
        occurred = fields.pop("occurred_at") or at
        ttl = fields.pop("ttl") or default_ttl
        note = heuristic_notes.extract(
            fields["content"], occurred_at=occurred, speaker=fields["speaker"]
        )
        record = Record(
            id=_ids.new_id(),
            occurred_at=occurred,
            created_at=at,
            updated_at=at,
            valid_from=occurred,
            keywords=note.keywords,
            entities=note.entities,
            dates=note.dates,
            expires_at=at + timedelta(seconds=ttl) if ttl else None,
            **fields,
        )
        items.append(Item(record))
    return Batch(at, items)


def guard(batch: Batch, store: Store) -> None:
    """Stage guard: each record screened against its scope's lessons (read once per user)."""
    for item in batch.items:
        uid = item.record.user_id
        if uid not in batch.lessons:
            batch.lessons[uid] = policy.lessons(store, uid)
        item.record = policy.screen(item.record, batch.lessons[uid])
        if item.record.level == policy.QUARANTINE:
            item.outcome = QUARANTINED


def stand(batch: Batch) -> None:
    """Stage standing: each record that may stand and states an instruction or preference
    becomes standing memory (``kind="core"``, ``remem.standing.classify``)."""
    for item in batch.items:
        item.record = standing.classify(item.record)


def embed(batch: Batch, parts: Parts) -> None:
    """Stage embed: every record's vector and sentence pieces, in one embedding call."""
    vectors, pieces = parts.embed_records(batch.records)
    batch.dims = vectors.shape[1]
    for item, vector, sentences in zip(batch.items, vectors, pieces, strict=True):
        item.vector, item.pieces = vector, sentences


def merge(batch: Batch, store: Store, *, order: str) -> None:
    """Stage merge: a record (not quarantined) that repeats a stored one becomes its new version,
    one item after the other (an earlier item's merge is seen by the next)."""
    # Merges change what a record says, never its vector or validity: every item's nearest are
    # searched together, before the first merge.
    items = [item for item in batch.items if item.record.level == "record"]
    if not items:
        return  # quarantined items are never merged into what is trusted
    given = [item.vector for item in items]
    vectors = np.stack([v for v in given if v is not None])
    assert len(vectors) == len(items), "every item is embedded before it is merged"
    nearest = writer.neighbours(
        store, [item.record for item in items], vectors, limit=writer.DUPLICATE_CANDIDATES
    )
    for item, found in zip(items, nearest, strict=True):
        old = writer.duplicate_of(store, item.record, found)
        if old is not None:
            item.outcome, item.result = MERGED, absorb(store, old, item.record, batch.at, order)


def absorb(store: Store, old: Record, new: Record, at: datetime, order: str) -> Record:
    """``old``'s next version after ``new`` repeated it: merged when ``new``'s origin may override
    ``old``'s, else only corroborated (``new``'s id joins its sources)."""
    absorbs = trust.may_override(new.origin, new.trust, old.origin, old.trust, order)
    return writer.new_version(
        store,
        old,
        writer.merged(old, new, at, absorb=absorbs),
        None,
        op="merge" if absorbs else "corroborate",
        at=at,
        reason=(
            f"near-duplicate add merged: {new.content[:200]}"
            if absorbs
            else f"repeated by a less trusted {new.origin} write {new.id}: {new.content[:200]}"
        ),
        actor=new.origin,
    )


def index(batch: Batch, parts: Parts) -> None:
    """Stage index: the records not merged inserted in one transaction, each with its "add"
    history entry; a lesson for each quarantined one."""
    fresh = [item for item in batch.items if item.inserted]
    records = [item.record for item in fresh]
    history = [
        HistoryEntry(
            memory_id=r.id, version=1, op="add", at=batch.at, actor=r.origin, after=r.to_dict()
        )
        for r in records
    ]
    parts.store.insert(records, batch.vectors(fresh), history)
    derive.learn(parts, [r for r in records if r.level == policy.QUARANTINE], batch.at)


def organize(batch: Batch, parts: Parts) -> None:
    """Stage organize: links, supersede/correct and session units for the trusted new records;
    those that contest a more trusted record become competing claims."""
    kept = [item for item in batch.items if item.trusted]
    if not kept:
        return
    claims = writer.organize(
        parts.store,
        [item.record for item in kept],
        batch.vectors(kept),
        at=batch.at,
        embed_one=parts.embed_record,
        order=parts.settings.trust_order,
    )
    for item in kept:
        if item.record.id in claims:
            item.outcome, item.result = CLAIM, claims[item.record.id]


def units(batch: Batch, parts: Parts) -> None:
    """Stage units: the fact units of the trusted new records (from their records as inserted)."""
    kept = [item for item in batch.items if item.trusted]
    if kept:
        derive.put_facts(parts, [item.record for item in kept], [item.pieces for item in kept])


def enrich(batch: Batch, enricher: EnricherPort | None) -> None:
    """Stage enrich: every inserted record (as it now is) handed to the enricher, which returns
    at once and never raises."""
    if enricher is not None:
        enricher.submit([item.result or item.record for item in batch.items if item.inserted])


def run(
    clean: list[dict[str, Any]], parts: Parts, *, enricher: Callable[[], EnricherPort | None]
) -> list[Record]:
    """Every stage after validate, in order, for validated items; returns what each became.

    Args:
        clean: items from ``validate`` / ``validate_many``.
        parts: the memory's settings, store and embedder.
        enricher: gives the background enricher (or None), asked for once the batch is stored.
    """
    if not clean:
        return []
    s = parts.settings
    batch = notes(clean, at=_time.now(), default_ttl=s.default_ttl)
    if s.guard:
        guard(batch, parts.store)
    stand(batch)
    embed(batch, parts)
    if s.organize:
        merge(batch, parts.store, order=s.trust_order)
    index(batch, parts)
    if s.organize:
        organize(batch, parts)
        units(batch, parts)
    enrich(batch, enricher())
    return batch.results()
