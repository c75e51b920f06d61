"""The CLI commands over the organized memory: links, timeline, first-of, forget, quarantine,
answer.

``register(app)`` adds them to the main Typer app (``remem/cli.py`` calls it). Like every command,
each parses its input, makes one Memory call and renders the result (a table, or ``--json``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from remem._cli_common import (
    DbOpt,
    JsonOpt,
    UserOpt,
    console,
    emit,
    open_memory,
    parse_json,
    record_table,
    records_table,
)

IdArg = Annotated[str, typer.Argument(help="Memory id.")]
OptUser = Annotated[
    str | None, typer.Option("--user", "-u", help="If given, the memory must be this user's.")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, recorded in history.")]


def links(id: IdArg, user: OptUser = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The links of a memory: similar, shared entity, next turn, supersedes, ..."""
    with open_memory(db) as m:
        found = m.links(id, user_id=user)
    if as_json:
        emit([x.to_dict() for x in found])
        return
    table = Table()
    for col in ("a", "b", "relation", "weight"):
        table.add_column(col, overflow="fold")
    for x in found:
        table.add_row(x.a, x.b, x.relation, f"{x.weight:.3f}")
    console.print(table)


def timeline(
    user: UserOpt,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    session: Annotated[str | None, typer.Option("--session")] = None,
    start: Annotated[str | None, typer.Option("--start", help="ISO 8601, inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="ISO 8601, exclusive.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-k")] = 100,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One user's memories in the order the events happened."""
    with open_memory(db) as m:
        records = m.timeline(
            user_id=user, agent_id=agent, session_id=session, start=start, end=end, limit=limit
        )
    if as_json:
        emit([r.to_dict() for r in records])
    else:
        console.print(records_table(records))


def first_of(
    event_a: Annotated[str, typer.Argument(help="One event, described.")],
    event_b: Annotated[str, typer.Argument(help="The other event, described.")],
    user: UserOpt,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which of two described events happened first (earlier row first)."""
    with open_memory(db) as m:
        earlier, later = m.first_of(event_a, event_b, user_id=user)
    if as_json:
        emit({"earlier": earlier.to_dict(), "later": later.to_dict()})
    else:
        hits = (earlier, later)
        console.print(records_table([h.record for h in hits], [h.score for h in hits]))


def forget(
    id: Annotated[
        str | None, typer.Argument(help="One memory; or leave out and give --user.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="The scope (required without ID).")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    session: Annotated[str | None, typer.Option("--session")] = None,
    filters: Annotated[str | None, typer.Option("--filters", help="A JSON filter object.")] = None,
    everything: Annotated[
        bool,
        typer.Option("--all", help="Forget the whole scope (required without ID and --filters)."),
    ] = False,
    reason: ReasonOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forget one memory, or every memory of a scope that matches (history keeps a copy).

    A whole scope (no ID, no --filters) is forgotten only with --all.
    """
    from remem.errors import InvalidInput

    if id is not None and everything:
        raise InvalidInput("forget: give either an ID or --all, not both")
    if id is None and not filters and not everything:
        raise InvalidInput(
            "forget: a whole scope (no ID, no --filters) is forgotten only with --all; "
            "give an ID or --filters to forget less"
        )
    with open_memory(db) as m:
        count = m.forget(
            id,
            user_id=user,
            agent_id=agent,
            session_id=session,
            filters=parse_json(filters, "--filters"),
            reason=reason,
        )
    emit({"forgotten": count}) if as_json else console.print(f"forgot {count} memories")


def forget_expired(user: UserOpt, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Remove one user's memories whose TTL has passed."""
    with open_memory(db) as m:
        count = m.forget_expired(user_id=user)
    emit({"forgotten": count}) if as_json else console.print(f"removed {count} expired memories")


def quarantine(
    id: IdArg,
    user: OptUser = None,
    reason: ReasonOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hide a memory from every search and listing (kept, with its history, for review)."""
    with open_memory(db) as m:
        rec = m.quarantine(id, user_id=user, reason=reason)
    emit(rec.to_dict()) if as_json else console.print(record_table(rec))


def restore(
    id: IdArg,
    user: OptUser = None,
    reason: ReasonOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring a quarantined memory back."""
    with open_memory(db) as m:
        rec = m.restore(id, user_id=user, reason=reason)
    emit(rec.to_dict()) if as_json else console.print(record_table(rec))


def answer(
    question: Annotated[str, typer.Argument(help="The question.")],
    user: UserOpt,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    session: Annotated[str | None, typer.Option("--session")] = None,
    limit: Annotated[int, typer.Option("--limit", "-k", help="Memories to answer from.")] = 10,
    filters: Annotated[str | None, typer.Option("--filters", help="A JSON filter object.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from one user's memories, citing them, or abstain."""
    with open_memory(db) as m:
        result = m.answer(
            question,
            user_id=user,
            agent_id=agent,
            session_id=session,
            limit=limit,
            filters=parse_json(filters, "--filters"),
        )
    if as_json:
        emit(
            {
                "text": result.text,
                "citations": list(result.citations),
                "abstained": result.abstained,
                "usage": dict(result.usage),
            }
        )
        return
    console.print(result.text, markup=False, highlight=False)
    if result.citations:
        console.print("sources: " + ", ".join(result.citations))


def register(app: typer.Typer) -> None:
    """Add the commands of this module to the main CLI app."""
    app.command()(links)
    app.command()(timeline)
    app.command("first-of")(first_of)
    app.command()(forget)
    app.command("forget-expired")(forget_expired)
    app.command()(quarantine)
    app.command()(restore)
    app.command()(answer)
