"""The MCP tools are safe by default: an agent's writes are the agent's (origin "agent"), a caller
claims no origin above its limit (an API key's ``max_origin`` at /mcp, ``max_origin=`` in process),
a whole-scope forget needs ``all: true``, tools carry read-only/destructive annotations, and /mcp
refuses cross-origin and non-JSON requests like the REST routes.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from remem import Memory
from remem.errors import InvalidInput
from remem.keys import KeyStore
from remem.mcp import TOOLS, create_mcp_server
from remem.server.app import create_app, serve_in_thread
from tests.test_mcp import call, error_text, run

READ_ONLY = {
    "search_memory",
    "answer_question",
    "memory_profile",
    "get_memory",
    "list_memories",
    "memory_history",
    "memory_links",
    "memory_timeline",
    "memory_first_of",
    "similar_cases",
    "lessons_for",
}
DESTRUCTIVE = {"forget_memory", "delete_memory", "quarantine_memory", "update_memory"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def test_add_memory_stores_the_agents_word_by_default(mem: Memory) -> None:
    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            rec = await call(client, "add_memory", content="Ana seems to like tea", user_id="ana")
            assert rec["origin"] == "agent" and rec["trust"] == pytest.approx(0.8)
            stored = mem.get(rec["id"])
            assert stored.origin == "agent" and stored.trust == pytest.approx(0.8)
            # Without a limit (stdio, the owner's own process) a caller may still say "user".
            said = await call(
                client, "add_memory", content="I like tea", user_id="ana", origin="user"
            )
            assert said["origin"] == "user"
            # The tool's schema lists the origins: an unknown one is refused before any write.
            bad = await error_text(client, "add_memory", content="x", user_id="ana", origin="god")
            assert "origin" in bad and "'user', 'agent'" in bad

    run(main)


def test_max_origin_bounds_what_a_tool_call_may_claim(mem: Memory) -> None:
    said = mem.add("I am vegan", user_id="ana")  # origin "user"

    async def main() -> None:
        async with Client(create_mcp_server(mem, max_origin="agent")) as client:
            text = await error_text(
                client, "add_memory", content="I love steak", user_id="ana", origin="user"
            )
            assert "Forbidden: " in text and "'agent'" in text
            rec = await call(client, "add_memory", content="likes tea", user_id="ana")
            assert rec["origin"] == "agent"
            tool = await call(client, "add_memory", content="42", user_id="ana", origin="tool")
            assert tool["origin"] == "tool"
            # A new version keeps the memory's origin: what the user said stays the user's.
            text = await error_text(client, "update_memory", id=said.id, content="I love steak")
            assert "Forbidden: " in text
            changed = await call(client, "update_memory", id=rec["id"], content="likes green tea")
            assert changed["content"] == "likes green tea"

    run(main)
    assert mem.get(said.id).content == "I am vegan"
    assert [r.content for r in mem.list(user_id="ana")].count("I love steak") == 0
    with pytest.raises(InvalidInput):
        create_mcp_server(mem, max_origin="root")


def test_forget_memory_needs_all_for_a_whole_scope(mem: Memory) -> None:
    for i in range(3):
        mem.add(f"m{i}", user_id="ana", session_id="s1" if i else "s0")

    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            for args in ({"user_id": "ana"}, {"user_id": "ana", "session_id": "s1"}, {}):
                text = await error_text(client, "forget_memory", **args)
                assert "InvalidInput" in text and "all=true" in text
            assert len(mem.list(user_id="ana").records) == 3  # nothing forgotten
            rec = mem.list(user_id="ana").records[0]
            both = await error_text(client, "forget_memory", id=rec.id, all=True)
            assert "InvalidInput" in both
            session = await call(client, "forget_memory", user_id="ana", session_id="s1", all=True)
            assert session == {"forgotten": 2}
            filtered = await call(
                client, "forget_memory", user_id="ana", filters={"session_id": "s0"}
            )
            assert filtered == {"forgotten": 1}

    run(main)
    assert mem.list(user_id="ana").records == []


def test_tools_carry_annotations(mem: Memory) -> None:
    async def main() -> None:
        async with Client(create_mcp_server(mem)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == set(TOOLS)
        for name, tool in tools.items():
            notes = tool.annotations
            assert notes is not None, name
            assert notes.open_world_hint is False, name
            if name in READ_ONLY:
                assert notes.read_only_hint is True, name
            else:
                assert notes.read_only_hint is False, name
                assert notes.destructive_hint is (name in DESTRUCTIVE), name
        assert tools["add_memory"].input_schema["properties"]["origin"]["default"] == "agent"
        assert tools["forget_memory"].input_schema["properties"]["all"]["default"] is False

    run(main)


def test_mcp_over_http_checks_the_keys_max_origin(mem: Memory, tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.db")
    _, agent_token = keys.create("acme", max_origin="agent")
    _, user_token = keys.create("acme")

    async def main(url: str) -> None:
        for token, allowed in ((agent_token, False), (user_token, True)):
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
            ):
                rec = await call(client, "add_memory", content="agent note", user_id="ana")
                assert rec["origin"] == "agent"
                if allowed:
                    said = await call(
                        client, "add_memory", content="user note", user_id="ana", origin="user"
                    )
                    assert said["origin"] == "user"
                else:
                    text = await error_text(
                        client, "add_memory", content="user note", user_id="ana", origin="user"
                    )
                    assert "Forbidden: " in text

    with serve_in_thread(create_app(mem, keys=keys)) as url:
        anyio.run(main, url)
    origins = sorted(r.origin for r in mem.list(user_id="acme/ana"))
    assert origins == ["agent", "agent", "user"]
    keys.close()


def test_mcp_endpoint_refuses_cross_origin_and_non_json(mem: Memory) -> None:
    before = len(mem.list(user_id="ana").records)
    with serve_in_thread(create_app(mem)) as url:
        ok = httpx.post(url + "/mcp", json=INITIALIZE, headers=ACCEPT)
        assert ok.status_code == 200, ok.text
        own = httpx.post(url + "/mcp", json=INITIALIZE, headers={**ACCEPT, "Origin": url})
        assert own.status_code == 200, own.text
        # Another local port is another origin (the SDK alone would let any localhost port in).
        port = int(url.rsplit(":", 1)[1])
        for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null"):
            refused = httpx.post(
                url + "/mcp", json=INITIALIZE, headers={**ACCEPT, "Origin": origin}
            )
            assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        site = httpx.post(
            url + "/mcp", json=INITIALIZE, headers={**ACCEPT, "Sec-Fetch-Site": "cross-site"}
        )
        assert site.status_code == 403
        add = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "add_memory", "arguments": {"content": "x", "user_id": "ana"}},
        }
        plain = httpx.post(
            url + "/mcp",
            content=json.dumps(add),
            headers={**ACCEPT, "Content-Type": "text/plain"},
        )
        assert plain.status_code == 415 and plain.json()["error"] == "UnsupportedMediaType"
        # The SDK's DNS-rebinding protection is still there behind remem's own checks.
        rebound = httpx.post(
            url + "/mcp", json=INITIALIZE, headers={**ACCEPT, "Host": "evil.example"}
        )
        assert rebound.status_code in (400, 421)
    assert len(mem.list(user_id="ana").records) == before
