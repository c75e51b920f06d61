"""What the CLI modules share: common options, opening the Memory, JSON and table rendering."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from remem.types import Record

console = Console()

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", envvar="REMEM_PATH", help="SQLite file (default: the user data dir)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UserOpt = Annotated[str, typer.Option("--user", "-u", help="The user scope (required).")]


@contextmanager
def open_memory(db: Path | None) -> Iterator[Any]:
    """The Memory at ``db`` (settings from ``REMEM_*``), closed afterwards."""
    from remem.memory import Memory

    with Memory(db) as memory:
        yield memory


def emit(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def records_table(records: Sequence[Record], scores: Sequence[float] | None = None) -> Table:
    """A table of records (id, when, speaker, content), with a score column for hits."""
    table = Table(show_lines=False)
    if scores is not None:
        table.add_column("score", justify="right")
    for col in ("id", "when", "speaker", "content"):
        table.add_column(col, overflow="fold")
    for i, r in enumerate(records):
        row = [
            r.id,
            r.occurred_at.strftime("%Y-%m-%d %H:%M") if r.occurred_at else "",
            r.speaker or "",
            r.content,
        ]
        table.add_row(*([f"{scores[i]:.4f}"] if scores is not None else []), *row)
    return table


def record_table(record: Record) -> Table:
    """Every field of one record, one per row."""
    table = Table(show_header=False)
    for key, value in record.to_dict().items():
        table.add_row(
            key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        )
    return table


def parse_json(text: str | None, what: str) -> Any:
    """``text`` parsed as JSON (None stays None).

    Raises:
        typer.BadParameter: not valid JSON (a usage error naming the option).
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{what} is not valid JSON: {exc}") from exc
