"""A-MEM notes by heuristics: keywords, entities and dates of one memory."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remem._text import STOPWORDS
from remem.organize.notes import MAX_KEYWORDS, Note, extract

WHEN = datetime(2023, 5, 8, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("I went to a LGBTQ support group yesterday and it was so powerful.", "support group"),
        ("Hey! I ran a charity race for mental health last Saturday.", "charity race"),
        ("Hey! I ran a charity race for mental health last Saturday.", "mental health"),
        ("The doctor said my blood pressure is fine now.", "blood pressure"),
        ("We roasted marshmallows by the campfire at the beach.", "campfire"),
        ("I've been learning pottery; the pottery class is every Tuesday.", "pottery class"),
        ("Painting landscapes helps me unwind after work.", "painting landscapes"),
    ],
)
def test_keywords_find_the_topic(content: str, phrase: str) -> None:
    assert phrase in extract(content).keywords


@pytest.mark.parametrize(
    ("content", "absent"),
    [
        ("I went to a LGBTQ support group yesterday and it was so powerful.", "yesterday"),
        ("Wow, that's really great, thanks so much!", "great"),
        ("I think I really like it a lot.", "like"),
        ("Lisbon was sunny and the food was delicious.", "lisbon"),  # an entity, not a keyword
        ("I have 3 cats and 2 dogs.", "3"),
        ("We visited the museum on Saturday.", "saturday"),
        ("I quickly finished the report.", "quickly"),
        ("I walked to the store.", "walked"),
    ],
)
def test_keywords_skip_fillers_names_numbers_and_time_words(content: str, absent: str) -> None:
    assert absent not in extract(content).keywords


def test_keywords_are_lower_case_bounded_and_free_of_stop_words() -> None:
    text = (
        "Yesterday Melanie and I went camping near the lake, cooked pasta on the campfire, "
        "watched meteor showers, hiked the ridge trail, photographed wildflowers, spotted deer, "
        "fished for trout, painted the sunrise and sang old folk songs with the kids."
    )
    kws = extract(text).keywords
    assert 0 < len(kws) <= MAX_KEYWORDS
    assert all(k == k.lower() for k in kws)
    assert not any(w in STOPWORDS for k in kws for w in k.split())
    assert len(set(kws)) == len(kws)


def test_a_phrase_covers_its_words() -> None:
    kws = extract("The support group met again; the support group helps a lot.").keywords
    assert "support group" in kws and "support" not in kws and "group" not in kws


def test_chit_chat_has_no_keywords() -> None:
    assert extract("Oh wow, yeah, that's so awesome! Thanks!").keywords == ()


@pytest.mark.parametrize(
    ("content", "entity"),
    [
        ("Lisbon was amazing this spring.", "Lisbon"),
        ("Next month I'm flying to New York.", "New York"),
        ("My sister works at Google.", "Google"),
        ("I'm reading The Hobbit again.", "The Hobbit"),
        ("Bank of America approved the loan.", "Bank of America"),
        ("I saw Dr. Smith about my knee.", "Dr. Smith"),
        ("I joined the LGBTQ support group.", "LGBTQ"),
        ("I finally bought an iPhone.", "iPhone"),
        ("Hey Caroline, how are you?", "Caroline"),
        ("Thanks, Mel!", "Mel"),
        ("We went to Ana's party.", "Ana"),
        ("We visited the Jerónimos Monastery.", "Jerónimos Monastery"),
    ],
)
def test_entities(content: str, entity: str) -> None:
    assert entity in extract(content, speaker="Someone").entities


@pytest.mark.parametrize(
    "content",
    [
        "Yesterday was great. The weather was nice. Painting helps me relax.",
        "I went out and I had fun.",
        "I LOVE THIS SO MUCH",
        "Thanks! Wow, congrats!",
        "Last Saturday we went to the beach.",
        "In May we travel.",
        "",
    ],
)
def test_no_entities(content: str) -> None:
    assert extract(content).entities == ()


def test_entities_keep_casing_and_order_and_dedupe() -> None:
    note = extract("Ana met Tom in Paris. Later ana's friend and ANA joined Tom.")
    assert note.entities[:3] == ("Ana", "Tom", "Paris")
    assert len({e.casefold() for e in note.entities}) == len(note.entities)


@pytest.mark.parametrize("speaker", ["Caroline", "caroline", "Caroline Smith"])
def test_the_speaker_is_not_an_entity(speaker: str) -> None:
    note = extract("Hi, it's Caroline and I love Paris", speaker=speaker)
    assert note.entities == ("Paris",)


def test_someone_else_named_by_the_speaker_is_an_entity() -> None:
    assert extract("Caroline, you are amazing", speaker="Melanie").entities == ("Caroline",)


@pytest.mark.parametrize(
    ("content", "dates"),
    [
        ("I went to a support group yesterday.", ("2023-05-07",)),
        ("Last year was tough.", ("2022",)),
        ("We moved here in May 2023.", ("2023-05",)),
        ("Next month I start a new job.", ("2023-06",)),
        ("Yesterday and again yesterday.", ("2023-05-07",)),
        ("On 8 May 2023 and last Saturday.", ("2023-05-08", "2023-05-06")),
        ("No dates at all here.", ()),
    ],
)
def test_dates_resolve_against_occurred_at(content: str, dates: tuple[str, ...]) -> None:
    assert extract(content, occurred_at=WHEN).dates == dates


def test_without_occurred_at_only_absolute_dates() -> None:
    assert extract("Yesterday, not on 8 May 2023.").dates == ("2023-05-08",)


def test_note_is_frozen_and_empty_for_empty_text() -> None:
    note = extract("")
    assert note == Note((), (), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        note.keywords = ("x",)  # type: ignore[misc]


def test_extract_handles_odd_text() -> None:
    for text in ["!!!", "   ", "😀😀", "a" * 5000, "İstanbul'da İzmir", "e-mail: a@b.co 12:30"]:
        note = extract(text, occurred_at=WHEN, speaker="")
        assert isinstance(note, Note)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.none() | st.text(max_size=20))
def test_extract_never_raises(text: str, speaker: str | None) -> None:
    note = extract(text, occurred_at=WHEN, speaker=speaker)
    assert len(note.keywords) <= MAX_KEYWORDS
    assert all(k == k.lower() and k for k in note.keywords)
    assert all(e.strip() for e in note.entities)
