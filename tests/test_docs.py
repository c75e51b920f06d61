"""The docs keep up with the code: docs/cli.md is the current --help, and every REST route and
MCP tool is documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import anyio
import pytest
from mcp import Client as McpClient

from remem import Memory
from remem.mcp import TOOLS, create_mcp_server
from remem.server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts/gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_md_is_the_current_help(monkeypatch: pytest.MonkeyPatch) -> None:
    # render() sets COLUMNS/NO_COLOR/TERM itself; monkeypatch restores them afterwards.
    for name in ("COLUMNS", "NO_COLOR", "TERM"):
        monkeypatch.setenv(name, "x" if name != "COLUMNS" else "37")
    rendered = _generator().render()  # type: ignore[attr-defined]
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == rendered, (
        "docs/cli.md is out of date: run python scripts/gen_cli_docs.py"
    )
    for command in ("remem links", "remem timeline", "remem first-of", "remem forget-expired"):
        assert f"## `{command}`" in rendered


def test_every_route_is_in_rest_md(mem: Memory) -> None:
    spec = create_app(mem, mcp=False).openapi()
    text = (DOCS / "rest.md").read_text(encoding="utf-8")
    missing = [
        f"{method.upper()} {path}"
        for path, ops in spec["paths"].items()
        for method in ops
        if f"`{method.upper()} {path}`" not in text
    ]
    assert not missing, f"routes not documented in docs/rest.md: {missing}"


def test_every_tool_is_in_mcp_md(mem: Memory) -> None:
    async def served() -> set[str]:
        async with McpClient(create_mcp_server(mem)) as client:
            return {t.name for t in (await client.list_tools()).tools}

    tools = anyio.run(served)
    assert tools == set(TOOLS)
    text = (DOCS / "mcp.md").read_text(encoding="utf-8")
    missing = sorted(t for t in tools if f"| `{t}` |" not in text)
    assert not missing, f"tools not documented in docs/mcp.md: {missing}"
