"""Run the knowledge-update scenarios (shared by ``tests/test_knowledge_update.py`` and by
``python -m tests.updates_runner``, which prints a report)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remem import Memory
from tests.data.updates import DISTRACTORS, SCENARIOS, TECH

OLD_AT = "2024-01-10T10:00:00"
BETWEEN = "2024-03-01T00:00:00"
NEW_AT = "2024-06-20T18:30:00"


def where_in(memory: Memory, query: str, text: str, *, user_id: str = "u", **kw: Any) -> int | None:
    """0-based rank of the memory holding ``text`` for ``query`` (None: not in the top 10)."""
    ranked = [h.record.content for h in memory.search(query, user_id=user_id, **kw)]
    return ranked.index(text) if text in ranked else None


@dataclass
class Outcome:
    """Where the old and new statements ranked (0-based; None: not in the top 10)."""

    present_new: int | None
    present_old: int | None
    past_old: int | None
    as_of_old: int | None

    @property
    def newer_first(self) -> bool:
        """The newer ranks above the older, and in the top 3."""
        new, old = self.present_new, self.present_old
        return new is not None and new < 3 and (old is None or new < old)

    @property
    def older_findable(self) -> bool:
        return self.past_old is not None and self.past_old < 5 and self.as_of_old == 0


def run(index: int, root: Path, *, dated: bool = True, **settings: Any) -> Outcome:
    """Write scenario ``index`` as a user's chat over months (``dated``), or as an app that
    passes no times writes it (one after the other, a few milliseconds apart), then ask its
    questions."""
    _domain, old, new, present, past = SCENARIOS[index]
    with Memory(root / f"u{index}{'' if dated else '-undated'}.db", **settings) as memory:
        at = (lambda when: when) if dated else (lambda when: None)
        memory.add(old, user_id="u", speaker="user", session_id="s1", occurred_at=at(OLD_AT))
        for n, text in enumerate(DISTRACTORS):
            when = f"2024-0{2 + n % 4}-1{n}T09:00:00"
            memory.add(text, user_id="u", speaker="user", session_id=f"d{n}", occurred_at=at(when))
        memory.add(new, user_id="u", speaker="user", session_id="s9", occurred_at=at(NEW_AT))
        if not dated:
            return Outcome(
                where_in(memory, present, new),
                where_in(memory, present, old),
                where_in(memory, past, old),
                0,
            )

        return Outcome(
            present_new=where_in(memory, present, new),
            present_old=where_in(memory, present, old),
            past_old=where_in(memory, past, old),
            as_of_old=where_in(memory, present, old, as_of=BETWEEN),
        )


def asked_now(memory: Memory, uid: str, present: str, old: str, new: str) -> Outcome:
    """Where the older and newer statements rank for the present-tense question alone."""
    return Outcome(
        present_new=where_in(memory, present, new, user_id=uid),
        present_old=where_in(memory, present, old, user_id=uid),
        past_old=None,
        as_of_old=None,
    )


def chat_background(turns: int) -> list[dict[str, Any]]:
    """A long chat of ``turns`` turns that says nothing of the scenarios' subjects: the benign
    corpus of ``remem bench guard`` (technical and everyday turns), as sessions of 20 turns a
    day apart, user and assistant taking turns."""
    from remem.bench.guard import BENIGN_FILE

    lines = BENIGN_FILE.read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["content"] for line in lines if line.strip()][:turns]
    return [
        {
            "content": text,
            "speaker": "user" if n % 2 == 0 else "assistant",
            "session_id": f"c{n // 20}",
            "occurred_at": f"2024-{1 + n // 20 // 28:02d}-{1 + n // 20 % 28:02d}T10:{n % 20:02d}:00",
        }
        for n, text in enumerate(texts)
    ]


def run_in_chat(indices: list[int], root: Path, *, turns: int = 200) -> list[Outcome]:
    """Scenarios ``indices``, each written into its own copy of a long chat (its own user): the
    older statement inside the chat's second session, the newer inside its second-to-last,
    each said by the user at that point of the chat; then the present-tense question."""
    chat = chat_background(turns)
    sessions = len(chat) // 20
    outcomes = []
    with Memory(root / "chat.db") as memory:
        for index in indices:
            _domain, old, new, present, _past = SCENARIOS[index]
            uid = f"u{index}"
            items = [{**t, "user_id": uid} for t in chat]
            for text, session, pos in ((new, sessions - 2, 12), (old, 1, 6)):
                at = items[session * 20 + pos]
                items.insert(session * 20 + pos, {**at, "content": text, "speaker": "user"})
            memory.add_many(items)
            outcomes.append(asked_now(memory, uid, present, old, new))
    return outcomes


def run_in_tech_chat(root: Path) -> list[Outcome]:
    """Each ``TECH`` update in its own copy of a long technical chat (its own user): the 32
    questions and long assistant answers of ``tests/data/long_turns.py``, one session a day, the
    older fact said in the third session and the newer in the third-to-last; then the
    present-tense question."""
    from datetime import datetime, timedelta

    from tests.data import long_turns

    start = datetime(2024, 3, 1, 10, 0)
    chat: list[dict[str, Any]] = []
    for i, (_topic, _code, _line, question) in enumerate(long_turns.CASES):
        day = start + timedelta(days=i)
        chat.append(
            {"content": question, "speaker": "user", "session_id": f"s{i}", "occurred_at": day}
        )
        chat.append(
            {
                "content": long_turns.turn(i),
                "speaker": "assistant",
                "session_id": f"s{i}",
                "occurred_at": day + timedelta(minutes=1),
            }
        )
    days = len(long_turns.CASES)
    outcomes = []
    with Memory(root / "tech.db") as memory:
        for k, (old, new, present) in enumerate(TECH):
            uid = f"t{k}"
            items = [
                {**t, "user_id": uid, "occurred_at": t["occurred_at"].isoformat()} for t in chat
            ]
            for text, day in ((new, days - 3), (old, 2)):
                at = (start + timedelta(days=day, minutes=2)).isoformat()
                turn = {"content": text, "speaker": "user", "session_id": f"s{day}"}
                items.insert(2 * day + 2, {**turn, "occurred_at": at, "user_id": uid})
            memory.add_many(items)
            outcomes.append(asked_now(memory, uid, present, old, new))
    return outcomes


def main() -> None:
    newer = findable = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (domain, _old, _new, present, _past) in enumerate(SCENARIOS):
            out = run(i, Path(tmp))
            newer += out.newer_first
            findable += out.older_findable
            if not (out.newer_first and out.older_findable):
                print(f"{domain:12s} {present!r}: {out}")
    n = len(SCENARIOS)
    print(f"newer first {newer}/{n} = {newer / n:.1%}; older findable {findable}/{n}")


if __name__ == "__main__":
    main()
