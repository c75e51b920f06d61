"""``make demo``: write a short conversation into an embedded store and run a few searches.

Run with ``python -m remem.demo [PATH]``; the store is left at PATH (default ``demo.db``) so the CLI
can be pointed at it afterwards: ``remem search "..." --user demo-user --db demo.db``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from remem import Memory

USER = "demo-user"
CONVERSATION = [
    # (session, when, speaker, text)
    (
        "trip",
        "2024-03-02T18:05:00",
        "Maya",
        "We finally booked the trip to Lisbon for the last week of April!",
    ),
    (
        "trip",
        "2024-03-02T18:06:00",
        "Assistant",
        "Great! Do you want me to remember your seat preference?",
    ),
    (
        "trip",
        "2024-03-02T18:07:00",
        "Maya",
        "Yes, always a window seat, and I'm vegetarian for the in-flight meal.",
    ),
    (
        "trip",
        "2024-03-02T18:09:00",
        "Maya",
        "My brother Tomás lives in Porto, so we'll take the train up on the Saturday.",
    ),
    (
        "work",
        "2024-03-10T09:12:00",
        "Maya",
        "I started a new job at Northwind as a data engineer this week.",
    ),
    (
        "work",
        "2024-03-10T09:14:00",
        "Maya",
        "My manager is called Priya and our stand-up is at 9:30 every morning.",
    ),
    (
        "work",
        "2024-03-10T09:20:00",
        "Maya",
        "The first project is migrating the billing pipeline from cron jobs to Airflow.",
    ),
    (
        "health",
        "2024-03-18T20:41:00",
        "Maya",
        "I've been training for the half marathon in June, running 30 km a week.",
    ),
    (
        "health",
        "2024-03-18T20:43:00",
        "Maya",
        "My left knee hurts after long runs, the physio said to add rest days.",
    ),
    (
        "health",
        "2024-03-18T20:45:00",
        "Assistant",
        "Noted: rest days after long runs, and check in about the knee next month.",
    ),
    (
        "home",
        "2024-03-25T19:02:00",
        "Maya",
        "Our cat Pixel knocked the monstera off the shelf again.",
    ),
    (
        "home",
        "2024-03-25T19:03:00",
        "Maya",
        "We're thinking of adopting a second cat from the shelter in May.",
    ),
]
QUERIES = [
    "Where is Maya travelling and when?",
    "What should I order for Maya's meal on the plane?",
    "Who is Maya's manager?",
    "Does Maya have any injuries?",
    "What pets does Maya have?",
]


def main(path: Path) -> None:
    """Build the demo store at ``path`` and print the searches."""
    console = Console()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    with Memory(path) as memory:
        memory.add_many(
            {
                "content": text,
                "user_id": USER,
                "session_id": session,
                "speaker": speaker,
                "occurred_at": when,
            }
            for session, when, speaker, text in CONVERSATION
        )
        console.print(
            f"[bold]remem demo[/bold]: stored {len(CONVERSATION)} turns in {path} "
            f"({time.perf_counter() - started:.1f} s, model load included)\n"
        )
        for query in QUERIES:
            t0 = time.perf_counter()
            hits = memory.search(query, user_id=USER, limit=3)
            ms = (time.perf_counter() - t0) * 1000
            table = Table(title=f"{query}  [dim]({ms:.1f} ms)[/dim]", title_justify="left")
            table.add_column("score", justify="right")
            table.add_column("when")
            table.add_column("memory", overflow="fold")
            table.add_column("found by")
            for hit in hits:
                rec = hit.record
                # Ranks in each retriever, then what the other components added.
                found = ", ".join(
                    f"{k} #{v}" if isinstance(v, int) else f"+{k}"
                    for k, v in hit.explain.items()
                    if k != "score"
                )
                table.add_row(
                    f"{hit.score:.3f}",
                    rec.occurred_at.strftime("%Y-%m-%d") if rec.occurred_at else "",
                    f"{rec.speaker}: {rec.content}",
                    found,
                )
            console.print(table)
    console.print(f'\nTry: .venv/bin/remem search "knee" --user {USER} --db {path}')


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo.db"))
