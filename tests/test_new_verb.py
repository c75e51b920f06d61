"""A newcomer adds a verb by writing its method and one table entry: it then exists on REST, MCP,
the CLI, the Client and the tenant view, with nothing else written (docs/architecture.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import typer
from fastapi import APIRouter
from mcp import Client as McpClient
from typer.testing import CliRunner

from remem import Memory, NotFound, verbs
from remem.cli import add_commands
from remem.client import Client
from remem.client import _call as client_call
from remem.mcp import create_mcp_server
from remem.server.app import create_app, serve_in_thread
from remem.server.routes import add_routes
from remem.tenancy import TenantMemory
from remem.tenancy import _run as tenant_run
from remem.types import Record

NEWEST = verbs.Verb(
    "newest",
    "The memory of a scope that was stored last.",
    (verbs.USER, verbs.AGENT),
    "record",
    "read",
    "scope",
    rest=("GET", "/v1/newest"),
    mcp="newest_memory",
    cli="newest",
)


def newest(self: Memory, *, user_id: str, agent_id: str | None = None) -> Record:
    """The memory of a scope that was stored last."""
    records = list(self.list(user_id=user_id, agent_id=agent_id, limit=1000))
    if not records:
        raise NotFound(f"no memories for {user_id}")
    return records[-1]


@pytest.fixture
def with_newest(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> Memory:
    monkeypatch.setattr(Memory, "newest", newest, raising=False)
    monkeypatch.setenv("REMEM_EMBEDDER", "hashing")
    memory = Memory(db_path, embedder="hashing")
    memory.add("first", user_id="ana", occurred_at="2024-01-01T00:00:00+00:00")
    memory.add("second", user_id="ana", occurred_at="2024-01-02T00:00:00+00:00")
    return memory


def test_a_new_verb_appears_on_every_surface(with_newest: Memory, db_path: Path) -> None:
    memory = with_newest
    assert memory.newest(user_id="ana").content == "second"  # type: ignore[attr-defined]

    # REST and the Client.
    app = create_app(memory, mcp=False)
    extra = APIRouter(prefix="/v1")
    add_routes(extra, [NEWEST])
    app.include_router(extra)

    class NewestClient(Client):
        pass

    verbs.attach(NewestClient, "client", client_call, [NEWEST])
    with serve_in_thread(app) as url, NewestClient(url) as client:
        assert client.newest(user_id="ana").content == "second"  # type: ignore[attr-defined]
        with pytest.raises(NotFound):
            client.newest(user_id="nobody")  # type: ignore[attr-defined]

    # The tenant view.
    class NewestTenant(TenantMemory):
        pass

    verbs.attach(NewestTenant, "tenant", tenant_run, [NEWEST])
    acme = NewestTenant(memory, "acme")
    acme.add("acme's only", user_id="ana")
    got = acme.newest(user_id="ana")  # type: ignore[attr-defined]
    assert (got.content, got.user_id) == ("acme's only", "ana")

    # MCP, with its argument described.
    async def tools() -> dict[str, Any]:
        async with McpClient(create_mcp_server(memory, table=[*verbs.VERBS, NEWEST])) as mcp:
            listed = {t.name: t for t in (await mcp.list_tools()).tools}
            result = await mcp.call_tool("newest_memory", {"user_id": "ana"})
            return {"schema": listed["newest_memory"].input_schema, "out": result}

    found = anyio.run(tools)
    assert found["schema"]["properties"]["user_id"]["description"] == verbs.USER.doc
    assert found["out"].structured_content["content"] == "second"

    # The CLI.
    cli = typer.Typer()
    add_commands(cli, [NEWEST])
    add_commands(cli, [verbs.BY_NAME["get"]])  # two commands, so typer keeps the names
    out = CliRunner().invoke(cli, ["newest", "--user", "ana", "--db", str(db_path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["content"] == "second"
    memory.close()
