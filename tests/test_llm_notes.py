"""LLM notes (A-MEM) on the write path: keywords, tags and a one-line context for each new memory,
and evolution of its neighbours' notes, written by a real Enricher through a real Memory against
the scripted chat server; no version bump, history says who and why, failures change nothing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remem import Memory
from remem.llm import LLMSettings, tasks
from remem.llm.enrich import Enricher
from remem.llm.openai_compat import OpenAICompatClient
from remem.store.base import Scope, Store
from remem.store.postgres import PostgresStore
from remem.store.sqlite import SQLiteStore
from remem.types import HistoryEntry, Record
from tests.llm_server import Reply, ScriptedLLMServer

pytest_plugins = ["pg_server"]

NOTE = "Describe this memory note"
EVOLVE = "A new note joined"
FACTS = "Extract durable facts"
SUMMARY = "Summarize this conversation session"
WHEN = "2023-05-08T10:00:00"


@pytest.fixture
def llm(llm_server: ScriptedLLMServer) -> Iterator[OpenAICompatClient]:
    settings = LLMSettings(base_url=llm_server.url, model="m", timeout=2.0, max_retries=0)
    with OpenAICompatClient(settings) as client:
        yield client


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    # No LLM on the Memory itself: these tests drive an Enricher with only the notes steps on.
    with Memory(tmp_path / "m.db", embedder="hashing") as m:
        yield m


@pytest.fixture
def enricher(memory: Memory, llm: OpenAICompatClient) -> Iterator[Enricher]:
    made = Enricher(memory, llm, background=False, facts=False, summaries=False)
    yield made
    made.close(timeout=5)


def _add(memory: Memory, content: str, **kw: Any) -> Record:
    args: dict[str, Any] = {"user_id": "u", "speaker": "Ana", "occurred_at": WHEN}
    return memory.add(content, **{**args, **kw})


def _note(keywords: list[str], tags: list[str], context: str) -> dict[str, Any]:
    return {"keywords": keywords, "tags": tags, "context": context}


def _ops(memory: Memory, record: Record) -> list[str]:
    return [e.op for e in memory.history(record.id)]


def test_notes_are_written_searchable_and_in_history_without_a_new_version(
    memory: Memory, enricher: Enricher, llm_server: ScriptedLLMServer
) -> None:
    llm_server.route(
        NOTE,
        _note(
            ["fern", "Balcony garden", "FERN"],
            ["Gardening", "#home", "gardening", "x" * 41],
            " Ana looks after   her\n balcony plants. ",
        ),
    )
    fern = _add(memory, "I repotted the fern on the balcony", metadata={"k": 1})
    other = _add(memory, "I paid the electricity bill")
    assert memory.store.bm25(["gardening"], Scope("u"), limit=5) == []
    enricher.submit([fern])

    got = memory.get(fern.id)
    assert got.tags == ("gardening", "home")  # labels: lower-cased, no '#', no repeats, bounded
    assert got.context == "Ana looks after her balcony plants."
    assert got.keywords == (*fern.keywords, "Balcony garden")  # the model's added, no repeats
    # Notes are not what the user stored: content, metadata, version and updated_at stay.
    assert (got.content, got.metadata, got.version, got.updated_at) == (
        fern.content,
        {"k": 1},
        1,
        fern.updated_at,
    )
    [add, enrich] = memory.history(fern.id)
    assert (add.op, enrich.op, enrich.actor, enrich.version) == ("add", "enrich", "llm", 1)
    assert enrich.before is not None and enrich.after is not None
    assert (enrich.before["tags"], enrich.after["tags"]) == ([], ["gardening", "home"])
    assert enrich.after["context"] == got.context
    # A tag word and a context word are found by full text, and by search.
    [(hit, _)] = memory.store.bm25(["gardening"], Scope("u"), limit=5)
    assert hit == fern.id
    assert memory.store.bm25(["plants"], Scope("u"), limit=5)[0][0] == fern.id
    assert memory.search("gardening", user_id="u", limit=1)[0].record.id == fern.id
    prompt = llm_server.prompts(NOTE)[0]
    assert "[2023-05-08] Ana: I repotted the fern on the balcony" in prompt
    assert enricher.stats.notes == 1 and enricher.stats.notes_failed == 0
    assert memory.get(other.id).tags == ()  # only what was submitted
    # The user's next update, based on the version add returned, does not conflict; notes stay.
    updated = memory.update(fern.id, metadata={"k": 2})
    assert updated.version == 2 and updated.tags == got.tags and updated.context == got.context


def test_a_new_note_evolves_its_neighbours_notes_and_history_says_why(
    memory: Memory, enricher: Enricher, llm_server: ScriptedLLMServer
) -> None:
    flights = _add(memory, "Booked the flights for the Lisbon trip in May")
    llm_server.route(NOTE, _note(["flights"], ["travel"], "Ana booked flights."))
    enricher.submit([flights])
    llm_server.routes.clear()

    def evolve(prompt: str) -> dict[str, Any]:
        assert "1. [2023-05-08] Ana: Booked the flights for the Lisbon trip in May" in prompt
        assert "tags: travel" in prompt and "context: Ana booked flights." in prompt
        updates = [
            {"neighbor": 1, "tags": ["Travel", "lisbon"], "context": "Part of the May trip."},
            {"neighbor": 9, "tags": ["nothing"]},  # names no neighbour: dropped
        ]
        return {"updates": updates}

    llm_server.route(NOTE, _note(["hotel"], ["travel", "lisbon"], "Ana's Lisbon trip in May."))
    llm_server.route(EVOLVE, evolve)
    hotel = _add(memory, "The Lisbon trip in May: booked the hotel near the river")
    enricher.submit([hotel])

    got = memory.get(flights.id)
    assert got.tags == ("travel", "lisbon") and got.context == "Part of the May trip."
    assert got.content == flights.content and got.version == 1
    assert _ops(memory, flights) == ["add", "enrich", "evolve"]
    last = memory.history(flights.id)[-1]
    assert (last.actor, last.version) == ("llm", 1)
    assert last.reason is not None and hotel.id in last.reason
    # The new note's own notes were written before, and shown to the model.
    assert memory.get(hotel.id).context == "Ana's Lisbon trip in May."
    assert "New note:\n[2023-05-08] Ana: The Lisbon trip" in llm_server.prompts(EVOLVE)[0]
    assert len(llm_server.prompts(EVOLVE)) == 1  # one call per new note
    assert enricher.stats.evolved == 1
    assert memory.store.bm25(["lisbon"], Scope("u"), limit=5)  # the evolved tag is indexed


def test_without_an_llm_there_are_no_tags_context_or_history(memory: Memory) -> None:
    assert memory.enricher is None
    record = _add(memory, "I repotted the fern on the balcony")
    got = memory.get(record.id)
    assert got.tags == () and got.context is None and got.keywords == record.keywords
    assert _ops(memory, record) == ["add"]
    assert tasks.evolve_notes(tasks.NoteView("x"), [tasks.NoteView("y")]) is None
    assert tasks.enrich_note("x", fallback=False) is None


@pytest.mark.parametrize(
    "answer",
    [
        Reply(status=500, body='{"error": {"message": "down"}}'),
        "this is not JSON {",
        {"summary": "a reply for another task"},
        _note(["fern"], ["plants"], "   "),  # valid JSON, but no context: junk
        _note(["fern"], "plants", "tags are not a list"),  # type: ignore[arg-type]
    ],
    ids=["model-down", "malformed", "schema-ignored", "empty-context", "wrong-type"],
)
def test_a_failed_note_keeps_the_heuristic_notes_and_is_counted(
    memory: Memory, enricher: Enricher, llm_server: ScriptedLLMServer, answer: object
) -> None:
    neighbour = _add(memory, "Watered the fern on the balcony")
    llm_server.route(NOTE, answer)
    llm_server.route(EVOLVE, {"updates": [{"neighbor": 1, "tags": ["never"]}]})
    record = _add(memory, "I repotted the fern on the balcony")
    enricher.submit([record])
    got = memory.get(record.id)
    assert got == record  # heuristic keywords kept; no tags, no context, same version
    assert got.tags == () and got.context is None
    assert _ops(memory, record) == ["add"]
    assert enricher.stats.notes_failed == 1 and enricher.stats.notes == 0
    assert llm_server.prompts(EVOLVE) == []  # no evolution from a note that has no notes
    assert memory.get(neighbour.id) == neighbour


def test_a_failed_evolution_changes_no_neighbour_and_is_counted(
    memory: Memory, enricher: Enricher, llm_server: ScriptedLLMServer
) -> None:
    flights = _add(memory, "Booked the flights for the Lisbon trip in May")
    llm_server.route(NOTE, _note(["trip"], ["travel"], "Ana's May trip."))
    llm_server.route(EVOLVE, Reply(status=503, body='{"error": {"message": "busy"}}'))
    hotel = _add(memory, "The Lisbon trip in May: booked the hotel near the river")
    enricher.submit([hotel])
    assert memory.get(hotel.id).tags == ("travel",)
    assert memory.get(flights.id) == flights
    assert enricher.stats.evolve_failed == 1 and enricher.stats.evolved == 0


def test_evolution_never_crosses_users_or_agents(
    memory: Memory, enricher: Enricher, llm_server: ScriptedLLMServer
) -> None:
    text = "Booked the flights for the Lisbon trip in May"
    mine = _add(memory, text)
    theirs = _add(memory, text, user_id="v")  # another user's near-identical note
    agents = _add(memory, text + "!", agent_id="a2")  # same user, another agent's note
    llm_server.route(NOTE, _note(["trip"], ["travel"], "Ana's May trip."))
    everyone = [{"neighbor": i, "tags": ["evolved"], "context": "Evolved."} for i in range(1, 6)]
    llm_server.route(EVOLVE, {"updates": everyone})
    new = _add(memory, "The Lisbon trip in May: booked the hotel near the river")
    enricher.submit([new])
    assert memory.get(mine.id).tags == ("evolved",)
    assert memory.get(theirs.id) == theirs and _ops(memory, theirs) == ["add"]
    assert memory.get(agents.id) == agents and _ops(memory, agents) == ["add"]
    [prompt] = llm_server.prompts(EVOLVE)
    assert prompt.count("Booked the flights") == 1 and "2. " not in prompt.split("Existing")[1]


def test_a_user_update_during_the_call_wins_and_the_stale_note_is_dropped(
    memory: Memory, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    enricher = Enricher(memory, llm, facts=False, summaries=False)  # background thread
    gate = threading.Event()
    llm_server.route(NOTE, Reply(content=json.dumps(_note([], ["x"], "Stale.")), gate=gate))
    record = _add(memory, "I repotted the fern on the balcony")
    enricher.submit([record])
    deadline = time.monotonic() + 5
    while not llm_server.prompts(NOTE):
        assert time.monotonic() < deadline, "the model was never asked"
        time.sleep(0.01)
    updated = memory.update(record.id, content="I repotted the palm on the balcony")
    gate.set()
    enricher.drain(10)
    enricher.close(timeout=5)
    assert memory.get(record.id) == updated and updated.tags == ()
    assert _ops(memory, record) == ["add", "update"]
    assert enricher.stats.notes == 0 and enricher.stats.errors == 0


def test_tags_and_context_survive_export_and_import(
    memory: Memory, enricher: Enricher, llm_server: ScriptedLLMServer, tmp_path: Path
) -> None:
    llm_server.route(NOTE, _note(["fern"], ["gardening", "home"], "Ana's plants — «ok»."))
    record = _add(memory, "I repotted the fern on the balcony")
    enricher.submit([record])
    out1, out2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert memory.export(out1) == 1
    with Memory(tmp_path / "other.db", embedder="hashing") as other:
        assert other.import_(out1) == 1
        assert other.get(record.id) == memory.get(record.id)
        assert other.history(record.id) == memory.history(record.id)
        assert other.store.bm25(["gardening"], Scope("u"), limit=1)[0][0] == record.id
        other.export(out2)
    assert out1.read_bytes() == out2.read_bytes()
    # A file from before LLM notes (no tags or context fields) still imports, with none.
    old = tmp_path / "old.jsonl"
    lines = [json.loads(line) for line in out1.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        for snapshot in (line, line.get("before") or {}, line.get("after") or {}):
            snapshot.pop("tags", None)
            snapshot.pop("context", None)
    old.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with Memory(tmp_path / "third.db", embedder="hashing") as third:
        assert third.import_(old) == 1
        got = third.get(record.id)
        assert got.tags == () and got.context is None and got.content == record.content


def test_a_store_from_before_m004_gains_empty_notes_and_keeps_its_data(
    tmp_path: Path, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    path = tmp_path / "old.db"
    with Memory(path, embedder="hashing") as first:
        record = _add(first, "I repotted the fern on the balcony")
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE memories DROP COLUMN tags")
        conn.execute("ALTER TABLE memories DROP COLUMN context")
        conn.execute("DELETE FROM _remem_migrations WHERE name = 'm004_note_tags_and_context'")
    conn.close()
    with Memory(path, embedder="hashing") as again:
        assert again.get(record.id) == record
        llm_server.route(NOTE, _note([], ["gardening"], "Ana's plants."))
        enricher = Enricher(again, llm, background=False, facts=False, summaries=False)
        enricher.submit([record])
        assert again.get(record.id).tags == ("gardening",)


def test_memory_with_an_llm_notes_its_own_adds_and_never_its_derived_records(
    tmp_path: Path, llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEM_LLM_MAX_RETRIES", "0")
    llm_server.route(NOTE, lambda p: _note([], ["pets"], "About Miso." if "Miso" in p else "Tea."))
    llm_server.route(EVOLVE, {"updates": []})
    llm_server.route(FACTS, {"operations": [{"op": "add", "fact": "Ana has a cat named Miso"}]})
    llm_server.route(SUMMARY, {"summary": "Ana talked about her cat Miso."})
    with Memory(
        tmp_path / "m.db",
        embedder="hashing",
        llm_base_url=llm_server.url,
        llm_model="m",
    ) as m:
        a = _add(m, "My cat Miso sleeps all day", session_id="s")
        b = _add(m, "I drink tea every morning", session_id="s")
        assert m.enricher is not None
        m.enricher.drain(10)
        assert m.get(a.id).context == "About Miso." and m.get(b.id).context == "Tea."
        derived = list(m.list(user_id="u", filters={"origin": "derived"}))
        assert derived and all(r.tags == () and r.context is None for r in derived)
        stats = m.enricher.stats
        assert (stats.notes, stats.notes_failed, stats.errors) == (2, 0, 0)
    assert len(llm_server.prompts(NOTE)) == 2  # one per stored record, none per derived one


def test_evolve_notes_parses_and_bounds_the_models_changes(
    llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    llm_server.json(
        {
            "updates": [
                {"neighbor": 2, "context": "  first\n line  "},
                {"neighbor": 1, "tags": ["A", "a", "#B"]},
                {"neighbor": 2, "tags": ["later wins"]},
                {"neighbor": 1},  # changes nothing
                {"neighbor": 0, "tags": ["x"]},
            ]
        }
    )
    near = [tasks.NoteView("one", ("t",), "c"), tasks.NoteView("two")]
    changes = tasks.evolve_notes(tasks.NoteView("new"), near, llm=llm)
    assert changes == [
        tasks.NoteChange(0, ("a", "b"), None),
        tasks.NoteChange(1, ("later wins",), None),
    ]
    assert tasks.evolve_notes(tasks.NoteView("new"), [], llm=llm) == []
    assert len(llm_server.requests) == 1


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        made: Store = SQLiteStore(tmp_path / "s.db", dims=4)
    else:
        made = PostgresStore(request.getfixturevalue("pg_fresh_url"), dims=4, pool_size=2)
    yield made
    made.close()


def test_update_notes_keeps_the_version_and_refuses_a_stale_one(store: Store) -> None:
    assert "notes" in store.capabilities
    notes: Any = store  # update_notes is the "notes" capability, not part of the Store protocol
    at = datetime(2023, 5, 8, tzinfo=UTC)
    base = Record(
        id="r1",
        user_id="u",
        content="repotted the fern",
        keywords=("fern",),
        created_at=at,
        updated_at=at,
        occurred_at=at,
    )
    store.insert([base], np.eye(4, dtype=np.float32)[:1], [])
    noted = dataclass_replace(base, keywords=("fern", "balcony"), tags=("gardening",), context="c")
    entry = HistoryEntry("r1", 1, "enrich", at, "llm", "notes", base.to_dict(), noted.to_dict())
    assert notes.update_notes(noted, entry) is True
    assert store.get_many(["r1"])["r1"] == noted
    assert store.history("r1") == [entry]
    assert [i for i, _ in store.bm25(["gardening"], Scope("u"), limit=5)] == ["r1"]
    assert [i for i, _ in store.bm25(["balcony"], Scope("u"), limit=5)] == ["r1"]
    # A stale read (the record moved on to version 2) writes nothing.
    newer = dataclass_replace(noted, content="repotted the palm", version=2)
    store.replace(newer, None, dataclass_replace(entry, op="update", version=2))
    assert notes.update_notes(dataclass_replace(noted, tags=("stale",)), entry) is False
    assert store.get_many(["r1"])["r1"] == newer  # the update carried the tags and context
    assert store.bm25(["stale"], Scope("u"), limit=5) == []
    assert notes.update_notes(dataclass_replace(newer, user_id="v"), entry) is False  # not v's
    assert len(store.history("r1")) == 2


def test_notes_and_evolution_on_postgres(
    pg_fresh_url: str, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    with Memory(embedder="hashing", store="postgres", store_url=pg_fresh_url) as memory:
        flights = _add(memory, "Booked the flights for the Lisbon trip in May")
        llm_server.route(NOTE, _note(["trip"], ["travel"], "Ana's May trip."))
        llm_server.route(EVOLVE, {"updates": [{"neighbor": 1, "context": "Lisbon, in May."}]})
        hotel = _add(memory, "The Lisbon trip in May: booked the hotel near the river")
        enricher = Enricher(memory, llm, background=False, facts=False, summaries=False)
        enricher.submit([hotel])
        assert memory.get(hotel.id).tags == ("travel",)
        assert memory.get(flights.id).context == "Lisbon, in May."
        assert memory.get(flights.id).version == 1
        assert _ops(memory, flights) == ["add", "evolve"]
        assert memory.search("travel", user_id="u", limit=1)[0].record.id == hotel.id
