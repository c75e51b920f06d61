"""Reading the JSONL export format back, with every line validated before anything is stored."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remem import _ids, _time, _validate
from remem.config import Settings
from remem.errors import InvalidInput
from remem.store.base import Store
from remem.types import KINDS, ORIGINS, HistoryEntry, Link, Record

# What a user stored (active or quarantined); every other level is derived and rebuilt.
STORED_LEVELS = ("record", "quarantine")
_TIMES = ("occurred_at", "created_at", "updated_at", "valid_from", "valid_to", "expires_at")
_TUPLES = ("sources", "keywords", "entities", "dates", "flags", "tags")


def write_export(
    store: Store, path: str | Path, *, user_id: str | None, prefix: str | None = None
) -> int:
    """Write a user's (or everyone's) records, history and links as JSONL; returns the records.

    With ``prefix`` (a tenant's ``"name/"``): only the users under it (``user_id``, if given, is
    one of them, already qualified), written without the prefix.
    """
    count = 0
    ids: list[str] = []
    items = store.export(user_id, prefix=prefix if user_id is None else None)
    with open(path, "w", encoding="utf-8") as out:
        for item in items:
            if isinstance(item, Record):
                if item.level not in STORED_LEVELS:
                    continue  # derived units are rebuilt on import
                count += 1
                ids.append(item.id)
                line = {"type": "record", **(_unqualified(item.to_dict(), prefix) or {})}
            else:
                entry = item.to_dict()
                for side in ("before", "after"):
                    entry[side] = _unqualified(entry[side], prefix)
                line = {"type": "history", **entry}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        kept = set(ids)
        for link in store.links(ids) if ids else []:
            if link.a in kept and link.b in kept:
                out.write(json.dumps({"type": "link", **link.to_dict()}, ensure_ascii=False) + "\n")
    return count


def _unqualified(snapshot: dict[str, Any] | None, prefix: str | None) -> dict[str, Any] | None:
    uid = snapshot.get("user_id") if snapshot else None
    if prefix and snapshot and isinstance(uid, str) and uid.startswith(prefix):
        return {**snapshot, "user_id": uid[len(prefix) :]}
    return snapshot


def json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Each line of a JSONL file as (line number, object), blank lines as None.

    Raises:
        InvalidInput: an unreadable file, or a line that is not a JSON object (bad UTF-8, bad
            JSON, too deep), with its number.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            yield lineno, None
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"{path}:{lineno}: {exc}") from exc
        if not isinstance(obj, dict):
            raise InvalidInput(f"{path}:{lineno}: expected a JSON object")
        yield lineno, obj


def read_export(
    path: str | Path, settings: Settings
) -> tuple[list[Record], list[HistoryEntry], list[Link]]:
    """Parse an export file into records and history entries.

    Raises:
        InvalidInput: a line is not JSON or not a valid record/history entry.
    """
    records: list[Record] = []
    history: list[HistoryEntry] = []
    links: list[Link] = []
    for lineno, obj in json_lines(path):
        if obj is None:
            continue
        try:
            kind = obj.pop("type", None)
            if kind == "record":
                records.append(_record(obj, settings))
            elif kind == "history":
                history.append(_history(obj))
            elif kind == "link":
                links.append(_link(obj))
            else:
                raise InvalidInput(f"unknown type {kind!r}")
        except (ValueError, TypeError, RecursionError) as exc:
            # ValueError covers InvalidInput itself.
            raise InvalidInput(f"{path}:{lineno}: {exc}") from exc
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"{path}: the same id appears twice")
    return records, history, links


def _link(obj: dict[str, Any]) -> Link:
    if set(obj) != {"a", "b", "relation", "weight"}:
        raise InvalidInput("a link needs exactly a, b, relation and weight")
    for name in ("a", "b"):
        _validate.ident(obj[name], field=name, required=True)
        _not_reserved(obj[name], name)
    _validate.text(obj["relation"], field="relation", max_bytes=64)
    weight = obj["weight"]
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not math.isfinite(weight):
        raise InvalidInput("weight: expected a finite number")
    return Link(obj["a"], obj["b"], obj["relation"], float(weight))


def _record(obj: dict[str, Any], settings: Settings) -> Record:
    fields = set(Record.__dataclass_fields__)
    unknown = set(obj) - fields
    if unknown:
        raise InvalidInput(f"unknown record field(s) {sorted(unknown)}")
    _validate.ident(obj.get("id"), field="id", required=True)
    _not_reserved(obj["id"], "id")
    _validate.ident(obj.get("user_id"), field="user_id", required=True)
    for name in ("agent_id", "session_id"):
        _validate.ident(obj.get(name), field=name)
    _validate.text(obj.get("content"), field="content", max_bytes=settings.max_content_bytes)
    _validate.choice(obj.get("kind", "episodic"), field="kind", options=KINDS)
    obj["metadata"] = _validate.metadata(obj.get("metadata"), max_bytes=settings.max_metadata_bytes)
    for name in _TIMES:
        obj[name] = _time.parse(obj.get(name), field=name)
    for name in _TUPLES:
        value = obj.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{name}: expected a list of strings")
        obj[name] = tuple(value)
    if obj.get("created_at") is None or obj.get("updated_at") is None:
        raise InvalidInput("created_at and updated_at are required")
    _count(obj.get("version", 1), "version")
    _validate.choice(obj.get("level", "record"), field="level", options=STORED_LEVELS)
    if obj.get("context") is not None:  # files from before LLM notes have no tags or context
        _validate.text(obj["context"], field="context", max_bytes=4096)
    for name in ("speaker", "origin", "kind"):
        value = obj.get(name)
        if value is not None:
            _validate.text(value, field=name, max_bytes=1024)
    _validate.choice(obj.get("origin", "user"), field="origin", options=ORIGINS)
    trust = obj.get("trust", 1.0)
    if not isinstance(trust, int | float) or isinstance(trust, bool) or not 0.0 <= trust <= 1.0:
        raise InvalidInput("trust: expected a number from 0 to 1")
    return Record(**obj)


def _not_reserved(id: str, field: str) -> None:
    """Derived ids (session units, lessons, fact units) are remem's to make: a file that brings
    one in could take the place of, or block, a unit of someone else's scope."""
    if _ids.is_reserved(id):
        raise InvalidInput(f"{field}: {id!r} is reserved for records remem derives")


def _count(value: Any, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 2**62:
        raise InvalidInput(f"{field}: expected a positive integer")


def _history(obj: dict[str, Any]) -> HistoryEntry:
    unknown = set(obj) - set(HistoryEntry.__dataclass_fields__)
    if unknown:
        raise InvalidInput(f"unknown history field(s) {sorted(unknown)}")
    _validate.ident(obj.get("memory_id"), field="memory_id", required=True)
    _not_reserved(obj["memory_id"], "memory_id")
    at = _time.parse(obj.get("at"), field="at")
    if at is None:
        raise InvalidInput("history entry without 'at'")
    for name in ("before", "after"):
        if obj.get(name) is not None and not isinstance(obj[name], dict):
            raise InvalidInput(f"{name}: expected an object or null")
    _validate.text(obj.get("op"), field="op", max_bytes=64)
    _count(obj.get("version"), "version")
    for name in ("actor", "reason"):
        if obj.get(name) is not None:
            _validate.text(obj[name], field=name, max_bytes=4096)
    for name in ("before", "after"):
        if obj.get(name) is not None:
            _validate.metadata(obj[name], max_bytes=1 << 20)
    obj["at"] = at
    return HistoryEntry(**obj)
