"""Ids as 32 hex characters.

What a client stores gets a sortable UUIDv7 (48-bit millisecond timestamp, then random bits).
What remem derives (session units, lessons) gets a deterministic id: "~" and a hash of what it is
derived from. The two never collide, and ``is_reserved`` tells an id no client may bring in
(through import) from one anyone may: a derived id, or a part id (``<id>#n``, a fact unit).
"""

from __future__ import annotations

import hashlib
import os
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


DERIVED_MARK = "~"  # no id remem gives a client (32 hex characters) starts with it


def derived_id(*parts: str) -> str:
    """The deterministic id of a derived record, from the parts that name it (user, what): "~"
    and 31 hex characters of their hash."""
    key = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return DERIVED_MARK + hashlib.sha256(key).hexdigest()[:31]


def is_reserved(id: str) -> bool:
    """True for ids only remem may make: derived ids ("~...") and part ids (``<id>#n``)."""
    return id.startswith(DERIVED_MARK) or "#" in id
