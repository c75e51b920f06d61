"""Moving memories in and out (``Memory.export``, ``import_``, ``backup``) as functions over a
memory's ``Parts``; ``Memory`` keeps their docstrings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from remem import _io, _time, _validate, derive, standing
from remem.errors import ConfigError
from remem.guard import policy, trust
from remem.parts import Parts
from remem.types import ORIGINS, Link, Record


def export(parts: Parts, path: str | Path, *, user_id: str | None) -> int:
    """Write every memory, history entry and link (of one user, or all) to a JSONL file.

    Derived units are left out: ``import_`` rebuilds them.

    Returns:
        The number of memories written.
    """
    _validate.ident(user_id, field="user_id")
    return _io.write_export(parts.store, path, user_id=user_id)


def import_(parts: Parts, path: str | Path, *, max_origin: str | None) -> int:
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
    records, history, links = _io.read_export(path, parts.settings)
    records = screen_imported(parts, records, max_origin)
    vectors, pieces = parts.embed_records(records)
    parts.store.insert(records, vectors, history)
    derive.learn(parts, [r for r in records if r.level == policy.QUARANTINE], _time.now())
    owner = {r.id: r.user_id for r in records}
    by_user: dict[str, list[Link]] = {}
    for link in links:
        if owner.get(link.a) is not None and owner.get(link.a) == owner.get(link.b):
            by_user.setdefault(owner[link.a], []).append(link)
    for uid, user_links in by_user.items():
        parts.store.add_links(uid, user_links)
    derive.refresh(parts, *records, pieces={r.id: p for r, p in zip(records, pieces, strict=True)})
    return len(records)


def screen_imported(parts: Parts, records: list[Record], max_origin: str | None) -> list[Record]:
    """``records`` as the guard lets them in: origins capped at ``max_origin``, then (guard on)
    screened keeping the flags they came with, trust at most what the file says; standing
    instructions and preferences of trusted origins become ``kind="core"``."""
    order = parts.settings.trust_order
    capped = [
        replace(
            r, origin=trust.by_speaker(trust.cap(r.origin, max_origin, order), r.speaker, order)
        )
        for r in records
    ]
    if parts.settings.guard:
        known = {uid: policy.lessons(parts.store, uid) for uid in {r.user_id for r in capped}}
        capped = [
            policy.screen(r, known[r.user_id], keep=r.flags, max_trust=r.trust) for r in capped
        ]
    return [standing.classify(r) for r in capped]  # as on add


def backup(parts: Parts, path: str | Path) -> None:
    """Copy the whole store to a new SQLite file while it stays in use (online backup).

    Restore by opening the copy (``Memory(path)``) or copying it into place. PostgreSQL stores
    are backed up with ``pg_dump`` (see docs/backends.md).

    Raises:
        ConfigError: the store cannot make backups (not SQLite).
        Conflict: ``path`` already exists.
    """
    if "backup" not in parts.store.capabilities:
        raise ConfigError("this store has no online backup; use pg_dump for PostgreSQL")
    parts.store.backup(path)  # type: ignore[attr-defined]
