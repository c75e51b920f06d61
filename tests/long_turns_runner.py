"""Run the long-turn cases (shared by ``tests/test_long_turns.py`` and by
``python -m tests.long_turns_runner``): one store of long assistant answers, each asked about
the one line in it that answers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from remem import Memory
from tests.data.long_turns import CASES, turn


def ranks(root: Path, **settings: Any) -> list[int | None]:
    """For each case, the 0-based rank of its answer turn (None: not in the top 10)."""
    with Memory(root / "long.db", **settings) as memory:
        ids = []
        for i, (topic, *_rest) in enumerate(CASES):
            when = f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}T10:00:00"
            memory.add(
                f"Can you help me with the {topic} setup?",
                user_id="u",
                speaker="user",
                session_id=f"s{i}",
                occurred_at=when,
            )
            ids.append(
                memory.add(
                    turn(i),
                    user_id="u",
                    speaker="assistant",
                    session_id=f"s{i}",
                    occurred_at=when.replace("10:00", "10:01"),
                ).id
            )
        out: list[int | None] = []
        for i, (_t, _c, _line, question) in enumerate(CASES):
            got = [h.record.id for h in memory.search(question, user_id="u", limit=10)]
            out.append(got.index(ids[i]) if ids[i] in got else None)
        return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        r = ranks(Path(tmp))
    n = len(r)
    for k in (1, 3, 5, 10):
        print(f"R@{k} {sum(x is not None and x < k for x in r) / n:.3f}", end="  ")
    print(f"({n} questions)")


if __name__ == "__main__":
    main()
