"""The ``remem`` command line: each command parses its input, makes one Memory call, renders.

The verbs' commands are generated from the verb table (``remem.verbs``); export, import, backup
and ingest (files, progress bars) are written out below, the service commands in
``remem.cli_service`` and the benchmarks in ``remem.cli_bench``.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from remem import verbs
from remem._cli_common import DbOpt, JsonOpt, console
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


def _version(value: bool) -> None:
    if value:
        from remem import __version__

        console.print(f"remem {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Long-term memory for LLM agents."""


def _command(verb: verbs.Verb) -> Callable[..., None]:
    """The command of ``verb``: its positional arguments as arguments, the rest as options (JSON
    objects as JSON text), then ``--db`` and ``--json`` (and ``--yes`` where it asks first)."""

    text = next((a for a in verb.args if a.from_file), None)

    def command(db: Path | None = None, as_json: bool = False, **kwargs: Any) -> None:
        yes = kwargs.pop("yes", False)
        if text is not None:
            kwargs[text.name] = _content(kwargs[text.name], kwargs.pop("file", None))
        call = {
            a.name: _parse_json(kwargs[a.name], a.cli_flag) if a.json else kwargs[a.name]
            for a in verb.args_on("cli")
        }
        if verb.confirm and not yes:
            typer.confirm(verb.confirm.format(**call), abort=True)
        with _memory(db) as m:
            ready = verbs.prepare(verb, call, surface="cli", max_origin=None, memory=m)
            result = verbs.call(verb, m, ready)
        if as_json:
            _emit(verbs.items_of(verb, verbs.to_json(verb, result, ready)))
        else:
            _show(verb, result, ready)

    P = inspect.Parameter
    params = []
    for a in verb.args_on("cli"):
        info: Any
        kind = str | None if a.json or a.type in (verbs.Kind, verbs.Origin, verbs.Level) else a.type
        if a is text:  # the text itself, "-" for standard input, or --file
            kind, info = str | None, typer.Argument(help=a.doc + " '-' reads standard input.")
            params.append(P("file", P.KEYWORD_ONLY, default=None, annotation=FileOpt))
            params.append(P(a.name, P.KEYWORD_ONLY, default=None, annotation=Annotated[kind, info]))
            continue
        if a.positional:
            info = typer.Argument(help=a.doc)
        else:
            names = (a.cli_flag, a.short) if a.short else (a.cli_flag,)
            info = typer.Option(*names, help=a.doc + (" (JSON)" if "JSON" not in a.doc else ""))
        default = P.empty if a.required else a.default
        params.append(P(a.name, P.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info]))
    if verb.confirm:
        yes = typer.Option("--yes", help="Do not ask for confirmation.")
        params.append(P("yes", P.KEYWORD_ONLY, default=False, annotation=Annotated[bool, yes]))
    params += [
        P("db", P.KEYWORD_ONLY, default=None, annotation=DbOpt),
        P("as_json", P.KEYWORD_ONLY, default=False, annotation=JsonOpt),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = verb.summary
    command.__name__ = verb.name
    return command


FileOpt = Annotated[
    Path | None, typer.Option("--file", "-f", help="Read the content from this file.")
]


def _content(value: str | None, file: Path | None) -> str:
    """The content argument: itself, standard input for "-", or the file given with --file."""
    if file is not None and value is not None:
        raise typer.BadParameter("give the content or --file, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from exc
    if value == "-":
        return sys.stdin.read().rstrip("\n")
    if value is None:
        raise typer.BadParameter("give the content, '-' for standard input, or --file")
    return value


def _show(verb: verbs.Verb, result: Any, args: dict[str, Any]) -> None:
    """What a person sees: the verb's line, or a table for its result kind."""
    kind = verb.result
    if verb.say:
        console.print(verb.say.format(result=result, **args), markup=False, highlight=False)
    elif kind == "record":
        console.print(_record_table(result))
    elif kind in ("hits", "pair"):
        console.print(_records_table([h.record for h in result], [h.score for h in result]))
    elif kind in ("records", "page"):
        console.print(_records_table(list(result)))
        if kind == "page" and result.next_cursor:
            console.print(f"next page: --cursor {result.next_cursor}")
    elif kind == "answer":
        console.print(result.text, markup=False, highlight=False)
        if result.citations:
            console.print("sources: " + ", ".join(result.citations))
    elif kind in ("entries", "links"):
        console.print(_rows_table(kind, result))
    elif kind == "profile":  # remem.standing.Profile
        console.print(result.as_prompt() or "no standing memory", markup=False, highlight=False)
    elif kind == "episode":  # remem.episodes
        console.print(result.as_prompt(), markup=False, highlight=False)
    elif kind in ("cases", "lessons"):
        for x in result:
            text = x.episode.as_prompt() if kind == "cases" else f"{x.rule} ({x.support}/{x.of})"
            console.print(f"{x.score:.3f} {text}", markup=False, highlight=False)


def _rows_table(kind: str, rows: Any) -> Table:
    history = kind == "entries"
    table = Table()
    for col in ("version", "op", "at", "actor", "reason", "content") if history else "ab":
        table.add_column(col, overflow="fold")
    if not history:
        table.add_column("relation")
        table.add_column("weight")
    for x in rows:
        if history:
            snap = x.after or x.before or {}
            at = x.at.isoformat(timespec="seconds")
            table.add_row(
                str(x.version),
                x.op,
                at,
                x.actor or "",
                x.reason or "",
                str(snap.get("content", "")),
            )
        else:
            table.add_row(x.a, x.b, x.relation, f"{x.weight:.3f}")
    return table


def add_commands(target: typer.Typer, table: Sequence[verbs.Verb] = verbs.VERBS) -> None:
    """Add a generated command for every verb of ``table`` that the CLI builds from the table."""
    for verb in table:
        if verb.cli and verb.generated("cli"):
            target.command(verb.cli)(_command(verb))


add_commands(app)


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
    """Bulk-load conversation turns, with a progress bar; all checked before any is stored.

    Formats (--format):

    - jsonl: one object per line, either the arguments of add
      ({"content": "I moved to Lisbon", "user_id": "ana", "session_id": "s1", "speaker": "Ana",
      "occurred_at": "2024-03-02T10:00:00Z"}) or an OpenAI-style chat message with the scope
      beside it ({"role": "user", "content": "hi", "name": "Ana", "user_id": "ana",
      "run_id": "chat-1"}: speaker from name or role, origin from the role).

    - locomo: the LoCoMo benchmark's JSON (each sample its own user unless --user).
    """
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
from remem.cli_service import register as _register_service  # noqa: E402

_register_bench(bench_app)
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
