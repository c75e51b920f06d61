"""The MCP tools, driven by the SDK's own client: in process, over stdio, and at /mcp over HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from remem import Memory, NotFound
from remem.keys import KeyStore
from remem.mcp import TOOLS, create_mcp_server
from remem.server.app import create_app, serve_in_thread
from remem.tenancy import TenantMemory


def run(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn)


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def error_text(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_tools_are_listed(mem: Memory) -> None:
    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == set(TOOLS)
            assert all(t.description for t in tools)
            add = next(t for t in tools if t.name == "add_memory")
            # user_id may be left out for an agent's (or run's) own scope, Mem0-style.
            assert set(add.input_schema["required"]) == {"content"}

    run(main)


def test_every_tool_makes_its_memory_call(mem: Memory) -> None:
    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            rec = await call(
                client,
                "add_memory",
                content="Ana moved to Lisbon",
                user_id="ana",
                speaker="Ana",
                metadata={"topic": "home"},
            )
            assert mem.get(rec["id"]).content == "Ana moved to Lisbon"
            hits = (await call(client, "search_memory", query="Lisbon", user_id="ana"))["hits"]
            assert hits[0]["id"] == rec["id"] and set(hits[0]) - {"score"} < set(rec)  # compact
            full = await call(client, "search_memory", query="Lisbon", user_id="ana", verbose=True)
            assert full["hits"][0]["record"] == rec
            assert (await call(client, "get_memory", id=rec["id"]))["speaker"] == "Ana"
            new = await call(
                client,
                "update_memory",
                id=rec["id"],
                content="Ana moved to Porto",
                reason="correction",
            )
            assert new["version"] == 2 and mem.get(rec["id"]).content == "Ana moved to Porto"
            page = await call(client, "list_memories", user_id="ana", limit=10)
            assert [r["id"] for r in page["records"]] == [rec["id"]]
            assert page["next_cursor"] is None
            assert await call(client, "delete_memory", id=rec["id"]) == {"deleted": rec["id"]}
            entries = (await call(client, "memory_history", id=rec["id"]))["entries"]
            assert [e["op"] for e in entries] == ["add", "update", "delete"]

    run(main)


def test_remem_errors_become_tool_errors(mem: Memory) -> None:
    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            assert "NotFound: memory nope not found" in await error_text(
                client, "get_memory", id="nope"
            )
            text = await error_text(client, "add_memory", content="  ", user_id="ana")
            assert "InvalidInput: content" in text
            text = await error_text(client, "search_memory", query="x", user_id="a", limit=0)
            assert "InvalidInput" in text
            assert "NotFound" in await error_text(client, "memory_history", id="nope")
            text = await error_text(client, "update_memory", id="nope", content="x")
            assert "NotFound" in text

    run(main)


def test_tenant_memory_confines_the_tools(mem: Memory) -> None:
    async def main() -> None:
        async with Client(create_mcp_server(TenantMemory(mem, "acme"))) as client:
            rec = await call(client, "add_memory", content="acme fact", user_id="ana")
            assert rec["user_id"] == "ana" and mem.get(rec["id"]).user_id == "acme/ana"
        other = mem.add("not acme", user_id="globex/ana")
        async with Client(create_mcp_server(TenantMemory(mem, "acme"))) as client:
            assert "NotFound" in await error_text(client, "get_memory", id=other.id)

    run(main)


def test_mcp_over_http_picks_the_tenant_from_the_key(mem: Memory, tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.db")
    tokens = {name: keys.create(name)[1] for name in ("acme", "globex")}

    async def main(url: str) -> None:
        ids = {}
        for name, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
            ):
                rec = await call(client, "add_memory", content=f"{name} secret", user_id="ana")
                ids[name] = rec["id"]
                page = await call(client, "list_memories", user_id="ana")
                assert [r["content"] for r in page["records"]] == [f"{name} secret"]
        headers = {"Authorization": f"Bearer {tokens['globex']}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
        ):
            assert "NotFound" in await error_text(client, "get_memory", id=ids["acme"])

    with serve_in_thread(create_app(mem, keys=keys)) as url:
        anyio.run(main, url)
    assert mem.list(user_id="acme/ana").records[0].content == "acme secret"
    keys.close()


def test_mcp_over_http_without_a_key_is_refused(mem: Memory, tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.db")
    _, token = keys.create("acme")

    async def main(url: str) -> None:
        async with Client(streamable_http_client(url + "/mcp")) as client:
            await client.list_tools()

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    with serve_in_thread(create_app(mem, keys=keys)) as url:
        with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the HTTP error its own way
            anyio.run(main, url)
        refused = httpx.post(url + "/mcp", json=initialize, headers=accept)
        assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"
        accepted = httpx.post(
            url + "/mcp", json=initialize, headers={**accept, "Authorization": f"Bearer {token}"}
        )
        assert accepted.status_code == 200, accepted.text
    keys.close()


def test_remem_mcp_over_stdio(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMEM_")}
    env["REMEM_EMBEDDER"] = "hashing"
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "remem", "mcp", "--db", str(db)], env=env
    )

    async def main() -> None:
        async with Client(params) as client:
            rec = await call(client, "add_memory", content="stdio works", user_id="ana")
            hits = (await call(client, "search_memory", query="stdio", user_id="ana"))["hits"]
            assert hits[0]["id"] == rec["id"]

    run(main)
    with Memory(db, embedder="hashing") as memory:
        assert memory.list(user_id="ana").records[0].content == "stdio works"


def _story(mem: Memory, user_id: str = "ana") -> list[str]:
    recs = mem.add_many(
        [
            {
                "content": "I adopted a puppy named Rex",
                "user_id": user_id,
                "session_id": "s1",
                "occurred_at": "2024-03-01T10:00:00",
            },
            {
                "content": "Rex chewed my shoes",
                "user_id": user_id,
                "session_id": "s1",
                "occurred_at": "2024-03-02T10:00:00",
            },
            {
                "content": "I started a pottery class",
                "user_id": user_id,
                "session_id": "s2",
                "occurred_at": "2024-01-05T10:00:00",
            },
        ]
    )
    return [r.id for r in recs]


def test_links_timeline_and_first_of_tools(mem: Memory) -> None:
    puppy, shoes, pottery = _story(mem)

    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            links = (await call(client, "memory_links", id=puppy))["links"]
            assert (puppy, shoes, "next") in {(x["a"], x["b"], x["relation"]) for x in links}
            assert "NotFound" in await error_text(client, "memory_links", id="nope")

            records = (await call(client, "memory_timeline", user_id="ana"))["records"]
            assert [r["id"] for r in records] == [pottery, puppy, shoes]
            window = await call(
                client, "memory_timeline", user_id="ana", start="2024-02-01", limit=1
            )
            assert [r["id"] for r in window["records"]] == [puppy]
            text = await error_text(client, "memory_timeline", user_id="ana", end="soon")
            assert "InvalidInput: " in text

            order = await call(
                client, "memory_first_of", event_a="puppy Rex", event_b="pottery", user_id="ana"
            )
            assert (order["earlier"]["id"], order["later"]["id"]) == (
                pottery,
                puppy,
            )
            text = await error_text(
                client, "memory_first_of", event_a="x", event_b="y", user_id="nobody"
            )
            assert "NotFound: " in text

            past = await call(
                client, "search_memory", query="Rex", user_id="ana", as_of="2000-01-01"
            )
            assert past == {"hits": []}
            units = await call(
                client, "search_memory", query="Rex", user_id="ana", level="session", verbose=True
            )
            assert {h["record"]["level"] for h in units["hits"]} == {"session"}

    run(main)


def test_forget_and_quarantine_tools(mem: Memory) -> None:
    puppy, shoes, pottery = _story(mem)

    async def main() -> None:
        async with Client(create_mcp_server(TenantMemory(mem, "acme"))) as client:
            # Another tenant's memory is not found, exactly like a missing one.
            assert "NotFound" in await error_text(client, "forget_memory", id=puppy)
            assert "NotFound" in await error_text(client, "quarantine_memory", id=shoes)
        async with Client(create_mcp_server(mem)) as client:
            assert await call(client, "forget_memory", id=puppy, reason="asked") == {"forgotten": 1}
            # A whole (session) scope without filters is forgotten only with all=true.
            bare = await error_text(client, "forget_memory", user_id="ana", session_id="s2")
            assert "InvalidInput" in bare and "all=true" in bare
            scoped = await call(client, "forget_memory", user_id="ana", session_id="s2", all=True)
            assert scoped == {"forgotten": 1}
            assert "InvalidInput" in await error_text(client, "forget_memory")
            hidden = await call(client, "quarantine_memory", id=shoes, reason="odd")
            assert hidden["level"] == "quarantine"
            again = await error_text(client, "quarantine_memory", id=shoes)
            assert "InvalidInput: " in again
            rec = await call(client, "add_memory", content="brief", user_id="ana", ttl=60)
            assert rec["expires_at"] is not None

    run(main)
    assert [e.op for e in mem.history(puppy)][-1] == "forget"
    assert mem.get(shoes).level == "quarantine"
    with pytest.raises(NotFound):
        mem.get(pottery)


def test_answer_question_tool(mem: Memory) -> None:
    puppy, _, _ = _story(mem)

    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            result = await call(
                client,
                "answer_question",
                question="What is the name of the puppy I adopted?",
                user_id="ana",
            )
            assert (result["abstained"], result["citations"]) == (False, [puppy])
            text = await error_text(client, "answer_question", question=" ", user_id="ana")
            assert "InvalidInput: " in text

    run(main)
