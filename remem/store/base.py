"""The ``Store`` protocol every backend implements, and the ``Scope`` every read is bound to.

Score contract: higher is more relevant. ``bm25`` scores are positive and unbounded; ``vector``
scores are cosine similarities mapped to [0, 1]. Every read takes a ``Scope`` whose ``user_id`` is
required: a backend never returns a row of another user.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from remem.filters import Condition
from remem.types import HistoryEntry, Link, Page, Record, Vector

CAPABILITIES = frozenset({"bm25", "vector", "filters", "history", "transactions", "links"})


@dataclass(frozen=True)
class Scope:
    """What a read may see: one user's records, narrowed by agent, session, level and filters.

    ``level`` picks the granularity ("record" is what the user stored; derived units have their own
    levels). ``as_of`` is valid time: it sees what held at that moment (``valid_from`` <= as_of <
    ``valid_to``), however late remem learned it. Superseded records (``valid_to`` set) are hidden
    unless ``as_of`` falls in their
    validity or ``include_superseded`` is set.
    """

    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    levels: tuple[str, ...] = ("record",)
    conditions: tuple[Condition, ...] = ()
    as_of: datetime | None = None
    include_superseded: bool = False
    ids: tuple[str, ...] | None = field(default=None)

    @property
    def is_plain(self) -> bool:
        """True when only ``user_id`` and ``levels`` narrow the scope (the fast path for cached
        vectors: a mask per level, no query)."""
        return (
            self.agent_id is None
            and self.session_id is None
            and not self.conditions
            and self.as_of is None
            and not self.include_superseded
            and self.ids is None
        )


class Store(Protocol):
    """A place to keep records, their vectors and their history.

    Writes are atomic: each call commits everything or nothing. ``replace`` is optimistic: it
    fails with ``Conflict`` when the stored version is not ``record.version - 1``.
    """

    capabilities: frozenset[str]

    def insert(
        self, records: Sequence[Record], vectors: Vector, history: Sequence[HistoryEntry]
    ) -> None:
        """Insert records (ids, versions and timestamps as given) with their vectors and history.

        Raises ``Conflict`` when an id already exists; nothing is written then.
        """

    def replace(self, record: Record, vector: Vector | None, entry: HistoryEntry) -> None:
        """Store a new version of an existing record; ``vector`` None keeps the old one."""

    def remove(self, ids: Sequence[str], *, op: str, actor: str | None, reason: str | None) -> int:
        """Delete records, leaving a history entry with the last version for each; returns the count."""

    def get_many(self, ids: Sequence[str]) -> dict[str, Record]:
        """Return the records with these ids that exist (missing ids are left out)."""

    def sources(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Return the ``sources`` of the records with these ids that exist (what a derived unit
        was built from), without reading the rest of each record."""

    def list(self, scope: Scope, *, limit: int, cursor: str | None) -> Page:
        """Return records in ``scope`` in id order, ``limit`` at a time, after ``cursor``."""

    def count_before(self, scope: Scope, occurred_at: datetime | None, id: str | None) -> int:
        """How many records in ``scope`` come before a point of event order.

        Event order is ``occurred_at`` (undated records first), then id, as
        ``remem.organize.units.order`` sorts. The point is (``occurred_at``, ``id``); with ``id``
        None it lies after every record of that time (undated records, if ``occurred_at`` is None).
        """

    def list_ordered(
        self, scope: Scope, *, offset: int, limit: int | None
    ) -> builtins.list[Record]:
        """Records in ``scope`` in event order (see ``count_before``), ``offset`` of them skipped,
        at most ``limit`` (None: all the rest): the tail of a long session without its head."""

    def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        """Every history entry of one record, oldest first (kept after delete)."""

    def purge(self, user_id: str) -> int:
        """Hard-delete every record and history entry of a user; returns the records removed."""

    def bm25(
        self, terms: Sequence[str], scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """Full-text search for any of ``terms``; returns (id, score) best first."""

    def vector(
        self, query: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """Nearest neighbours of a unit-length ``query``; returns (id, score in [0, 1]) best first."""

    def vector_many(
        self, queries: Vector, scope: Scope, *, limit: int
    ) -> builtins.list[builtins.list[tuple[str, float]]]:
        """``vector`` for each row of ``queries``, over one scope in one state of the store:
        the write path asks two neighbour searches per stored turn, and a batch's can be
        answered together."""

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        """The stored vectors of these ids (missing ids are left out)."""

    def put_derived(self, records: Sequence[Record], vectors: Vector) -> None:
        """Insert or replace derived units (``level`` other than "record"); no history is kept.

        Raises ``Conflict`` if an id belongs to a stored record.
        """

    def drop_derived(self, ids: Sequence[str]) -> None:
        """Delete derived units by id (stored records are never touched)."""

    def add_links(self, user_id: str, links: Sequence[Link]) -> None:
        """Insert links (an existing (a, b, relation) gets the new weight)."""

    def links(self, ids: Sequence[str], *, incoming: int | None = None) -> builtins.list[Link]:
        """Every link touching any of ``ids``, strongest first. Deleting a record drops its links.

        With ``incoming``, each id brings every link from it but only its ``incoming`` strongest
        links to it (by weight, ties by ``a``, ``b``, relation): a record that many later ones
        link to (a hub) costs a bounded read."""

    def export(
        self, user_id: str | None, *, prefix: str | None = None
    ) -> Iterator[Record | HistoryEntry]:
        """Every record, then every history entry, of one user, of the users whose id starts
        with ``prefix`` (one tenant's), or of all users."""

    def generation(self) -> object | None:
        """A token that changes whenever what this store can read changes: any write, of this
        process or another. None when the backend cannot tell cheaply: do not cache by it."""

    def close(self) -> None:
        """Release connections and caches."""


MAX_PARTS = 12


def part_id(record_id: str, index: int) -> str:
    """The id of a derived unit that is part of one record (a fact unit): ``<record id>#<n>``.

    Parts belong to their record: ``Store.remove`` deletes them with it, in the same transaction,
    so no derived copy of removed content outlives it.
    """
    return f"{record_id}#{index}"


def part_ids(record_id: str) -> list[str]:
    """Every id a part of ``record_id`` can have (``MAX_PARTS`` of them)."""
    return [part_id(record_id, i) for i in range(MAX_PARTS)]


def index_text(record: Record) -> str:
    """The text a backend indexes for full-text search: content plus speaker and derived notes."""
    parts = [record.content]
    if record.speaker:
        parts.append(record.speaker)
    parts.extend(record.keywords)
    parts.extend(record.entities)
    return "\n".join(parts)
