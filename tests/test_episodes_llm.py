"""With an LLM configured, the model words a new lesson (the insight task
``remem.llm.tasks.lesson_text``), shown the counted rule, its support (n of m) and its source
episodes — never an observation; a reply that strays from the rule, or a failing model, leaves
the counted rule as the text. Without an LLM the text is the rule. Against the scripted
OpenAI-compatible server (tests/llm_server.py): real sockets, real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remem import Memory
from remem.llm import tasks
from tests.llm_server import ScriptedLLMServer

MARKER = "Counting them gave this rule"
SECRET = "observation-only-words-zebra"
GOOD: list[dict[str, Any]] = [
    {"action": "build it", "tool": "build", "observation": f"built {SECRET}"},
    {"action": "migrate the db", "tool": "migrate", "observation": "ok"},
    {"action": "deploy it", "tool": "deploy", "observation": "deployed"},
]
TASK = "deploy the billing service to staging"


def _memory(path: Path, server: ScriptedLLMServer) -> Memory:
    return Memory(
        path, embedder="hashing", llm_base_url=server.url, llm_model="m",
        llm_enrich=False, llm_notes=False,
    )  # fmt: skip


def _seq(mem: Memory) -> Any:
    found = mem.lessons(TASK, k=20, user_id="ana")
    return next(x for x in found if x.kind == "seq")


def test_the_model_words_the_lesson_from_its_evidence(
    tmp_path: Path, llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEM_LLM_MAX_RETRIES", "0")
    words = "Before you deploy, build the service and migrate its database first."
    llm_server.route(MARKER, {"lesson": words})
    with _memory(tmp_path / "m.db", llm_server) as mem:
        for env in ("staging", "production"):
            mem.add_episode(f"deploy the billing service to {env}", GOOD, "success", user_id="ana")
        seq = _seq(mem)
        assert seq.text == words and seq.rule == "do build → migrate → deploy"
        assert (seq.support, seq.of) == (2, 2)
        record = mem.get(seq.id)
        assert words.rstrip(".") in record.content and record.origin == "derived"
        assert record.metadata["lesson"]["written_by"] == "llm"
        assert len(record.sources) == 2  # the same evidence as without a model
        # A later episode updates the counts, not the model's words.
        mem.add_episode(TASK, GOOD, "success", user_id="ana")
        again = _seq(mem)
        assert (again.support, again.of, again.text) == (3, 3, words)
    prompts = llm_server.prompts(MARKER)
    assert prompts, "the model was never asked"
    first = prompts[0]
    assert "do build → migrate → deploy" in first and "2 of the 2" in first
    assert "deploy the billing service to staging: success; steps build → migrate → deploy" in first
    assert all(SECRET not in p for p in prompts)  # observations are never shown to it


@pytest.mark.parametrize(
    "reply", [{"lesson": "Always ask the user first."}, {"wrong": 1}, "not json at all"]
)
def test_a_stray_or_broken_reply_keeps_the_counted_rule(
    tmp_path: Path, llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch, reply: Any
) -> None:
    monkeypatch.setenv("REMEM_LLM_MAX_RETRIES", "0")
    llm_server.route(MARKER, reply)
    with _memory(tmp_path / "m.db", llm_server) as mem:
        for env in ("staging", "production"):
            mem.add_episode(f"deploy the billing service to {env}", GOOD, "success", user_id="ana")
        seq = _seq(mem)
        assert seq.text == seq.rule == "do build → migrate → deploy"
        assert mem.get(seq.id).metadata["lesson"]["written_by"] == "rule"
    assert llm_server.prompts(MARKER)


def test_without_a_model_the_rule_is_the_text(mem: Memory) -> None:
    assert mem.llm is None
    for env in ("staging", "production"):
        mem.add_episode(f"deploy the billing service to {env}", GOOD, "success", user_id="ana")
    seq = _seq(mem)
    assert seq.text == seq.rule and "do build → migrate → deploy" in mem.get(seq.id).content
    assert tasks.lesson_text("do a → b", ("a", "b"), 2, 3, ["t: success; steps a → b"]) == (
        "do a → b"
    )
    assert tasks.lesson_text("do a", ("a",), 2, 2, [], fallback=False) is None
