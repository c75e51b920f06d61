"""Asked how a problem was fixed, the fix ranks above the problem's own statement
(``hierarchy.answered``), and only then: a thanks after a fix, a same-speaker follow-up or a
question that does not ask for a fix leave the order alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from remem import Memory
from remem.retrieve import answertype


@pytest.mark.parametrize(
    "question",
    [
        "how do I fix the build error?",
        "How did we solve the login timeout",
        "how can we avoid the memory leak in the worker",
        "How was the flaky upload test fixed?",
        "what fixed the broken cron job?",
        "is there a workaround for the certificate warning",
        "how to get rid of the deprecation warning",
        "What was the fix for the slow dashboard?",
    ],
)
def test_fix_questions_are_recognised(question: str) -> None:
    assert answertype.asks_fix(question)


@pytest.mark.parametrize(
    "question",
    [
        "what is wrong with the build?",
        "when did the login start timing out",
        "who fixed the bug?",
        "Which tests are flaky?",
        "what does the fix command do",
    ],
)
def test_other_questions_are_not(question: str) -> None:
    assert not answertype.asks_fix(question)


def _store(path: Path, turns: list[tuple[str, str | None, str | None, str]]) -> Memory:
    memory = Memory(path)
    for text, speaker, session, at in turns:
        memory.add(text, user_id="u", speaker=speaker, session_id=session, occurred_at=at)
    return memory


def test_the_reply_to_a_problem_ranks_above_the_problem(tmp_path: Path) -> None:
    turns = [
        ("Our nightly backup job keeps failing with a disk quota error.", "user", "s1", "2025-03-02T09:00"),
        ("Rotate the old snapshots weekly and move archives to cold storage.", "assistant", "s1", "2025-03-02T09:01"),
        ("Thanks!", "user", "s1", "2025-03-02T09:03"),
        ("Unrelated: the office printer is out of toner.", "user", "s2", "2025-03-04T10:00"),
        ("Order toner from the usual supplier.", "assistant", "s2", "2025-03-04T10:01"),
    ]  # fmt: skip
    with _store(tmp_path / "m.db", turns) as memory:
        hits = memory.search("how did we fix the nightly backup failures?", user_id="u")
        plain = memory.search("what was failing in the nightly backup?", user_id="u")
    assert hits[0].record.content.startswith("Rotate the old snapshots")
    assert hits[0].explain.get("reply", 0) > 0
    assert hits[1].record.content.startswith("Our nightly backup job")
    # Not a fix question: the problem's statement stays the best match.
    assert plain[0].record.content.startswith("Our nightly backup job")


def test_a_tool_error_is_answered_by_the_next_record_in_time(tmp_path: Path) -> None:
    turns = [
        ("Deploy went fine yesterday.", "user", "s1", "2025-05-01T08:00"),
        ("FATAL: password authentication failed for user \"app\" (psql)", "tool", None, "2025-05-02T11:00"),
        ("Reset the app role's password and update the secret in the vault.", "assistant", "s2", "2025-05-02T11:02"),
        ("We should also add a health check to the deploy.", "user", "s3", "2025-05-06T09:00"),
    ]  # fmt: skip
    with _store(tmp_path / "m.db", turns) as memory:
        hits = memory.search("how do I fix the password authentication failure?", user_id="u")
    assert hits[0].record.content.startswith("Reset the app role")
    assert hits[1].record.content.startswith("FATAL")


def test_a_thanks_after_the_fix_does_not_pass_the_fix(tmp_path: Path) -> None:
    turns = [
        ("To fix the stale cache, clear it on deploy and shorten the TTL to five minutes.", "assistant", "s1", "2025-06-01T10:00"),
        ("Thanks, that worked!", "user", "s1", "2025-06-01T10:05"),
        ("Lunch at noon?", "user", "s2", "2025-06-02T11:00"),
    ]  # fmt: skip
    with _store(tmp_path / "m.db", turns) as memory:
        hits = memory.search("how did we fix the stale cache?", user_id="u")
    assert hits[0].record.content.startswith("To fix the stale cache")
    assert "answers" not in hits[1].explain


def test_the_same_speaker_going_on_is_not_an_answer(tmp_path: Path) -> None:
    turns = [
        ("The search page times out whenever the catalogue filter is on.", "user", "s1", "2025-07-01T10:00"),
        ("It also happened on the staging copy this morning, same filter.", "user", "s1", "2025-07-01T10:01"),
        ("Weather is nice today.", "user", "s2", "2025-07-02T10:00"),
    ]  # fmt: skip
    with _store(tmp_path / "m.db", turns) as memory:
        hits = memory.search("how can we fix the search page timeouts?", user_id="u")
    assert hits[0].record.content.startswith("The search page times out")
    assert all("answers" not in h.explain for h in hits)
