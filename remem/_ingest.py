"""Reading bulk input for ``remem ingest``: JSONL of add() objects, or the LoCoMo JSON format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from remem import _validate, messages
from remem.config import Settings
from remem.errors import InvalidInput


def read_items(path: Path, *, fmt: str, user_id: str | None) -> list[dict[str, Any]]:
    """Return the add() mappings in ``path``.

    Args:
        path: the input file.
        fmt: "jsonl" (one add() object a line) or "locomo" (each sample its own user scope,
            named by its sample_id unless ``user_id`` is given).
        user_id: the scope for items that name none.

    Raises:
        InvalidInput: unreadable file, unknown format or a malformed line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    if fmt == "locomo":
        from remem.bench.locomo import turns

        try:
            samples = json.loads(text)
            items = [t for s in samples for t in turns(s)]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{path} is not in the LoCoMo format: {exc}") from exc
        for item in items:
            item["occurred_at"] = item["occurred_at"].isoformat()
            if user_id is not None:
                item["user_id"] = user_id
        return items
    if fmt != "jsonl":
        raise InvalidInput(f"unknown format {fmt!r}; use jsonl or locomo")
    items = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{lineno}: not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise InvalidInput(f"{path}:{lineno}: expected a JSON object")
        if user_id is not None:
            obj.setdefault("user_id", user_id)
        if "role" in obj:  # an OpenAI-style chat message, with remem's scope keys beside it
            items.append(_message(obj, path, lineno))
        else:
            items.append(obj)
    return items


def _message(obj: dict[str, Any], path: Path, lineno: int) -> dict[str, Any]:
    """One chat-message line ``{"role", "content", "name"?, "user_id"?, "run_id"?, ...}`` as an
    ``add`` item (speaker and origin from the role; see ``remem.messages``)."""
    message = {k: obj.pop(k) for k in ("role", "content", "name") if k in obj}
    try:
        fields = messages.scoped(obj)
        return messages.items([message], fields)[0]
    except InvalidInput as exc:
        raise InvalidInput(f"{path}:{lineno}: {exc}") from exc


def check_items(items: list[dict[str, Any]], *, path: Path, fmt: str, settings: Settings) -> None:
    """Validate every item as ``add`` would, before any is stored.

    Raises:
        InvalidInput: the first bad item, by its index in the file (and its line for JSONL).
    """
    lines = _line_numbers(path) if fmt == "jsonl" else None
    for i, item in enumerate(items):
        try:
            _validate.add_item(
                item,
                max_content=settings.max_content_bytes,
                max_metadata=settings.max_metadata_bytes,
            )
        except InvalidInput as exc:
            where = f"{path}:{lines[i]}: item {i}" if lines else f"{path}: item {i}"
            raise type(exc)(f"{where}: {exc}") from exc


def _line_numbers(path: Path) -> list[int]:
    text = path.read_text(encoding="utf-8")
    return [n for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
