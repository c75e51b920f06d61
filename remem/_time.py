"""Datetime parsing and formatting: every timestamp inside remem is timezone-aware UTC."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from remem.errors import InvalidInput


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def parse(value: object, *, field: str = "datetime") -> datetime | None:
    """Parse ``value`` (datetime, ISO 8601 string or POSIX seconds) into an aware UTC datetime.

    Naive datetimes and strings without an offset are taken as UTC.

    Raises:
        InvalidInput: the value is not a recognisable point in time.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise InvalidInput(f"{field}: expected a datetime or ISO 8601 string, got a bool")
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidInput(f"{field}: {value!r} is not a finite timestamp")
        try:
            dt = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidInput(f"{field}: timestamp {value!r} is out of range") from exc
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(f"{field}: {value!r} is not an ISO 8601 datetime") from exc
    else:
        raise InvalidInput(
            f"{field}: expected a datetime or ISO 8601 string, got {type(value).__name__}"
        )
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"{field}: {value!r} is out of range") from exc


def fmt(dt: datetime | None) -> str | None:
    """Format an aware datetime as a fixed-width UTC ISO string that sorts lexicographically."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def load(text: str | None) -> datetime | None:
    """Inverse of ``fmt``."""
    return None if text is None else datetime.fromisoformat(text)
