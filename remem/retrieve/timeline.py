"""Event order: when a memory happened, and a scope's memories between two moments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from remem.organize import timeexpr
from remem.types import Record

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def when(record: Record) -> datetime:
    """When the event happened: the first date the memory itself mentions, else ``occurred_at``.

    "I went to the support group yesterday", said on 8 May, happened on 7 May.
    """
    for iso in record.dates:
        spans = timeexpr.resolve(iso, None)
        if spans:
            day = spans[0].start
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return record.occurred_at or record.created_at or _EPOCH


def said(record: Record) -> datetime | None:
    """When the memory was said (not what it is about): ``occurred_at``, else ``created_at``."""
    return record.occurred_at or record.created_at


def between(
    records: Iterable[Record], *, start: datetime | None, end: datetime | None
) -> list[Record]:
    """Records in event order (ties by id), those in [start, end) when bounds are given."""
    out = [
        r for r in records if (start is None or when(r) >= start) and (end is None or when(r) < end)
    ]
    return sorted(out, key=lambda r: (when(r), r.id))
