"""Render every ``remem`` command's ``--help`` into docs/cli.md.

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 when docs/cli.md is out of date

Help is rendered with (Typer's bundled) click's plain formatter at a fixed width, not rich's boxes, so the output
does not depend on the terminal, colour settings or the rich version. ``tests/test_docs.py``
runs ``render()`` and compares.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
import typer.main

WIDTH = 100
DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
HEADER = """# CLI reference

Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand
(`python scripts/gen_cli_docs.py` rewrites it, `tests/test_docs.py` checks it).
Every command takes `--db PATH` (or `REMEM_PATH`) for the SQLite store; errors print one line
(`error: ...`) and exit with code 1.
"""


def _help(command: Any, ctx: typer.Context) -> str:
    # Typer renders with rich unless the command's markup mode is None; the plain path is
    # click's own formatter (plus Typer's "Arguments" section).
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    return command.get_help(ctx).rstrip() + "\n"


def _walk(command: Any, name: str, parent: typer.Context | None) -> list[tuple[str, str]]:
    ctx = typer.Context(
        command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH
    )
    path = ctx.command_path
    out = [(path, _help(command, ctx))]
    if hasattr(command, "list_commands"):  # a group (Typer bundles its own click)
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not child.hidden:
                out += _walk(child, sub, ctx)
    return out


def render() -> str:
    """The whole of docs/cli.md, as it should be now."""
    os.environ.update(COLUMNS=str(WIDTH), NO_COLOR="1", TERM="dumb")
    from remem.cli import app

    parts = [HEADER]
    for path, text in _walk(typer.main.get_command(app), "remem", None):
        parts.append(f"\n## `{path}`\n\n```text\n{text}```\n")
    return "".join(parts)


def main() -> None:
    """Write docs/cli.md, or with ``--check`` report whether it is current."""
    text = render()
    if "--check" in sys.argv[1:]:
        if DOC.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{DOC} is out of date: run python scripts/gen_cli_docs.py\n")
            raise SystemExit(1)
        return
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
