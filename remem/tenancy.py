"""``TenantMemory``: one tenant's view of a shared ``Memory``, its verbs made from the verb table.

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
from typing import TYPE_CHECKING, Any

from remem import _io, _validate, messages, verbs
from remem.errors import Conflict, InvalidInput, NotFound
from remem.keys import check_tenant
from remem.memory import Memory
from remem.types import HistoryEntry, Hit, Page, Record

if TYPE_CHECKING:  # the generated verbs have Memory's signatures and types
    _Verbs = Memory
else:
    _Verbs = object


class TenantMemory(_Verbs):
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

    # -- the verbs ---------------------------------------------------------------------------
    # Every verb but these (and export/import below) is generated from the verb table.

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

    def _scoped(self, verb: verbs.Verb, call: dict[str, Any]) -> dict[str, Any]:
        """``call`` with its user_id qualified (a scope) or resolved to the owner of its id
        (checked to be this tenant's): the one place a tenant's scope is applied."""
        if verb.name == "update" and call.get("content") is None and call.get("metadata") is None:
            # Same order as Memory.update: a request with nothing to change is bad input first.
            raise InvalidInput("update needs content or metadata")
        by_id = verb.addressing == "id" or (verb.addressing == "either" and call.get("id"))
        if by_id:
            call["user_id"] = self._owner(call["id"], call.get("user_id"))
            if verb.addressing == "either":  # forget of one id: the scope arguments do not apply
                call = {k: call[k] for k in ("id", "user_id", "reason")}
        elif verb.addressing in ("scope", "either"):
            uid = call.get("user_id")
            if uid is None and ("agent_id" in call or "run_id" in call):
                uid = messages.owner(None, call.get("agent_id"), call.get("run_id"))
            call["user_id"] = self.qualify(uid)
        return call

    def _unscoped(self, kind: str, result: Any) -> Any:
        """``result`` with every user_id in it unqualified."""
        if kind == "record":
            return self._record(result)
        if kind in ("hits", "pair"):
            hits = [self._hit(h) for h in result]
            return hits if kind == "hits" else tuple(hits)
        if kind == "records":
            return [self._record(r) for r in result]
        if kind == "page":
            return Page([self._record(r) for r in result.records], result.next_cursor)
        return result

    # -- export / import --------------------------------------------------------------------

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write this tenant's memories and history (of one user, or all) to a JSONL file: only
        this tenant's rows are read, and written with its users' own ids.

        Returns:
            The number of memories written.
        """
        owner = None if user_id is None else self.qualify(user_id)
        return _io.write_export(self.memory.store, path, user_id=owner, prefix=self._prefix)

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
                # Blank lines stay, so an error names the line of the caller's file.
                out.writelines("\n" if obj is None else json.dumps(obj) + "\n" for obj in lines)
            return self.memory.import_(tmp, max_origin=max_origin)
        except InvalidInput as exc:  # name the caller's file, not the temporary one
            raise type(exc)(str(exc).replace(tmp, str(path))) from exc
        finally:
            os.unlink(tmp)

    def _qualified_lines(self, path: str | Path) -> builtins.list[dict[str, Any] | None]:
        out: builtins.list[dict[str, Any] | None] = []
        record_ids: set[str] = set()
        orphans: set[str] = set()
        for lineno, obj in _io.json_lines(path):
            out.append(obj)
            if obj is None:
                continue
            try:
                if obj.get("type") == "record":
                    obj["user_id"] = self.qualify(obj.get("user_id"))
                    record_ids.add(str(obj.get("id")))
                elif obj.get("type") == "history":
                    for name in ("before", "after"):
                        snap = obj.get(name)
                        if isinstance(snap, dict) and "user_id" in snap:
                            snap["user_id"] = self.qualify(snap["user_id"])
                    orphans.add(str(obj.get("memory_id")))
            except InvalidInput as exc:
                raise InvalidInput(f"{path}:{lineno}: {exc}") from exc
        # History of a deleted record comes without its record line; it must not attach itself
        # to an id that has history already (possibly another tenant's).
        for memory_id in sorted(orphans - record_ids):
            if self.memory.store.history(memory_id):
                raise Conflict(f"memory {memory_id} already has history; nothing was imported")
        return out


def _run(tenant: TenantMemory, verb: verbs.Verb, call: dict[str, Any]) -> Any:
    scoped = tenant._scoped(verb, call)
    return tenant._unscoped(verb.result, verbs.call(verb, tenant.memory, scoped))


verbs.attach(TenantMemory, "tenant", _run)
