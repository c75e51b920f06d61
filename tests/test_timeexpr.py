"""Time expressions: resolve against an anchor, query windows, "when" questions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remem.organize.timeexpr import Span, asks_when, query_range, resolve

# A Monday afternoon.
ANCHOR = datetime(2023, 5, 8, 14, 0, tzinfo=UTC)


def isos(text: str, anchor: datetime | date | None = ANCHOR) -> list[tuple[str, str]]:
    return [(s.iso, s.granularity) for s in resolve(text, anchor)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yesterday", ("2023-05-07", "day")),
        ("I'm meeting her today", ("2023-05-08", "day")),
        ("tomorrow works", ("2023-05-09", "day")),
        ("the day before yesterday", ("2023-05-06", "day")),
        ("the day after tomorrow", ("2023-05-10", "day")),
        ("we met last night", ("2023-05-07", "day")),
        ("last week", ("2023-05-01", "week")),
        ("this week", ("2023-05-08", "week")),
        ("next week", ("2023-05-15", "week")),
        ("last month", ("2023-04", "month")),
        ("this month", ("2023-05", "month")),
        ("next month", ("2023-06", "month")),
        ("last year", ("2022", "year")),
        ("this year", ("2023", "year")),
        ("next year", ("2024", "year")),
        ("last Saturday", ("2023-05-06", "day")),
        ("last Monday", ("2023-05-01", "day")),
        ("next Friday", ("2023-05-12", "day")),
        ("this Wednesday", ("2023-05-10", "day")),
        ("On Saturday we went hiking", ("2023-05-06", "day")),
        ("I'll call you on Friday", ("2023-05-12", "day")),
        ("3 days ago", ("2023-05-05", "day")),
        ("three days ago", ("2023-05-05", "day")),
        ("two weeks ago", ("2023-04-24", "week")),
        ("a month ago", ("2023-04", "month")),
        ("2 years ago", ("2021", "year")),
        ("ten years back", ("2013", "year")),
        ("a couple of days ago", ("2023-05-06", "day")),
        ("a few weeks ago", ("2023-04", "month")),
        ("a few days ago", ("2023-05-01", "week")),
        ("several months ago", ("2023", "year")),
        ("in 2 weeks", ("2023-05-22", "week")),
        ("in three days", ("2023-05-11", "day")),
        ("in a week", ("2023-05-15", "week")),
        ("two days from now", ("2023-05-10", "day")),
        ("8 May 2023", ("2023-05-08", "day")),
        ("May 8, 2023", ("2023-05-08", "day")),
        ("on the 3rd of June 2022", ("2022-06-03", "day")),
        ("Dec. 25th, 2021", ("2021-12-25", "day")),
        ("2023-05-08", ("2023-05-08", "day")),
        ("05/08/2023", ("2023-05-08", "day")),
        ("25/12/2022", ("2022-12-25", "day")),
        ("in May 2023", ("2023-05", "month")),
        ("in Sept 2021", ("2021-09", "month")),
        ("2022-11", ("2022-11", "month")),
        ("May 8th", ("2023-05-08", "day")),
        ("I went there on June 20th", ("2022-06-20", "day")),
        ("I'll be there on June 20th", ("2023-06-20", "day")),
        ("in May", ("2023-05", "month")),
        ("I visited Rome in December", ("2022-12", "month")),
        ("We will travel in March", ("2024-03", "month")),
        ("last May", ("2022-05", "month")),
        ("next May", ("2024-05", "month")),
        ("last December", ("2022-12", "month")),
        ("in 2022", ("2022", "year")),
        ("since 2019 I have painted", ("2019", "year")),
        ("summer of 2021", ("2021-07", "month")),
        ("last summer", ("2022-07", "month")),
        ("this summer", ("2023-07", "month")),
        ("the past three months", ("2023-03", "month")),
        ("last weekend", ("2023-05-01", "week")),
        ("this past weekend", ("2023-05-01", "week")),
        ("back in mid-2021", ("2021", "year")),
    ],
)
def test_resolve_one(text: str, expected: tuple[str, str]) -> None:
    assert isos(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "I may go later",
        "May I help you?",
        "2000 people came to the show",
        "I paid $2020 for it",
        "We march together",
        "Spring is lovely",
        "I always fall asleep early",
        "a few people showed up",
        "I have 3 cats",
        "I do yoga every Monday",
        "I drive a 2020 Honda",
        "",
    ],
)
def test_resolve_none(text: str) -> None:
    assert resolve(text, ANCHOR) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yesterday", []),
        ("last week", []),
        ("in May", []),
        ("8 May 2023", [("2023-05-08", "day")]),
        ("in 2022", [("2022", "year")]),
        ("in May 2023", [("2023-05", "month")]),
    ],
)
def test_without_anchor_only_absolute_dates_resolve(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert isos(text, None) == expected


def test_spans_in_order_of_appearance() -> None:
    got = isos("In 2021 I moved to Lisbon, and yesterday I came back for 8 May 2023.")
    assert got == [("2021", "year"), ("2023-05-07", "day"), ("2023-05-08", "day")]


def test_a_date_anchor_works_like_a_datetime() -> None:
    assert isos("yesterday", date(2023, 5, 8)) == [("2023-05-07", "day")]


def test_month_boundaries_and_leap_years() -> None:
    assert isos("yesterday", date(2024, 3, 1)) == [("2024-02-29", "day")]
    assert isos("a month ago", date(2023, 3, 31)) == [("2023-02", "month")]
    assert isos("next month", date(2023, 12, 15)) == [("2024-01", "month")]
    # An impossible day still names its month.
    assert isos("29 February 2023") == [("2023-02", "month")]


def test_span_bounds_are_inclusive_ranges() -> None:
    (week,) = resolve("last weekend", ANCHOR)
    assert (week.start, week.end) == (date(2023, 5, 6), date(2023, 5, 7))
    (month,) = resolve("in February 2024", None)
    assert (month.start, month.end) == (date(2024, 2, 1), date(2024, 2, 29))
    (year,) = resolve("in 2022", None)
    assert (year.start, year.end, year.text) == (date(2022, 1, 1), date(2022, 12, 31), "2022")


def test_span_iso_and_overlaps() -> None:
    span = Span(date(2023, 5, 3), date(2023, 5, 3), "Wednesday", "week")
    assert span.iso == "2023-05-01"  # a week is named by its Monday
    assert span.overlaps(date(2023, 5, 1), date(2023, 5, 3))
    assert not span.overlaps(date(2023, 5, 4), date(2023, 5, 9))


@pytest.mark.parametrize(
    ("query", "start", "end", "granularity"),
    [
        ("what did I do last week?", date(2023, 5, 1), date(2023, 5, 7), "week"),
        ("What happened in May 2023", date(2023, 5, 1), date(2023, 5, 31), "month"),
        ("what did we talk about yesterday", date(2023, 5, 7), date(2023, 5, 7), "day"),
        ("trips in 2022", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("between March 2022 and May 2022", date(2022, 3, 1), date(2022, 5, 31), "month"),
        ("yesterday or last year", date(2022, 1, 1), date(2023, 5, 7), "year"),
    ],
)
def test_query_range(query: str, start: date, end: date, granularity: str) -> None:
    span = query_range(query, now=ANCHOR)
    assert span is not None
    assert (span.start, span.end, span.granularity) == (start, end, granularity)


@pytest.mark.parametrize(
    "query", ["What is Caroline's favorite book?", "Where does Ana live?", "when did she go?"]
)
def test_query_range_none(query: str) -> None:
    assert query_range(query, now=ANCHOR) is None


def test_query_range_defaults_to_now() -> None:
    before = datetime.now(UTC).date() - timedelta(days=1)
    span = query_range("what did I eat yesterday")
    after = datetime.now(UTC).date() - timedelta(days=1)
    assert span is not None and span.start in (before, after)


@pytest.mark.parametrize(
    "query",
    [
        "When did Caroline go to the support group?",
        "when is the party",
        "What year did she move to Sweden?",
        "What date was the charity race?",
        "How long ago did you start painting?",
        "Which month was the trip in?",
        "Since when have you lived here?",
        "what day of the week was it",
        "How many years ago did they meet?",
        "And when was that?",
    ],
)
def test_asks_when(query: str) -> None:
    assert asks_when(query)


@pytest.mark.parametrize(
    "query",
    [
        "What did Melanie paint?",
        "What do I like to do when it rains?",
        "Where does Ana live?",
        "How long is the river?",
        "Who went to the concert?",
        "What books does she read?",
    ],
)
def test_asks_when_false(query: str) -> None:
    assert not asks_when(query)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=120)
    | st.lists(
        st.sampled_from(
            "in on last next this the a few couple of ago May may 8 2023 05/08 2023-02-30 "
            "yesterday week weekend month year Saturday summer fall 31st 0 99 / - , .".split()
        ),
        max_size=12,
    ).map(" ".join),
    st.dates(min_value=date(1, 3, 1), max_value=date(9998, 10, 1)),
)
def test_resolve_never_raises_and_spans_are_ordered(text: str, anchor: date) -> None:
    for span in resolve(text, anchor):
        assert span.start <= span.end
        assert span.granularity in ("day", "week", "month", "year")
        assert span.iso
