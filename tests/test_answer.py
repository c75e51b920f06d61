"""answer(): retrieval, numbered context, citations and abstention, with a real Memory and a real
scripted chat server; and the extractive rule when no LLM is configured."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from remem import Memory, NotFound
from remem.answer import (
    ABSTAIN_TEXT,
    MAX_MEMORY_CHARS,
    Answer,
    answer,
    build_messages,
    coverage,
)
from remem.llm import LLMSettings
from remem.llm.openai_compat import OpenAICompatClient
from tests.llm_server import ScriptedLLMServer


@pytest.fixture
def llm(llm_server: ScriptedLLMServer) -> Iterator[OpenAICompatClient]:
    settings = LLMSettings(
        base_url=llm_server.url, model="m", timeout=0.5, max_retries=1, backoff=0.01
    )
    with OpenAICompatClient(settings) as client:
        yield client


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    with Memory(tmp_path / "m.db", embedder="hashing") as m:
        m.add_many(
            [
                {
                    "content": "My sister lives in Lisbon",
                    "user_id": "u",
                    "speaker": "Ana",
                    "session_id": "s1",
                    "occurred_at": "2023-05-08T13:56:00",
                },
                {
                    "content": "The quarterly report is due Friday",
                    "user_id": "u",
                    "speaker": "Bo",
                    "session_id": "s2",
                    "occurred_at": "2023-06-01T09:00:00",
                },
                {
                    "content": "I play the violin every evening",
                    "user_id": "u",
                    "speaker": "Ana",
                    "session_id": "s2",
                    "occurred_at": "2023-06-02T20:00:00",
                },
                {"content": "My sister lives in Oslo", "user_id": "other", "speaker": "Cy"},
            ]
        )
        yield m


def test_the_model_answers_with_citations_mapped_to_ids(
    memory: Memory, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    hits = memory.search("Where does Ana's sister live?", user_id="u", limit=3)
    lisbon = next(i for i, h in enumerate(hits, 1) if "Lisbon" in h.record.content)
    llm_server.json(
        {"answer": "Lisbon", "citations": [lisbon, 99, lisbon, 0], "abstain": False},
        usage=(120, 9),
    )
    got = answer(memory, "Where does Ana's sister live?", user_id="u", llm=llm, limit=3)
    assert got == Answer(
        text="Lisbon",
        citations=(hits[lisbon - 1].record.id,),
        abstained=False,
        usage={"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129, "calls": 1},
    )
    prompt = llm_server.requests[0].body["messages"][-1]["content"]
    assert f"[{lisbon}] 2023-05-08 13:56 Ana: My sister lives in Lisbon" in prompt
    assert "Oslo" not in prompt  # another user's memory never reaches the model
    assert "Question: Where does Ana's sister live?" in prompt


def test_the_model_can_abstain(
    memory: Memory, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    llm_server.json({"answer": "", "citations": [1], "abstain": True}, usage=(80, 4))
    got = answer(memory, "What is Ana's favourite colour?", user_id="u", llm=llm)
    assert (got.text, got.citations, got.abstained) == (ABSTAIN_TEXT, (), True)
    assert got.usage["total_tokens"] == 84


def test_an_empty_answer_counts_as_abstention(
    memory: Memory, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    llm_server.json({"answer": "  ", "citations": [], "abstain": False})
    assert answer(memory, "violin?", user_id="u", llm=llm).abstained


def test_no_hits_abstains_without_calling_the_model(
    tmp_path: Path, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    with Memory(tmp_path / "empty.db", embedder="hashing") as empty:
        got = answer(empty, "Where does my sister live?", user_id="u", llm=llm)
    assert got == Answer(ABSTAIN_TEXT, (), True, {})
    assert llm_server.requests == []


def test_search_options_pass_through(
    memory: Memory, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    llm_server.json({"answer": "x", "citations": [1], "abstain": False})
    answer(memory, "sister violin report", user_id="u", llm=llm, session_id="s2")
    prompt = llm_server.requests[0].body["messages"][-1]["content"]
    assert "violin" in prompt and "quarterly" in prompt and "Lisbon" not in prompt


@pytest.mark.parametrize(
    "script",
    [
        lambda s: s.error(500, times=2),
        lambda s: (s.text("I think it's Lisbon"), s.text("Lisbon, definitely")),
        lambda s: [s.text('{"answer": "Lis', finish_reason="length") for _ in range(2)],
    ],
    ids=["server-errors", "ignores-schema", "truncated"],
)
def test_a_failing_model_falls_back_to_the_extractive_rule(
    memory: Memory, llm: OpenAICompatClient, llm_server: ScriptedLLMServer, script: object
) -> None:
    script(llm_server)  # type: ignore[operator]
    got = answer(memory, "Where does my sister live?", user_id="u", llm=llm)
    assert got.text == "My sister lives in Lisbon"
    assert not got.abstained and len(got.citations) == 1
    assert len(llm_server.requests) == 2


def test_without_a_model_a_covering_hit_is_returned_and_cited(memory: Memory) -> None:
    got = answer(memory, "Where does my sister live?", user_id="u", llm=None)
    best = memory.search("Where does my sister live?", user_id="u", limit=1)[0].record
    assert got == Answer("My sister lives in Lisbon", (best.id,), False, {})


def test_without_a_model_a_speakers_name_is_no_answer(tmp_path: Path) -> None:
    with Memory(tmp_path / "n.db", embedder="hashing") as m:
        m.add("My favourite food is grilled sardines", user_id="u", speaker="Ana")
        assert answer(m, "Where did Ana move?", user_id="u", llm=None).abstained
        assert answer(m, "Who plays the cello?", user_id="u", llm=None).abstained
        moved = m.add("I moved to Lisbon in March", user_id="u", speaker="Ana")
        got = answer(m, "Where did Ana move?", user_id="u", llm=None)
        assert (got.abstained, got.citations) == (False, (moved.id,))
        with pytest.raises(NotFound):
            m.first_of("moved", "a violin recital", user_id="u")


def test_without_a_model_an_uncovered_question_abstains(memory: Memory) -> None:
    got = answer(memory, "What car does Bo drive to the airport?", user_id="u", llm=None)
    assert got == Answer(ABSTAIN_TEXT, (), True, {})


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        ("Where does my sister live?", "My sister lives in Lisbon", 1.0),  # word forms fold
        ("What does Ana play?", "Ana: I play the violin", 1.0),
        ("the of and", "anything", 0.0),
        ("Who plays the cello?", "I play the violin", 0.5),  # half is not enough to answer
    ],
)
def test_coverage(question: str, text: str, expected: float) -> None:
    assert coverage(question, text) == expected


def test_long_memories_are_cut_in_the_prompt(memory: Memory) -> None:
    memory.add("violin " * 400, user_id="long", speaker="Ana")
    hits = memory.search("violin", user_id="long")
    content = build_messages("violin?", hits)[-1]["content"]
    line = next(x for x in content.splitlines() if x.startswith("[1]"))
    assert line.endswith("…") and len(line) < MAX_MEMORY_CHARS + 40


def test_answer_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Answer("a", (), False, {}).text = "b"  # type: ignore[misc]
