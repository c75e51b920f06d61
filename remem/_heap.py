"""Give freed heap back to the operating system after a bulk load.

Loading a user's vectors or postings makes large temporary arrays and many small strings. glibc
keeps the freed memory in the process (after a large block is freed it also raises its mmap
threshold, so later large arrays come from the heap too): at 10k memories, building the postings
left 57 MB resident for 5 MB of live data. ``malloc_trim(0)`` returns it (35 MB of those 57 MB;
the rest is live or fragmented). A no-op where the C library has no ``malloc_trim``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

_trim: Any = None


def trim() -> None:
    """Return the C heap's free pages to the operating system (glibc only)."""
    global _trim
    if _trim is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _trim = getattr(libc, "malloc_trim", False)
        except OSError:
            _trim = False
    if _trim:
        _trim(0)
