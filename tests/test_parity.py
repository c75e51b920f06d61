"""The same verbs everywhere: every public Memory method has its TenantMemory and Client twin,
a REST route, an MCP tool and a CLI command, or an entry in EXCEPTIONS saying why not."""

from __future__ import annotations

import inspect

import anyio
import typer.main
from mcp import Client as McpClient

from remem import Memory
from remem.cli import app as cli_app
from remem.client import Client
from remem.mcp import create_mcp_server
from remem.server.app import create_app
from remem.tenancy import TenantMemory

REST = {
    "add": ("POST", "/v1/memories"),
    "add_many": ("POST", "/v1/memories"),  # the body {"items": [...]}
    "search": ("POST", "/v1/memories/search"),
    "answer": ("POST", "/v1/answer"),
    "get": ("GET", "/v1/memories/{id}"),
    "list": ("GET", "/v1/memories"),
    "update": ("PATCH", "/v1/memories/{id}"),
    "delete": ("DELETE", "/v1/memories/{id}"),
    "history": ("GET", "/v1/memories/{id}/history"),
    "links": ("GET", "/v1/memories/{id}/links"),
    "quarantine": ("POST", "/v1/memories/{id}/quarantine"),
    "restore": ("POST", "/v1/memories/{id}/restore"),
    "timeline": ("GET", "/v1/timeline"),
    "first_of": ("POST", "/v1/first-of"),
    "forget": ("POST", "/v1/forget"),
    "forget_expired": ("POST", "/v1/scopes/{user_id}/forget-expired"),
    "purge": ("DELETE", "/v1/scopes/{user_id}"),
    "export": ("POST", "/v1/export"),
    "import_": ("POST", "/v1/import"),
}
MCP = {
    "add": "add_memory",
    "search": "search_memory",
    "answer": "answer_question",
    "get": "get_memory",
    "list": "list_memories",
    "update": "update_memory",
    "delete": "delete_memory",
    "history": "memory_history",
    "links": "memory_links",
    "timeline": "memory_timeline",
    "first_of": "memory_first_of",
    "forget": "forget_memory",
    "quarantine": "quarantine_memory",
}
CLI = {
    "add": "add",
    "add_many": "ingest",  # bulk-loads a file through add_many, with a progress bar
    "search": "search",
    "answer": "answer",
    "get": "get",
    "list": "list",
    "update": "update",
    "delete": "delete",
    "history": "history",
    "links": "links",
    "timeline": "timeline",
    "first_of": "first-of",
    "forget": "forget",
    "forget_expired": "forget-expired",
    "quarantine": "quarantine",
    "restore": "restore",
    "purge": "purge",
    "export": "export",
    "import_": "import",
    "backup": "backup",
}
# (verb, adapter) -> why the verb intentionally has no form there.
_OPERATOR = "copies the whole store to a file on the server: an operator's job, not a tenant's"
EXCEPTIONS = {
    ("backup", "tenant"): _OPERATOR,
    ("backup", "client"): _OPERATOR,
    ("backup", "rest"): _OPERATOR,
    ("backup", "mcp"): _OPERATOR,
    ("add_many", "mcp"): "batches are for bulk loaders; an agent stores one memory per add_memory",
    ("purge", "mcp"): "irreversible hard delete of a user, history included: not for a model",
    ("export", "mcp"): "writes a file on the server's disk; REST streams it, the CLI writes it",
    ("import_", "mcp"): "reads a file on the server's disk; REST and the CLI take the file",
    ("forget_expired", "mcp"): "housekeeping run by an operator or a schedule, not an agent choice",
    ("restore", "mcp"): "trusting again what the guard hid is a human decision: a poisoned "
    "agent could be told to restore its poison",
}
ADAPTERS = {"rest": REST, "mcp": MCP, "cli": CLI}


# Safety arguments only the adapters take: a whole-scope forget must say ``all`` over MCP.
ADAPTER_ONLY = {"forget_memory": {"all"}}


def _verbs() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(Memory, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }


def _mcp_tools(mem: Memory) -> dict[str, set[str]]:
    async def main() -> dict[str, set[str]]:
        async with McpClient(create_mcp_server(mem)) as client:
            tools = (await client.list_tools()).tools
            return {t.name: set(t.input_schema.get("properties", {})) for t in tools}

    return anyio.run(main)


def test_every_memory_verb_is_everywhere(mem: Memory) -> None:
    verbs = _verbs()
    assert {"add", "search", "timeline", "forget"} <= set(verbs)
    spec = create_app(mem, mcp=False).openapi()
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    tools = _mcp_tools(mem)
    commands = set(typer.main.get_command(cli_app).commands)  # type: ignore[attr-defined]
    problems: list[str] = []

    for verb, sig in verbs.items():
        # (a) TenantMemory and Client: same method, same parameter names in the same order.
        for name, cls in (("tenant", TenantMemory), ("client", Client)):
            excused = (verb, name) in EXCEPTIONS
            method = getattr(cls, verb, None)
            if method is None and not excused:
                problems.append(f"{cls.__name__}.{verb} is missing")
            elif method is not None and excused:
                problems.append(f"{cls.__name__}.{verb} exists but is listed as an exception")
            elif method is not None:
                ours = list(inspect.signature(method).parameters)
                if ours != list(sig.parameters):
                    problems.append(f"{cls.__name__}.{verb}{ours} != Memory{list(sig.parameters)}")
        # (b, c, d) a route, a tool and a command, or a reason why not.
        for adapter, table in ADAPTERS.items():
            excused = (verb, adapter) in EXCEPTIONS
            if (verb in table) == excused:
                problems.append(f"{verb}: {adapter} needs exactly one of a mapping or an exception")
        if verb in REST and REST[verb] not in routes:
            problems.append(f"{verb}: route {REST[verb]} is not in the OpenAPI document")
        if verb in MCP:
            if MCP[verb] not in tools:
                problems.append(f"{verb}: MCP tool {MCP[verb]} is not served")
            elif not tools[MCP[verb]] - ADAPTER_ONLY.get(MCP[verb], set()) <= set(sig.parameters):
                extra = tools[MCP[verb]] - ADAPTER_ONLY.get(MCP[verb], set()) - set(sig.parameters)
                problems.append(f"{verb}: MCP tool {MCP[verb]} has arguments {extra} Memory lacks")
        if verb in CLI and CLI[verb] not in commands:
            problems.append(f"{verb}: CLI command {CLI[verb]!r} does not exist")

    # No stale rows: every mapped or excused verb is still a Memory verb.
    named = {v for table in ADAPTERS.values() for v in table} | {v for v, _ in EXCEPTIONS}
    problems += [f"{v} is mapped but is not a public Memory method" for v in named - set(verbs)]
    assert not problems, "\n".join(problems)
