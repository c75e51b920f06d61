"""The ``remem`` command line: each command parses its input, makes one Memory call, renders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from remem._cli_common import DbOpt, JsonOpt, UserOpt, console
from remem._cli_common import emit as _emit
from remem._cli_common import open_memory as _memory
from remem._cli_common import parse_json as _parse_json
from remem._cli_common import record_table as _record_table
from remem._cli_common import records_table as _records_table
from remem.errors import RememError

app = typer.Typer(
    name="remem",
    help="Long-term memory for LLM agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks (long-running; not part of the test suite).")
app.add_typer(bench_app, name="bench")


@app.command()
def add(
    content: Annotated[str, typer.Argument(help="What to remember.")],
    user: UserOpt,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    session: Annotated[str | None, typer.Option("--session")] = None,
    speaker: Annotated[str | None, typer.Option("--speaker")] = None,
    when: Annotated[str | None, typer.Option("--when", help="ISO 8601 time it happened.")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="A JSON object.")] = None,
    kind: Annotated[str, typer.Option("--kind")] = "episodic",
    ttl: Annotated[
        int | None, typer.Option("--ttl", help="Seconds until it expires and is forgotten.")
    ] = None,
    origin: Annotated[
        str, typer.Option("--origin", help="user, agent, tool, import or derived.")
    ] = "user",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store one memory."""
    with _memory(db) as m:
        rec = m.add(
            content,
            user_id=user,
            agent_id=agent,
            session_id=session,
            speaker=speaker,
            occurred_at=when,
            metadata=_parse_json(metadata, "--metadata"),
            kind=kind,
            ttl=ttl,
            origin=origin,
        )
    _emit(rec.to_dict()) if as_json else console.print(rec.id)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: UserOpt,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    session: Annotated[str | None, typer.Option("--session")] = None,
    limit: Annotated[int, typer.Option("--limit", "-k")] = 10,
    filters: Annotated[str | None, typer.Option("--filters", help="A JSON filter object.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="ISO 8601 moment: what was known and valid then."),
    ] = None,
    level: Annotated[
        str,
        typer.Option("--level", help="record (what was stored), session or fact (derived units)."),
    ] = "record",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search one user's memories."""
    with _memory(db) as m:
        hits = m.search(
            query,
            user_id=user,
            agent_id=agent,
            session_id=session,
            limit=limit,
            filters=_parse_json(filters, "--filters"),
            as_of=as_of,
            level=level,
        )
    if as_json:
        _emit([h.to_dict() for h in hits])
    else:
        console.print(_records_table([h.record for h in hits], [h.score for h in hits]))


@app.command()
def get(
    id: Annotated[str, typer.Argument(help="Memory id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one memory with all its fields."""
    with _memory(db) as m:
        rec = m.get(id)
    _emit(rec.to_dict()) if as_json else console.print(_record_table(rec))


@app.command("list")
def list_(
    user: UserOpt,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    session: Annotated[str | None, typer.Option("--session")] = None,
    limit: Annotated[int, typer.Option("--limit", "-k")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List one user's memories, oldest first, a page at a time."""
    with _memory(db) as m:
        page = m.list(user_id=user, agent_id=agent, session_id=session, limit=limit, cursor=cursor)
    if as_json:
        _emit({"records": [r.to_dict() for r in page], "next_cursor": page.next_cursor})
    else:
        console.print(_records_table(page.records))
        if page.next_cursor:
            console.print(f"next page: --cursor {page.next_cursor}")


@app.command()
def update(
    id: Annotated[str, typer.Argument(help="Memory id.")],
    content: Annotated[str | None, typer.Option("--content")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="A JSON object.")] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a memory (a new version; the old one stays in history)."""
    with _memory(db) as m:
        rec = m.update(
            id, content=content, metadata=_parse_json(metadata, "--metadata"), reason=reason
        )
    _emit(rec.to_dict()) if as_json else console.print(f"{rec.id} is now version {rec.version}")


@app.command()
def delete(
    id: Annotated[str, typer.Argument(help="Memory id.")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    db: DbOpt = None,
) -> None:
    """Delete a memory from every index (its history is kept)."""
    with _memory(db) as m:
        m.delete(id, reason=reason)
    console.print(f"deleted {id}")


@app.command()
def purge(
    user: UserOpt,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    db: DbOpt = None,
) -> None:
    """Hard-delete everything of one user, history included."""
    if not yes:
        typer.confirm(f"Delete every memory and all history of user {user!r}?", abort=True)
    with _memory(db) as m:
        count = m.purge(user_id=user)
    console.print(f"purged {count} memories of {user}")


@app.command()
def history(
    id: Annotated[str, typer.Argument(help="Memory id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every version of a memory: when, what, who, why."""
    with _memory(db) as m:
        entries = m.history(id)
    if as_json:
        _emit([e.to_dict() for e in entries])
        return
    table = Table()
    for col in ("version", "op", "at", "actor", "reason", "content"):
        table.add_column(col, overflow="fold")
    for e in entries:
        snap = e.after or e.before or {}
        table.add_row(
            str(e.version),
            e.op,
            e.at.isoformat(timespec="seconds"),
            e.actor or "",
            e.reason or "",
            str(snap.get("content", "")),
        )
    console.print(table)


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="JSONL file to write.")],
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user.")] = None,
    db: DbOpt = None,
) -> None:
    """Write memories and history to a JSONL file."""
    with _memory(db) as m:
        count = m.export(path, user_id=user)
    console.print(f"exported {count} memories to {path}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="JSONL file written by export.")],
    max_origin: Annotated[
        str | None,
        typer.Option("--max-origin", help="Records of a more trusted origin come in as this one."),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Load a file written by export (ids, versions and history kept; every record passes the
    guard; all or nothing)."""
    with _memory(db) as m:
        count = m.import_(path, max_origin=max_origin)
    console.print(f"imported {count} memories from {path}")


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="The new SQLite file (must not exist).")],
    db: DbOpt = None,
) -> None:
    """Copy the whole store to a new SQLite file while it stays in use (online backup)."""
    with _memory(db) as m:
        m.backup(path)
    console.print(f"backed up to {path}")


@app.command()
def ingest(
    path: Annotated[
        Path, typer.Argument(help="A JSONL file of add() objects, or a LoCoMo JSON file.")
    ],
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Scope for JSONL lines without user_id.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or locomo.")] = "jsonl",
    batch: Annotated[int, typer.Option("--batch")] = 256,
    db: DbOpt = None,
) -> None:
    """Bulk-load conversation turns, with a progress bar."""
    from rich.progress import Progress

    from remem._ingest import check_items, read_items

    items = read_items(path, fmt=fmt, user_id=user)
    with _memory(db) as m:
        # Every item is checked before the first is stored: bad input anywhere stores nothing.
        check_items(items, path=path, fmt=fmt, settings=m.settings)
        with Progress(console=console) as progress:
            task = progress.add_task(f"ingesting {path.name}", total=len(items))
            for i in range(0, len(items), batch):
                chunk = items[i : i + batch]
                try:
                    m.add_many(chunk)
                except RememError as exc:
                    raise type(exc)(
                        f"{exc} (items {i} to {i + len(chunk) - 1}; the {i} before them are "
                        "stored, and ingesting the same file again merges them, not repeats)"
                    ) from exc
                progress.advance(task, len(chunk))
    console.print(f"ingested {len(items)} memories")


from remem.cli_bench import register as _register_bench  # noqa: E402
from remem.cli_organize import register as _register_organize  # noqa: E402
from remem.cli_service import register as _register_service  # noqa: E402

_register_bench(bench_app)
_register_organize(app)
_register_service(app)


def main() -> None:
    """Entry point: run the app, turning remem errors into one line on stderr and exit code 1."""
    try:
        app(standalone_mode=False)
    except RememError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from None
    except typer.Abort:
        sys.stderr.write("aborted\n")
        raise SystemExit(1) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.TyperException as exc:
        # Usage errors (a missing argument, bad JSON in --filters) come from the click that
        # Typer bundles, not from the click package: every one is a TyperException with show().
        show = getattr(exc, "show", None)
        if not callable(show):
            raise
        show()
        raise SystemExit(int(getattr(exc, "exit_code", 2))) from None
