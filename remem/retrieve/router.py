"""The granularity router (MemGAS): trust a granularity more when its scores are peaked.

A retriever whose top scores are nearly flat has not found anything in particular; one whose mass
sits on a few candidates has. Peakedness is one minus the normalized entropy of the top scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def peakedness(scores: Sequence[float], *, top: int = 10) -> float:
    """1 - H(p) / log(n) over the ``top`` scores normalized to a distribution, in [0, 1].

    Returns 0.0 for fewer than two positive scores' worth of evidence (nothing to compare)...
    except a single hit, which is as peaked as it gets (1.0).
    """
    head = [s for s in sorted(scores, reverse=True)[:top] if s > 0]
    if not head:
        return 0.0
    if len(head) == 1:
        return 1.0
    total = sum(head)
    entropy = -sum((s / total) * math.log(s / total) for s in head)
    return max(0.0, 1.0 - entropy / math.log(len(head)))


def weight(base: float, scores: Sequence[float], *, floor: float = 0.5) -> float:
    """Scale ``base`` by the granularity's peakedness, never below ``floor`` of it."""
    return base * (floor + (1.0 - floor) * peakedness(scores))
