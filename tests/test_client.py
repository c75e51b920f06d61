"""remem.client.Client against a real server: the same verbs, types and errors as Memory."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remem import Conflict, HistoryEntry, Hit, InvalidInput, Memory, NotFound, Page, Record
from remem.answer import Answer
from remem.client import Client
from remem.errors import StoreError, TooLarge
from remem.keys import KeyStore, Unauthorized
from remem.server.app import create_app, serve_in_thread
from remem.tenancy import TenantMemory
from remem.types import Link

# Every public verb of Memory but lifecycle and backup (a server-side copy of the whole store,
# an operator's job): a new verb fails the parity test until Client has it.
VERBS = tuple(
    name
    for name, _ in inspect.getmembers(Memory, inspect.isfunction)
    if not name.startswith("_") and name not in ("close", "backup")
)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str], Memory]]:
    tmp = tmp_path_factory.mktemp("client")
    memory = Memory(tmp / "memory.db", embedder="hashing", max_content_bytes=4096)
    keys = KeyStore(tmp / "keys.db")
    tokens = {name: keys.create(name)[1] for name in ("acme", "globex")}
    with serve_in_thread(create_app(memory, keys=keys)) as url:
        yield url, tokens, memory
    memory.close()
    keys.close()


@pytest.fixture
def acme(server: tuple[str, dict[str, str], Memory]) -> Iterator[Client]:
    url, tokens, _ = server
    with Client(url, api_key=tokens["acme"]) as client:
        yield client


@pytest.fixture
def globex(server: tuple[str, dict[str, str], Memory]) -> Iterator[Client]:
    url, tokens, _ = server
    with Client(url + "/", api_key=tokens["globex"]) as client:
        yield client


def test_client_has_the_verbs_of_memory() -> None:
    for verb in VERBS:
        ours = inspect.signature(getattr(Client, verb))
        theirs = inspect.signature(getattr(Memory, verb))
        assert list(ours.parameters) == list(theirs.parameters), verb


def test_round_trip_returns_library_types(
    acme: Client, server: tuple[str, dict[str, str], Memory]
) -> None:
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    rec = acme.add(
        "Ana moved to Lisbon",
        user_id="ana",
        speaker="Ana",
        occurred_at=when,
        metadata={"topic": "home"},
        session_id="s1",
    )
    assert isinstance(rec, Record) and rec.occurred_at == when and rec.user_id == "ana"
    assert acme.get(rec.id) == rec
    stored = server[2].get(rec.id)
    assert stored.user_id == "acme/ana" and stored.content == rec.content

    hits = acme.search("Lisbon", user_id="ana", session_id="s1")
    assert isinstance(hits[0], Hit) and hits[0].record == rec and hits[0].score > 0

    new = acme.update(rec.id, metadata={"topic": "moving"}, reason="retag")
    assert (new.version, new.metadata, new.content) == (2, {"topic": "moving"}, rec.content)

    page = acme.list(user_id="ana", filters={"session_id": "s1"})
    assert isinstance(page, Page) and [r.id for r in page] == [rec.id]

    acme.delete(rec.id, reason="done")
    with pytest.raises(NotFound):
        acme.get(rec.id)
    history = acme.history(rec.id)
    assert all(isinstance(e, HistoryEntry) for e in history)
    assert [(e.op, e.reason) for e in history] == [
        ("add", None),
        ("update", "retag"),
        ("delete", "done"),
    ]


def test_add_many_list_pages_and_purge(acme: Client) -> None:
    recs = acme.add_many([{"content": f"turn {i}", "user_id": "bulk"} for i in range(5)])
    assert [r.content for r in recs] == [f"turn {i}" for i in range(5)]
    first = acme.list(user_id="bulk", limit=3)
    second = acme.list(user_id="bulk", limit=3, cursor=first.next_cursor)
    assert [r.id for r in [*first, *second]] == [r.id for r in recs]
    assert second.next_cursor is None
    assert acme.purge(user_id="bulk") == 5
    assert len(acme.list(user_id="bulk")) == 0


def test_export_import_between_tenants(tmp_path: Path, acme: Client, globex: Client) -> None:
    rec = acme.add("portable", user_id="mover")
    path = tmp_path / "acme.jsonl"
    assert acme.export(path, user_id="mover") == 1
    assert '"user_id": "mover"' in path.read_text()
    with pytest.raises(Conflict):
        globex.import_(path)
    acme.purge(user_id="mover")
    assert globex.import_(path) == 1
    assert globex.get(rec.id).content == "portable"
    with pytest.raises(NotFound):
        acme.get(rec.id)


def test_errors_are_the_library_errors(acme: Client, globex: Client) -> None:
    rec = acme.add("acme only", user_id="ana")
    with pytest.raises(NotFound):
        globex.get(rec.id)
    with pytest.raises(NotFound):
        globex.update(rec.id, content="x")
    with pytest.raises(NotFound):
        globex.delete(rec.id)
    with pytest.raises(InvalidInput):
        acme.add("   ", user_id="ana")
    with pytest.raises(InvalidInput):
        acme.search("x", user_id="ana", limit=0)
    with pytest.raises(InvalidInput):
        acme.add_many({"content": "x", "user_id": "ana"})
    with pytest.raises(InvalidInput):
        acme.get("")
    with pytest.raises(TooLarge):
        acme.add("x" * 5000, user_id="ana")
    with pytest.raises(InvalidInput):
        acme.import_(Path("/nonexistent/file.jsonl"))


def test_bad_key_and_unreachable_server(server: tuple[str, dict[str, str], Memory]) -> None:
    url = server[0]
    with Client(url, api_key="rmk_bad_key") as client, pytest.raises(Unauthorized):
        client.list(user_id="ana")
    with Client(url) as client, pytest.raises(Unauthorized):
        client.get("x")
    with Client("http://127.0.0.1:9", timeout=2) as client, pytest.raises(StoreError):
        client.get("x")


def test_open_server_without_key(mem: Memory, tmp_path: Path) -> None:
    with serve_in_thread(create_app(mem)) as url, Client(url) as client:
        rec = client.add("open", user_id="ana")
        assert mem.get(rec.id).user_id == "ana"
        out = tmp_path / "all.jsonl"
        assert client.export(out) == 1


def test_client_matches_tenant_memory(mem: Memory, tmp_path: Path) -> None:
    """The same calls through TenantMemory and through Client give the same records."""
    keys = KeyStore(tmp_path / "keys.db")
    _, token = keys.create("acme")
    local = TenantMemory(mem, "acme")
    with serve_in_thread(create_app(mem, keys=keys)) as url, Client(url, api_key=token) as remote:
        rec = remote.add("same either way", user_id="ana")
        assert local.get(rec.id) == remote.get(rec.id)
        assert local.history(rec.id) == remote.history(rec.id)
        assert local.search("same", user_id="ana") == remote.search("same", user_id="ana")
    keys.close()


def test_record_from_dict_round_trips_every_field() -> None:
    from dataclasses import fields

    from remem.client import record_from_dict

    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    rec = Record(
        id="x",
        user_id="ana",
        content="c",
        metadata={"a": [1]},
        occurred_at=when,
        created_at=when,
        updated_at=when,
        valid_from=when,
        valid_to=when,
        expires_at=when,
        sources=("s",),
        keywords=("k",),
        entities=("e",),
        dates=("2024-05-01",),
        flags=("instruction",),
        tags=("travel",),
        context="A note's one-line context.",
    )
    # Every field is set to a non-default value, so a field the rebuild misses would show.
    defaults = Record(id="x", user_id="ana", content="c")
    unset = [f.name for f in fields(Record) if getattr(rec, f.name) == getattr(defaults, f.name)]
    assert set(unset) <= {
        "id",
        "user_id",
        "content",
        "kind",
        "agent_id",
        "session_id",
        "speaker",
        "version",
        "origin",
        "trust",
        "level",
    }
    assert record_from_dict(rec.to_dict()) == rec
    assert record_from_dict({**rec.to_dict(), "from_the_future": 1}) == rec


def test_organize_verbs_over_rest(acme: Client, globex: Client) -> None:
    import time

    a = acme.add(
        "I adopted a puppy named Rex",
        user_id="cli",
        session_id="s1",
        occurred_at="2024-03-01T10:00:00",
    )
    b = acme.add(
        "Rex chewed my shoes",
        user_id="cli",
        session_id="s1",
        occurred_at=datetime(2024, 3, 2, 10, tzinfo=UTC),
    )
    c = acme.add(
        "I started a pottery class",
        user_id="cli",
        session_id="s2",
        occurred_at="2024-01-05T10:00:00",
    )
    links = acme.links(a.id, user_id="cli")
    assert all(isinstance(x, Link) for x in links)
    assert (a.id, b.id, "next") in {(x.a, x.b, x.relation) for x in links}
    with pytest.raises(NotFound):
        globex.links(a.id)

    timeline = acme.timeline(user_id="cli", start=datetime(2024, 2, 1, tzinfo=UTC), limit=10)
    assert [r.id for r in timeline] == [a.id, b.id]
    with pytest.raises(InvalidInput):
        acme.timeline(user_id="cli", end="not a time")

    earlier, later = acme.first_of("puppy named Rex", "pottery class", user_id="cli")
    assert (earlier.record.id, later.record.id) == (c.id, a.id)
    with pytest.raises(NotFound):
        globex.first_of("puppy", "pottery", user_id="cli")

    assert acme.search("Rex", user_id="cli", as_of=datetime(2000, 1, 1, tzinfo=UTC)) == []
    sessions = acme.search("Rex puppy", user_id="cli", level="session")
    assert sessions and sessions[0].record.level == "session"
    with pytest.raises(InvalidInput):
        acme.search("Rex", user_id="cli", level="galaxy")

    hidden = acme.quarantine(b.id, reason="check")
    assert hidden.level == "quarantine"
    assert acme.restore(b.id, user_id="cli").level == "record"
    with pytest.raises(InvalidInput):
        acme.restore(b.id)

    assert acme.forget(c.id, reason="asked") == 1
    with pytest.raises(NotFound):
        globex.forget(a.id)
    with pytest.raises(InvalidInput):
        acme.forget()
    assert acme.forget(user_id="cli", session_id="s1") == 2

    short = acme.add("short lived", user_id="cli/ttl", ttl=1)
    assert short.expires_at is not None and short.expires_at > short.created_at  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        acme.add("never", user_id="cli", ttl=0)
    time.sleep(1.1)
    assert acme.forget_expired(user_id="cli/ttl") == 1
    assert globex.forget_expired(user_id="cli/ttl") == 0


def test_answer_over_rest(acme: Client, globex: Client) -> None:
    rec = acme.add("I adopted a puppy named Rex", user_id="asker")
    result = acme.answer("What is the name of the puppy I adopted?", user_id="asker", limit=5)
    assert isinstance(result, Answer)
    assert (result.abstained, result.citations) == (False, (rec.id,))
    assert globex.answer("What is the name of the puppy I adopted?", user_id="asker").abstained
    with pytest.raises(InvalidInput):
        acme.answer("", user_id="asker")
