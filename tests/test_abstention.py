"""Honest answers without a model (issue 14, item 5): the extractive rule answers only from what
a memory states about whom the question asks, and the QA bench measures abstention."""

from __future__ import annotations

from pathlib import Path

from remem import Memory
from remem.answer import coverage, extractive_answer, named_people, stated
from remem.bench import qa
from remem.types import Hit, Record


def _hit(content: str, speaker: str | None = None, id: str = "r1") -> Hit:
    return Hit(Record(id=id, user_id="u", content=content, speaker=speaker), 1.0)


def test_a_question_in_memory_answers_nothing() -> None:
    hit = _hit("That bowl is gorgeous! Did you make the black and white bowl?", "Ana")
    assert extractive_answer("Did Ana make the black and white bowl?", [hit]).abstained
    assert stated(hit.record.content) == "That bowl is gorgeous!"


def test_what_someone_says_to_another_person_is_not_about_them() -> None:
    # Ana praises Bo's pottery: the question asks about Ana's.
    praise = _hit("Your pottery class sounds amazing, Bo. You made a lovely vase.", "Ana")
    assert extractive_answer("What did Ana make in her pottery class?", [praise]).abstained
    own = _hit("I made a lovely vase in my pottery class.", "Ana", id="r2")
    got = extractive_answer("What did Ana make in her pottery class?", [praise, own])
    assert (got.abstained, got.citations) == (False, ("r2",))


def test_another_speaker_answers_when_they_name_the_person() -> None:
    hit = _hit("Ana made a lovely vase in her pottery class.", "Bo")
    question = "What did Ana make in her pottery class?"
    assert named_people(question, ["Bo", "Ana"]) == {"ana"}
    assert not extractive_answer(question, [hit, _hit("I paint.", "Ana", id="r2")]).abstained


def test_a_covering_hit_below_the_first_is_the_answer_but_not_a_deep_one() -> None:
    noise = [_hit(f"We talked about the weather {i}", "Bo", id=f"n{i}") for i in range(3)]
    answer_hit = _hit("My sister moved to Lisbon in March", "Ana", id="a")
    assert extractive_answer("Where did my sister move?", [noise[0], answer_hit]).citations == (
        "a",
    )
    assert extractive_answer("Where did my sister move?", [*noise, answer_hit]).abstained


def test_dates_the_question_names_are_not_words_to_cover() -> None:
    assert coverage("What did Ana paint on 8 May, 2023?", "I painted a sunset", names="Ana") == 1.0
    assert coverage("What did Ana paint on 8 May, 2023?", "A sunset", names="Ana") == 0.0


def test_words_that_frame_the_answer_are_not_words_to_cover(tmp_path: Path) -> None:
    # The answer names the kitten, the job, the fault: it does not repeat "name", "living" or
    # "wrong". Questions the store cannot answer still abstain.
    with Memory(tmp_path / "m.db") as memory:
        for text, session in (
            ("We adopted a kitten called Figo in May.", "s1"),
            ("My sister Marta is a pilot for TAP.", "s1"),
            ("The car needs a new clutch, it's at the garage.", "s2"),
            ("I started a pottery class on Tuesdays.", "s2"),
            ("My favourite food is grilled sardines.", "s3"),
        ):
            memory.add(text, user_id="u", speaker="Ana", session_id=session)
        for question, expected in (
            ("What is the kitten's name?", "Figo"),
            ("What does Marta do for a living?", "pilot"),
            ("What's wrong with the car?", "clutch"),
            ("What class does Ana take?", "pottery"),
        ):
            got = memory.answer(question, user_id="u")
            assert not got.abstained and expected in got.text, (question, got.text)
        for question in (
            "What is the name of Ana's dog?",
            "What kind of car does Ana drive?",
            "What is Ana's blood type?",
            "How old is Marta?",
            "Which football team does Ana support?",
        ):
            assert memory.answer(question, user_id="u").abstained, question
    assert coverage("What is the kitten's name?", "We adopted a kitten called Figo") == 1.0


def test_abstention_precision_and_recall() -> None:
    rows = [
        {"category": 5, "abstained": True},
        {"category": 5, "abstained": False},
        {"category": 4, "abstained": True},
        {"category": 4, "abstained": False},
        {"category": 2, "abstained": True},
    ]
    got = qa.abstention(rows)
    assert got["abstained"] == 3 and got["adversarial"] == 2
    assert got["precision"] == round(1 / 3, 4) and got["recall"] == 0.5
    assert got["f1"] == round(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5), 4)
    assert qa.abstention([{"category": 4, "abstained": False}])["precision"] == 0.0


def test_the_qa_summary_prints_abstention() -> None:
    rows = [
        {"category": 5, "abstained": True, "f1": None, "bleu1": None, "judge": None},
        {"category": 4, "abstained": False, "f1": 1.0, "bleu1": 1.0, "judge": None},
    ]
    for r in rows:
        r.update(evidence_cited=None, latency_ms=1.0)
    summary = qa.summarize_qa(rows)
    assert summary["abstention"]["precision"] == 1.0 and summary["abstention"]["recall"] == 1.0
    line = next(x for x in qa.summary_lines(summary) if x.startswith("abstention"))
    assert "precision 1.000" in line and "recall 1.000" in line


def test_the_speakers_name_still_does_not_answer(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder="hashing") as m:
        m.add("My favourite food is grilled sardines", user_id="u", speaker="Ana")
        assert m.answer("Where did Ana move?", user_id="u").abstained
