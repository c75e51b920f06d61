"""Input validation for the write and read paths: clean values or a clear ``InvalidInput``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from remem import _time
from remem.errors import InvalidInput, TooLarge
from remem.guard import trust
from remem.types import KINDS, ORIGINS

MAX_ID_CHARS = 256
# A stored user_id may carry a tenant's prefix ("<tenant>/", at most 65 characters) in front of
# the caller's, so a tenant's users get the full MAX_ID_CHARS (checked before qualifying).
MAX_USER_ID_CHARS = MAX_ID_CHARS + 65
MAX_METADATA_DEPTH = 32
ADD_KEYS = frozenset(
    {
        "content",
        "user_id",
        "agent_id",
        "session_id",
        "speaker",
        "occurred_at",
        "metadata",
        "kind",
        "origin",
        "ttl",
    }
)


def text(value: Any, *, field: str, max_bytes: int) -> str:
    """A non-empty string of valid UTF-8, at most ``max_bytes`` long when encoded."""
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{field}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a string, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{field}: not valid UTF-8 (lone surrogate at index {exc.start})"
        ) from exc
    if not value.strip():
        raise InvalidInput(f"{field}: must not be empty")
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL characters")
    if size > max_bytes:
        raise TooLarge(f"{field}: {size} bytes is over the limit of {max_bytes}")
    return value


def reason(value: Any) -> str | None:
    """An optional free-text reason for history: valid UTF-8, at most 4 KiB."""
    return None if value is None else text(value, field="reason", max_bytes=4096)


def ident(
    value: Any, *, field: str, required: bool = False, max_chars: int | None = None
) -> str | None:
    """An optional scope identifier: a non-empty string of at most 256 printable characters
    (``max_chars``; a user_id by default ``MAX_USER_ID_CHARS``, room for a tenant prefix)."""
    limit = max_chars or (MAX_USER_ID_CHARS if field == "user_id" else MAX_ID_CHARS)
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(f"{field}: must not be empty")
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{field}: at most {limit} printable characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{field}: not valid UTF-8") from exc
    return value


def metadata(value: Any, *, max_bytes: int) -> dict[str, Any]:
    """A JSON object of finite values, string keys, bounded depth and size."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"metadata: expected a mapping, got {type(value).__name__}")
    _check_json(value, "metadata", 0)
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
        size = len(encoded.encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata: not JSON-serializable: {exc}") from exc
    if size > max_bytes:
        raise TooLarge(f"metadata: {size} bytes is over the limit of {max_bytes}")
    result: dict[str, Any] = json.loads(encoded)
    return result


def _check_json(value: Any, where: str, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise InvalidInput(f"{where}: nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where}: keys must be strings, got {key!r}")
            _check_json(key, f"{where} key", depth + 1)
            _check_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where}: {value} is not a finite number")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"{where}: not valid UTF-8") from exc
        if "\x00" in value:
            raise InvalidInput(f"{where}: must not contain NUL characters")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
        raise InvalidInput(f"{where}: integer out of the 64-bit range")
    elif value is not None and not isinstance(value, bool | int | float):
        raise InvalidInput(f"{where}: {type(value).__name__} is not a JSON value")


def choice(value: Any, *, field: str, options: tuple[str, ...]) -> str:
    """One of ``options``."""
    if value not in options:
        raise InvalidInput(f"{field}: must be one of {', '.join(options)}, got {value!r}")
    return str(value)


def positive(value: Any, *, field: str, maximum: int) -> int:
    """An integer in 1..maximum."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise InvalidInput(f"{field}: expected an integer from 1 to {maximum}, got {value!r}")
    return value


def ttl(value: Any) -> int | None:
    """An optional time to live in whole seconds (at most a century)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100 * 365 * 86400:
        raise InvalidInput(f"ttl: expected whole seconds from 1 to a century, got {value!r}")
    return value


def add_item(item: Mapping[str, Any], *, max_content: int, max_metadata: int) -> dict[str, Any]:
    """Validate one ``add`` input; returns the cleaned fields."""
    if not isinstance(item, Mapping):
        raise InvalidInput(f"each item must be a mapping, got {type(item).__name__}")
    unknown = set(item) - ADD_KEYS
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    if "content" not in item:
        raise InvalidInput("content is required")
    occurred: datetime | None = _time.parse(item.get("occurred_at"), field="occurred_at")
    speaker = item.get("speaker")
    if speaker is not None:
        speaker = text(speaker, field="speaker", max_bytes=1024)
    return {
        "content": text(item["content"], field="content", max_bytes=max_content),
        "user_id": ident(item.get("user_id"), field="user_id", required=True),
        "agent_id": ident(item.get("agent_id"), field="agent_id"),
        "session_id": ident(item.get("session_id"), field="session_id"),
        "speaker": speaker,
        "occurred_at": occurred,
        "metadata": metadata(item.get("metadata"), max_bytes=max_metadata),
        "kind": choice(item.get("kind", "episodic"), field="kind", options=KINDS),
        "origin": trust.by_speaker(
            choice(item.get("origin", "user"), field="origin", options=ORIGINS), speaker
        ),
        "ttl": ttl(item.get("ttl")),
    }
