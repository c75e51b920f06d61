"""Fact units: the granularity finer than a turn (MemGAS), one per sentence of a multi-sentence turn.

A turn often says several things ("We went camping. The kids loved the stars. I start my new job
Monday."), and one vector for all of it is an average a question about any single part only half
matches. So remem embeds a turn sentence by sentence:

- the turn's own vector is the normalized mean of its sentences' vectors (each sentence carries the
  speaker, as the whole turn did), which keeps every part's meaning at equal weight;
- each sentence of a turn with two or more becomes a derived unit (level ``"fact"``) holding that
  sentence, its vector, and ``sources=(turn id,)``, indexed for BM25 and vector search like any
  record. Retrieval scores a turn by its best-matching fact (``retrieve.hierarchy``).

Facts are derived: rebuilt from the turn whenever it changes, dropped with it, never returned in
place of it, and given ids derived from the turn's (``<turn id>#<n>``) so neither a rebuild nor
retrieval needs a lookup to go from one to the other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from remem.store.base import MAX_PARTS, part_id, part_ids
from remem.types import Record, Vector

LEVEL = "fact"
MAX_FACTS = MAX_PARTS
# A fragment this short ("Wow!", "Thanks, Mel!") says nothing on its own: it joins the next one.
_MIN_WORDS = 3
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentence-sized pieces (at most ``MAX_FACTS``; short fragments joined).

    A text that is one sentence comes back as ``[text]`` (stripped).
    """
    pieces = [p.strip() for p in _BOUNDARY.split(text) if p and p.strip()]
    out: list[str] = []
    carry = ""
    for piece in pieces:
        joined = f"{carry} {piece}".strip() if carry else piece
        if len(joined.split()) < _MIN_WORDS:
            carry = joined
            continue
        out.append(joined)
        carry = ""
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    if len(out) > MAX_FACTS:
        out = _regroup(out, MAX_FACTS)
    return out or [text.strip() or text]


def _regroup(pieces: list[str], n: int) -> list[str]:
    """``pieces`` joined, in order, into at most ``n`` runs of about equal length: a long turn's
    every line stays in a piece the model reads whole (joining the tail into one last piece
    left everything past the 12th sentence beyond the model's 256-token window)."""
    total = sum(len(p) for p in pieces)
    target = total / n
    runs: list[list[str]] = [[]]
    size = 0.0
    for i, piece in enumerate(pieces):
        left = len(pieces) - i  # pieces still to place, including this one
        open_runs = n - len(runs)  # runs that may still be started
        if runs[-1] and open_runs > 0 and (size + len(piece) / 2 > target or left <= open_runs):
            runs.append([])
            size = 0.0
        runs[-1].append(piece)
        size += len(piece)
    return ["\n".join(r) for r in runs]


def embed_texts(pieces: Sequence[str], speaker: str | None) -> list[str]:
    """What the embedder sees for each piece: the speaker, then the sentence (as for a turn)."""
    return [f"{speaker}: {p}" if speaker else p for p in pieces]


def pool(vectors: Vector) -> Vector:
    """A turn's vector from its sentences' vectors: their normalized mean."""
    mean = np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(mean))
    out: Vector = (mean / norm if norm else mean).astype(np.float32)
    return out


def fact_id(turn_id: str, index: int) -> str:
    """The deterministic id of a turn's ``index``-th fact unit: ``<turn id>#<index>``."""
    return part_id(turn_id, index)


def turn_of(fact: str) -> str:
    """The id of the turn a fact unit id belongs to (no lookup needed)."""
    return fact.rpartition("#")[0]


def all_ids(turn_id: str) -> list[str]:
    """Every id a fact of ``turn_id`` can have (to drop them without looking them up)."""
    return part_ids(turn_id)


def fact_units(
    turn: Record, pieces: Sequence[str], vectors: Vector, *, at: datetime
) -> list[tuple[Record, Vector]]:
    """The fact units of one turn: one per piece when there are two or more, none otherwise."""
    if len(pieces) < 2:
        return []
    return [
        (
            Record(
                id=fact_id(turn.id, i),
                user_id=turn.user_id,
                agent_id=turn.agent_id,
                session_id=turn.session_id,
                speaker=turn.speaker,
                kind=turn.kind,
                level=LEVEL,
                content=piece,
                occurred_at=turn.occurred_at,
                created_at=at,
                updated_at=at,
                valid_from=turn.valid_from,
                origin="derived",
                sources=(turn.id,),
                metadata={"index": i},
            ),
            vector,
        )
        for i, (piece, vector) in enumerate(zip(pieces, vectors, strict=True))
    ]
