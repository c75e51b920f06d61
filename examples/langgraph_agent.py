"""A LangGraph agent with long-term memory in remem, runnable offline.

The graph has two nodes: ``remember`` stores what the user asks it to remember in the store
(namespace ``(user_id, "memories")``, so each user is a remem scope of its own), and ``respond``
recalls the memories that bear on the message (``store.search(..., query=...)``, remem's hybrid
retrieval) and hands them to the chat model in a system message. Conversation threads are
short-term state (a checkpointer); the store outlives them: what was said in one thread is
recalled in another.

The model is LangChain's scripted ``GenericFakeChatModel`` (no network, no key); put a real chat
model in its place (``build_graph(store, model)``) for a real agent.

    .venv/bin/python examples/langgraph_agent.py [DB_PATH]
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

from remem import Memory
from remem.integrations.langgraph import RememStore


@dataclass
class Context:
    """Who the graph is talking to (passed to each run as ``context``)."""

    user_id: str


class State(MessagesState):
    """The conversation, and the memories recalled for its last message."""

    recalled: list[str]


def _store(runtime: Runtime[Context]) -> BaseStore:
    if runtime.store is None:
        raise RuntimeError("compile the graph with a store")
    return runtime.store


def _last_text(state: State) -> str:
    return str(state["messages"][-1].content)


def build_graph(store: BaseStore, model: BaseChatModel) -> Any:
    """The agent: remember, then respond with what is recalled."""

    def remember(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        text = _last_text(state)
        if text.lower().startswith("remember"):
            fact = text.split(" ", 1)[1].removeprefix("that ").strip()
            namespace = (runtime.context.user_id, "memories")
            _store(runtime).put(namespace, uuid.uuid4().hex, {"content": fact})
        return {}

    def respond(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        namespace = (runtime.context.user_id, "memories")
        hits = _store(runtime).search(namespace, query=_last_text(state), limit=3)
        recalled = [str(hit.value["content"]) for hit in hits]
        system = SystemMessage("What you remember about the user:\n" + "\n".join(recalled))
        reply = model.invoke([system, *state["messages"]])
        return {"messages": [reply], "recalled": recalled}

    builder = StateGraph(State, context_schema=Context)
    builder.add_node("remember", remember)
    builder.add_node("respond", respond)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "respond")
    return builder.compile(checkpointer=InMemorySaver(), store=store)


def scripted_model() -> GenericFakeChatModel:
    """A chat model that says these lines, in order."""
    replies: list[AIMessage | str] = [
        AIMessage("Noted: you moved to Lisbon."),
        AIMessage("You live in Lisbon."),
    ]
    return GenericFakeChatModel(messages=iter(replies))


def main(db_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Two threads of one user: tell it something in the first, ask about it in the second.

    Returns each turn's thread, message, reply and recalled memories.
    """
    path = Path(db_path) if db_path else Path(tempfile.mkdtemp()) / "langgraph_agent.db"
    turns = []
    with Memory(path, embedder="hashing") as memory:
        graph = build_graph(RememStore(memory), scripted_model())
        for thread, message in (
            ("thread-1", "Remember that I moved to Lisbon in March"),
            ("thread-2", "Where do I live now?"),
        ):
            out = graph.invoke(
                {"messages": [HumanMessage(message)]},
                {"configurable": {"thread_id": thread}},
                context=Context(user_id="ana"),
            )
            turns.append(
                {
                    "thread": thread,
                    "message": message,
                    "reply": str(out["messages"][-1].content),
                    "recalled": out["recalled"],
                }
            )
    return turns


if __name__ == "__main__":
    for turn in main(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"[{turn['thread']}] user: {turn['message']}")
        print(f"  recalled: {turn['recalled']}")
        print(f"  agent: {turn['reply']}")
