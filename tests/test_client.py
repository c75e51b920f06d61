"""remem.client.Client against a real server: the same verbs, types and errors as Memory."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remem import Conflict, HistoryEntry, Hit, InvalidInput, Memory, NotFound, Page, Record
from remem.client import Client
from remem.errors import StoreError, TooLarge
from remem.keys import KeyStore, Unauthorized
from remem.server.app import create_app, serve_in_thread
from remem.tenancy import TenantMemory

VERBS = (
    "add",
    "add_many",
    "search",
    "get",
    "list",
    "update",
    "delete",
    "history",
    "purge",
    "export",
    "import_",
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
