"""Sortable ids: UUIDv7 (48-bit millisecond timestamp, then random bits), as 32 hex characters."""

from __future__ import annotations

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
