"""Background LLM enrichment of the write path: notes, facts, session summaries, (on request) insights.

An add never waits for enrichment and never fails because of it. ``Memory`` hands the records it
just stored to ``Enricher.submit``, which only puts them on a bounded queue; when the queue is full
that batch is skipped (logged and counted in ``stats``), so adds never block. One daemon thread
works the queue, taking every batch waiting at once so a burst of adds costs one summary per session.
This module is the runner (queue, thread, stats); what each enrichment does is in
``remem.llm.enrichments`` (facts, summaries, insights) and ``remem.llm.notes`` (notes, evolution).

What is enriched: records the user stored (level "record", no guard flags, origin not "derived").
Derived records are never enriched again, so enrichment cannot feed on itself.

notes and evolution (A-MEM), for every eligible record, first: keywords, tags and a one-line
    context from ``tasks.enrich_note``, then the record's nearest notes of the same scope get new
    tags or context from ``tasks.evolve_notes``. Written without a new version, with ``enrich`` /
    ``evolve`` history entries: see ``remem.llm.notes``.

facts (Mem0-style), for episodic records: the record, prefixed with its date and speaker, goes to
    ``tasks.extract_facts`` with the user's known facts (the ``KNOWN_FACTS`` best derived facts
    ``Memory.search`` finds for it). Each operation:

    - add: ``Memory.add(fact, kind="semantic", origin="derived")`` with metadata
      ``{"derived": "fact", "sources": [record id]}`` and a ``derived_from`` link to the record.
    - update: ``Memory.update`` of the known fact: a new version, the old text kept in history,
      the record appended to its sources.
    - supersede: the new fact is added and the old one is closed (``valid_to``), never deleted: it
      stays in history and in ``as_of`` searches, linked by ``supersedes`` (as remem's own
      supersede does; if that already closed it on add, nothing more happens).
    - noop: nothing.

session summaries, for each session a batch touched (``MIN_SESSION_TURNS`` turns or more):
    ``tasks.summarize_session`` over the session's turns writes one semantic record with metadata
    ``{"derived": "summary", "summary_of": session_id, "sources": [turn ids], "turns": n}``; when
    the session grows the same record gets a new version.

insights, only on an explicit ``Enricher.insights(user_id)``: ``tasks.insights`` over the user's
    summaries; one semantic record per insight, ``{"derived": "insight", "sources": [summary ids]}``.
    Insights a newer pass does not repeat are forgotten (their history stays).

Derived records carry no ``session_id`` (they are not turns of a session), and enrichment never
changes the content or metadata of the user's own records, only their notes: when remem merges a
derived fact into a near-duplicate the user stored, that record's metadata is restored. Closing a superseded fact and adding provenance links need ``Memory.store``; everything
else goes through the public ``Memory`` verbs (validation, guard, embedding, history).

Failures: when the model fails, the tasks return nothing (no heuristic fact, summary or insight is
stored); any other error is logged on ``remem.llm`` and counted, and the next record goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from remem.llm.base import LLMClient
from remem.llm.enrichments import (
    FACT,
    INSIGHT,
    KNOWN_FACTS,
    MAX_SOURCES,
    MIN_SESSION_TURNS,
    SUMMARY,
    Enrichments,
    describe,
)
from remem.llm.notes import NoteWriter, eligible
from remem.ports import MemoryPort
from remem.types import Record

logger = logging.getLogger("remem.llm")

__all__ = [
    "FACT",
    "INSIGHT",
    "KNOWN_FACTS",
    "MAX_SOURCES",
    "MIN_SESSION_TURNS",
    "SUMMARY",
    "EnrichStats",
    "Enricher",
    "describe",
    "enricher_for",
]


@dataclass
class EnrichStats:
    """What an ``Enricher`` has done so far (records, not batches)."""

    submitted: int = 0
    dropped: int = 0
    facts_added: int = 0
    facts_updated: int = 0
    facts_superseded: int = 0
    summaries: int = 0
    insights: int = 0
    errors: int = 0
    notes: int = 0
    notes_failed: int = 0
    evolved: int = 0
    evolve_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def enricher_for(memory: MemoryPort) -> Enricher | None:
    """The enricher ``Memory`` should feed its new records to, or None when no LLM is configured.

    Args:
        memory: the memory to enrich; its ``llm`` (from ``llm_base_url``/``llm_model``) is used.

    Returns:
        A background ``Enricher``, or None (no LLM, or the ``llm_enrich`` setting is off).
    """
    # getattr: the llm_enrich setting may not exist in every Settings version; default on.
    if not getattr(memory.settings, "llm_enrich", True):
        return None
    llm = memory.llm
    if llm is None:
        return None
    return Enricher(memory, llm, notes=getattr(memory.settings, "llm_notes", True))


class Enricher:
    """Enriches new memories with an LLM in one background thread (see the module docstring).

    Args:
        memory: where the records live and where derived records go.
        llm: the model; None makes every task a no-op.
        background: work in a daemon thread (the default); False works inside ``submit``.
        max_pending: batches the queue holds; when full, a submitted batch is skipped.
        facts: extract facts from episodic records.
        summaries: summarize the sessions a batch touched.
        notes: write LLM notes (keywords, tags, context) for each record.
        evolve: with ``notes``, let each new note update its neighbours' tags and context.
    """

    def __init__(
        self,
        memory: MemoryPort,
        llm: LLMClient | None,
        *,
        background: bool = True,
        max_pending: int = 256,
        facts: bool = True,
        summaries: bool = True,
        notes: bool = True,
        evolve: bool = True,
    ) -> None:
        self.memory = memory
        self.llm = llm
        self.background = background
        self.facts = facts
        self.summaries = summaries
        self.notes = notes
        self.evolve = evolve
        self.stats = EnrichStats()
        self._notes = NoteWriter(memory, llm, count=self._count, describe=describe)
        self._stats_lock = threading.Lock()
        self._queue: queue.Queue[list[Record] | None] = queue.Queue(maxsize=max(1, max_pending))
        self._done = threading.Condition()
        self._pending = 0
        self._closed = False
        self._stopping = threading.Event()
        self._tasks = Enrichments(memory, llm, count=self._count, stopping=self._stopping.is_set)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- the queue ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Batches submitted and not finished yet (queued or being worked on)."""
        with self._done:
            return self._pending

    def submit(self, records: Sequence[Record]) -> None:
        """Queue new records for enrichment; returns at once and never raises.

        Args:
            records: what ``add``/``add_many`` just stored; ineligible ones are ignored.
        """
        batch = [r for r in records if eligible(r)]
        if not batch:
            return
        if self._closed:
            self._count(dropped=len(batch))
            logger.warning("enricher is closed; %d new memories not enriched", len(batch))
            return
        if not self.background:
            self._count(submitted=len(batch))
            self._run([batch])
            return
        self._ensure_thread()
        with self._done:
            self._pending += 1
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self._finished(1)
            self._count(dropped=len(batch))
            logger.warning(
                "enrichment queue full (%d batches waiting); %d new memories not enriched",
                self._queue.maxsize,
                len(batch),
            )
            return
        self._count(submitted=len(batch))

    def drain(self, timeout: float | None = None) -> None:
        """Wait until every submitted batch is done, or ``timeout`` seconds pass.

        Args:
            timeout: seconds to wait at most; None waits as long as it takes.
        """
        self._wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop accepting records, finish queued work (up to ``timeout``), stop the thread.

        Work still queued after ``timeout`` is abandoned (logged); the daemon thread stops after
        the call in flight. Close the enricher before the store it writes to.

        Args:
            timeout: seconds to wait for queued work; None waits as long as it takes.
        """
        self._closed = True
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        if not self._wait(timeout):
            self._stopping.set()
            logger.warning("enricher closed with %d batches unfinished", self.pending)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the worker sees _stopping after its current batch and exits
        if not self._stopping.is_set():
            thread.join(timeout=timeout)

    def _wait(self, timeout: float | None) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def _finished(self, batches: int) -> None:
        with self._done:
            self._pending -= batches
            self._done.notify_all()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="remem-enrich", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            batches = [] if first is None else [first]
            stop = first is None
            while not stop:  # everything already waiting joins this round
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batches.append(more)
            try:
                if batches and not self._stopping.is_set():
                    self._run(batches)
            finally:
                self._finished(len(batches))
            if stop or self._stopping.is_set():
                return

    def _count(self, **counts: int) -> None:
        with self._stats_lock:
            for name, n in counts.items():
                setattr(self.stats, name, getattr(self.stats, name) + n)

    # -- the run -----------------------------------------------------------------------------

    def _run(self, batches: Sequence[Sequence[Record]]) -> None:
        records = [r for batch in batches for r in batch]
        if self.notes:
            noted = [self._guarded(f"notes for {r.id}", self._notes.enrich, r) for r in records]
            if self.evolve:
                for note in noted:
                    if note is not None:
                        self._guarded(f"evolution from {note.id}", self._notes.evolve, note)
        if self.facts:
            for record in records:
                if record.kind == "episodic":
                    self._guarded(f"fact extraction for {record.id}", self._tasks.facts, record)
        if self.summaries:
            sessions = dict.fromkeys(
                (r.user_id, r.agent_id, r.session_id) for r in records if r.session_id
            )
            for user_id, agent_id, session_id in sessions:
                self._guarded(
                    f"summary of session {session_id}",
                    self._tasks.summary,
                    user_id,
                    agent_id,
                    session_id,
                )

    def _guarded(self, what: str, step: Any, *args: Any) -> Any:
        """``step(*args)``, or None when stopping or when it raised (logged and counted)."""
        if self._stopping.is_set():
            return None
        # The write path must survive anything: store conflicts, a closed store, bad model output.
        try:
            return step(*args)
        except Exception as exc:
            self._count(errors=1)
            logger.warning("enrichment (%s) failed: %s: %s", what, type(exc).__name__, exc)
            return None

    # -- the tasks ---------------------------------------------------------------------------

    def insights(self, user_id: str, *, agent_id: str | None = None) -> list[Record]:
        """Draw insights across the user's session summaries and store them, in the caller's
        thread (see ``Enrichments.insights``)."""
        return self._tasks.insights(user_id, agent_id=agent_id)
