"""What remem derives from the records it stores: lessons, fact units and session units.

Every write path ends here: ``learn`` after the guard quarantined something, ``put_facts`` after
new records were indexed, ``refresh`` after records changed or went.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from remem import _time
from remem.guard import policy
from remem.organize import facts, writer
from remem.parts import Parts, Pieces
from remem.types import Record


def learn(parts: Parts, caught: Sequence[Record], at: datetime) -> None:
    """A lesson for each record the guard quarantined (see ``policy.lesson_records``)."""
    learned = policy.lesson_records(caught, at) if caught else []
    if learned:
        # Lessons are matched by signature, never by similarity: they need no vector.
        parts.store.put_derived(
            learned, np.zeros((len(learned), parts.embedder.dims), dtype=np.float32)
        )


def put_facts(parts: Parts, records: Sequence[Record], pieces: Sequence[Pieces]) -> None:
    """The fact units of ``records`` (one per sentence), from their embedded ``pieces``."""
    at = _time.now()
    units = [
        unit
        for record, sentences in zip(records, pieces, strict=True)
        for unit in facts.fact_units(
            record,
            [text for text, _ in sentences],
            np.asarray([v for _, v in sentences], dtype=np.float32),
            at=at,
        )
    ]
    if units:
        parts.store.put_derived([u for u, _ in units], np.vstack([v for _, v in units]))


def refresh(parts: Parts, *records: Record, pieces: Mapping[str, Pieces] | None = None) -> None:
    """Rebuild what is derived from ``records`` after they changed or went: session units and
    fact units (a record no longer stored, or no longer trusted, keeps none). ``pieces``: the
    sentences and vectors already embedded for some of them, by id (not embedded again)."""
    if not parts.settings.organize:
        return
    store = parts.store
    sessions = {(r.user_id, r.session_id) for r in records if r.session_id}
    writer.refresh_sessions(store, sessions, at=_time.now())
    store.drop_derived([f for r in records for f in facts.all_ids(r.id)])
    current = store.get_many([r.id for r in records])
    live = [r for r in current.values() if r.level == "record"]
    known = pieces or {}
    missing = [r for r in live if r.id not in known]
    embedded = dict(zip((r.id for r in missing), parts.embed_records(missing)[1], strict=True))
    if live:
        put_facts(parts, live, [known.get(r.id) or embedded[r.id] for r in live])
