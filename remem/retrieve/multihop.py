"""Multi-hop questions (issue 14, item 4): an answer spread over several sessions.

"What activities does Ana do?", "Where has Ana travelled?": each part of the answer was said in a
different session, months apart. The session and lift stages credit every turn of a strong
session, so below the first few hits a ranking tends to go on with more turns of the sessions
already shown; the other parts of the answer, each the best turn of another session, sit at
positions 11–30.

``diversify``, below the head (the first ``HEAD`` hits, which it never touches): a turn whose
session already has a better-ranked turn loses ``weights.diverse`` (``explain["diverse"]``). The
best turn of every session keeps its score, so the next session's best passes the third or fourth
turn of one already shown, when they were close. A record of no session is its own session, and
a search pinned to one session is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from remem.store.base import Scope
from remem.types import Record

HEAD = 5  # the first hits are left as they are: what the query matched best comes first


class _Row(Protocol):
    """What this stage reads and writes of a candidate (``hierarchy.Row``)."""

    parts: dict[str, float]
    record: Record | None

    @property
    def score(self) -> float: ...


class _Table(Protocol):
    """``hierarchy.Candidates``, as far as this stage needs it (hierarchy imports this module)."""

    @property
    def rows(self) -> Mapping[str, _Row]: ...


def diversify(table: _Table, scope: Scope, weight: float) -> None:
    """Stage diversify (after features, before hits): below the first ``HEAD`` shortlisted
    candidates, each turn after the first of its session (in score order) loses ``weight``."""
    if not weight or scope.session_id is not None:
        return
    rows = {d: r for d, r in table.rows.items() if r.record is not None}
    order = sorted(rows, key=lambda d: (-rows[d].score, d))
    seen: set[str] = set()
    for i, doc in enumerate(order):
        record = rows[doc].record
        assert record is not None
        session = record.session_id or doc
        if i >= HEAD and session in seen:
            rows[doc].parts["diverse"] = -weight
        seen.add(session)
