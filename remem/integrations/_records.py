"""What the integrations share: every record of a scope as stored, and strictly increasing
event times.

A framework's store is a faithful key-value store: an item it wrote must come back by key even
when remem's guard quarantined it or a newer fact superseded it (``Memory.list`` shows neither;
search still ranks by them). So the integrations list through ``memory.store`` with a scope
that includes both, narrowed by remem filters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from remem import filters as _filters
from remem.guard.policy import QUARANTINE
from remem.memory import Memory
from remem.store.base import Scope
from remem.types import Record

_PAGE = 1000


def scan(
    memory: Memory,
    *,
    user_id: str,
    agent_id: str | None = None,
    session_id: str | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[Record]:
    """Every stored record of a scope matching ``filters``, quarantined and superseded ones
    included, in id (creation) order."""
    where = Scope(
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        levels=("record", QUARANTINE),
        conditions=tuple(_filters.parse(filters)),
        include_superseded=True,
    )
    out: list[Record] = []
    cursor: str | None = None
    while True:
        page = memory.store.list(where, limit=_PAGE, cursor=cursor)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


class Clock:
    """Event times that strictly increase within a process.

    Two writes of the same text at the same moment in one scope are one retried event to remem
    (it merges them); a framework's two items never are, so each gets its own ``occurred_at``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def ticks(self, n: int) -> list[datetime]:
        with self._lock:
            now = max(datetime.now(UTC), self._last + timedelta(microseconds=1))
            times = [now + timedelta(microseconds=i) for i in range(n)]
            self._last = times[-1] if times else self._last
            return times


def clip(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (on a character boundary)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")
