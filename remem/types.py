"""The data that crosses remem's boundaries: ``Record``, ``Hit``, ``Link`` and ``HistoryEntry``."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Metadata = Mapping[str, Any]
Kind = Literal["episodic", "semantic", "procedural", "core"]
KINDS: tuple[str, ...] = ("episodic", "semantic", "procedural", "core")
Origin = Literal["user", "agent", "tool", "import", "derived"]
ORIGINS: tuple[str, ...] = ("user", "agent", "tool", "import", "derived")


@dataclass(frozen=True)
class Record:
    """One memory, as stored.

    ``occurred_at`` is when the event happened (defaults to ``created_at``); ``created_at`` is when
    remem learned it; ``version`` starts at 1 and grows with every update. ``valid_to`` is set when a
    newer fact supersedes this one. ``keywords``, ``entities`` and ``dates`` are derived notes;
    ``tags`` (broad category labels) and ``context`` (one line on what the note is about) are the
    A-MEM notes an optional LLM writes in the background (empty without one). Notes change
    without a new version: ``version`` counts changes to what the user stored.
    """

    id: str
    user_id: str
    content: str
    kind: str = "episodic"
    agent_id: str | None = None
    session_id: str | None = None
    speaker: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1
    origin: str = "user"
    trust: float = 1.0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    sources: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    level: str = "record"
    expires_at: datetime | None = None
    flags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    context: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO 8601 strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Rebuild a ``Record`` from ``to_dict()`` output. Driven by the field types, so a new
        field round-trips without a change here; unknown keys (a newer writer's) are ignored."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in _RECORD_TIMES:
            if isinstance(fields.get(name), str):
                fields[name] = datetime.fromisoformat(fields[name])
        for name in _RECORD_TUPLES:
            if name in fields:
                fields[name] = tuple(fields[name] or ())
        return cls(**fields)


@dataclass(frozen=True)
class Hit:
    """One search result: the record, its fused score (higher is better) and why it was found.

    ``explain`` maps each retriever that found the record ("bm25", "vector", ...) to its 1-based
    rank there, plus any component scores the ranker used.
    """

    record: Record
    score: float
    explain: dict[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    context: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "record": self.record.to_dict(),
            "score": self.score,
            "explain": dict(self.explain),
            "flags": list(self.flags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hit:
        """Rebuild a ``Hit`` from ``to_dict()`` output."""
        return cls(
            Record.from_dict(data["record"]),
            float(data["score"]),
            dict(data.get("explain") or {}),
            tuple(data.get("flags") or ()),
        )


@dataclass(frozen=True)
class Link:
    """A typed, weighted edge between two records of one user.

    ``relation`` is one of "similar", "entity", "next" (same session, in order), "supersedes",
    "derived_from", "merged".
    """

    a: str
    b: str
    relation: str
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"a": self.a, "b": self.b, "relation": self.relation, "weight": self.weight}


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a record: what happened (``op``), when, by whom and why, with the before/after."""

    memory_id: str
    version: int
    op: str
    at: datetime
    actor: str | None = None
    reason: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "memory_id": self.memory_id,
            "version": self.version,
            "op": self.op,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        """Rebuild a ``HistoryEntry`` from ``to_dict()`` output."""
        return cls(
            memory_id=data["memory_id"],
            version=int(data["version"]),
            op=data["op"],
            at=datetime.fromisoformat(data["at"]),
            actor=data.get("actor"),
            reason=data.get("reason"),
            before=data.get("before"),
            after=data.get("after"),
        )


@dataclass(frozen=True)
class Page:
    """One page of a listing; pass ``next_cursor`` back to get the next one (None at the end)."""

    records: list[Record]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


_RECORD_HINTS = typing.get_type_hints(Record)
_RECORD_TIMES = tuple(
    n for n, t in _RECORD_HINTS.items() if t is datetime or datetime in typing.get_args(t)
)
_RECORD_TUPLES = tuple(n for n, t in _RECORD_HINTS.items() if typing.get_origin(t) is tuple)
