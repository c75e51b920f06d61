"""Ids as 32 hex characters.

What a client stores gets a sortable UUIDv7 (48-bit millisecond timestamp, then random bits).
What remem derives (session units, lessons) gets a deterministic UUIDv8 (a hash of what it is
derived from). The two never collide, and ``is_reserved`` tells an id no client may bring in
(through import) from one anyone may: a derived id, or a part id (``<id>#n``, a fact unit).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, counter within it: ids made in one process stay strictly ordered


def new_id() -> str:
    """Return a new id that sorts after every id this process made before it."""
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms = _last[0]
            _last[1] += 1
        else:
            _last[0], _last[1] = ms, int.from_bytes(os.urandom(1), "big")
        counter = _last[1] & 0xFFF
        if _last[1] > 0xFFF:  # counter overflow: borrow the next millisecond
            _last[0] += 1
            _last[1] = 0
            ms, counter = _last[0], 0
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return f"{value:032x}"


_DERIVED_RE = re.compile(r"[0-9a-f]{12}8[0-9a-f]{3}[89ab][0-9a-f]{15}")


def derived_id(*parts: str) -> str:
    """The deterministic UUIDv8 of a derived record, from the parts that name it (user, what)."""
    key = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    value = int.from_bytes(hashlib.sha256(key).digest()[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8: custom
    value = (value & ~(0b11 << 62)) | (0b10 << 62)  # RFC 4122 variant
    return f"{value:032x}"


def is_reserved(id: str) -> bool:
    """True for ids only remem may make: derived ids (UUIDv8) and part ids (``<id>#n``)."""
    return "#" in id or _DERIVED_RE.fullmatch(id) is not None
