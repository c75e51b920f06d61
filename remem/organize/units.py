"""Derived units at coarser granularity than a turn (MemGAS): one per session chunk.

A session unit holds everything said in one session (up to ``CHUNK`` turns per unit), indexed for
BM25 like any record, with the normalized mean of its turns' vectors as its vector, and ``sources``
listing its turns in order (which also gives each turn's neighbours). Units are derived: rebuilt
from the records whenever a session changes, never returned in place of what the user stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from remem import _ids
from remem.types import Record, Vector

CHUNK = 64
# Undated turns (an imported record may have no occurred_at) sort first; aware, like the rest.
_EARLIEST = datetime.min.replace(tzinfo=UTC)
LEVEL = "session"
_MAX_KEYWORDS = 16


def unit_id(user_id: str, session_id: str, chunk: int) -> str:
    """The deterministic id of one session chunk's unit (a derived "~" id: no client can bring
    in, by import, an id that takes the place of a unit of someone else's session)."""
    return _ids.derived_id("session", user_id, session_id, str(chunk))


def order(records: Sequence[Record]) -> list[Record]:
    """Turns in event order: by ``occurred_at``, then by id (creation order)."""
    return sorted(records, key=lambda r: (r.occurred_at or _EARLIEST, r.id))


def session_units(
    records: Sequence[Record],
    vectors: Mapping[str, Vector],
    *,
    at: datetime,
    first_chunk: int = 0,
) -> list[tuple[Record, Vector]]:
    """Build the units of one session from its records (any order) and their vectors.

    Args:
        records: every stored record of one (user, session).
        vectors: their vectors by id (records without one are left out of the mean).
        at: the time to stamp the units with.
        first_chunk: the chunk number of the first record (when rebuilding a session's tail).

    Returns:
        (unit, vector) pairs, one per ``CHUNK`` turns.
    """
    turns = order(records)
    if not turns:
        return []
    first = turns[0]
    agents = {r.agent_id for r in turns}
    out = []
    for chunk, start in enumerate(range(0, len(turns), CHUNK), start=first_chunk):
        part = turns[start : start + CHUNK]
        lines = [f"{r.speaker}: {r.content}" if r.speaker else r.content for r in part]
        counts = Counter(k for r in part for k in r.keywords)
        entities = list(dict.fromkeys(e for r in part for e in r.entities))
        stack = [vectors[r.id] for r in part if r.id in vectors]
        mean = np.mean(stack, axis=0) if stack else np.zeros(1, dtype=np.float32)
        norm = float(np.linalg.norm(mean))
        unit = Record(
            id=unit_id(first.user_id, first.session_id or "", chunk),
            user_id=first.user_id,
            agent_id=agents.pop() if len(agents) == 1 else None,
            session_id=first.session_id,
            kind="episodic",
            level=LEVEL,
            content="\n".join(lines),
            occurred_at=part[0].occurred_at,
            created_at=at,
            updated_at=at,
            valid_from=part[0].occurred_at,
            origin="derived",
            sources=tuple(r.id for r in part),
            keywords=tuple(k for k, _ in counts.most_common(_MAX_KEYWORDS)),
            entities=tuple(entities[:_MAX_KEYWORDS]),
            metadata={"turns": len(part), "chunk": chunk},
        )
        out.append((unit, (mean / norm if norm else mean).astype(np.float32)))
    return out
