"""``TenantMemory``: one tenant's view of a shared ``Memory``.

Every ``user_id`` is qualified as ``f"{tenant}/{user_id}"`` before it reaches ``Memory`` and
unqualified in everything that comes back (records, hits, history snapshots, export lines). A tenant
name never contains "/", so the prefix is unambiguous. A record of another tenant is reported as
``NotFound``, exactly like a missing one: a tenant cannot learn that an id exists elsewhere.
"""

from __future__ import annotations

import builtins
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from remem import _validate
from remem.answer import Answer
from remem.errors import Conflict, InvalidInput, NotFound
from remem.keys import check_tenant
from remem.memory import Memory
from remem.types import HistoryEntry, Hit, Link, Page, Record

# What export writes and import accepts: stored memories, quarantined or not; never derived units.
_PORTABLE_LEVELS = ("record", "quarantine")


class TenantMemory:
    """The verbs of ``Memory``, confined to one tenant's scopes.

    Args:
        memory: the shared Memory (not closed by this wrapper).
        tenant: the tenant name (letters, digits, "_", "." or "-").

    Raises:
        InvalidInput: a bad tenant name.
    """

    def __init__(self, memory: Memory, tenant: str) -> None:
        self.memory = memory
        self.tenant = check_tenant(tenant)
        self._prefix = tenant + "/"
        if "partitions" in memory.store.capabilities:
            # The tenant's full-text rows in a table of their own: its BM25 statistics are its
            # alone, so no other tenant's writes reorder its results (see SQLiteStore.partition).
            memory.store.partition(self._prefix)  # type: ignore[attr-defined]

    # -- qualification ----------------------------------------------------------------------

    def qualify(self, user_id: Any) -> str:
        """``user_id`` inside this tenant, validated first so "" cannot become "tenant/".

        Raises:
            InvalidInput: a missing or malformed user_id.
        """
        uid = _validate.ident(
            user_id, field="user_id", required=True, max_chars=_validate.MAX_ID_CHARS
        )
        return self._prefix + str(uid)

    def owns(self, user_id: str | None) -> bool:
        """True when a stored (qualified) user_id belongs to this tenant."""
        return isinstance(user_id, str) and user_id.startswith(self._prefix)

    def _strip(self, user_id: str) -> str:
        return user_id[len(self._prefix) :] if user_id.startswith(self._prefix) else user_id

    def _record(self, record: Record) -> Record:
        return replace(record, user_id=self._strip(record.user_id))

    def _hit(self, hit: Hit) -> Hit:
        return replace(hit, record=self._record(hit.record))

    def _owner(self, id: str, user_id: str | None) -> str:
        """The qualified owner to pass to Memory: ``user_id``'s, or the record's if in this tenant."""
        return self.qualify(user_id) if user_id is not None else self._owned(id).user_id

    def _snapshot(self, snap: dict[str, Any] | None) -> dict[str, Any] | None:
        if snap is None or not isinstance(snap.get("user_id"), str):
            return snap
        return {**snap, "user_id": self._strip(snap["user_id"])}

    def _entry(self, entry: HistoryEntry) -> HistoryEntry:
        return replace(
            entry, before=self._snapshot(entry.before), after=self._snapshot(entry.after)
        )

    def _owned(self, id: str) -> Record:
        record = self.memory.get(id)
        if not self.owns(record.user_id):
            raise NotFound(f"memory {id} not found")
        return record

    def _item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise InvalidInput(f"each item must be a mapping, got {type(item).__name__}")
        return {**item, "user_id": self.qualify(item.get("user_id"))}

    # -- writes -----------------------------------------------------------------------------

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
        """``Memory.add`` in this tenant. See there for the arguments and errors."""
        record = self.memory.add(
            content,
            user_id=self.qualify(user_id),
            agent_id=agent_id,
            session_id=session_id,
            speaker=speaker,
            occurred_at=occurred_at,
            metadata=metadata,
            kind=kind,
            ttl=ttl,
            origin=origin,
        )
        return self._record(record)

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        """``Memory.add_many`` in this tenant (all or nothing)."""
        if isinstance(items, Mapping | str | bytes):
            raise InvalidInput("add_many takes an iterable of mappings, not a single value")
        qualified = []
        for i, item in enumerate(items):
            try:
                qualified.append(self._item(item))
            except InvalidInput as exc:
                raise type(exc)(f"item {i}: {exc}") from exc
        return [self._record(r) for r in self.memory.add_many(qualified)]

    def update(
        self,
        id: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> Record:
        """``Memory.update`` of a record of this tenant.

        Raises:
            NotFound: no such memory in this tenant (or in ``user_id``'s scope).
        """
        if content is None and metadata is None:
            # Same order as Memory.update: a request with nothing to change is bad input first.
            raise InvalidInput("update needs content or metadata")
        owner = self._owner(id, user_id)
        new = self.memory.update(
            id, content=content, metadata=metadata, user_id=owner, reason=reason
        )
        return self._record(new)

    def delete(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> None:
        """``Memory.delete`` of a record of this tenant.

        Raises:
            NotFound: no such memory in this tenant (or in ``user_id``'s scope).
        """
        self.memory.delete(id, user_id=self._owner(id, user_id), reason=reason)

    def purge(self, *, user_id: str) -> int:
        """``Memory.purge`` of one user of this tenant."""
        return self.memory.purge(user_id=self.qualify(user_id))

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
        """``Memory.forget`` of one record of this tenant, or of one user's matching records.

        Raises:
            NotFound: ``id`` is not a memory of this tenant (or of ``user_id``).
            InvalidInput: neither an id nor a user scope.
        """
        if id is not None:
            return self.memory.forget(id, user_id=self._owner(id, user_id), reason=reason)
        return self.memory.forget(
            user_id=self.qualify(user_id),
            agent_id=agent_id,
            session_id=session_id,
            filters=filters,
            reason=reason,
        )

    def forget_expired(self, *, user_id: str) -> int:
        """``Memory.forget_expired`` of one user of this tenant."""
        return self.memory.forget_expired(user_id=self.qualify(user_id))

    def quarantine(
        self, id: str, *, user_id: str | None = None, reason: str | None = None
    ) -> Record:
        """``Memory.quarantine`` of a record of this tenant.

        Raises:
            NotFound: no such memory in this tenant (or in ``user_id``'s scope).
        """
        owner = self._owner(id, user_id)
        return self._record(self.memory.quarantine(id, user_id=owner, reason=reason))

    def restore(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> Record:
        """``Memory.restore`` of a quarantined record of this tenant.

        Raises:
            NotFound: no such memory in this tenant (or in ``user_id``'s scope).
            InvalidInput: the memory is not in quarantine.
        """
        owner = self._owner(id, user_id)
        return self._record(self.memory.restore(id, user_id=owner, reason=reason))

    # -- reads ------------------------------------------------------------------------------

    def get(self, id: str, *, user_id: str | None = None) -> Record:
        """``Memory.get`` of a record of this tenant.

        Raises:
            NotFound: no such memory in this tenant (or in ``user_id``'s scope).
        """
        if user_id is not None:
            return self._record(self.memory.get(id, user_id=self.qualify(user_id)))
        return self._record(self._owned(id))

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
        """``Memory.list`` of one user of this tenant."""
        page = self.memory.list(
            user_id=self.qualify(user_id),
            agent_id=agent_id,
            session_id=session_id,
            filters=filters,
            limit=limit,
            cursor=cursor,
        )
        return Page([self._record(r) for r in page.records], page.next_cursor)

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
        """``Memory.search`` in one user's scope of this tenant."""
        hits = self.memory.search(
            query,
            user_id=self.qualify(user_id),
            agent_id=agent_id,
            session_id=session_id,
            limit=limit,
            filters=filters,
            as_of=as_of,
            level=level,
        )
        return [self._hit(h) for h in hits]

    def history(self, id: str, *, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        """``Memory.history`` of a record of this tenant (kept after delete).

        Raises:
            NotFound: the id never existed in this tenant (or belongs to another user).
        """
        entries = self.memory.history(
            id, user_id=None if user_id is None else self.qualify(user_id)
        )
        # The owner is in the snapshots (after delete too): check it is one of this tenant's users.
        owners = {
            snap.get("user_id") for e in entries for snap in (e.before, e.after) if snap is not None
        }
        if not owners or not all(self.owns(o) for o in owners):
            raise NotFound(f"no history for memory {id}")
        return [self._entry(e) for e in entries]

    def links(self, id: str, *, user_id: str | None = None) -> builtins.list[Link]:
        """``Memory.links`` of a record of this tenant (links never cross users).

        Raises:
            NotFound: no such memory in this tenant (or in ``user_id``'s scope).
        """
        return self.memory.links(id, user_id=self._owner(id, user_id))

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
        """``Memory.timeline`` of one user of this tenant."""
        records = self.memory.timeline(
            user_id=self.qualify(user_id),
            agent_id=agent_id,
            session_id=session_id,
            start=start,
            end=end,
            limit=limit,
        )
        return [self._record(r) for r in records]

    def first_of(self, event_a: str, event_b: str, *, user_id: str) -> tuple[Hit, Hit]:
        """``Memory.first_of`` in one user's scope of this tenant: (earlier, later).

        Raises:
            NotFound: a description matches no memory of this user.
        """
        earlier, later = self.memory.first_of(event_a, event_b, user_id=self.qualify(user_id))
        return self._hit(earlier), self._hit(later)

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
        """``Memory.answer`` from one user's memories of this tenant (citations are record ids)."""
        return self.memory.answer(
            question,
            user_id=self.qualify(user_id),
            agent_id=agent_id,
            session_id=session_id,
            limit=limit,
            filters=filters,
        )

    # -- export / import --------------------------------------------------------------------

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write this tenant's memories and history (of one user, or all) to a JSONL file.

        Returns:
            The number of memories written.
        """
        if user_id is not None:
            items = self.memory.store.export(self.qualify(user_id))
        else:
            # A tenant is a user-id prefix: the store reads only this tenant's rows.
            items = self.memory.store.export(None, prefix=self._prefix)
        count = 0
        ids: builtins.list[str] = []
        with open(path, "w", encoding="utf-8") as out:
            for item in items:
                if isinstance(item, Record):
                    # Derived units (sessions, lessons) are rebuilt, not exported; a quarantined
                    # memory is the user's data and goes along, still quarantined.
                    if not self.owns(item.user_id) or item.level not in _PORTABLE_LEVELS:
                        continue
                    line = {"type": "record", **self._record(item).to_dict()}
                    ids.append(item.id)
                    count += 1
                else:
                    owner = (item.after or item.before or {}).get("user_id")
                    if not self.owns(owner):
                        continue
                    line = {"type": "history", **self._entry(item).to_dict()}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            kept = set(ids)
            for link in self.memory.store.links(ids) if ids else []:
                if link.a in kept and link.b in kept:
                    out.write(json.dumps({"type": "link", **link.to_dict()}) + "\n")
        return count

    def import_(self, path: str | Path, *, max_origin: str | None = None) -> int:
        """Load an export file into this tenant: every user_id is qualified. All or nothing.
        ``max_origin`` and the guard as in ``Memory.import_``.

        Returns:
            The number of memories imported.

        Raises:
            InvalidInput: a malformed line; nothing is imported.
            Conflict: an id is already taken (in any tenant); nothing is imported.
        """
        lines = self._qualified_lines(path)
        fd, tmp = tempfile.mkstemp(suffix=".jsonl", prefix="remem-import-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                # ASCII escapes: a lone surrogate reaches import_'s validation instead of
                # failing to encode here.
                out.writelines(json.dumps(obj) + "\n" for obj in lines)
            return self.memory.import_(tmp, max_origin=max_origin)
        finally:
            os.unlink(tmp)

    def _qualified_lines(self, path: str | Path) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        record_ids: set[str] = set()
        orphans: set[str] = set()
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc}") from exc
        for lineno, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, too deep
                raise InvalidInput(f"line {lineno}: {exc}") from exc
            if not isinstance(obj, dict):
                raise InvalidInput(f"line {lineno}: expected a JSON object")
            try:
                if obj.get("type") == "record":
                    obj["user_id"] = self.qualify(obj.get("user_id"))
                    # A forged derived unit (a guard lesson, say) must not come in as data.
                    if obj.get("level", "record") not in _PORTABLE_LEVELS:
                        raise InvalidInput(f"level: expected one of {_PORTABLE_LEVELS}")
                    record_ids.add(str(obj.get("id")))
                elif obj.get("type") == "history":
                    for name in ("before", "after"):
                        snap = obj.get(name)
                        if isinstance(snap, dict) and "user_id" in snap:
                            snap["user_id"] = self.qualify(snap["user_id"])
                    orphans.add(str(obj.get("memory_id")))
            except InvalidInput as exc:
                raise InvalidInput(f"line {lineno}: {exc}") from exc
            out.append(obj)
        # History of a deleted record comes without its record line; it must not attach itself
        # to an id that has history already (possibly another tenant's).
        for memory_id in sorted(orphans - record_ids):
            if self.memory.store.history(memory_id):
                raise Conflict(f"memory {memory_id} already has history; nothing was imported")
        return out
