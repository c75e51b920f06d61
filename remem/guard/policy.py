"""How the memory guard acts on the write and read paths.

Write: ``scan`` flags instruction-like, tool-call-shaped and hidden-unicode content and content
that repeats a known attack (a lesson); trust follows origin and flags. Flagged content is
quarantined: stored, in history, visible to ``get``, but at level "quarantine", which no search or
listing returns until ``restore``. Each quarantined attack leaves a lesson for its scope.

Read: among the hits, one that contradicts the consensus of the others about the same subject is
demoted and flagged; so are hits that match a lesson; low trust lowers a score.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from remem import _ids
from remem.guard import consensus, signals, trust
from remem.store.base import Scope, Store
from remem.types import Record, Vector

QUARANTINE = "quarantine"
LESSON = "lesson"
LESSON_FLAG = "lesson_match"
# What sends a record to quarantine at write time (url_exfil alone only flags).
QUARANTINE_FLAGS = frozenset(
    {
        signals.INSTRUCTION,
        signals.TOOL_CALL,
        signals.HIDDEN_UNICODE,
        signals.BIDI,
        signals.MIXED_SCRIPT,
        LESSON_FLAG,
    }
)
# A user's own standing instruction to the assistant: flagged, never quarantined (see assess).
DIRECTIVE = "directive"
_OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|jailbr\w*|system\s+prompt|you\s+are\s+now"
    r"|reveal|leak|exfiltrat\w*|(?:developer|god|admin|debug)\s+mode)\b",
    re.IGNORECASE,
)
CONSENSUS_DEMOTION = 0.5
CONFLICT_DEMOTION = 0.5
LESSON_DEMOTION = 0.25
_MAX_LESSONS = 1000


@dataclass(frozen=True)
class Verdict:
    """What the guard decided about one incoming memory."""

    flags: tuple[str, ...]
    trust: float
    quarantine: bool


def lessons(store: Store, user_id: str) -> list[consensus.Lesson]:
    """The lessons learned in one user's scope."""
    page = store.list(Scope(user_id=user_id, levels=(LESSON,)), limit=_MAX_LESSONS, cursor=None)
    return [
        consensus.Lesson(key=r.keywords[0], reason=r.metadata.get("reason", ""), example=r.content)
        for r in page.records
        if r.keywords
    ]


def assess(
    content: str,
    origin: str,
    known: Sequence[consensus.Lesson],
    *,
    speaker: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Verdict:
    """Flags, trust and the quarantine decision for one incoming memory (its content, speaker
    and string metadata are scanned)."""
    flags = signals.scan_fields(content, speaker, metadata)
    if origin == "user" and signals.INSTRUCTION in flags and _standing(content):
        # The user telling the assistant how to behave ("always answer in French") is a
        # preference, not an attack on it: kept, trusted, flagged as a directive.
        flags = tuple(DIRECTIVE if f == signals.INSTRUCTION else f for f in flags)
    if known and consensus.matches_lesson(content, known):
        flags = (*flags, LESSON_FLAG)
    trust = signals.trust_for(origin, flags)
    if LESSON_FLAG in flags:
        trust *= 0.5
    return Verdict(flags, trust, bool(QUARANTINE_FLAGS.intersection(flags)))


def screen(
    record: Record,
    known: Sequence[consensus.Lesson],
    *,
    keep: Sequence[str] = (),
    max_trust: float = 1.0,
) -> Record:
    """``record`` as the guard lets it in: flags from a scan of what it says (plus those of
    ``keep`` it already had), trust from its origin and flags (at most ``max_trust``), and
    quarantined when a flag says so. Every write path (add, update, import) passes here.

    Args:
        record: the record about to be stored (its origin already decided).
        known: the lessons of its scope.
        keep: flags of ``record`` to carry over (an import keeps the flags it came with: a
            file can add flags, never remove one).
        max_trust: a ceiling, e.g. the trust a file claims for an imported record.
    """
    verdict = assess(
        record.content, record.origin, known, speaker=record.speaker, metadata=record.metadata
    )
    kept = [f for f in record.flags if f in keep]
    quarantine = verdict.quarantine or record.level == QUARANTINE
    return replace(
        record,
        flags=tuple(dict.fromkeys((*kept, *verdict.flags))),
        trust=min(verdict.trust, max_trust),
        level=QUARANTINE if quarantine else record.level,
    )


def _standing(content: str) -> bool:
    """True when every instruction-like phrase of ``content`` is a standing directive (how to
    answer, what to include), none an override (ignore the rules, reveal or replace the system
    prompt, "you are now ..."); False when the flag came from the speaker or metadata."""
    found = signals.find_instructions(content)
    return bool(found) and not any(_OVERRIDE.search(phrase) for phrase in found)


def lesson_records(records: Sequence[Record], at: datetime) -> list[Record]:
    """A lesson for each quarantined record: its attack signature, kept apart from memories."""
    out = {}
    for r in records:
        key = consensus.lesson_key(r.content)
        if not key:
            continue
        lesson_id = _ids.derived_id("lesson", r.user_id, key)
        out[lesson_id] = Record(
            id=lesson_id,
            user_id=r.user_id,
            content=r.content[:2000],
            level=LESSON,
            kind="procedural",
            origin="derived",
            keywords=(key,),
            sources=(r.id,),
            created_at=at,
            updated_at=at,
            occurred_at=at,
            metadata={"reason": ",".join(r.flags)},
        )
    return list(out.values())


def review(
    hits: Sequence[tuple[Record, float]],
    vectors: dict[str, Vector],
    known: Sequence[consensus.Lesson],
    rivals: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[Record, float, tuple[str, ...]]]:
    """Demote and flag hits that contradict the others' consensus, repeat an attack or are
    untrusted; returns (record, new score, flags) best first.

    A competing claim (flag ``conflicts_with``; ``rivals`` maps its id to the more trusted
    records it contests) is demoted, and always ranks below a contested record among the hits.
    """
    items = [
        consensus.Candidate(r.content, vectors[r.id], r.trust, i)
        for i, (r, _) in enumerate(hits)
        if r.id in vectors
    ]
    flagged = consensus.check(items) if len(items) == len(hits) else {}
    out: list[tuple[Record, float, tuple[str, ...]]] = []
    for i, (record, score) in enumerate(hits):
        flags = list(flagged.get(i, ()))
        factor = 0.5 + 0.5 * record.trust
        if flags:
            factor *= CONSENSUS_DEMOTION
        if known and consensus.matches_lesson(record.content, known):
            flags.append(LESSON_FLAG)
            factor *= LESSON_DEMOTION
        if trust.CONFLICT in record.flags:
            factor *= CONFLICT_DEMOTION
        out.append((record, score * factor, tuple(dict.fromkeys((*record.flags, *flags)))))
    if rivals:
        scores = {r.id: score for r, score, _ in out}
        for i, (record, score, marks) in enumerate(out):
            above = [scores[b] for b in rivals.get(record.id, ()) if b in scores]
            if above and score >= min(above):
                out[i] = (record, min(above) * 0.99, marks)
    out.sort(key=lambda x: (-x[1], x[0].id))
    return out
