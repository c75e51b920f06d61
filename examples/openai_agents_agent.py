"""An OpenAI Agents SDK agent with remem as its session store and long-term memory, offline.

Each conversation is a ``RememSession``: the SDK reads the history before a turn and appends the
turn's items after it, all kept in remem (scope: the user, the session). The agent also has a
``recall`` tool that searches everything the user said in any session (``Memory.search``), so a
new conversation can use what an old one learned.

The model is ``ScriptedModel``, a tiny ``agents.models.interface.Model`` that follows a script
(no network, no key): on a question it calls ``recall``, on a tool result it answers from it,
otherwise it acknowledges. Pass any real model (``Agent(model=...)``) instead for a real agent.

    .venv/bin/python examples/openai_agents_agent.py [DB_PATH]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import Agent, RunContextWrapper, Runner, function_tool, set_tracing_disabled
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from remem import Memory
from remem.integrations.openai_agents import RememSession


@dataclass
class Who:
    """The run's context: whose conversation, and which one."""

    user_id: str
    session_id: str


class ScriptedModel(Model):
    """Calls ``recall`` for a question, answers from the tool's output, else says "Noted"."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        self.calls += 1
        items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else input
        last = dict(items[-1])
        if last.get("type") == "function_call_output":
            out = [_message(f"From what you told me before: {last['output']}")]
        elif last.get("role") == "user" and str(last.get("content", "")).rstrip().endswith("?"):
            question = str(last["content"])
            args_json = f'{{"query": "{question}"}}'
            out = [_call("recall", args_json, f"call_{self.calls}")]
        else:
            out = [_message("Noted.")]
        return ModelResponse(output=out, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError("ScriptedModel does not stream")


def _message(text: str) -> Any:
    return ResponseOutputMessage(
        id="msg",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def _call(name: str, arguments: str, call_id: str) -> Any:
    return ResponseFunctionToolCall(
        id=call_id, call_id=call_id, type="function_call", name=name, arguments=arguments
    )


def build_agent(memory: Memory, model: Model) -> Agent[Who]:
    """The agent: answers with a ``recall`` tool over what the user said in other sessions."""

    @function_tool
    def recall(ctx: RunContextWrapper[Who], query: str) -> str:
        """Search what the user said in earlier conversations."""
        hits = memory.search(
            query,
            user_id=ctx.context.user_id,
            limit=3,
            filters={"speaker": "user", "session_id": {"$ne": ctx.context.session_id}},
        )
        return " / ".join(hit.record.content for hit in hits) or "nothing"

    return Agent[Who](
        name="assistant",
        instructions="Answer from what the user told you; use recall for earlier sessions.",
        model=model,
        tools=[recall],
    )


async def run(db_path: Path) -> list[dict[str, Any]]:
    set_tracing_disabled(True)
    turns = []
    with Memory(db_path, embedder="hashing") as memory:
        agent = build_agent(memory, ScriptedModel())
        for session_id, message in (
            ("chat-1", "I moved to Lisbon in March"),
            ("chat-2", "Where do I live now?"),
        ):
            who = Who(user_id="ana", session_id=session_id)
            session = RememSession(memory, session_id, user_id=who.user_id)
            result = await Runner.run(agent, message, session=session, context=who)
            turns.append(
                {
                    "session": session_id,
                    "message": message,
                    "reply": str(result.final_output),
                    "history": await session.get_items(),
                }
            )
    return turns


def main(db_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Two sessions of one user: tell it something in the first, ask about it in the second.

    Returns each turn's session, message, reply and the session's stored history.
    """
    path = Path(db_path) if db_path else Path(tempfile.mkdtemp()) / "openai_agents_agent.db"
    return asyncio.run(run(path))


if __name__ == "__main__":
    for turn in main(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"[{turn['session']}] user: {turn['message']}")
        print(f"  agent: {turn['reply']}")
        print(f"  stored items: {len(turn['history'])}")
