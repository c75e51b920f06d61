"""``MemoryPort``: what the modules above the core need of a memory, and nothing more.

``remem.answer``, ``remem.llm.enrich`` and ``remem.llm.notes`` take a ``MemoryPort``, not a
``Memory``: they depend on these few verbs (a ``Memory`` has them all, with these signatures), so
the dependency points down to this module and never back up to ``remem.memory``. Likewise the
write path (``remem.write``) hands new records to an ``EnricherPort``, not to the LLM enricher.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from remem.config import Settings
from remem.llm.base import LLMClient
from remem.store.base import Store
from remem.types import HistoryEntry, Hit, Page, Record


class MemoryPort(Protocol):
    """The verbs of ``remem.memory.Memory`` that answering and enrichment call (see there)."""

    settings: Settings
    store: Store

    @property
    def llm(self) -> LLMClient | None:
        """The configured LLM client, or None."""

    def add(
        self,
        content: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        speaker: str | None = None,
        occurred_at: Any = None,
        metadata: Mapping[str, Any] | None = None,
        kind: str = "episodic",
        ttl: int | None = None,
        origin: str = "user",
    ) -> Record:
        """Store one memory."""

    def get(self, id: str, *, user_id: str | None = None) -> Record:
        """Return one memory."""

    def update(
        self,
        id: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> Record:
        """Change a memory's content and/or metadata, making a new version."""

    def forget(
        self,
        id: str | None = None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> int:
        """Forget one memory by id, or every memory of a scope that matches ``filters``."""

    def list(
        self,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """List one scope's memories, a page at a time."""

    def history(self, id: str, *, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        """Every version of a memory, oldest first."""

    def search(
        self,
        query: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        as_of: Any = None,
        level: str = "record",
    ) -> builtins.list[Hit]:
        """Find the memories of one scope that bear on ``query``, best first."""


class EnricherPort(Protocol):
    """What the write path needs of ``remem.llm.enrich.Enricher``."""

    def submit(self, records: Sequence[Record]) -> None:
        """Queue new records for enrichment; returns at once and never raises."""
