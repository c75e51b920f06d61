"""Metadata and field filters: parsed once into ``Condition``s, compiled by each backend.

A filter is a mapping from a field to a value (equality) or to an operator mapping::

    {"speaker": "Ana", "metadata.topic": {"$in": ["work", "travel"]},
     "occurred_at": {"$gte": "2023-05-01", "$lt": "2023-06-01"}}

Fields are record columns (``FIELDS``) or metadata keys, written ``metadata.key`` or bare ``key``
(``a.b`` reaches into nested metadata).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remem import _time
from remem.errors import InvalidInput

FIELDS = frozenset(
    {
        "kind",
        "speaker",
        "agent_id",
        "session_id",
        "origin",
        "occurred_at",
        "created_at",
        "updated_at",
        "trust",
        "version",
        "level",
    }
)
TIME_FIELDS = frozenset({"occurred_at", "created_at", "updated_at"})
OPS = frozenset({"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"})
_SCALAR = (str, int, float, bool)
_UNSAFE = re.compile(r'["\\\x00-\x1f\[\]$]')
_MAX_INT = 2**63 - 1


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@dataclass(frozen=True)
class Condition:
    """``field op value``; ``column`` is set for record columns, ``path`` for metadata keys."""

    op: str
    value: Any
    column: str | None = None
    path: tuple[str, ...] = ()


def parse(filters: Mapping[str, Any] | None) -> list[Condition]:
    """Validate ``filters`` and return the conditions (all must hold).

    Raises:
        InvalidInput: an unknown operator, a non-scalar value or a malformed field name.
    """
    if filters is None:
        return []
    if not isinstance(filters, Mapping):
        raise InvalidInput("filters: expected a mapping of field -> value or {operator: value}")
    out: list[Condition] = []
    for key, spec in filters.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"filters: field names must be non-empty strings, got {key!r}")
        column, path = _field(key)
        ops = spec if isinstance(spec, Mapping) else {"$eq": spec}
        if not ops:
            raise InvalidInput(f"filters: {key!r} has an empty operator mapping")
        for op, value in ops.items():
            if op not in OPS:
                raise InvalidInput(
                    f"filters: unknown operator {op!r} on {key!r}; use one of {sorted(OPS)}"
                )
            out.append(Condition(op, _value(key, column, op, value), column, path))
    return out


def _field(key: str) -> tuple[str | None, tuple[str, ...]]:
    if key in FIELDS:
        return key, ()
    name = key.removeprefix("metadata.")
    parts = tuple(name.split("."))
    # Quotes, backslashes and control characters would break a JSON path in some backends.
    if not all(parts) or any(_UNSAFE.search(p) for p in parts) or not _encodable(name):
        raise InvalidInput(f"filters: malformed field name {key!r}")
    return None, parts


def _value(key: str, column: str | None, op: str, value: Any) -> Any:
    if op in ("$in", "$nin"):
        if not isinstance(value, list | tuple) or not value:
            raise InvalidInput(f"filters: {op} on {key!r} needs a non-empty list")
        return tuple(_scalar(key, column, v) for v in value)
    return _scalar(key, column, value)


def _scalar(key: str, column: str | None, value: Any) -> Any:
    if column in TIME_FIELDS:
        return _time.fmt(_time.parse(value, field=f"filters.{key}"))
    if value is None or not isinstance(value, _SCALAR):
        raise InvalidInput(f"filters: {key!r} takes strings, numbers or booleans, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"filters: {key!r} got a non-finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
        raise InvalidInput(f"filters: {key!r} got an integer out of range")
    if isinstance(value, str) and not _encodable(value):
        raise InvalidInput(f"filters: {key!r} got a string that is not valid UTF-8")
    return value
