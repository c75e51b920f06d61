"""The same verbs everywhere, read from the verb table (``remem.verbs``): the table matches
``Memory``, and every surface matches the table — a REST route, an MCP tool (with a description
per argument), a CLI command, and the Client and tenant methods — or the table says why not."""

from __future__ import annotations

import inspect

import anyio
import typer.main
from mcp import Client as McpClient

from remem import Memory, verbs
from remem.cli import app as cli_app
from remem.client import Client
from remem.mcp import TOOLS, create_mcp_server
from remem.server.app import create_app
from remem.tenancy import TenantMemory


def _shape(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def _mcp_tools(mem: Memory) -> dict[str, dict[str, object]]:
    async def main() -> dict[str, dict[str, object]]:
        async with McpClient(create_mcp_server(mem)) as client:
            tools = (await client.list_tools()).tools
            return {t.name: t.input_schema.get("properties", {}) for t in tools}

    return anyio.run(main)


def test_the_table_is_memory() -> None:
    memory_verbs = {
        name
        for name, fn in inspect.getmembers(Memory, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }
    assert memory_verbs == set(verbs.BY_NAME)
    for verb in verbs.VERBS:
        want = _shape(verbs.signature(verb))
        assert _shape(inspect.signature(getattr(Memory, verb.name))) == want, verb.name


def test_every_verb_is_on_every_surface_or_says_why(mem: Memory) -> None:
    spec = create_app(mem, mcp=False).openapi()
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    tools = _mcp_tools(mem)
    commands = set(typer.main.get_command(cli_app).commands)  # type: ignore[attr-defined]
    problems: list[str] = []
    for verb in verbs.VERBS:
        reasons = verb.why_not
        if verb.rest is not None and verb.rest not in routes:
            problems.append(f"{verb.name}: route {verb.rest} is not served")
        if (verb.rest is None) != ("rest" in reasons and not reasons["rest"].startswith("by hand")):
            problems.append(f"{verb.name}: needs exactly one of a route or a reason")
        if verb.mcp:
            args = {a.name for a in verb.args_on("mcp")}
            served = tools.get(verb.mcp, {})
            if set(served) != args:
                problems.append(f"{verb.name}: tool {verb.mcp} takes {set(served)}, not {args}")
            problems += [
                f"{verb.mcp}.{name} has no description"
                for name, schema in served.items()
                if not isinstance(schema, dict) or not schema.get("description")
            ]
        elif "mcp" not in reasons:
            problems.append(f"{verb.name}: no MCP tool and no reason")
        if verb.cli and verb.cli not in commands:
            problems.append(f"{verb.name}: command {verb.cli!r} does not exist")
        if not verb.cli and "cli" not in reasons:
            problems.append(f"{verb.name}: no command and no reason")
        for surface, cls in (("client", Client), ("tenant", TenantMemory)):
            method = getattr(cls, verb.name, None)
            absent = surface in reasons and not reasons[surface].startswith("by hand")
            if absent != (method is None):
                problems.append(f"{cls.__name__}.{verb.name}: present != table ({reasons})")
            elif method is not None:
                ours, want = _shape(inspect.signature(method)), _shape(verbs.signature(verb))
                if ours != want:
                    problems.append(f"{cls.__name__}.{verb.name}{ours} != table {want}")
    assert set(TOOLS) == set(tools)
    assert not problems, "\n".join(problems)


def test_defaults_come_from_the_table(mem: Memory) -> None:
    """One place for limits: the library, the tools and the commands agree (they once did not:
    list paged 100 in Memory and 50 over MCP and the CLI)."""
    tools = _mcp_tools(mem)
    for verb in verbs.VERBS:
        for arg in verb.memory_args:
            if arg.required:
                continue
            lib = inspect.signature(getattr(Memory, verb.name)).parameters[arg.name].default
            assert lib == arg.default, (verb.name, arg.name)
            if verb.mcp:
                assert tools[verb.mcp][arg.name].get("default") == arg.default_on("mcp")  # type: ignore[union-attr]
