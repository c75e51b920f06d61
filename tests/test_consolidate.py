"""Think-in-Memory decisions: duplicates, single-valued facts, superseding, corrections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remem.organize.consolidate import (
    Slot,
    is_correction,
    near_duplicate,
    slot,
    slots,
    supersedes,
)


@pytest.mark.parametrize(
    ("a", "b", "similarity", "expected"),
    [
        ("I like jazz.", "i like jazz", 0.1, True),  # equal once normalized, whatever the vectors
        ("We went hiking on Saturday", "We went hiking on Saturday!!", 0.99, True),
        (
            "We went hiking in the big mountains last Saturday",
            "We went hiking in the mountains last Saturday",
            0.97,
            True,
        ),
        ("I have 2 cats", "I have 3 cats", 0.99, False),
        ("I have two cats", "I have three cats", 0.99, False),
        ("I like the new album", "I don't like the new album", 0.99, False),
        ("I never eat meat at home", "I always eat meat at home", 0.96, False),
        ("I love Paris", "I love Rome", 0.96, False),  # word overlap too low
        ("the cat sat on the mat today", "the cat sat on the mat", 0.5, False),  # vectors differ
        ("", "", 0.0, True),
    ],
)
def test_near_duplicate(a: str, b: str, similarity: float, expected: bool) -> None:
    assert near_duplicate(a, b, similarity) is expected
    assert near_duplicate(b, a, similarity) is expected


@pytest.mark.parametrize(
    ("content", "attribute", "value"),
    [
        ("I live in Lisbon.", "lives_in", "Lisbon"),
        ("I moved to New York City last year with my wife.", "lives_in", "New York City"),
        ("We relocated to Berlin in 2021", "lives_in", "Berlin"),
        ("I'm living in Tokyo now", "lives_in", "Tokyo"),
        ("Actually, I just moved to Porto!", "lives_in", "Porto"),
        ("I work at Google.", "works_at", "Google"),
        ("I work for the city council", "works_at", "city council"),
        ("I got a job at Microsoft last week", "works_at", "Microsoft"),
        ("I'm a nurse at St. Mary's Hospital. I love it.", "works_at", "St. Mary's Hospital"),
        ("I started working as a software engineer", "job", "software engineer"),
        ("I'm a teacher", "job", "teacher"),
        ("My job is accountant", "job", "accountant"),
        ("My name is Ana", "name", "Ana"),
        ("Call me Jo", "name", "Jo"),
        ("My favorite color is blue", "favorite:color", "blue"),
        ("Blue is my favorite color", "favorite:color", "Blue"),
        ("My favourite movies are Alien and Heat", "favorite:movie", "Alien"),
        ("I prefer tea over coffee", "prefers", "tea"),
        ("I prefer window seats", "prefers:seats", "window seats"),
        ("I'm married", "relationship_status", "married"),
        ("We got engaged last month!", "relationship_status", "engaged"),
        ("We broke up", "relationship_status", "single"),
        ("I am 34 years old", "age", "34"),
        ("I just turned 40", "age", "40"),
        ("My phone number is 555-1234", "phone_number", "555-1234"),
        ("My email is ana@example.com", "email", "ana@example.com"),
        ("My boss is Tom", "boss", "Tom"),
    ],
)
def test_first_person_slots(content: str, attribute: str, value: str) -> None:
    assert slot(content, speaker="Ana") == Slot("Ana", attribute, value)


def test_first_person_without_a_speaker_is_user() -> None:
    assert slot("I live in Lisbon") == Slot("user", "lives_in", "Lisbon")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Ana lives in Paris", Slot("Ana", "lives_in", "Paris")),
        ("Yesterday Ana moved to Rome", Slot("Ana", "lives_in", "Rome")),
        ("Melanie's favorite book is The Hobbit", Slot("Melanie", "favorite:book", "The Hobbit")),
        ("My sister lives in Oslo", Slot("Tom's sister", "lives_in", "Oslo")),
        ("My wife's name is Maria", Slot("Tom's wife", "name", "Maria")),
        ("Ana works at the library", Slot("Ana", "works_at", "library")),
    ],
)
def test_third_person_slots(content: str, expected: Slot) -> None:
    assert slot(content, speaker="Tom") == expected


def test_a_job_at_a_place_states_both() -> None:
    assert slots("I'm a nurse at St. Mary's Hospital", speaker="Ana") == [
        Slot("Ana", "works_at", "St. Mary's Hospital"),
        Slot("Ana", "job", "nurse"),
    ]


@pytest.mark.parametrize(
    "content",
    [
        "Do you live in Paris?",
        "Where do you work",
        "Are you married?",
        "Is your favorite color blue?",
        "So you work at Google?",
        "If I moved to Paris, I'd be happy",
        "I don't live in Paris anymore",
        "I no longer work at Google",
        "I'm not married",
        "I want to move to Paris",
        "I'm thinking about moving to Berlin",
        "I would love to live in Rome",
        "I lived in Paris as a kid",
        "My dog is cute",
        "I'm a big fan of jazz",
        "I'm a member at the gym",
        "I'm tired",
        "She lives in Rome",
        "I'm 30 minutes away",
        "I work for myself",
        "I love Paris",
        "",
    ],
)
def test_no_slot(content: str) -> None:
    assert slot(content, speaker="Ana") is None


@pytest.mark.parametrize(
    ("new", "old"),
    [
        ("I moved to Berlin", "I live in Lisbon"),
        ("I work at Microsoft now", "I work at Google"),
        ("I got a job at Netflix", "I'm a nurse at St. Mary's Hospital"),
        ("My favorite color is green", "My favorite color is blue"),
        ("Green is my favorite color now", "My favorite color is blue"),
        ("We got divorced", "I'm married"),
        ("I'm 35 years old", "I am 34 years old"),
        ("I started working as a chef", "I'm a teacher"),
        ("My new email is ana@new.org", "My email is ana@old.org"),
        ("I prefer aisle seats", "I prefer window seats"),
    ],
)
def test_supersedes_same_speaker(new: str, old: str) -> None:
    assert supersedes(new, old, speaker_new="Ana", speaker_old="Ana")
    assert not supersedes(old, "I love pizza", speaker_new="Ana", speaker_old="Ana")


def test_supersedes_across_first_and_third_person() -> None:
    assert supersedes("Ana moved to Rome", "I live in Lisbon", speaker_new="Tom", speaker_old="Ana")
    assert supersedes("I live in Rome now", "Ana lives in Lisbon", speaker_new="ana")


def test_supersedes_without_speakers_uses_user() -> None:
    assert supersedes("I moved to Berlin", "I live in Lisbon")


@pytest.mark.parametrize(
    ("new", "old", "speaker_new", "speaker_old"),
    [
        ("I work at Google", "I live in Lisbon", "Ana", "Ana"),  # different attributes
        ("I live in Rome", "I live in Lisbon", "Tom", "Ana"),  # different subjects
        ("My sister lives in Oslo", "I live in Lisbon", "Ana", "Ana"),
        ("I live in Lisbon now", "I live in Lisbon", "Ana", "Ana"),  # same value
        ("i live in lisbon", "I live in  Lisbon.", "Ana", "Ana"),
        ("I work at Google in London", "I work at Google", "Ana", "Ana"),  # more detail
        ("Do you live in Paris?", "I live in Lisbon", "Ana", "Ana"),  # a question
        ("I live in Paris", "I love Paris", "Ana", "Ana"),  # no fact in the old one
        ("I prefer aisle seats", "I prefer green tea", "Ana", "Ana"),  # different things
        ("My favorite food is pizza", "My favorite color is blue", "Ana", "Ana"),
        ("My old email is ana@old.org", "My email is ana@new.org", "Ana", "Ana"),
        ("I don't live in Lisbon anymore", "I live in Lisbon", "Ana", "Ana"),
    ],
)
def test_does_not_supersede(new: str, old: str, speaker_new: str, speaker_old: str) -> None:
    assert not supersedes(new, old, speaker_new=speaker_new, speaker_old=speaker_old)


@pytest.mark.parametrize(
    "content",
    [
        "Actually it was Tuesday",
        "actually, it was Tuesday, not Monday",
        "Correction: the meeting is at 5",
        "I meant Sunday, not Saturday",
        "No, it's Tuesday",
        "Sorry, I meant the blue one",
        "Oops, I got that wrong",
        "It was actually Monday",
        "Scratch that, we're meeting Friday",
        "I misspoke earlier",
        "Nope, that was Sunday",
        "Wait, it was Monday",
        "My mistake – the party is on the 5th",
    ],
)
def test_is_correction(content: str) -> None:
    assert is_correction(content)


@pytest.mark.parametrize(
    "content",
    [
        "No problem!",
        "No thanks",
        "Wait for me",
        "I mean, it's fine",
        "I went to the market",
        "That was a great meeting",
        "Actual results may vary",
        "",
    ],
)
def test_is_not_correction(content: str) -> None:
    assert not is_correction(content)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200), st.floats(0, 1))
def test_never_raises(a: str, b: str, similarity: float) -> None:
    assert isinstance(near_duplicate(a, b, similarity), bool)
    assert isinstance(supersedes(a, b, speaker_new="Ana"), bool)
    assert isinstance(is_correction(a), bool)
    assert all(s.subject and s.attribute and s.value for s in slots(a + " I live in " + b))
