"""The OpenAI-compatible client against a real scripted HTTP server: retries, timeouts, JSON repair,
rejection, token accounting; and the LLM tasks with and without a model."""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from remem.errors import ConfigError, RememError
from remem.llm import (
    LLMError,
    LLMOutputError,
    LLMSettings,
    complete_json,
    make_client,
    parse_json,
    tasks,
)
from remem.llm.openai_compat import OpenAICompatClient, _retry_after
from tests.llm_server import Reply, ScriptedLLMServer

USER = [{"role": "user", "content": "hi"}]


class Pet(BaseModel):
    name: str
    age: int


def fast(server: ScriptedLLMServer, **kw: Any) -> LLMSettings:
    """Settings with test-sized timeouts and backoffs."""
    base: dict[str, Any] = {
        "base_url": server.url,
        "model": "test-model",
        "timeout": 0.5,
        "max_retries": 2,
        "backoff": 0.01,
        "backoff_max": 0.02,
    }
    return LLMSettings(**{**base, **kw})


@pytest.fixture
def client(llm_server: ScriptedLLMServer) -> Iterator[OpenAICompatClient]:
    with OpenAICompatClient(fast(llm_server)) as c:
        yield c


# -- the client --------------------------------------------------------------------------------


def test_complete_sends_a_chat_request_and_counts_tokens(llm_server: ScriptedLLMServer) -> None:
    llm_server.text("hello", usage=(12, 3))
    llm_server.text("again", usage=(20, 7))
    with OpenAICompatClient(fast(llm_server, api_key="sk-test", max_tokens=64)) as c:
        first = c.complete(USER)
        second = c.complete(USER, max_tokens=8, temperature=0.7)
        assert (first.text, first.finish_reason, second.text) == ("hello", "stop", "again")
        assert first.usage.as_dict() == {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "calls": 1,
        }
        assert c.usage.as_dict() == {
            "prompt_tokens": 32,
            "completion_tokens": 10,
            "total_tokens": 42,
            "calls": 2,
            "retries": 0,
        }
    req = llm_server.requests[0]
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.body == {
        "model": "test-model",
        "messages": USER,
        "max_tokens": 64,
        "temperature": 0.0,
    }
    assert llm_server.requests[1].body["max_tokens"] == 8
    assert llm_server.requests[1].body["temperature"] == 0.7


def test_missing_usage_counts_the_call_with_zero_tokens(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.text("ok", usage=None)
    client.complete(USER)
    assert client.usage.as_dict()["calls"] == 1
    assert client.usage.as_dict()["total_tokens"] == 0


def test_429_honours_retry_after_then_succeeds(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.error(429, retry_after="0.3")
    llm_server.text("done")
    started = time.perf_counter()
    assert client.complete(USER).text == "done"
    assert time.perf_counter() - started >= 0.3
    assert len(llm_server.requests) == 2
    assert client.usage.as_dict()["retries"] == 1
    assert client.usage.as_dict()["calls"] == 1


def test_5xx_is_retried_with_backoff_then_succeeds(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.error(500)
    llm_server.error(503)
    llm_server.text("third time")
    assert client.complete(USER).text == "third time"
    assert len(llm_server.requests) == 3


def test_retries_exhausted_raise_llm_error(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.error(500, times=3)
    with pytest.raises(LLMError, match="after 3 attempts.*HTTP 500") as info:
        client.complete(USER)
    assert isinstance(info.value, RememError)
    assert len(llm_server.requests) == 3
    assert llm_server.unscripted == 0


def test_a_retry_after_beyond_the_limit_gives_up_at_once(llm_server: ScriptedLLMServer) -> None:
    llm_server.error(429, retry_after="3600")
    with OpenAICompatClient(fast(llm_server, retry_after_max=5)) as c:
        with pytest.raises(LLMError, match="retry after 3600s") as info:
            c.complete(USER)
    assert info.value.status == 429
    assert len(llm_server.requests) == 1


def test_client_errors_are_not_retried(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.error(400)
    with pytest.raises(LLMError, match="HTTP 400") as info:
        client.complete(USER)
    assert info.value.status == 400
    assert len(llm_server.requests) == 1


def test_a_slow_reply_times_out_then_the_retry_succeeds(llm_server: ScriptedLLMServer) -> None:
    llm_server.script(Reply(content="too late", delay=3.0), Reply(content="in time"))
    with OpenAICompatClient(fast(llm_server, timeout=0.2, max_retries=1)) as c:
        started = time.perf_counter()
        assert c.complete(USER).text == "in time"
    assert time.perf_counter() - started < 2.0


def test_timeouts_exhausted_raise(llm_server: ScriptedLLMServer) -> None:
    llm_server.script(Reply(content="late", delay=3.0), Reply(content="late", delay=3.0))
    with OpenAICompatClient(fast(llm_server, timeout=0.2, max_retries=1)) as c:
        with pytest.raises(LLMError, match="timed out"):
            c.complete(USER)


def test_a_refused_connection_is_an_llm_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = LLMSettings(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff=0.01, timeout=0.5
    )
    with OpenAICompatClient(settings) as c, pytest.raises(LLMError, match="connection failed"):
        c.complete(USER)


def test_a_malformed_response_body_is_an_llm_error(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.script(Reply(body="<html>proxy error</html>"))
    with pytest.raises(LLMError, match="malformed"):
        client.complete(USER)


def test_an_undecodable_body_is_an_llm_error_without_retry(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.script(Reply(body="not gzip at all", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(LLMError, match="DecodingError"):
        client.complete(USER)
    assert len(llm_server.requests) == 1


def test_backoff_is_exponential_jittered_and_bounded() -> None:
    settings = LLMSettings(
        base_url="http://127.0.0.1:9/v1", model="m", backoff=1.0, backoff_max=4.0
    )
    with OpenAICompatClient(settings, rng=random.Random(7)) as c:
        for attempt, cap in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 4.0), (10, 4.0)]:
            delays = [c._backoff(attempt) for _ in range(50)]
            assert all(cap / 2 <= d <= cap for d in delays)
            assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert _retry_after(header) == expected


# -- structured output -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Miso", "age": 3}',
        '```json\n{"name": "Miso", "age": 3}\n```',
        'Sure! Here it is:\n```\n{"name": "Miso", "age": 3,}\n```\nAnything else?',
        'The answer is {"name": "Miso", "age": 3} as requested.',
        '{"name": "Miso", "age": 3,\n}',
        '<think>{"name": "wrong"} hmm</think>{"name": "Miso", "age": 3}',
    ],
    ids=["plain", "fenced", "fenced-prose-trailing-comma", "prose", "trailing-comma", "think"],
)
def test_complete_json_repairs_common_slips(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient, text: str
) -> None:
    llm_server.text(text)
    pet, usage = complete_json(client, USER, Pet)
    assert pet == Pet(name="Miso", age=3)
    assert usage.calls == 1
    assert llm_server.requests[0].body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"a": "brace } and , ] inside", "b": [1, 2,],}',
            {"a": "brace } and , ] inside", "b": [1, 2]},
        ),
        ('{"q": "say \\"hi\\", ok",}', {"q": 'say "hi", ok'}),
        ("[1, 2, 3,]", [1, 2, 3]),
        ('noise {"x": {"y": 1}} more {"z": 2}', {"x": {"y": 1}}),
    ],
)
def test_parse_json_respects_strings_and_nesting(text: str, expected: Any) -> None:
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "I cannot help with that.", '{"name": "Mi', "{]"])
def test_parse_json_rejects_what_it_cannot_recover(text: str) -> None:
    with pytest.raises(LLMOutputError):
        parse_json(text)


def test_a_model_that_ignores_the_schema_is_asked_again(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json({"pet": "Miso"}, usage=(30, 4))
    llm_server.json({"name": "Miso", "age": 3}, usage=(50, 6))
    pet, usage = complete_json(client, USER, Pet)
    assert pet.age == 3
    assert (usage.calls, usage.total_tokens) == (2, 90)
    retry = llm_server.requests[1].body["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"pet": "Miso"}'}
    assert "name: Field required" in retry[-1]["content"]


def test_a_model_that_keeps_ignoring_the_schema_is_rejected(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json({"pet": "Miso"})
    llm_server.text("no JSON for you")
    with pytest.raises(LLMOutputError, match="rejected: no JSON object"):
        complete_json(client, USER, Pet)
    assert client.usage.total.calls == 2


def test_truncated_output_is_rejected_and_says_why(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.text('{"name": "Miso", "ag', finish_reason="length")
    llm_server.text('{"name": "Miso", "age": 3, "notes": "lo', finish_reason="length")
    with pytest.raises(LLMOutputError, match="truncated at the token limit"):
        complete_json(client, USER, Pet)


def test_json_mode_can_be_turned_off(llm_server: ScriptedLLMServer) -> None:
    llm_server.json({"name": "Miso", "age": 3})
    with OpenAICompatClient(fast(llm_server, json_mode=False)) as c:
        complete_json(c, USER, Pet)
    assert "response_format" not in llm_server.requests[0].body


# -- settings ----------------------------------------------------------------------------------


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not LLMSettings.from_env().configured
    assert make_client() is None
    monkeypatch.setenv("REMEM_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("REMEM_LLM_MODEL", "qwen2.5:3b")
    monkeypatch.setenv("REMEM_LLM_API_KEY", "k")
    monkeypatch.setenv("REMEM_LLM_TIMEOUT", "2.5")
    monkeypatch.setenv("REMEM_LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("REMEM_LLM_JSON_MODE", "false")
    s = LLMSettings.from_env(model="override")
    assert (s.base_url, s.model, s.api_key, s.timeout, s.max_retries, s.json_mode) == (
        "http://127.0.0.1:11434/v1",
        "override",
        "k",
        2.5,
        1,
        False,
    )
    client = make_client()
    assert isinstance(client, OpenAICompatClient)
    client.close()


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("REMEM_LLM_TIMEOUT", "soon"),
        ("REMEM_LLM_MAX_RETRIES", "-1"),
        ("REMEM_LLM_JSON_MODE", "maybe"),
        ("REMEM_LLM_BASE_URL", "localhost:8000"),
    ],
)
def test_bad_settings_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError):
        LLMSettings.from_env()


def test_unknown_setting_and_unconfigured_client_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown LLM setting"):
        LLMSettings.from_env(modle="x")
    with pytest.raises(ConfigError, match="REMEM_LLM_BASE_URL"):
        OpenAICompatClient(LLMSettings())


# -- tasks -------------------------------------------------------------------------------------


def test_enrich_note_uses_the_model(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json(
        {"keywords": ["cat", "Miso", "cat"], "tags": ["pets"], "context": " Ana adopted a cat. "}
    )
    note = tasks.enrich_note("I adopted a cat named Miso", llm=client)
    assert note == {"keywords": ["cat", "Miso"], "tags": ["pets"], "context": "Ana adopted a cat."}
    assert "I adopted a cat named Miso" in llm_server.requests[0].body["messages"][-1]["content"]


def test_enrich_note_without_a_model_is_heuristic() -> None:
    note = tasks.enrich_note("Miso the cat sleeps. Miso eats fish; the cat purrs. Then more.")
    assert note["keywords"][:2] == ["miso", "cat"]
    assert note["tags"] == []
    assert note["context"] == "Miso the cat sleeps."


def test_a_failing_model_falls_back_and_logs(
    llm_server: ScriptedLLMServer,
    client: OpenAICompatClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm_server.error(500, times=3)
    with caplog.at_level(logging.WARNING, logger="remem.llm"):
        note = tasks.enrich_note("Lisbon trip planning with my sister", llm=client)
    assert note["keywords"][0] == "lisbon"
    assert "enrich_note failed" in caplog.text


def test_a_model_ignoring_the_schema_falls_back(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json({"summary_text": "x"})
    llm_server.text("Here's a summary: they talked.")
    turns = ["Ana: I love hiking", "Bo: hiking in the alps?", "Ana: yes, hiking every summer"]
    assert "hiking" in tasks.summarize_session(turns, llm=client)
    assert len(llm_server.requests) == 2


def test_extract_facts_maps_targets_and_drops_bad_ones(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json(
        {
            "operations": [
                {"op": "supersede", "fact": "Ana lives in Porto", "target": 1},
                {"op": "add", "fact": "Ana has a cat named Miso", "target": None},
                {"op": "update", "fact": "Ana works at a bakery, part time", "target": 9},
                {"op": "noop", "fact": "", "target": 2},
                {"op": "add", "fact": "  ", "target": None},
            ]
        }
    )
    existing = ["Ana lives in Lisbon", "Ana works at a bakery"]
    ops = tasks.extract_facts("I moved to Porto with my cat Miso", existing, llm=client)
    assert ops == [
        tasks.FactOp("supersede", "Ana lives in Porto", 0),
        tasks.FactOp("add", "Ana has a cat named Miso", None),
        tasks.FactOp("noop", "", 1),
    ]
    prompt = llm_server.requests[0].body["messages"][-1]["content"]
    assert "1. Ana lives in Lisbon" in prompt and "2. Ana works at a bakery" in prompt


def test_extract_facts_without_a_model_is_empty() -> None:
    assert tasks.extract_facts("I moved to Porto", ["Ana lives in Lisbon"]) == []


def test_summarize_and_insights_use_the_model(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json({"summary": "Ana plans a trip."})
    llm_server.json({"insights": ["Ana likes travel", "Ana likes travel", "Ana hikes"]})
    assert tasks.summarize_session(["Ana: trip?"], llm=client) == "Ana plans a trip."
    assert tasks.insights(["s1", "s2"], llm=client) == ["Ana likes travel", "Ana hikes"]
    assert client.usage.total.calls == 2


def test_heuristic_summary_picks_central_turns_in_order() -> None:
    turns = [
        "Ana: good morning",
        "Ana: I booked the train to Lisbon for the trip",
        "Bo: nice weather today",
        "Bo: the Lisbon trip needs a hotel near the train station",
        "Ana: the hotel for the Lisbon trip is booked",
        "Bo: bye",
    ]
    summary = tasks.summarize_session(turns, max_chars=1000)
    assert summary == " ".join([turns[1], turns[3], turns[4]])
    assert len(tasks.summarize_session(turns, max_chars=40)) == 40
    assert tasks.summarize_session([]) == ""


def test_heuristic_insights_are_recurring_topics() -> None:
    summaries = ["Ana went hiking in the alps", "Ana planned hiking with Bo", "Bo cooked pasta"]
    found = tasks.insights(summaries)
    assert "Recurring topic: ana (2 of 3 sessions)" in found
    assert "Recurring topic: hiking (2 of 3 sessions)" in found
    assert not any("pasta" in line for line in found)
    assert tasks.insights([]) == []


def test_huge_inputs_are_bounded_in_the_prompt(
    llm_server: ScriptedLLMServer, client: OpenAICompatClient
) -> None:
    llm_server.json({"summary": "long"})
    turns = [f"Ana: turn {i} " + "word " * 200 for i in range(200)]
    tasks.summarize_session(turns, llm=client)
    prompt = llm_server.requests[0].body["messages"][-1]["content"]
    assert len(prompt) < tasks.MAX_PROMPT_CHARS + 1000
    assert "turn 0 " in prompt and "turn 199 " in prompt and "[...]" in prompt
