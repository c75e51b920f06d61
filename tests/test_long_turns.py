"""One line inside a long turn (issue 14, item 7): 32 assistant answers of 1.6–2.4 KB with code,
each asked about the one line in it that answers. Real MiniLM vectors."""

from __future__ import annotations

from pathlib import Path

from remem.organize.facts import MAX_FACTS, sentences
from tests.data.long_turns import CASES, turn
from tests.long_turns_runner import ranks


def test_the_answer_line_of_a_long_turn_is_found(tmp_path: Path) -> None:
    r = ranks(tmp_path)
    assert all(x is not None and x < 3 for x in r), r
    assert sum(x == 0 for x in r) / len(r) >= 0.85, r


def test_the_best_line_counts_more_in_a_long_turn(tmp_path: Path) -> None:
    # Weights.line: without it, a long turn whose one line answers loses first place to another
    # long turn of the same kind whose whole text matches a little better.
    default = ranks(tmp_path / "a")
    without = ranks(tmp_path / "b", line_weight=0)
    first = sum(x == 0 for x in default)
    assert first / len(default) >= 0.95, default
    assert first > sum(x == 0 for x in without), (default, without)


def test_every_line_of_a_long_turn_is_in_a_piece_the_model_reads_whole() -> None:
    for i in range(len(CASES)):
        text = turn(i)
        pieces = sentences(text)
        assert len(pieces) <= MAX_FACTS
        line = CASES[i][2]
        holder = next(p for p in pieces if line in p)
        # About an equal share of the turn each (the model reads 256 word pieces, ~1 KB).
        assert len(holder) <= 2 * len(text) / MAX_FACTS + len(line), (len(holder), len(text))
        # Nothing lost or reordered: the pieces are the turn's text, in order.
        assert "".join(pieces).replace("\n", "").replace(" ", "") == "".join(
            p.strip() for p in text.split()
        ).replace(" ", "")


def test_short_turns_split_as_before() -> None:
    assert sentences("We went camping. The kids loved the stars. I start Monday.") == [
        "We went camping.",
        "The kids loved the stars.",
        "I start Monday.",
    ]
    many = " ".join(f"Sentence number {n} is here." for n in range(30))
    pieces = sentences(many)
    assert len(pieces) == MAX_FACTS
    assert all("Sentence number" in p for p in pieces)
