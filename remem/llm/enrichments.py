"""What each enrichment does (see ``remem.llm.enrich`` for the whole story): facts from an
episodic record, a session's summary, insights across summaries. ``Enrichments`` writes them
through a ``MemoryPort``; ``remem.llm.enrich.Enricher`` runs them in its background thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from remem import _time
from remem.llm import tasks
from remem.llm.base import LLMClient
from remem.ports import MemoryPort
from remem.types import HistoryEntry, Link, Record

logger = logging.getLogger("remem.llm")

FACT, SUMMARY, INSIGHT = "fact", "summary", "insight"
KNOWN_FACTS = 5
MIN_SESSION_TURNS = 2
# Keeps a long session's summary metadata well under max_metadata_bytes.
MAX_SOURCES = 500
_PAGE = 1000


class Enrichments:
    """The enrichment tasks over one memory.

    Args:
        memory: where the records live and where derived records go.
        llm: the model; None makes every task a no-op.
        count: adds to the runner's stats (``count(facts_added=1)``).
        stopping: True once the runner is stopping: a task stops between its writes.
    """

    def __init__(
        self,
        memory: MemoryPort,
        llm: LLMClient | None,
        *,
        count: Callable[..., None],
        stopping: Callable[[], bool],
    ) -> None:
        self.memory = memory
        self.llm = llm
        self._count = count
        self._stopping = stopping

    def facts(self, record: Record) -> None:
        """Extract facts from an episodic ``record`` and add, update or supersede the user's known
        facts (see ``remem.llm.enrich``)."""
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
            if self._stopping():
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

    def summary(self, user_id: str, agent_id: str | None, session_id: str) -> None:
        """Write (or refresh) the summary of one session of at least ``MIN_SESSION_TURNS`` turns."""
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


def _union(existing: object, more: Iterable[str]) -> list[str]:
    have = [str(x) for x in existing] if isinstance(existing, list) else []
    return list(dict.fromkeys([*have, *more]))[-MAX_SOURCES:]
