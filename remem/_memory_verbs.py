"""Memory verbs beyond add/search/get: links, time, forgetting, quarantine, export and backup.

A mixin so ``memory.py`` stays one readable module; ``Memory`` is still the one public class.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remem import _io, _time, _validate
from remem.errors import ConfigError, InvalidInput, NotFound
from remem.guard import policy, trust
from remem.organize import writer
from remem.retrieve import timeline
from remem.types import ORIGINS, Hit, Link, Record, Vector

if TYPE_CHECKING:
    from datetime import datetime

    from remem.answer import Answer
    from remem.config import Settings
    from remem.llm.base import LLMClient
    from remem.store.base import Scope, Store

MAX_LIMIT = 1000


class OrganizeVerbs:
    """Verbs over the organized memory; mixed into ``Memory``."""

    store: Store
    settings: Settings

    def get(self, id: str, *, user_id: str | None = None) -> Record:  # pragma: no cover
        raise NotImplementedError

    def search(
        self, query: str, *, user_id: str, limit: int = 10
    ) -> builtins.list[Hit]:  # pragma: no cover
        raise NotImplementedError

    def _scope(
        self, user_id: Any, agent_id: Any, session_id: Any, filters: Mapping[str, Any] | None
    ) -> Scope:  # pragma: no cover
        raise NotImplementedError

    def _all(self, scope: Scope) -> builtins.list[Record]:  # pragma: no cover
        raise NotImplementedError

    def _embed(self, texts: builtins.list[str]) -> Vector:  # pragma: no cover
        raise NotImplementedError

    def _embed_records(
        self, records: builtins.list[Record]
    ) -> tuple[Vector, builtins.list[builtins.list[tuple[str, Vector]]]]:  # pragma: no cover
        raise NotImplementedError

    def _learn(self, caught: builtins.list[Record], at: datetime) -> None:  # pragma: no cover
        raise NotImplementedError

    def _refresh(
        self,
        *records: Record,
        pieces: Mapping[str, builtins.list[tuple[str, Vector]]] | None = None,
    ) -> None:  # pragma: no cover
        raise NotImplementedError

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
        """Forget one memory by id, or every memory of a scope that matches ``filters``.

        Unlike ``purge``, forgetting leaves a "forget" entry in each record's history.

        Args:
            id: one memory; or leave it out and give ``user_id`` (and optionally agent, session,
                filters) to forget all that match.
            user_id: the scope (required without ``id``; checked against the record with it).
            agent_id: narrow the scope to one agent.
            session_id: narrow the scope to one session.
            filters: field conditions, see ``remem.filters``.
            reason: why, recorded in history.

        Returns:
            How many memories were forgotten.

        Raises:
            NotFound: ``id`` is not a memory (of this user).
            InvalidInput: neither an id nor a user scope.
        """
        if id is not None:
            targets = [self.get(id, user_id=user_id)]
        else:
            scope = self._scope(user_id, agent_id, session_id, filters)
            targets = self._all(scope)
        count = self.store.remove(
            [r.id for r in targets], op="forget", actor="user", reason=_validate.reason(reason)
        )
        self._refresh(*targets)
        return count

    def forget_expired(self, *, user_id: str) -> int:
        """Remove the memories of a user whose TTL has passed (each leaves an "expire" entry).

        Expired memories are invisible to reads from the moment they expire; this removes them.

        Returns:
            How many were removed.
        """
        scope = self._scope(user_id, None, None, None)
        now = _time.now()
        expired = [
            r
            for r in self.store.export(scope.user_id)
            if isinstance(r, Record) and r.expires_at is not None and r.expires_at <= now
        ]
        count = self.store.remove([r.id for r in expired], op="expire", actor="remem", reason="ttl")
        self._refresh(*expired)
        return count

    def links(self, id: str, *, user_id: str | None = None) -> builtins.list[Link]:
        """The links of one memory (similar, shared entity, next turn, supersedes, ...).

        Raises:
            NotFound: no such memory (in this user's scope).
        """
        self.get(id, user_id=user_id)
        return self.store.links([id])

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
        """One scope's memories in event order (``occurred_at``), optionally within [start, end).

        Raises:
            InvalidInput: a bad scope, time or limit.
        """
        _validate.positive(limit, field="limit", maximum=MAX_LIMIT * 10)
        scope = self._scope(user_id, agent_id, session_id, None)
        return timeline.between(
            self._all(scope),
            start=_time.parse(start, field="start"),
            end=_time.parse(end, field="end"),
        )[:limit]

    def first_of(self, event_a: str, event_b: str, *, user_id: str) -> tuple[Hit, Hit]:
        """Which of two described events happened first (sequence-order recall).

        Each description is matched to its best memory; the two are ordered by when they
        happened (the dates a memory mentions, else ``occurred_at``).

        Returns:
            (earlier, later) hits; the two are always different memories.

        Raises:
            NotFound: a description matches no memory (other than the first one's).
        """
        hits: builtins.list[Hit] = []
        for text in (event_a, event_b):
            found = [
                h
                for h in self.search(text, user_id=user_id, limit=2)
                if not hits or h.record.id != hits[0].record.id
            ]
            if not found:
                raise NotFound(f"no memory matches {text!r} (apart from the other event)")
            hits.append(found[0])
        a, b = hits
        return (a, b) if timeline.when(a.record) <= timeline.when(b.record) else (b, a)

    def quarantine(
        self, id: str, *, user_id: str | None = None, reason: str | None = None
    ) -> Record:
        """Hide a memory from every search and listing, keeping it (and its history).

        Raises:
            NotFound: no such memory (in this user's scope).
        """
        return self._move(id, policy.QUARANTINE, "quarantine", user_id=user_id, reason=reason)

    def restore(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> Record:
        """Bring a quarantined memory back.

        Raises:
            NotFound: no such memory (in this user's scope).
            InvalidInput: the memory is not in quarantine.
        """
        return self._move(id, "record", "restore", user_id=user_id, reason=reason)

    def _move(
        self, id: str, level: str, op: str, *, user_id: str | None, reason: str | None
    ) -> Record:
        reason = _validate.reason(reason)
        old = self.get(id, user_id=user_id)
        if old.level not in ("record", policy.QUARANTINE):
            raise NotFound(f"memory {id} not found")
        if old.level == level:
            raise InvalidInput(
                f"memory {id} is already {'in quarantine' if level != 'record' else 'active'}"
            )
        at = _time.now()
        new = writer.new_version(
            self.store,
            old,
            replace(old, level=level),
            None,
            op=op,
            at=at,
            reason=reason,
            actor="user",
        )
        self._refresh(new)
        return new

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write every memory, history entry and link (of one user, or all) to a JSONL file.

        Derived units are left out: ``import_`` rebuilds them.

        Returns:
            The number of memories written.
        """
        _validate.ident(user_id, field="user_id")
        return _io.write_export(self.store, path, user_id=user_id)

    def import_(self, path: str | Path, *, max_origin: str | None = None) -> int:
        """Load a file written by ``export``: ids, versions, timestamps, history and links kept.

        Every record passes the guard like an add: its content, speaker and metadata are
        scanned, its trust is at most what its origin and flags give (a file cannot raise it)
        and it is quarantined when a flag says so; a file can add flags, never remove one. Ids
        that remem derives (session units, lessons, ``<id>#n``) are refused. All or nothing for
        the memories and their history; session and fact units are rebuilt after.

        Args:
            path: the JSONL file.
            max_origin: the most trusted origin the importer may claim (a REST key's, say):
                records of a higher origin come in as this one. None: as the file says.

        Returns:
            The number of memories imported.

        Raises:
            InvalidInput: a malformed line (its number is in the message); nothing is imported.
            Conflict: a memory with one of the ids already exists; nothing is imported.
        """
        if max_origin is not None:
            _validate.choice(max_origin, field="max_origin", options=ORIGINS)
        records, history, links = _io.read_export(path, self.settings)
        records = self._screen_imported(records, max_origin)
        vectors, pieces = self._embed_records(records)
        self.store.insert(records, vectors, history)
        self._learn([r for r in records if r.level == policy.QUARANTINE], _time.now())
        owner = {r.id: r.user_id for r in records}
        by_user: dict[str, builtins.list[Link]] = {}
        for link in links:
            if owner.get(link.a) is not None and owner.get(link.a) == owner.get(link.b):
                by_user.setdefault(owner[link.a], []).append(link)
        for uid, user_links in by_user.items():
            self.store.add_links(uid, user_links)
        self._refresh(*records, pieces={r.id: p for r, p in zip(records, pieces, strict=True)})
        return len(records)

    def _screen_imported(
        self, records: builtins.list[Record], max_origin: str | None
    ) -> builtins.list[Record]:
        order = self.settings.trust_order
        capped = [replace(r, origin=trust.cap(r.origin, max_origin, order)) for r in records]
        if not self.settings.guard:
            return capped
        known = {uid: policy.lessons(self.store, uid) for uid in {r.user_id for r in capped}}
        return [policy.screen(r, known[r.user_id], keep=r.flags, max_trust=r.trust) for r in capped]

    def backup(self, path: str | Path) -> None:
        """Copy the whole store to a new SQLite file while it stays in use (online backup).

        Restore by opening the copy (``Memory(path)``) or copying it into place. PostgreSQL stores
        are backed up with ``pg_dump`` (see docs/backends.md).

        Raises:
            ConfigError: the store cannot make backups (not SQLite).
            Conflict: ``path`` already exists.
        """
        if "backup" not in self.store.capabilities:
            raise ConfigError("this store has no online backup; use pg_dump for PostgreSQL")
        self.store.backup(path)  # type: ignore[attr-defined]

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
        from remem.answer import answer

        return answer(
            self,  # type: ignore[arg-type]
            question,
            user_id=user_id,
            llm=self.llm,
            limit=limit,
            agent_id=agent_id,
            session_id=session_id,
            filters=filters,
        )

    @property
    def llm(self) -> LLMClient | None:
        """The configured LLM client (made on first use), or None when none is configured."""
        if not hasattr(self, "_llm_client"):
            from remem.llm import make_client

            s = self.settings
            overrides = {
                k: v
                for k, v in (
                    ("base_url", s.llm_base_url),
                    ("model", s.llm_model),
                    ("api_key", s.llm_api_key),
                )
                if v is not None
            }
            self._llm_client: LLMClient | None = make_client(None, **overrides)
        return self._llm_client
