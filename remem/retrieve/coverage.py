"""Coverage and order questions (issue 14, item 6): "summarize how my project progressed", "list
every restaurant I mentioned", "in what order did I bring up …". Their answer is spread over many
sessions, and the top of a relevance ranking repeats one of them. For such a question search
returns each session's most relevant turns — the sessions the question bears on most, one turn
each first, then a second — in the order they happened, so a summary or an ordering sees the
whole arc.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from remem.retrieve import timeline
from remem.types import Hit

POOL = 100  # candidates read for a coverage question (a relevance question reads 3 x limit)
MIN_SHARE = 0.2  # a session counts when its best turn scores this share of the best turn

_ASKS = re.compile(
    r"\bsummar(?:y|ise|ize|ising|izing)\b|\brecap\b|\boverview\b|\bhow\b.{0,60}\bprogress(?:ed|ing)\b|\bprogression\b"
    r"|\bover\s+(?:time|the\s+(?:months|weeks|years|sessions))\b|\bevolv(?:e|ed|ing)\b"
    r"|\btimeline\b|\bhistory\s+of\b|\bhow\s+(?:has|have|did)\b.{0,60}\b(?:change|changed|develop|"
    r"developed|go|gone|went)\b|\b(?:list|name)\s+(?:all|every|each)\b|\bevery\s+(?:\w+\s+){0,3}"
    r"(?:i|we|you)\s+(?:mentioned|talked|said|brought|discussed|tried|visited|read|watched)\b"
    r"|\ball\s+(?:the\s+)?(?:\w+\s+){0,3}(?:i|we|you)\s+(?:mentioned|talked|said|brought|"
    r"discussed|tried|visited|read|watched)\b|\bin\s+(?:what|which)\s+order\b|\bwhat\s+order\b"
    r"|\beach\s+time\b|\bevery\s+time\b|\bchronolog",
    re.IGNORECASE,
)


def asks_coverage(query: str) -> bool:
    """Whether ``query`` asks for the whole arc (a summary, a list of every …, an order)."""
    return _ASKS.search(query[:2000]) is not None


def arc(ranked: Sequence[Hit], limit: int) -> list[Hit]:
    """``limit`` hits across sessions, in time order: the best turn of each session that scores
    at least ``MIN_SHARE`` of the best, best sessions first; then their second-best turns; then
    whatever else ranked (records of no session are each their own)."""
    if not ranked:
        return []
    floor = MIN_SHARE * max(ranked[0].score, 1e-9)
    by_session: dict[str, list[Hit]] = {}
    for hit in ranked:
        key = hit.record.session_id or f"\x00{hit.record.id}"
        by_session.setdefault(key, []).append(hit)
    picked: list[Hit] = []
    for depth in range(2):
        for hits in by_session.values():  # in order of each session's best turn
            if len(picked) >= limit:
                break
            if depth < len(hits) and hits[0].score >= floor:
                picked.append(hits[depth])
    chosen = {h.record.id for h in picked}
    picked.extend(h for h in ranked if h.record.id not in chosen)
    head = sorted(picked[:limit], key=_when)
    return [Hit(h.record, h.score, {**h.explain, "arc": n}, h.flags) for n, h in enumerate(head, 1)]


def _when(hit: Hit) -> datetime:
    when = timeline.said(hit.record)
    if when is None:
        return datetime.max.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)
