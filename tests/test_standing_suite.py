"""Search's standing-memory stage on its scenarios (``tests/standing_cases.py``): a request that
shares no word with the user's standing instruction still gets it in the top 5, and questions
about past events get nothing added (hashing embedder here; docs/benchmarks.md has MiniLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remem import Memory, standing
from tests.standing_cases import CASES, DISTRACTORS, QUESTIONS


def _run(path: Path) -> tuple[int, int]:
    """(requests whose instruction is in the top 5, past-event questions that show it)."""
    served = shown = 0
    with Memory(path, embedder="hashing") as m:
        for i, (instruction, request) in enumerate(CASES):
            user = f"u{i}"
            m.add_many(
                [
                    {
                        "content": text,
                        "user_id": user,
                        "occurred_at": f"2024-01-{j % 28 + 1:02d}T{j // 28:02d}:00:00+00:00",
                    }
                    for j, text in enumerate(DISTRACTORS)
                ]
            )
            rid = m.add(instruction, user_id=user, occurred_at="2024-01-15T12:00:00+00:00").id
            served += rid in [h.record.id for h in m.search(request, user_id=user, limit=10)[:5]]
            for question in QUESTIONS:
                shown += rid in [h.record.id for h in m.search(question, user_id=user, limit=5)]
    return served, shown


def test_every_instruction_is_detected() -> None:
    assert all(standing.detect(instruction) for instruction, _ in CASES)
    assert not any(standing.detect(text) for text in DISTRACTORS)


def test_the_stage_serves_requests_and_leaves_questions_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, shown = _run(tmp_path / "on.db")
    assert served >= len(CASES) - 2  # the two it misses need a model's similarity
    monkeypatch.setattr(standing, "surface", lambda store, hits, *a, **k: hits)
    served_off, shown_off = _run(tmp_path / "off.db")
    assert served_off < served
    assert shown == shown_off  # nothing added to questions about the past
