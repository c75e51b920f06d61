"""Background LLM enrichment of the write path: notes, facts, session summaries, (on request) insights.

An add never waits for enrichment and never fails because of it. ``Memory`` hands the records it
just stored to ``Enricher.submit``, which only puts them on a bounded queue; when the queue is full
that batch is skipped (logged and counted in ``stats``), so adds never block. One daemon thread
works the queue, taking every batch waiting at once so a burst of adds costs one summary per session.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from remem import _time
from remem.llm import tasks
from remem.llm.base import LLMClient
from remem.llm.notes import NoteWriter, eligible
from remem.ports import MemoryPort
from remem.types import HistoryEntry, Link, Record

logger = logging.getLogger("remem.llm")

FACT, SUMMARY, INSIGHT = "fact", "summary", "insight"
KNOWN_FACTS = 5
MIN_SESSION_TURNS = 2
# Keeps a long session's summary metadata well under max_metadata_bytes.
MAX_SOURCES = 500
_PAGE = 1000


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
        batch = [r for r in records if _eligible(r)]
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

    # -- the work ----------------------------------------------------------------------------

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
                    self._guarded(f"fact extraction for {record.id}", self._facts_for, record)
        if self.summaries:
            sessions = dict.fromkeys(
                (r.user_id, r.agent_id, r.session_id) for r in records if r.session_id
            )
            for user_id, agent_id, session_id in sessions:
                self._guarded(
                    f"summary of session {session_id}",
                    self._summarize,
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

    def _facts_for(self, record: Record) -> None:
        hits = self.memory.search(
            record.content,
            user_id=record.user_id,
            agent_id=record.agent_id,
            limit=KNOWN_FACTS,
            filters={"origin": "derived", "metadata.derived": FACT},
        )
        known = [h.record for h in hits]
        ops = tasks.extract_facts(describe(record), [f.content for f in known], llm=self.llm)
        for op in ops:
            if self._stopping.is_set():
                return
            if op.op == "add":
                self._add_fact(record, op.fact)
            elif op.op == "update" and op.target_index is not None:
                self._update_fact(record, known[op.target_index], op.fact)
            elif op.op == "supersede" and op.target_index is not None:
                new = self._add_fact(record, op.fact)
                self._close(known[op.target_index], new, record)

    def _add_fact(self, record: Record, fact: str) -> Record:
        added = self._add_derived(
            fact, record, occurred_at=record.occurred_at, meta={"derived": FACT}, sources=[record]
        )
        self._count(facts_added=1)
        return added

    def _update_fact(self, record: Record, target: Record, fact: str) -> None:
        current = self.memory.get(target.id, user_id=record.user_id)
        meta = {**current.metadata, "sources": _union(current.metadata.get("sources"), [record.id])}
        self.memory.update(
            current.id,
            content=fact if fact != current.content else None,
            metadata=meta,
            user_id=record.user_id,
            reason=f"refined by LLM fact extraction from {record.id}",
        )
        self._link(record.user_id, current.id, [record.id])
        self._count(facts_updated=1)

    def _close(self, old: Record, new: Record, record: Record) -> None:
        if new.id == old.id:
            return  # the "new" fact merged into the old one: nothing to close
        current = self.memory.get(old.id, user_id=record.user_id)
        if current.valid_to is not None:
            return  # remem's own supersede closed it when the new fact was added
        until = new.occurred_at or _time.now()
        if current.valid_from is not None and until < current.valid_from:
            logger.info("fact %s is newer than its replacement %s; kept open", old.id, new.id)
            return
        at = _time.now()
        closed = replace(current, valid_to=until, version=current.version + 1, updated_at=at)
        entry = HistoryEntry(
            memory_id=old.id,
            version=closed.version,
            op="supersede",
            at=at,
            actor="remem",
            reason=f"superseded by {new.id} (LLM fact extraction from {record.id})",
            before=current.to_dict(),
            after=closed.to_dict(),
        )
        self.memory.store.replace(closed, None, entry)
        self.memory.store.add_links(record.user_id, [Link(new.id, old.id, "supersedes", 1.0)])
        self._count(facts_superseded=1)

    def _summarize(self, user_id: str, agent_id: str | None, session_id: str) -> None:
        turns = [
            r
            for r in self._all(user_id, agent_id, session_id=session_id)
            if r.origin != "derived" and not r.flags
        ]
        if len(turns) < MIN_SESSION_TURNS:
            return
        turns.sort(key=lambda r: (r.occurred_at or r.created_at or _time.now(), r.id))
        text = tasks.summarize_session([describe(r) for r in turns], llm=self.llm, fallback=False)
        if not text:
            return
        sources = turns[-MAX_SOURCES:]
        meta = {"derived": SUMMARY, "summary_of": session_id, "turns": len(turns)}
        existing = self._all(
            user_id,
            agent_id,
            filters={"metadata.derived": SUMMARY, "metadata.summary_of": session_id},
        )
        if not existing:
            self._add_derived(
                text, turns[0], occurred_at=turns[0].occurred_at, meta=meta, sources=sources
            )
        else:
            old = existing[0]
            new_meta = {**meta, "sources": [r.id for r in sources]}
            if old.content == text and old.metadata == new_meta:
                return
            self.memory.update(
                old.id,
                content=text if text != old.content else None,
                metadata=new_meta,
                user_id=user_id,
                reason=f"summary of session {session_id} refreshed ({len(turns)} turns)",
            )
            self._link(user_id, old.id, [r.id for r in sources])
        self._count(summaries=1)

    def insights(self, user_id: str, *, agent_id: str | None = None) -> list[Record]:
        """Draw insights across the user's session summaries and store them (G-Memory's tier).

        Runs in the caller's thread. Needs summaries: submit (and ``drain``) first. When the model
        fails or finds nothing, the stored insights are left as they are.

        Args:
            user_id: whose memories.
            agent_id: narrow to one agent's summaries (and insights).

        Returns:
            The current insight records (new or repeated); [] when nothing was drawn.
        """
        summaries = self._all(user_id, agent_id, filters={"metadata.derived": SUMMARY})
        if not summaries:
            return []
        summaries.sort(key=lambda r: (r.occurred_at or r.created_at or _time.now(), r.id))
        found = tasks.insights([s.content for s in summaries], llm=self.llm, fallback=False)
        if not found:
            return []
        old = {
            r.content: r
            for r in self._all(user_id, agent_id, filters={"metadata.derived": INSIGHT})
        }
        anchor = summaries[-1]
        out = []
        for text in found:
            kept = old.pop(text, None)
            if kept is None:
                kept = self._add_derived(
                    text,
                    anchor,
                    occurred_at=anchor.occurred_at,
                    meta={"derived": INSIGHT},
                    sources=summaries[-MAX_SOURCES:],
                )
                self._count(insights=1)
            out.append(kept)
        for stale in old.values():
            self.memory.forget(
                stale.id, user_id=user_id, reason="not repeated by a newer insight pass"
            )
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _add_derived(
        self,
        text: str,
        owner: Record,
        *,
        occurred_at: Any,
        meta: Mapping[str, Any],
        sources: Sequence[Record],
    ) -> Record:
        ids = [r.id for r in sources]
        added = self.memory.add(
            text,
            user_id=owner.user_id,
            agent_id=owner.agent_id,
            kind="semantic",
            origin="derived",
            occurred_at=occurred_at,
            metadata={**meta, "sources": ids},
        )
        if added.version > 1:
            added = self._settle_merge(added, ids)
        if added.origin == "derived":  # not when it merged into a record the user stored
            self._link(owner.user_id, added.id, ids)
        return added

    def _settle_merge(self, merged: Record, source_ids: Sequence[str]) -> Record:
        """remem merged the new text into a near-duplicate it had, laying our metadata over that
        record's: give the record its own metadata back, plus these sources if it is derived."""
        last = self.memory.history(merged.id)[-1]
        before = (last.before or {}).get("metadata") if last.op == "merge" else None
        if not isinstance(before, dict):
            return merged
        meta = dict(before)
        if before.get("derived") in (FACT, SUMMARY, INSIGHT):
            meta["sources"] = _union(before.get("sources"), source_ids)
        if meta == merged.metadata:
            return merged
        return self.memory.update(
            merged.id, metadata=meta, reason="metadata kept after merging an LLM-derived duplicate"
        )

    def _link(self, user_id: str, derived_id: str, source_ids: Iterable[str]) -> None:
        links = [Link(derived_id, s, "derived_from", 1.0) for s in source_ids if s != derived_id]
        if links:
            self.memory.store.add_links(user_id, links)

    def _all(
        self,
        user_id: str,
        agent_id: str | None,
        *,
        session_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Record]:
        """Every record of a scope (derived ones only when ``filters`` is given)."""
        where = {"origin": "derived", **filters} if filters is not None else None
        out: list[Record] = []
        cursor = None
        while True:
            page = self.memory.list(
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                filters=where,
                limit=_PAGE,
                cursor=cursor,
            )
            # agent_id=None lists every agent; keep the records of this exact scope.
            out.extend(r for r in page.records if r.agent_id == agent_id)
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor


def describe(record: Record) -> str:
    """A record as the model reads it: ``[2023-05-08] Ana: text`` (date and speaker if known).

    Args:
        record: any record.
    """
    date = f"[{record.occurred_at.strftime('%Y-%m-%d')}] " if record.occurred_at else ""
    who = f"{record.speaker}: " if record.speaker else ""
    return f"{date}{who}{' '.join(record.content.split())}"


_eligible = eligible


def _union(existing: object, more: Iterable[str]) -> list[str]:
    have = [str(x) for x in existing] if isinstance(existing, list) else []
    return list(dict.fromkeys([*have, *more]))[-MAX_SOURCES:]
