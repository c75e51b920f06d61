"""Knowledge update (issue 14, item 2): 63 scenarios across domains — residence, job, things,
preferences, schedules, versions and numbers, people, pets, tools, health, hobbies — most with no
shared phrasing between the older and the newer statement. Real MiniLM vectors.

For the present-tense question the newer must rank above the older (and in the top 3); for the
past question the older must still be in the top 5, and ``as_of`` a moment between the two must
rank it first. Nothing is deleted: both records stay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from remem.retrieve.updates import asks_present
from tests.data.updates import SCENARIOS, TECH
from tests.updates_runner import Outcome, run, run_in_chat, run_in_tech_chat


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    root = tmp_path_factory.mktemp("updates")
    return [run(i, root) for i in range(len(SCENARIOS))]


def test_the_suite_is_as_big_and_as_varied_as_the_issue_asks() -> None:
    assert len(SCENARIOS) >= 60
    assert len({domain for domain, *_ in SCENARIOS}) >= 6


def test_the_newer_statement_ranks_first_in_at_least_95_percent(outcomes: list[Outcome]) -> None:
    misses = [SCENARIOS[i][3] for i, o in enumerate(outcomes) if not o.newer_first]
    assert sum(o.newer_first for o in outcomes) / len(outcomes) >= 0.95, misses


def test_the_newer_wins_inside_a_long_chat(tmp_path: Path) -> None:
    # Every third scenario, each in its own copy of a 200-turn chat of 10 sessions: the older
    # statement in the second session, the newer in the ninth. The older's session lifts every
    # turn around it, so the newer (a strong vector match in a session about other things) sat
    # 10-40 deep and the rule never saw it: 11 of 21 newer first before stop 24, 15 after (the
    # rule also looks at every record a retriever ranks among its first three, and starts from
    # the older closest to the query in meaning). The misses are the newer not being in the top
    # 10 at all, or the older superseded at write time and the newer ranked 4th-6th.
    indices = list(range(0, len(SCENARIOS), 3))
    found = run_in_chat(indices, tmp_path)
    misses = [SCENARIOS[i][3] for i, o in zip(indices, found, strict=True) if not o.newer_first]
    assert len(indices) - len(misses) >= 14, misses


def test_the_newer_wins_in_a_long_technical_chat(tmp_path: Path) -> None:
    # Project facts that change ("Renamed master to main across all repos."), each in its own
    # copy of a 64-turn coding chat whose assistant answers are 1-3 KB with code. 3 of 12 newer
    # first at the start of stop 24, 9 after (change words "bumped", "renamed", "since this",
    # and the rule looking below the first ten).
    found = run_in_tech_chat(tmp_path)
    misses = [TECH[k][2] for k, o in enumerate(found) if not o.newer_first]
    assert len(TECH) - len(misses) >= 8, misses


def test_the_older_stays_findable_for_past_questions_and_as_of(outcomes: list[Outcome]) -> None:
    misses = [SCENARIOS[i][4] for i, o in enumerate(outcomes) if not o.older_findable]
    assert sum(o.older_findable for o in outcomes) / len(outcomes) >= 0.95, misses


def test_without_times_the_order_of_writes_decides(tmp_path: Path) -> None:
    # An app that passes no occurred_at writes the replacement milliseconds after the original.
    outs = [run(i, tmp_path, dated=False) for i in range(len(SCENARIOS))]
    assert sum(o.newer_first for o in outs) / len(outs) >= 0.95
    assert sum(o.past_old is not None and o.past_old < 5 for o in outs) / len(outs) >= 0.95


def test_the_next_turns_of_one_conversation_do_not_replace_a_statement(tmp_path: Path) -> None:
    from remem import Memory

    with Memory(tmp_path / "m.db") as memory:
        said = memory.add(
            "We decided to use PostgreSQL 16 for production.",
            user_id="u",
            speaker="user",
            session_id="c1",
            occurred_at="2024-09-20T09:00:00",
        )
        memory.add(
            "Noted. I'll write the migrations for Postgres then.",
            user_id="u",
            speaker="assistant",
            session_id="c1",
            occurred_at="2024-09-20T09:01:00",
        )
        hits = memory.search("Which database do we use in production?", user_id="u")
    assert hits[0].record.id == said.id
    assert "newer" not in hits[0].explain and all("newer" not in h.explain for h in hits)


def test_a_code_only_the_older_has_looks_the_older_up(tmp_path: Path) -> None:
    # Asked for a code (a ticket, an order number), a user wants the record that has it, even
    # when a newer record about the same thing with another code is close to it in meaning.
    from remem import Memory

    with Memory(tmp_path / "m.db", embedder="hashing") as memory:
        older = memory.add(
            "Ticket INC4471 about the login page. The reset link expires too soon.",
            user_id="u",
            session_id="a",
        )
        memory.add("Lunch with the design team ran long today.", user_id="u", session_id="a")
        newer = memory.add(
            "Ticket INC4417 about the login page. The reset link expires too soon.",
            user_id="u",
            session_id="b",
        )
        looked_up = memory.search("INC4471", user_id="u", limit=3)
        asked = memory.search("What is wrong with the login page?", user_id="u", limit=3)
    assert looked_up[0].record.id == older.id
    assert all("newer" not in h.explain for h in looked_up)
    assert asked[0].record.id == newer.id and "newer" in asked[0].explain


def test_the_component_is_what_puts_the_newer_first(tmp_path: Path) -> None:
    # With the stage off, the older (it usually matches the question's words better) wins most.
    sample = range(0, len(SCENARIOS), 4)
    on = sum(
        run(i, tmp_path / "on", newer=True).newer_first for i in sample if _mk(tmp_path / "on")
    )
    off = sum(
        run(i, tmp_path / "off", newer=False).newer_first for i in sample if _mk(tmp_path / "off")
    )
    assert on >= off + len(sample) // 3, (on, off)


def _mk(path: Path) -> bool:
    path.mkdir(exist_ok=True)
    return True


@pytest.mark.parametrize(
    ("query", "present"),
    [
        ("What car do I drive now?", True),
        ("Who is my manager?", True),
        ("Where is the staging database hosted?", True),  # a present passive
        ("When is standup?", True),
        ("How old am I?", True),
        ("What is the first step of the deploy?", True),
        ("Where did I live before?", False),
        ("What did I use to drink in the morning?", False),
        ("What was my salary in 2022?", False),
        ("Which editor did Sam switch from?", False),
        ("What motivated her to move?", False),
        ("Who was the project lead originally?", False),
        # The present perfect asks what has happened so far, all of it.
        ("How many screenplays has Joanna written?", False),
        ("Which countries have I visited?", False),
        ("What game has Nate been playing?", False),
        ("What car do I have?", True),
    ],
)
def test_present_tense_questions(query: str, present: bool) -> None:
    assert asks_present(query) is present


def test_a_newer_that_says_it_changed_replaces_despite_close_chat_around_it() -> None:
    # In a long chat, other turns are as close to the older statement as the newer is (the
    # margin rule finds no pair), and the newer may sit below the first five. A newer record that
    # says something changed ("we moved ...") is still the replacement; one that does not say so
    # is not.
    from datetime import datetime, timedelta

    import numpy as np

    from remem.retrieve import updates
    from remem.types import Record

    rng = np.random.default_rng(0)
    base = rng.standard_normal(16)
    t0 = datetime(2024, 1, 1)

    def near(scale: float) -> np.ndarray:
        v = base + scale * rng.standard_normal(16)
        return np.asarray(v / np.linalg.norm(v), dtype=np.float32)

    def rec(i: int, text: str, days: int) -> Record:
        return Record(id=f"r{i}", user_id="u", content=text, occurred_at=t0 + timedelta(days=days))

    older = rec(0, "Our office is on the third floor of the Kings Cross building.", 0)
    chat = [rec(i, f"Chat about the office and the team, part {i}.", i) for i in range(1, 7)]
    vectors = {r.id: near(0.3) for r in [older, *chat]}
    vectors[older.id] = near(0.1)
    query = near(0.2)
    for text, replaced in (
        ("The team relocated to the new Shoreditch office in June.", True),
        ("The Shoreditch office has a nice roof terrace.", False),
    ):
        newer = rec(7, text, 200)
        vectors[newer.id] = near(0.35)
        head = [older, *chat[:5], newer]  # the newer is seventh: below the first five
        got = updates.newer_first(head, vectors, query)
        assert (got == {newer.id: older.id}) is replaced, (text, got)
        assert bool(updates.CHANGE.search(text)) is replaced
