"""``Memory``: the one library entry point. Every adapter (CLI, REST, MCP) calls these methods.

Each verb is a thin method over a function of the memory's parts (``remem.parts``): writes in
``remem.write``, reads in ``remem.read``, changes in ``remem.lifecycle``, files in
``remem.portability``. A verb's docstring is here or, with ``@_doc``, on that function.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, overload

from remem import episodes, lifecycle, messages, portability, read, standing, write
from remem.config import Settings
from remem.embed.base import Embedder, identity
from remem.parts import Parts, make_embedder, make_llm, open_store
from remem.parts import documented_by as _doc
from remem.parts import given as _given
from remem.store.base import Store
from remem.types import HistoryEntry, Hit, Link, Page, Record

if TYPE_CHECKING:
    from remem.answer import Answer
    from remem.llm.base import LLMClient
    from remem.llm.enrich import Enricher

MAX_LIMIT = read.MAX_LIMIT


class Memory:
    """Long-term memory for agents, on an embedded SQLite file by default.

    Args:
        path: the SQLite file (created if missing); default ``default_path()``; ``":memory:"`` for
            a throwaway store.
        store: a backend name ("sqlite", "postgres") or a ready ``Store``.
        embedder: an embedder name ("minilm", "hashing") or a ready ``Embedder``.
        **settings: any ``Settings`` field (``embedder="hashing"``, ``max_content_bytes=...``).

    Raises:
        ConfigError: an unknown setting or backend.
        EmbedderMismatch: the store was written by another embedder (``remem reindex``).
        StoreError: the store cannot be opened.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        store: Store | str | None = None,
        embedder: Embedder | str | None = None,
        **settings: Any,
    ) -> None:
        # A name goes to Settings; an object is used as it is.
        if isinstance(store, str):
            settings["store"], store = store, None
        if isinstance(embedder, str):
            settings["embedder"], embedder = embedder, None
        self.settings = Settings.from_env(**settings)
        self.embedder = embedder or make_embedder(self.settings)
        self.store = store or open_store(self.settings, path)
        bind = getattr(self.store, "bind_embedder", None)
        if bind is not None:  # the store records its embedder and refuses another one
            try:
                bind(identity(self.embedder))
            except BaseException:
                if store is None:
                    self.store.close()
                raise
        self._query_vector = read.QueryVectors(lambda texts: self._parts.embed(texts))
        self._enricher_lock = threading.Lock()

    @property
    def _parts(self) -> Parts:
        return Parts(self.settings, self.store, self.embedder)

    def close(self) -> None:
        """Finish background enrichment (30 s at most), then close the store. Not usable after."""
        for part in (getattr(self, "_enricher", None), getattr(self, "_llm_client", None)):
            if part is not None and hasattr(part, "close"):
                part.close()
        self.store.close()

    @property
    def enricher(self) -> Enricher | None:
        """The background LLM enricher (made on first use), or None without an LLM."""
        with self._enricher_lock:
            if not hasattr(self, "_enricher"):
                from remem.llm.enrich import enricher_for

                self._enricher: Enricher | None = enricher_for(self)
        return self._enricher

    @property
    def llm(self) -> LLMClient | None:
        """The configured LLM client (made on first use), or None when none is configured."""
        if not hasattr(self, "_llm_client"):
            self._llm_client: LLMClient | None = make_llm(self.settings)
        return self._llm_client

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @overload
    def add(self, content: str, **kw: Unpack[messages.AddArgs]) -> Record: ...
    @overload
    def add(
        self, content: Sequence[Mapping[str, Any]], **kw: Unpack[messages.AddArgs]
    ) -> builtins.list[Record]: ...

    def add(
        self,
        content: str | Sequence[Mapping[str, Any]],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        run_id: str | None = None,
        speaker: str | None = None,
        occurred_at: Any = None,
        metadata: Mapping[str, Any] | None = None,
        kind: str = "episodic",
        ttl: int | None = None,
        origin: str = "user",
    ) -> Record | builtins.list[Record]:
        """Store one memory.

        Args:
            content: the text to remember (non-empty, at most ``max_content_bytes`` of UTF-8);
                or, Mem0-style, a list of chat messages ``{"role", "content", "name"?}``: one
                memory per message, all or nothing (see ``remem.messages``).
            user_id: the scope's owner; without one, the agent's (or run's) own scope.
            agent_id: optional agent within the scope.
            session_id: optional session (conversation) the memory belongs to.
            run_id: Mem0's name for the session.
            speaker: who said or did it.
            occurred_at: when it happened (datetime or ISO 8601); default now.
            metadata: a JSON object kept with the memory.
            kind: "episodic", "semantic", "procedural" or "core".
            ttl: seconds until the memory expires and is forgotten (default: the
                ``default_ttl`` setting, or never).
            origin: where it came from: "user", "agent", "tool", "import" or "derived"; sets
                its starting trust.

        Returns:
            The stored Record (a list of them for a list of messages).

        Raises:
            InvalidInput: bad input; nothing is stored.
        """
        fields = messages.scoped(_given(locals()))
        if isinstance(content, list | tuple):  # Mem0-style chat messages
            return self.add_many(messages.items(content, fields))
        clean = write.validate(fields, self.settings)
        return write.run([clean], self._parts, enricher=lambda: self.enricher)[0]

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        """Store many memories in one transaction with batched embedding: all or nothing.

        Args:
            items: mappings with the keyword arguments of ``add``.

        Returns:
            The stored Records, in input order.

        Raises:
            InvalidInput: any item is bad (the message names its index); nothing is stored.
        """
        clean = write.validate_many(items, self.settings)
        return write.run(clean, self._parts, enricher=lambda: self.enricher)

    def update(
        self,
        id: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> Record:
        """Change a memory's content and/or metadata, making a new version (the old one is in history).

        Args:
            id: the memory to change.
            content: the new content, if it changes.
            metadata: the new metadata (replaces the old), if it changes.
            user_id: if given, the memory must belong to this user.
            reason: why, recorded in history.

        Returns:
            The new version.

        Raises:
            NotFound: no such memory (in this user's scope).
            InvalidInput: bad content or metadata, or nothing to change.
            Conflict: another writer changed it first.
        """
        return lifecycle.update(self._parts, **_given(locals()))

    def delete(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> None:
        """Delete a memory from every index; its history keeps a copy of the last version.

        Raises:
            NotFound: no such memory (in this user's scope).
        """
        lifecycle.delete(self._parts, id, user_id=user_id, reason=reason)

    def purge(self, *, user_id: str) -> int:
        """Hard-delete everything of one user, history included (right to be forgotten).

        Returns:
            How many memories were removed.
        """
        return lifecycle.purge(self._parts, user_id=user_id)

    @_doc(lifecycle.forget)
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
        return lifecycle.forget(self._parts, **_given(locals()))

    @_doc(lifecycle.forget_expired)
    def forget_expired(self, *, user_id: str) -> int:
        return lifecycle.forget_expired(self._parts, user_id=user_id)

    @_doc(lifecycle.quarantine)
    def quarantine(
        self, id: str, *, user_id: str | None = None, reason: str | None = None
    ) -> Record:
        return lifecycle.quarantine(self._parts, id, user_id=user_id, reason=reason)

    @_doc(lifecycle.restore)
    def restore(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> Record:
        return lifecycle.restore(self._parts, id, user_id=user_id, reason=reason)

    def get(self, id: str, *, user_id: str | None = None) -> Record:
        """Return one memory.

        Args:
            id: its id.
            user_id: if given, a memory of another user is reported as not found.

        Raises:
            NotFound: no such memory (in this user's scope).
        """
        return read.get(self.store, id, user_id=user_id)

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
        """List one scope's memories in id (creation) order, a page at a time.

        Returns:
            A Page: iterate it for the records; pass ``next_cursor`` back for the next page.
        """
        where = read.scope(user_id, agent_id, session_id, filters)
        return read.page(self.store, where, limit=limit, cursor=cursor)

    def history(self, id: str, *, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        """Every version of a memory, oldest first: when, what (op), who, why, before and after.

        Args:
            id: the memory (it may have been deleted since).
            user_id: if given, another user's memory is reported as not found.

        Raises:
            NotFound: the id never existed, belongs to another user, or its user was purged.
        """
        return read.history(self.store, id, user_id=user_id)

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        as_of: Any = None,
        level: str = "record",
    ) -> builtins.list[Hit]:
        """Find the memories of one scope that bear on ``query``, best first.

        Args:
            query: what to look for, in natural language.
            user_id: the scope; nothing of another user is ever returned (without one: the
                agent's or run's own scope, as ``add`` made it).
            agent_id: narrow to one agent.
            session_id: narrow to one session (``run_id``: Mem0's name for it).
            limit: how many hits (1 to 1000).
            filters: field conditions, see ``remem.filters``.
            as_of: a past moment (datetime or ISO 8601): see what was known and valid then,
                superseded facts included.
            level: "record" (what was stored), "session" (the derived session units) or "fact"
                (the derived one-sentence fact units).

        Returns:
            Hits with the record, a score (higher is better) and ``explain``: the rank in each
            retriever that found it and what each other component added.

        Raises:
            InvalidInput: an empty query, a bad scope, filter, time or level.
        """
        where = messages.scoped(_given(locals()))
        return read.search(self._parts, **where, query_vector=self._query_vector)

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
    ) -> builtins.list[Record]:
        """Every memory of a scope (a user's, an agent's or a run's), oldest first, up to
        ``limit``: Mem0's listing. ``list`` pages through the same records."""
        where = messages.scoped(_given(locals()))
        page = self.list(**{k: v for k, v in where.items() if k != "limit"}, limit=limit)
        return page.records

    @_doc(read.links)
    def links(self, id: str, *, user_id: str | None = None) -> builtins.list[Link]:
        return read.links(self.store, id, user_id=user_id)

    @_doc(read.timeline)
    def timeline(
        self,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        start: Any = None,
        end: Any = None,
        limit: int = 100,
    ) -> builtins.list[Record]:
        return read.timeline(self.store, **_given(locals()))

    @_doc(read.first_of)
    def first_of(self, event_a: str, event_b: str, *, user_id: str) -> tuple[Hit, Hit]:
        return read.first_of(lambda q: self.search(q, user_id=user_id, limit=2), event_a, event_b)

    def answer(
        self,
        question: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Answer a question from one user's memories, citing them, or abstain.

        With an LLM configured (``llm_base_url`` and ``llm_model``), the model answers from the
        retrieved memories and cites them; if it fails, or with none configured, the best hit is
        returned when it covers the question, else the answer abstains (see ``remem.answer``).

        Returns:
            An Answer: ``text``, ``citations`` (record ids), ``abstained``, ``usage`` (tokens).

        Raises:
            InvalidInput: an empty question or a bad scope.
        """
        given = _given(locals())
        from remem.answer import answer

        return answer(self, llm=self.llm, **given)

    def profile(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> standing.Profile:
        """The scope's standing memory: its instructions and preferences (``kind="core"``), the
        latest per subject, for a prompt's system part (``profile(...).as_prompt()``).

        Args:
            user_id: the scope (without one: the agent's own scope).
            agent_id: one agent: its standing memory and the user's for every agent.

        Returns:
            A Profile: its items (id, content, type, subjects, since, replaces), oldest first.

        Raises:
            InvalidInput: a bad scope.
        """
        where = messages.scoped({"user_id": user_id, "agent_id": agent_id})
        return standing.profile(self.store, read.scope(where["user_id"], agent_id, None, None))

    @_doc(portability.export)
    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        return portability.export(self._parts, path, user_id=user_id)

    @_doc(portability.import_)
    def import_(self, path: str | Path, *, max_origin: str | None = None) -> int:
        return portability.import_(self._parts, path, max_origin=max_origin)

    @_doc(portability.backup)
    def backup(self, path: str | Path) -> None:
        portability.backup(self._parts, path)

    # Learning from experience: functions of a Memory, documented in remem.episodes.
    add_episode, cases, lessons = episodes.add_episode, episodes.cases, episodes.lessons
