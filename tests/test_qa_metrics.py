"""LoCoMo QA scoring (normalization, F1, BLEU-1, category rules, the LLM judge) and run_qa on a
tiny LoCoMo-format file, with no LLM and with a scripted one."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remem import Memory
from remem.bench import qa
from remem.errors import ConfigError
from remem.llm import LLMSettings, Usage
from remem.llm.openai_compat import OpenAICompatClient
from tests.llm_server import ScriptedLLMServer


@pytest.fixture
def llm(llm_server: ScriptedLLMServer) -> Iterator[OpenAICompatClient]:
    settings = LLMSettings(base_url=llm_server.url, model="m", timeout=1.0, max_retries=0)
    with OpenAICompatClient(settings) as client:
        yield client


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat, and a Dog!", "cat dog"),
        ("  7 May 2023. ", "7 may 2023"),
        (2022, "2022"),
        ("an apple; the end", "apple end"),
        ("Theatre anthem", "theatre anthem"),  # whole words only
    ],
)
def test_normalize_follows_locomo(text: object, expected: str) -> None:
    assert qa.normalize(text) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("7 May 2023", "7 May, 2023", 1.0),
        ("on 7 May", "7 May 2023", 2 * (2 / 3) * (2 / 3) / (4 / 3)),
        ("Lisbon", "Porto", 0.0),
        ("", "Porto", 0.0),
        ("the", "the", 0.0),  # nothing left after normalization
        ("cat cat dog", "cat dog", 0.8),
    ],
)
def test_token_f1(pred: str, gold: str, expected: float) -> None:
    assert qa.token_f1(pred, gold) == pytest.approx(expected)


def test_multi_f1_scores_each_gold_part_against_the_best_prediction_part() -> None:
    assert qa.multi_f1("hiking, painting", "painting, hiking") == 1.0
    assert qa.multi_f1("hiking", "painting, hiking") == 0.5


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("cat dog", "cat dog", 1.0),
        ("cat", "cat dog", math.exp(1 - 2)),  # precise but short: brevity penalty
        ("cat dog bird fish", "cat dog", 0.5),  # long: no penalty, half the unigrams match
        ("cat cat cat", "cat", 1 / 3),  # clipped counts
        ("", "cat", 0.0),
    ],
)
def test_bleu1(pred: str, gold: str, expected: float) -> None:
    assert qa.bleu1(pred, gold) == pytest.approx(expected)


def test_category_rules() -> None:
    assert qa.score_answer("psychology", "Psychology; counseling", 3, abstained=False) == 1.0
    assert qa.score_answer("x, y", "y, x", 1, abstained=False) == 1.0
    assert qa.score_answer("anything", None, 5, abstained=True) == 1.0
    assert qa.score_answer("It is not mentioned.", None, 5, abstained=False) == 1.0
    assert qa.score_answer("self-care", None, 5, abstained=False) == 0.0


def test_judge_reads_the_verdict_and_survives_failure(
    llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    llm_server.json({"label": "CORRECT"}, usage=(50, 3))
    assert qa.judge("When?", "7 May 2023", "May 7th", llm=llm) == (True, Usage(50, 3, 53, 1))
    prompt = llm_server.requests[0].body["messages"][0]["content"]
    assert "Gold answer: 7 May 2023" in prompt and "Generated answer: May 7th" in prompt
    llm_server.json({"label": "WRONG"})
    assert qa.judge("When?", "7 May 2023", "June", llm=llm)[0] is False
    llm_server.error(500)
    assert qa.judge("When?", "7 May 2023", "June", llm=llm) == (None, Usage())


def _sample() -> dict[str, Any]:
    turns = [
        ("Ana", "I adopted a cat named Miso last week"),
        ("Bo", "Nice! I started learning the violin"),
        ("Ana", "My sister moved to Lisbon in March"),
    ]
    return {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Bo",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": s, "dia_id": f"D1:{i}", "text": t} for i, (s, t) in enumerate(turns, 1)
            ],
        },
        "qa": [
            {
                "question": "What is the name of Ana's cat?",
                "answer": "Miso",
                "evidence": ["D1:1"],
                "category": 4,
            },
            {
                "question": "Where did Ana's sister move?",
                "answer": "Lisbon",
                "evidence": ["D1:3"],
                "category": 4,
            },
            {
                "question": "What does Bo's brother cook?",
                "evidence": ["D1:2"],
                "category": 5,
                "adversarial_answer": "pasta",
            },
            {"question": "unscored", "answer": "x", "category": 9},
        ],
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([_sample()]), encoding="utf-8")
    return path


def _factory(path: Path) -> Memory:
    return Memory(path, embedder="hashing")


def test_qa_items_keep_gold_answers_and_adversarial_questions() -> None:
    items = qa.qa_items(_sample())
    assert [(i.answer, i.category) for i in items] == [("Miso", 4), ("Lisbon", 4), (None, 5)]
    assert items[0].evidence == ("D1:1",)


def test_run_qa_without_an_llm_uses_the_extractive_rule(data: Path) -> None:
    phases: list[str] = []
    summary = qa.run_qa(data, _factory, None, progress=lambda phase, n: phases.append(phase))
    assert summary["questions"] == 3 and summary["turns"] == 3
    assert phases == ["ingest", "answer", "answer", "answer"]
    rows = {r["question"]: r for r in summary["rows"]}
    sister = rows["Where did Ana's sister move?"]
    # The extractive answer is the whole turn: right fact, so partial F1, and it cites the evidence.
    assert sister["prediction"] == "My sister moved to Lisbon in March"
    assert 0 < sister["f1"] < 1 and sister["evidence_cited"] == 1.0
    assert rows["What does Bo's brother cook?"]["abstained"]
    assert summary["adversarial"] == {"n": 1, "abstained": 1.0}
    assert summary["tokens"]["total_tokens"] == 0
    assert summary["overall"]["judge"] is None
    json.dumps(summary)  # the summary is JSON-ready


def test_run_qa_with_an_llm_counts_tokens_and_judges(
    data: Path, llm: OpenAICompatClient, llm_server: ScriptedLLMServer
) -> None:
    answers = {
        "What is the name of Ana's cat?": {"answer": "Miso", "citations": [1], "abstain": False},
        "Where did Ana's sister move?": {"answer": "Porto", "citations": [], "abstain": False},
        "What does Bo's brother cook?": {"answer": "", "citations": [], "abstain": True},
    }
    for reply in answers.values():
        llm_server.json(reply, usage=(100, 10))
        if not reply["abstain"]:  # the judge grades each answerable question right after
            llm_server.json({"label": "CORRECT" if reply["answer"] == "Miso" else "WRONG"})
    summary = qa.run_qa(data, _factory, llm, judge_llm=llm)
    assert llm_server.unscripted == 0
    rows = {r["question"]: r for r in summary["rows"]}
    assert rows["What is the name of Ana's cat?"]["f1"] == 1.0
    assert rows["What is the name of Ana's cat?"]["judge"] is True
    assert rows["Where did Ana's sister move?"]["f1"] == 0.0
    assert summary["overall"]["f1"] == 0.5 and summary["overall"]["judge"] == 0.5
    assert summary["adversarial"]["abstained"] == 1.0
    assert summary["tokens"]["total_tokens"] == 330 and summary["tokens"]["calls"] == 3
    assert summary["tokens"]["per_question"] == 110.0
    assert summary["tokens"]["judge_total"] == 30
    assert all(r["latency_ms"] > 0 for r in summary["rows"])


def test_run_qa_can_cap_questions(data: Path) -> None:
    summary = qa.run_qa(data, _factory, None, max_questions=1)
    assert summary["questions"] == 1


def test_run_qa_enriches_with_the_memorys_llm_before_answering(
    data: Path, llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEM_LLM_MAX_RETRIES", "0")
    fact = "Ana adopted a cat named Miso on 2023-05-01"
    llm_server.json({"operations": [{"op": "add", "fact": fact, "target": None}]}, usage=(40, 10))
    llm_server.json({"operations": []}, usage=(40, 10))
    llm_server.json({"operations": []}, usage=(40, 10))
    llm_server.json({"summary": "Ana adopted Miso; Bo plays violin."}, usage=(40, 10))
    llm_server.json({"answer": "Miso", "citations": [1], "abstain": False}, usage=(100, 10))

    def factory(path: Path) -> Memory:
        return Memory(
            path, embedder="hashing", llm_base_url=llm_server.url, llm_model="m", llm_notes=False
        )

    lines: list[str] = []
    summary = qa.run_qa(data, factory, "memory", enrich=True, max_questions=1, echo=lines.append)
    assert llm_server.unscripted == 0 and len(llm_server.requests) == 5
    # The question was asked after enrichment finished: the fact is among its memories.
    assert fact in llm_server.requests[4].body["messages"][-1]["content"]
    assert summary["tokens"]["enrich"] == {
        "prompt_tokens": 160,
        "completion_tokens": 40,
        "total_tokens": 200,
        "calls": 4,
    }
    assert summary["tokens"]["total_tokens"] == 110  # answer tokens only
    assert summary["enrich_seconds"] > 0
    assert len(lines) == 1 and "110 tok" in lines[0] and " ms · " in lines[0]


def test_cited_derived_records_count_their_sources_as_evidence(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder="hashing") as m:
        turn = m.add("I adopted Miso", user_id="u", metadata={"dia_id": "D1:1"})
        fact = m.add(
            "Ana has a cat", user_id="u", kind="semantic", origin="derived",
            metadata={"derived": "fact", "sources": [turn.id]},
        )  # fmt: skip
        insight = m.add(
            "Ana loves pets", user_id="u", kind="semantic", origin="derived",
            metadata={"derived": "insight", "sources": [fact.id, "gone"]},
        )  # fmt: skip
        assert qa._dia_ids(m, turn.id) == {"D1:1"}
        assert qa._dia_ids(m, fact.id) == {"D1:1"}
        assert qa._dia_ids(m, insight.id) == {"D1:1"}
        assert qa._dia_ids(m, "missing") == set()


def test_main_qa_uses_the_configured_llm_judges_and_writes_json(
    data: Path, tmp_path: Path, llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEM_LLM_BASE_URL", llm_server.url)
    monkeypatch.setenv("REMEM_LLM_MODEL", "m")
    monkeypatch.setenv("REMEM_LLM_MAX_RETRIES", "0")
    llm_server.json({"answer": "Miso", "citations": [1], "abstain": False}, usage=(100, 10))
    llm_server.json({"label": "CORRECT"}, usage=(20, 2))
    out = tmp_path / "qa.json"
    phases: list[str] = []
    lines: list[str] = []
    summary = qa.main_qa(
        data,
        judge=True,
        out=out,
        progress=lambda phase, n: phases.append(phase),
        echo=lines.append,
        embedder="hashing",
        max_questions=1,
    )
    assert summary["overall"]["judge"] == 1.0 and summary["tokens"]["judge_total"] == 22
    assert json.loads(out.read_text(encoding="utf-8"))["questions"] == 1
    assert phases == ["ingest", "answer"] and "judge ✓" in lines[0]
    text = "\n".join(qa.summary_lines(summary))
    assert "overall" in text and "judge 1.000" in text and "answer tokens 110" in text


def test_main_qa_refuses_to_judge_without_an_llm(data: Path) -> None:
    with pytest.raises(ConfigError, match="REMEM_LLM_BASE_URL"):
        qa.main_qa(data, judge=True, out=None, embedder="hashing")
    summary = qa.main_qa(data, judge=False, out=None, embedder="hashing")
    assert summary["questions"] == 3 and summary["tokens"]["total_tokens"] == 0
    assert "5 adversarial" in "\n".join(qa.summary_lines(summary))
