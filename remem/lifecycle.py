"""The verbs that change or remove what is stored (``Memory.update``, ``delete``, ``purge``,
``forget``, ``forget_expired``, ``quarantine``, ``restore``) as functions over a memory's
``Parts``; ``Memory`` keeps their docstrings. Each rebuilds what is derived from what it changed
(``remem.derive.refresh``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from remem import _time, _validate, derive, read, standing
from remem.errors import InvalidInput, NotFound
from remem.guard import policy, trust
from remem.organize import notes, writer
from remem.parts import Parts
from remem.types import HistoryEntry, Record


def update(
    parts: Parts,
    id: str,
    *,
    content: str | None,
    metadata: Mapping[str, Any] | None,
    user_id: str | None,
    reason: str | None,
) -> Record:
    """``Memory.update``: the memory's next version, re-noted, re-embedded and re-screened when
    its content changed. Raises NotFound, InvalidInput, Conflict."""
    if content is None and metadata is None:
        raise InvalidInput("update needs content or metadata")
    reason = _validate.reason(reason)
    s = parts.settings
    new_content = (
        None
        if content is None
        else _validate.text(content, field="content", max_bytes=s.max_content_bytes)
    )
    new_meta = (
        None if metadata is None else _validate.metadata(metadata, max_bytes=s.max_metadata_bytes)
    )
    old = read.get(parts.store, id, user_id=user_id)
    at = _time.now()
    new = replace(
        old,
        content=old.content if new_content is None else new_content,
        metadata=old.metadata if new_meta is None else new_meta,
        version=old.version + 1,
        updated_at=at,
    )
    vector, pieces = None, None
    if new.content != old.content:
        note = notes.extract(new.content, occurred_at=new.occurred_at, speaker=new.speaker)
        # An LLM's tags and context described the old text: they go with it.
        new = replace(
            new,
            keywords=note.keywords,
            entities=note.entities,
            dates=note.dates,
            tags=(),
            context=None,
        )
        vectors, embedded = parts.embed_records([new])
        vector, pieces = vectors[0], {new.id: embedded[0]}
    if s.guard:
        new = rescreen(parts, old, new)
    if new.content != old.content:
        new = standing.classify(new)  # as on add: new words may be a standing instruction
    entry = HistoryEntry(
        memory_id=id,
        version=new.version,
        op="update",
        at=at,
        actor="user",
        reason=reason,
        before=old.to_dict(),
        after=new.to_dict(),
    )
    parts.store.replace(new, vector, entry)
    if new.level == policy.QUARANTINE and old.level != policy.QUARANTINE:
        derive.learn(parts, [new], at)
        pieces = pieces or {}
    if pieces is not None:  # metadata alone changes nothing derived (units hold no metadata)
        derive.refresh(parts, new, pieces=pieces)
    return new


def rescreen(parts: Parts, old: Record, new: Record) -> Record:
    """An update passes the guard like an add. New text is judged afresh (a competing claim
    stays one); a metadata change keeps the record's flags and level (a memory the user
    restored stays restored) unless the metadata itself brings a quarantining flag."""
    known = policy.lessons(parts.store, new.user_id)
    if new.content != old.content:
        return policy.screen(new, known, keep=(trust.CONFLICT,))
    meta = policy.assess(" ", new.origin, (), metadata=new.metadata).flags
    if policy.QUARANTINE_FLAGS.intersection(meta):
        return policy.screen(new, known, keep=old.flags)
    return replace(new, flags=tuple(dict.fromkeys((*old.flags, *meta))))


def delete(parts: Parts, id: str, *, user_id: str | None, reason: str | None) -> None:
    """``Memory.delete``. Raises NotFound."""
    reason = _validate.reason(reason)
    record = read.get(parts.store, id, user_id=user_id)
    if parts.store.remove([id], op="delete", actor="user", reason=reason) == 0:
        raise NotFound(f"memory {id} not found")
    derive.refresh(parts, record)


def purge(parts: Parts, *, user_id: str) -> int:
    """``Memory.purge``: how many memories of the user were hard-deleted."""
    uid = _validate.ident(user_id, field="user_id", required=True)
    assert uid is not None
    return parts.store.purge(uid)


def forget(
    parts: Parts,
    id: str | None,
    *,
    user_id: str | None,
    agent_id: str | None,
    session_id: str | None,
    filters: Mapping[str, Any] | None,
    reason: str | None,
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
        targets = [read.get(parts.store, id, user_id=user_id)]
    else:
        where = read.scope(user_id, agent_id, session_id, filters)
        targets = read.all_records(parts.store, where)
    count = parts.store.remove(
        [r.id for r in targets], op="forget", actor="user", reason=_validate.reason(reason)
    )
    derive.refresh(parts, *targets)
    return count


def forget_expired(parts: Parts, *, user_id: str) -> int:
    """Remove the memories of a user whose TTL has passed (each leaves an "expire" entry).

    Expired memories are invisible to reads from the moment they expire; this removes them.

    Returns:
        How many were removed.
    """
    where = read.scope(user_id, None, None, None)
    now = _time.now()
    expired = [
        r
        for r in parts.store.export(where.user_id)
        if isinstance(r, Record) and r.expires_at is not None and r.expires_at <= now
    ]
    count = parts.store.remove([r.id for r in expired], op="expire", actor="remem", reason="ttl")
    derive.refresh(parts, *expired)
    return count


def move(
    parts: Parts, id: str, level: str, op: str, *, user_id: str | None, reason: str | None
) -> Record:
    """``quarantine`` (``level`` "quarantine") and ``restore`` (``level`` "record"): the
    memory's next version at ``level``. Raises NotFound, InvalidInput."""
    reason = _validate.reason(reason)
    old = read.get(parts.store, id, user_id=user_id)
    if old.level not in ("record", policy.QUARANTINE):
        raise NotFound(f"memory {id} not found")
    if old.level == level:
        raise InvalidInput(
            f"memory {id} is already {'in quarantine' if level != 'record' else 'active'}"
        )
    at = _time.now()
    new = writer.new_version(
        parts.store,
        old,
        replace(old, level=level),
        None,
        op=op,
        at=at,
        reason=reason,
        actor="user",
    )
    derive.refresh(parts, new)
    return new


def quarantine(parts: Parts, id: str, *, user_id: str | None, reason: str | None) -> Record:
    """Hide a memory from every search and listing, keeping it (and its history).

    Raises:
        NotFound: no such memory (in this user's scope).
    """
    return move(parts, id, policy.QUARANTINE, "quarantine", user_id=user_id, reason=reason)


def restore(parts: Parts, id: str, *, user_id: str | None, reason: str | None) -> Record:
    """Bring a quarantined memory back.

    Raises:
        NotFound: no such memory (in this user's scope).
        InvalidInput: the memory is not in quarantine.
    """
    return move(parts, id, "record", "restore", user_id=user_id, reason=reason)
