"""``Memory``: the one library entry point. Every adapter (CLI, REST, MCP) calls these methods."""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from remem import _ids, _registry, _time, _validate
from remem import filters as _filters
from remem._memory_verbs import OrganizeVerbs
from remem.config import Settings, default_path
from remem.embed.base import Embedder, embed
from remem.errors import InvalidInput, NotFound
from remem.guard import policy, trust
from remem.guard.consensus import Lesson
from remem.organize import facts, notes, writer
from remem.retrieve import hierarchy
from remem.store.base import Scope, Store
from remem.types import HistoryEntry, Hit, Page, Record, Vector

if TYPE_CHECKING:
    from remem.llm.enrich import Enricher

MAX_LIMIT = 1000
# A record's sentences with their vectors (see organize.facts), in order.
_Pieces = builtins.list[tuple[str, Vector]]
_QUERY_CACHE = 256


class Memory(OrganizeVerbs):
    """Long-term memory for agents, on an embedded SQLite file by default.

    Args:
        path: the SQLite file (created if missing); default ``default_path()``; ``":memory:"`` for
            a throwaway store.
        store: a backend name ("sqlite", "postgres") or a ready ``Store``.
        embedder: an embedder name ("minilm", "hashing") or a ready ``Embedder``.
        **settings: any ``Settings`` field (``embedder="hashing"``, ``max_content_bytes=...``).

    Raises:
        ConfigError: an unknown setting or backend.
        StoreError: the store cannot be opened.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        store: Store | str | None = None,
        embedder: Embedder | str | None = None,
        **settings: Any,
    ) -> None:
        # A name goes to Settings; an object is used as it is.
        if isinstance(store, str):
            settings["store"], store = store, None
        if isinstance(embedder, str):
            settings["embedder"], embedder = embedder, None
        self.settings = Settings.from_env(**settings)
        self.embedder = embedder or self._make_embedder()
        self.store = store or self._open_store(path)
        self._query_vectors: OrderedDict[str, Vector] = OrderedDict()
        self._query_lock = threading.Lock()
        self._enricher_lock = threading.Lock()

    def _make_embedder(self) -> Embedder:
        s = self.settings
        cls = _registry.resolve("embedder", s.embedder)
        if s.embedder == "hashing":
            return cls(dims=s.dims)  # type: ignore[no-any-return]
        if s.embedder in ("minilm", "sentence-transformers"):
            return cls(s.embed_model, dims=s.dims)  # type: ignore[no-any-return]
        return cls()  # type: ignore[no-any-return]

    def _open_store(self, path: str | Path | None) -> Store:
        s = self.settings
        cls = _registry.resolve("store", s.store)
        if s.store in ("postgres", "postgresql"):
            return cls(s.store_url, dims=s.dims, **s.options.get("postgres", {}))  # type: ignore[no-any-return]
        return cls(path if path is not None else default_path(), dims=s.dims)  # type: ignore[no-any-return]

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Finish background enrichment (30 s at most), then close the store. Not usable after."""
        enricher = getattr(self, "_enricher", None)
        if enricher is not None:
            enricher.close()
        client = getattr(self, "_llm_client", None)
        if client is not None and hasattr(client, "close"):
            client.close()
        self.store.close()

    @property
    def enricher(self) -> Enricher | None:
        """The background LLM enricher (made on first use), or None without an LLM."""
        with self._enricher_lock:
            if not hasattr(self, "_enricher"):
                from remem.llm.enrich import enricher_for

                self._enricher: Enricher | None = enricher_for(self)
        return self._enricher

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def add(
        self,
        content: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        speaker: str | None = None,
        occurred_at: Any = None,
        metadata: Mapping[str, Any] | None = None,
        kind: str = "episodic",
        ttl: int | None = None,
        origin: str = "user",
    ) -> Record:
        """Store one memory.

        Args:
            content: the text to remember (non-empty, at most ``max_content_bytes`` of UTF-8).
            user_id: the scope's owner; required.
            agent_id: optional agent within the scope.
            session_id: optional session (conversation) the memory belongs to.
            speaker: who said or did it.
            occurred_at: when it happened (datetime or ISO 8601); default now.
            metadata: a JSON object kept with the memory.
            kind: "episodic", "semantic", "procedural" or "core".
            ttl: seconds until the memory expires and is forgotten (default: the
                ``default_ttl`` setting, or never).
            origin: where it came from: "user", "agent", "tool", "import" or "derived"; sets
                its starting trust.

        Returns:
            The stored Record.

        Raises:
            InvalidInput: bad input; nothing is stored.
        """
        item = {
            "content": content,
            "user_id": user_id,
            "agent_id": agent_id,
            "session_id": session_id,
            "speaker": speaker,
            "occurred_at": occurred_at,
            "metadata": metadata,
            "kind": kind,
            "ttl": ttl,
            "origin": origin,
        }
        s = self.settings
        clean = _validate.add_item(
            item, max_content=s.max_content_bytes, max_metadata=s.max_metadata_bytes
        )
        return self._store_new([clean])[0]

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        """Store many memories in one transaction with batched embedding: all or nothing.

        Args:
            items: mappings with the keyword arguments of ``add``.

        Returns:
            The stored Records, in input order.

        Raises:
            InvalidInput: any item is bad (the message names its index); nothing is stored.
        """
        if isinstance(items, Mapping | str | bytes):
            raise InvalidInput("add_many takes an iterable of mappings, not a single value")
        s = self.settings
        clean = []
        for i, item in enumerate(items):
            if i >= s.max_batch:
                raise InvalidInput(f"a batch holds at most {s.max_batch} items")
            try:
                clean.append(
                    _validate.add_item(
                        item, max_content=s.max_content_bytes, max_metadata=s.max_metadata_bytes
                    )
                )
            except InvalidInput as exc:
                raise type(exc)(f"item {i}: {exc}") from exc
        return self._store_new(clean)

    def _store_new(self, clean: builtins.list[dict[str, Any]]) -> builtins.list[Record]:
        if not clean:
            return []
        at = _time.now()
        records = []
        lessons: dict[str, builtins.list[Lesson]] = {}

        def known(user_id: str) -> builtins.list[Lesson]:
            if user_id not in lessons:
                lessons[user_id] = policy.lessons(self.store, user_id)
            return lessons[user_id]

        for fields in clean:
            occurred = fields.pop("occurred_at") or at
            ttl = fields.pop("ttl") or self.settings.default_ttl
            note = notes.extract(fields["content"], occurred_at=occurred, speaker=fields["speaker"])
            record = Record(
                id=_ids.new_id(),
                occurred_at=occurred,
                created_at=at,
                updated_at=at,
                valid_from=occurred,
                keywords=note.keywords,
                entities=note.entities,
                dates=note.dates,
                expires_at=at + timedelta(seconds=ttl) if ttl else None,
                **fields,
            )
            if self.settings.guard:
                record = policy.screen(record, known(record.user_id))
            records.append(record)
        vectors, pieces = self._embed_records(records)
        results: dict[int, Record] = {}
        if self.settings.organize:
            for i, (record, vector) in enumerate(zip(records, vectors, strict=True)):
                if record.level != "record":
                    continue  # quarantined: never merged into what is trusted
                old = writer.duplicate_of(self.store, record, vector)
                if old is not None:
                    results[i] = self._merge(old, record, at)
        fresh = [i for i in range(len(records)) if i not in results]
        new_records = [records[i] for i in fresh]
        history = [
            HistoryEntry(
                memory_id=r.id, version=1, op="add", at=at, actor=r.origin, after=r.to_dict()
            )
            for r in new_records
        ]
        self.store.insert(new_records, vectors[fresh], history)
        self._learn([r for r in new_records if r.level == policy.QUARANTINE], at)
        kept = [i for i, r in zip(fresh, new_records, strict=True) if r.level == "record"]
        if self.settings.organize and kept:
            claims = writer.organize(
                self.store,
                [records[i] for i in kept],
                vectors[kept],
                at=at,
                embed_one=self._embed_record,
                order=self.settings.trust_order,
            )
            new_records = [claims.get(r.id, r) for r in new_records]
            self._put_facts([records[i] for i in kept], [pieces[i] for i in kept])
        results.update(zip(fresh, new_records, strict=True))
        enricher = self.enricher
        if enricher is not None:
            enricher.submit(new_records)  # returns at once, never raises
        return [results[i] for i in range(len(records))]

    def _learn(self, caught: builtins.list[Record], at: datetime) -> None:
        """A lesson for each record the guard quarantined (see ``policy.lesson_records``)."""
        learned = policy.lesson_records(caught, at) if caught else []
        if learned:
            # Lessons are matched by signature, never by similarity: they need no vector.
            self.store.put_derived(
                learned, np.zeros((len(learned), self.embedder.dims), dtype=np.float32)
            )

    def _merge(self, old: Record, new: Record, at: datetime) -> Record:
        absorb = trust.may_override(
            new.origin, new.trust, old.origin, old.trust, self.settings.trust_order
        )
        return writer.new_version(
            self.store,
            old,
            writer.merged(old, new, at, absorb=absorb),
            None,
            op="merge" if absorb else "corroborate",
            at=at,
            reason=(
                f"near-duplicate add merged: {new.content[:200]}"
                if absorb
                else f"repeated by a less trusted {new.origin} write {new.id}: {new.content[:200]}"
            ),
            actor=new.origin,
        )

    def update(
        self,
        id: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> Record:
        """Change a memory's content and/or metadata, making a new version (the old one is in history).

        Args:
            id: the memory to change.
            content: the new content, if it changes.
            metadata: the new metadata (replaces the old), if it changes.
            user_id: if given, the memory must belong to this user.
            reason: why, recorded in history.

        Returns:
            The new version.

        Raises:
            NotFound: no such memory (in this user's scope).
            InvalidInput: bad content or metadata, or nothing to change.
            Conflict: another writer changed it first.
        """
        if content is None and metadata is None:
            raise InvalidInput("update needs content or metadata")
        reason = _validate.reason(reason)
        s = self.settings
        new_content = (
            None
            if content is None
            else _validate.text(content, field="content", max_bytes=s.max_content_bytes)
        )
        new_meta = (
            None
            if metadata is None
            else _validate.metadata(metadata, max_bytes=s.max_metadata_bytes)
        )
        old = self.get(id, user_id=user_id)
        at = _time.now()
        new = replace(
            old,
            content=old.content if new_content is None else new_content,
            metadata=old.metadata if new_meta is None else new_meta,
            version=old.version + 1,
            updated_at=at,
        )
        vector, pieces = None, None
        if new.content != old.content:
            note = notes.extract(new.content, occurred_at=new.occurred_at, speaker=new.speaker)
            # An LLM's tags and context described the old text: they go with it.
            new = replace(
                new,
                keywords=note.keywords,
                entities=note.entities,
                dates=note.dates,
                tags=(),
                context=None,
            )
            vectors, embedded = self._embed_records([new])
            vector, pieces = vectors[0], {new.id: embedded[0]}
        if s.guard:
            new = self._rescreen(old, new)
        entry = HistoryEntry(
            memory_id=id,
            version=new.version,
            op="update",
            at=at,
            actor="user",
            reason=reason,
            before=old.to_dict(),
            after=new.to_dict(),
        )
        self.store.replace(new, vector, entry)
        if new.level == policy.QUARANTINE and old.level != policy.QUARANTINE:
            self._learn([new], at)
            pieces = pieces or {}
        if pieces is not None:  # metadata alone changes nothing derived (units hold no metadata)
            self._refresh(new, pieces=pieces)
        return new

    def _rescreen(self, old: Record, new: Record) -> Record:
        """An update passes the guard like an add. New text is judged afresh (a competing claim
        stays one); a metadata change keeps the record's flags and level (a memory the user
        restored stays restored) unless the metadata itself brings a quarantining flag."""
        known = policy.lessons(self.store, new.user_id)
        if new.content != old.content:
            return policy.screen(new, known, keep=(trust.CONFLICT,))
        meta = policy.assess(" ", new.origin, (), metadata=new.metadata).flags
        if policy.QUARANTINE_FLAGS.intersection(meta):
            return policy.screen(new, known, keep=old.flags)
        return replace(new, flags=tuple(dict.fromkeys((*old.flags, *meta))))

    def delete(self, id: str, *, user_id: str | None = None, reason: str | None = None) -> None:
        """Delete a memory from every index; its history keeps a copy of the last version.

        Raises:
            NotFound: no such memory (in this user's scope).
        """
        reason = _validate.reason(reason)
        record = self.get(id, user_id=user_id)
        if self.store.remove([id], op="delete", actor="user", reason=reason) == 0:
            raise NotFound(f"memory {id} not found")
        self._refresh(record)

    def purge(self, *, user_id: str) -> int:
        """Hard-delete everything of one user, history included (right to be forgotten).

        Returns:
            How many memories were removed.
        """
        uid = _validate.ident(user_id, field="user_id", required=True)
        assert uid is not None
        return self.store.purge(uid)

    # -- reads ------------------------------------------------------------------------------

    def get(self, id: str, *, user_id: str | None = None) -> Record:
        """Return one memory.

        Args:
            id: its id.
            user_id: if given, a memory of another user is reported as not found.

        Raises:
            NotFound: no such memory (in this user's scope).
        """
        _validate.ident(id, field="id", required=True)
        record = self.store.get_many([id]).get(id)
        if record is None or (user_id is not None and record.user_id != user_id):
            raise NotFound(f"memory {id} not found")
        return record

    def list(
        self,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """List one scope's memories in id (creation) order, a page at a time.

        Returns:
            A Page: iterate it for the records; pass ``next_cursor`` back for the next page.
        """
        scope = self._scope(user_id, agent_id, session_id, filters)
        _validate.positive(limit, field="limit", maximum=MAX_LIMIT * 10)
        _validate.ident(cursor, field="cursor")
        return self.store.list(scope, limit=limit, cursor=cursor)

    def history(self, id: str, *, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        """Every version of a memory, oldest first: when, what (op), who, why, before and after.

        Args:
            id: the memory (it may have been deleted since).
            user_id: if given, another user's memory is reported as not found.

        Raises:
            NotFound: the id never existed, belongs to another user, or its user was purged.
        """
        _validate.ident(id, field="id", required=True)
        entries = self.store.history(id)
        if user_id is not None and entries:
            snapshot = entries[0].after or entries[0].before or {}
            if snapshot.get("user_id") != user_id:
                entries = []
        if not entries:
            raise NotFound(f"no history for memory {id}")
        return entries

    def search(
        self,
        query: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        as_of: Any = None,
        level: str = "record",
    ) -> builtins.list[Hit]:
        """Find the memories of one scope that bear on ``query``, best first.

        Args:
            query: what to look for, in natural language.
            user_id: the scope; nothing of another user is ever returned.
            agent_id: narrow to one agent.
            session_id: narrow to one session.
            limit: how many hits (1 to 1000).
            filters: field conditions, see ``remem.filters``.
            as_of: a past moment (datetime or ISO 8601): see what was known and valid then,
                superseded facts included.
            level: "record" (what was stored), "session" (the derived session units) or "fact"
                (the derived one-sentence fact units).

        Returns:
            Hits with the record, a score (higher is better) and ``explain``: the rank in each
            retriever that found it and what each other component added.

        Raises:
            InvalidInput: an empty query, a bad scope, filter, time or level.
        """
        query = _validate.text(query, field="query", max_bytes=self.settings.max_content_bytes)
        limit = _validate.positive(limit, field="limit", maximum=MAX_LIMIT)
        _validate.choice(level, field="level", options=("record", "session", "fact"))
        scope = replace(
            self._scope(user_id, agent_id, session_id, filters),
            as_of=_time.parse(as_of, field="as_of"),
            levels=(level,),
        )
        s = self.settings
        coarse = level != "record"
        weights = hierarchy.Weights(
            vector=s.vector_weight,
            fact=s.fact_weight,
            session=0.0 if coarse else s.session_weight,
            lift=0.0 if coarse else s.lift_weight,
            neighbor=0.0 if coarse else s.neighbor_weight,
            link=0.0 if coarse else s.link_weight,
            speaker=s.speaker_weight,
            time=s.time_weight,
            substance=s.substance_weight,
            router=s.router,
        )
        hits = hierarchy.search(
            self.store,
            query,
            self._query_vector(query),
            scope,
            limit=limit,
            candidates=s.candidates,
            rrf_k=s.rrf_k,
            weights=weights,
            now=_time.now,
        )
        return self._review(hits, scope.user_id) if s.guard else hits

    def _review(self, hits: builtins.list[Hit], user_id: str) -> builtins.list[Hit]:
        """The guard's read-time pass: consensus, lessons and trust reorder and flag the hits."""
        if not hits:
            return hits
        explain = {h.record.id: h.explain for h in hits}
        claims = [h.record.id for h in hits if trust.CONFLICT in h.record.flags]
        rivals: dict[str, builtins.list[str]] = {}
        for link in self.store.links(claims) if claims else []:
            if link.relation == trust.CONFLICT and link.a in explain:
                rivals.setdefault(link.a, []).append(link.b)
        for claim, contested in rivals.items():
            explain[claim] = {**explain[claim], "conflict": {"contests": contested}}
        reviewed = policy.review(
            [(h.record, h.score) for h in hits],
            self.store.vectors([h.record.id for h in hits]),
            policy.lessons(self.store, user_id),
            rivals,
        )
        return [Hit(r, score, explain[r.id], flags) for r, score, flags in reviewed]

    # -- export / import --------------------------------------------------------------------

    # -- helpers ----------------------------------------------------------------------------

    def _scope(
        self,
        user_id: Any,
        agent_id: Any,
        session_id: Any,
        filters: Mapping[str, Any] | None,
    ) -> Scope:
        uid = _validate.ident(user_id, field="user_id", required=True)
        assert uid is not None
        return Scope(
            user_id=uid,
            agent_id=_validate.ident(agent_id, field="agent_id"),
            session_id=_validate.ident(session_id, field="session_id"),
            conditions=tuple(_filters.parse(filters)),
        )

    def _all(self, scope: Scope) -> builtins.list[Record]:
        out: builtins.list[Record] = []
        cursor = None
        while True:
            page = self.store.list(scope, limit=1000, cursor=cursor)
            out.extend(page.records)
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    def _refresh(self, *records: Record, pieces: Mapping[str, _Pieces] | None = None) -> None:
        """Rebuild what is derived from ``records`` after they changed or went: session units and
        fact units (a record no longer stored, or no longer trusted, keeps none). ``pieces``: the
        sentences and vectors already embedded for some of them, by id (not embedded again)."""
        if not self.settings.organize:
            return
        sessions = {(r.user_id, r.session_id) for r in records if r.session_id}
        writer.refresh_sessions(self.store, sessions, at=_time.now())
        self.store.drop_derived([f for r in records for f in facts.all_ids(r.id)])
        current = self.store.get_many([r.id for r in records])
        live = [r for r in current.values() if r.level == "record"]
        known = pieces or {}
        missing = [r for r in live if r.id not in known]
        embedded = dict(zip((r.id for r in missing), self._embed_records(missing)[1], strict=True))
        if live:
            self._put_facts(live, [known.get(r.id) or embedded[r.id] for r in live])

    def _put_facts(self, records: builtins.list[Record], pieces: builtins.list[_Pieces]) -> None:
        at = _time.now()
        units = [
            unit
            for record, parts in zip(records, pieces, strict=True)
            for unit in facts.fact_units(
                record,
                [text for text, _ in parts],
                np.asarray([v for _, v in parts], dtype=np.float32),
                at=at,
            )
        ]
        if units:
            self.store.put_derived([u for u, _ in units], np.vstack([v for _, v in units]))

    def _embed_record(self, record: Record) -> Vector:
        vectors, _ = self._embed_records([record])
        vector: Vector = vectors[0]
        return vector

    def _embed_records(
        self, records: builtins.list[Record]
    ) -> tuple[Vector, builtins.list[_Pieces]]:
        """Each record's vector (its sentences' pooled vectors, see ``organize.facts``) and its
        sentences with their vectors, all embedded in one batch."""
        split = [facts.sentences(r.content) for r in records]
        texts = [
            t
            for r, parts in zip(records, split, strict=True)
            for t in facts.embed_texts(parts, r.speaker)
        ]
        flat = self._embed(texts)
        pooled = np.zeros((len(records), self.embedder.dims), dtype=np.float32)
        pieces: builtins.list[_Pieces] = []
        start = 0
        for i, parts in enumerate(split):
            block = flat[start : start + len(parts)]
            start += len(parts)
            pooled[i] = facts.pool(block) if len(parts) > 1 else block[0]
            pieces.append(list(zip(parts, block, strict=True)))
        return pooled, pieces

    def _embed(self, texts: builtins.list[str]) -> Vector:
        return embed(self.embedder, texts, batch_size=self.settings.embed_batch_size)

    def _query_vector(self, query: str) -> Vector:
        with self._query_lock:
            cached = self._query_vectors.get(query)
            if cached is not None:
                self._query_vectors.move_to_end(query)
                return cached
        vector: Vector = self._embed([query])[0]  # outside the lock: embedding is the slow part
        with self._query_lock:
            self._query_vectors[query] = vector
            while len(self._query_vectors) > _QUERY_CACHE:
                self._query_vectors.popitem(last=False)
        return vector
