"""Coverage and order questions (issue 14, item 6): a summary, "list every …" or "in what order"
question gets each session's most relevant turns, in time order, instead of a relevance top 10
that repeats one session. Real MiniLM vectors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remem import Memory
from remem.retrieve.coverage import asks_coverage

# A side project over nine months, one session a month, among sessions about other things.
PROJECT = [
    [
        "I'm starting a vegetable garden in the backyard this spring.",
        "First step: I measured the plot, it's about four by six metres.",
        "The neighbour's cat keeps walking through it though.",
    ],
    [
        "Built two raised beds out of reclaimed pallets for the garden.",
        "Filled them with compost from the municipal depot.",
        "My back hurts from all the shovelling.",
    ],
    [
        "Planted tomatoes, courgettes and a row of beans in the raised beds.",
        "Also put in marigolds to keep the pests away.",
    ],
    [
        "Slugs ate half of the bean seedlings overnight, so annoying.",
        "I set up beer traps around the beds to deal with them.",
    ],
    [
        "Installed a drip irrigation line on a timer, no more watering by hand.",
        "It runs at six every morning.",
    ],
    [
        "First harvest! Three kilos of tomatoes from the garden this week.",
        "Made a big batch of passata with them.",
    ],
    [
        "The courgettes got powdery mildew, I had to pull two plants.",
        "Sprayed the rest with a milk solution.",
    ],
    ["Cleared the summer beds and sowed garlic and broad beans for winter."],
    [
        "Ordered seeds for next year's garden: peppers, aubergines and more beans.",
        "I'm planning to double the size of the plot.",
    ],
]
OTHER = [
    ["Work is busy, we have a product launch next month.", "The launch party is on Friday."],
    ["Watched a great documentary about deep sea fish.", "The anglerfish is terrifying."],
    ["My cousin is getting married in Seville in June.", "I need to buy a suit."],
    ["Started reading a new mystery novel.", "It's set in a lighthouse."],
]
RESTAURANTS = [
    ("We had dinner at Casa Lucio, the huevos rotos were amazing.", 0),
    ("Tried the new ramen place, Ippudo, with the team after work.", 2),
    ("Brunch at Federal Café on Sunday, the pancakes were huge.", 3),
    ("Birthday dinner at Botín, supposedly the oldest restaurant in the world.", 5),
    ("Grabbed tacos at Punto MX, a bit pricey but worth it.", 6),
    ("Lunch at the vegan spot La Encomienda, surprisingly good.", 8),
]


def _month(n: int, day: int = 5) -> str:
    return f"2024-{n + 1:02d}-{day:02d}T19:{n:02d}:00"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    path = tmp_path_factory.mktemp("coverage") / "m.db"
    with Memory(path) as m:
        for n, turns in enumerate(PROJECT):
            for k, text in enumerate(turns):
                m.add(
                    text,
                    user_id="u",
                    speaker="user",
                    session_id=f"garden-{n}",
                    occurred_at=_month(n).replace(":00", f":{k:02d}", 1),
                )
        for n, turns in enumerate(OTHER):
            for k, text in enumerate(turns):
                m.add(
                    text,
                    user_id="u",
                    speaker="user",
                    session_id=f"other-{n}",
                    occurred_at=_month(2 * n, 20).replace(":00", f":{k:02d}", 1),
                )
        for text, n in RESTAURANTS:
            m.add(
                text, user_id="u", speaker="user", session_id=f"food-{n}", occurred_at=_month(n, 12)
            )
        yield m


def test_a_summary_question_sees_the_whole_arc_in_time_order(memory: Memory) -> None:
    hits = memory.search("Summarize how my garden project progressed", user_id="u", limit=10)
    sessions = [h.record.session_id for h in hits]
    garden = {s for s in sessions if s and s.startswith("garden-")}
    assert len(garden) >= 7, sessions
    times = [h.record.occurred_at for h in hits]
    assert times == sorted(times)
    assert all("arc" in h.explain for h in hits)


def test_a_plain_question_is_still_ranked_by_relevance(memory: Memory) -> None:
    hits = memory.search("How did I deal with the slugs?", user_id="u", limit=10)
    assert "beer traps" in hits[0].record.content or "Slugs" in hits[0].record.content
    assert not any("arc" in h.explain for h in hits)


def test_list_every_finds_each_mention_across_sessions(memory: Memory) -> None:
    hits = memory.search("List every restaurant I mentioned", user_id="u", limit=10)
    found = {text for text, _ in RESTAURANTS if any(h.record.content == text for h in hits)}
    assert len(found) >= 5, [h.record.content for h in hits]


def test_an_order_question_returns_the_events_in_the_order_they_happened(memory: Memory) -> None:
    hits = memory.search(
        "In what order did I build the raised beds, install the irrigation and get the first "
        "harvest?",
        user_id="u",
        limit=10,
    )
    contents = [h.record.content for h in hits]
    want = ["raised beds out of reclaimed", "drip irrigation", "First harvest"]
    at = [next(i for i, c in enumerate(contents) if w in c) for w in want]
    assert at == sorted(at), contents


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Summarize how my project progressed", True),
        ("Give me a recap of the migration", True),
        ("How has my training changed over the months?", True),
        ("List all the books I mentioned", True),
        ("Every movie we talked about", True),
        ("In which order did we discuss the three options?", True),
        ("Where do I live?", False),
        ("What did Jon say about Gina's progress with her store?", False),
        ("What is the project deadline?", False),
    ],
)
def test_coverage_questions_are_detected(query: str, expected: bool) -> None:
    assert asks_coverage(query) is expected
