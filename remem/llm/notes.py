"""LLM notes on the write path (A-MEM): richer notes for each new memory, and evolution of its
nearest neighbours' notes. Driven by ``remem.llm.enrich.Enricher``, in its background thread.

notes: ``tasks.enrich_note`` reads the record (with its date and speaker) and returns keywords,
    tags and a one-line context. The model's keywords are added to the heuristic ones (no repeats,
    case-insensitive, at most ``MAX_KEYWORDS``); ``tags`` and ``context`` are set. History gets an
    ``enrich`` entry (actor ``llm``) with the record before and after.

evolution: the new note's nearest existing notes (its "similar" and "entity" links first, then
    vector neighbours with cosine >= ``MIN_SIMILARITY``; at most ``NEIGHBOURS``) go to
    ``tasks.evolve_notes`` in one call, with the new note. The tags and context it returns for a
    neighbour replace that neighbour's; history gets an ``evolve`` entry whose reason names the new
    note. Neighbours are records the user stored (level "record", not derived, no guard flags,
    still valid) of the very same scope: the same ``user_id`` and the same ``agent_id``.

Versions: notes are written with ``Store.update_notes`` (the "notes" capability), which keeps the
record's ``version`` and writes only if the record is still at the version that was read. A note
written in the background therefore never makes the user's next update conflict, and a user's
update that lands first wins: the stale note is dropped (logged at info). ``content`` and
``metadata`` are never touched. A store without the capability gets no LLM notes (logged once).

Failures: a failed or unusable reply (no JSON, wrong schema, empty context) leaves the record's
heuristic notes as they are; it is logged and counted in ``EnrichStats.notes_failed`` (or
``evolve_failed``), and no evolution runs for that record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, cast

from remem import _time
from remem.llm import tasks
from remem.llm.base import LLMClient
from remem.ports import MemoryPort
from remem.store.base import Scope
from remem.types import HistoryEntry, Record

logger = logging.getLogger("remem.llm")

MAX_KEYWORDS = 12
NEIGHBOURS = 5
MIN_SIMILARITY = 0.3  # cosine; below it a "neighbour" shares too little for its notes to change
_LINKED = ("similar", "entity")


class _NotesStore(Protocol):
    capabilities: frozenset[str]

    def update_notes(self, record: Record, entry: HistoryEntry) -> bool: ...


def eligible(record: Record) -> bool:
    """True for what the user stored: level "record", not derived, no guard flags."""
    return record.level == "record" and record.origin != "derived" and not record.flags


class NoteWriter:
    """Writes LLM notes and evolves neighbours (see the module docstring).

    Args:
        memory: where the records live.
        llm: the model.
        count: adds to the enricher's stats (``count(notes=1)``).
        describe: a record as the model reads it.
        neighbours: at most this many neighbours evolve per new note (capped at ``NEIGHBOURS``).
    """

    def __init__(
        self,
        memory: MemoryPort,
        llm: LLMClient | None,
        *,
        count: Callable[..., None],
        describe: Callable[[Record], str],
        neighbours: int = NEIGHBOURS,
    ) -> None:
        self.memory = memory
        self.llm = llm
        self._count = count
        self._describe = describe
        self.neighbours = max(0, min(neighbours, NEIGHBOURS))
        self._warned = False

    def enrich(self, record: Record) -> Record | None:
        """Ask for ``record``'s notes and store them; returns the noted record, or None when the
        record is gone or changed, the model failed, or the store cannot keep notes."""
        store = self._store()
        if store is None:
            return None
        current = self.memory.store.get_many([record.id]).get(record.id)
        if current is None or not eligible(current) or current.valid_to is not None:
            return None
        note = tasks.enrich_note(self._describe(current), llm=self.llm, fallback=False)
        if note is None:
            self._count(notes_failed=1)  # tasks logged why
            return None
        keywords = list(current.keywords)
        seen = {k.casefold() for k in keywords}
        for word in note["keywords"]:  # the model's, after the heuristic ones; case-blind repeats
            if word.casefold() not in seen:
                seen.add(word.casefold())
                keywords.append(word)
        noted = replace(
            current,
            keywords=tuple(keywords[:MAX_KEYWORDS]),
            tags=tuple(note["tags"]),
            context=note["context"],
        )
        if not self._write(store, current, noted, op="enrich", reason="LLM notes for a new memory"):
            return None
        self._count(notes=1)
        return noted

    def evolve(self, note: Record) -> int:
        """Let ``note`` update its nearest neighbours' tags and context; returns how many changed."""
        store = self._store()
        if store is None or self.neighbours == 0:
            return 0
        near = self.nearest(note)
        if not near:
            return 0
        changes = tasks.evolve_notes(
            _view(note, self._describe),
            [_view(r, self._describe) for r in near],
            llm=self.llm,
        )
        if changes is None:
            self._count(evolve_failed=1)
            return 0
        changed = 0
        for change in changes:
            old = near[change.index]
            tags = old.tags if change.tags is None else change.tags
            context = change.context or old.context
            if (tags, context) == (old.tags, old.context):
                continue
            new = replace(old, tags=tags, context=context)
            if self._write(store, old, new, op="evolve", reason=f"evolved by new note {note.id}"):
                changed += 1
        self._count(evolved=changed)
        return changed

    def nearest(self, note: Record) -> list[Record]:
        """The notes ``note`` may evolve: linked ones first, then vector neighbours, same scope."""
        store = self.memory.store
        ranked: dict[str, float] = {}
        for link in store.links([note.id]):
            if link.relation in _LINKED:
                ranked.setdefault(link.b if link.a == note.id else link.a, 2.0)
        vector = store.vectors([note.id]).get(note.id)
        if vector is not None:
            scope = Scope(user_id=note.user_id, agent_id=note.agent_id)
            for rid, score in store.vector(vector, scope, limit=self.neighbours * 2 + 1):
                cosine = 2.0 * score - 1.0  # the store maps cosine to [0, 1]
                if cosine >= MIN_SIMILARITY:
                    ranked[rid] = max(ranked.get(rid, 0.0), cosine)
        ranked.pop(note.id, None)
        found = store.get_many(list(ranked))
        now = _time.now()
        out = [
            r
            for rid in sorted(ranked, key=lambda i: (-ranked[i], i))
            if (r := found.get(rid)) is not None
            # Scope by value, not by query: agent_id None in a Scope would mean every agent.
            and (r.user_id, r.agent_id) == (note.user_id, note.agent_id)
            and eligible(r)
            and r.valid_to is None
            and (r.expires_at is None or r.expires_at > now)
        ]
        return out[: self.neighbours]

    def _store(self) -> _NotesStore | None:
        store = self.memory.store
        if "notes" in store.capabilities:
            return cast(_NotesStore, store)
        if not self._warned:
            self._warned = True
            logger.warning("store %s cannot keep notes; no LLM notes", type(store).__name__)
        return None

    def _write(self, store: _NotesStore, old: Record, new: Record, *, op: str, reason: str) -> bool:
        entry = HistoryEntry(
            memory_id=old.id,
            version=old.version,
            op=op,
            at=_time.now(),
            actor="llm",
            reason=reason,
            before=old.to_dict(),
            after=new.to_dict(),
        )
        if store.update_notes(new, entry):
            return True
        logger.info("memory %s changed while its notes were written (%s); dropped", old.id, op)
        return False


def _view(record: Record, describe: Callable[[Record], str]) -> tasks.NoteView:
    return tasks.NoteView(describe(record), record.tags, record.context)
