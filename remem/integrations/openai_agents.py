"""An OpenAI Agents SDK ``Session`` (``agents.memory.Session``) whose history lives in remem.

    from agents import Agent, Runner
    from remem import Memory
    from remem.integrations.openai_agents import RememSession

    memory = Memory("memory.db")
    session = RememSession(memory, "chat-1", user_id="ana")
    await Runner.run(agent, "Hi, I moved to Lisbon", session=session)

Each conversation item is one remem memory in the scope (``user_id``, ``agent_id``,
``session_id``): its text (a message's content, a tool call's name and arguments, a tool's
output; else the item as JSON) is the memory's content, so ``memory.search(..., user_id=...)``
finds what was said in any session, and the item itself is kept whole in
``metadata["openai_agents"]["item"]``: ``get_items`` returns it exactly as it was added. Items keep
their order (each gets its own, strictly later event time); ``speaker`` is the item's role (or
type) and ``origin`` follows it (a user message "user", a tool output "tool", the rest "agent"),
so remem's trust rules apply. History is faithful: an item remem's guard quarantined or a newer
fact superseded is still returned by ``get_items`` (search ranks by them as always).
``pop_item`` and ``clear_session`` delete memories (their history keeps a copy).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from agents.items import TResponseInputItem
from agents.memory.session_settings import SessionSettings, resolve_session_limit

from remem.integrations._records import Clock, clip, scan
from remem.memory import Memory
from remem.types import Record

_META = "openai_agents"
_CLOCK = Clock()
_EPOCH = datetime.min.replace(tzinfo=UTC)


class RememSession:
    """Conversation history of one Agents SDK session, stored in remem (see the module docstring).

    Args:
        memory: the remem ``Memory`` to keep it in (the session does not close it).
        session_id: the session; also remem's ``session_id`` scope.
        user_id: whose conversation it is (remem's required scope).
        agent_id: the remem agent it belongs to, if any.
        session_settings: the SDK's settings (``limit``: how many items ``get_items`` returns
            when not told).
    """

    def __init__(
        self,
        memory: Memory,
        session_id: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.memory = memory
        self.session_id = session_id
        self.user_id = user_id
        self.agent_id = agent_id
        self.session_settings = session_settings
        self._lock = threading.Lock()

    # -- the Session protocol ---------------------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The history in order; with ``limit``, its latest ``limit`` items (still in order)."""
        n = resolve_session_limit(limit, self.session_settings)
        records = await asyncio.to_thread(self._records)
        if n is None or n < 0:
            chosen = records
        else:
            chosen = records[len(records) - n :] if n else []
        return [_item(r) for r in chosen]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` (in one remem transaction: all or none)."""
        if items:
            await asyncio.to_thread(self._add, list(items))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the latest item, or None when the session is empty."""
        return await asyncio.to_thread(self._pop)

    async def clear_session(self) -> None:
        """Remove every item of this session."""
        await asyncio.to_thread(self._clear)

    # -- remem ------------------------------------------------------------------------------------

    def _records(self) -> list[Record]:
        found = scan(
            self.memory,
            user_id=self.user_id,
            agent_id=self.agent_id,
            session_id=self.session_id,
            filters={f"{_META}.session": self.session_id},
        )
        return sorted(found, key=lambda r: (r.occurred_at or _EPOCH, r.id))

    def _add(self, items: list[TResponseInputItem]) -> None:
        limit = self.memory.settings.max_content_bytes
        rows = []
        with self._lock:
            for item, at in zip(items, _CLOCK.ticks(len(items)), strict=True):
                plain = _plain(item)
                speaker = _speaker(plain)
                rows.append(
                    {
                        "content": clip(_text(plain), limit),
                        "user_id": self.user_id,
                        "agent_id": self.agent_id,
                        "session_id": self.session_id,
                        "speaker": speaker,
                        "occurred_at": at,
                        "origin": _origin(plain),
                        "metadata": {_META: {"session": self.session_id, "item": plain}},
                    }
                )
            stored = self.memory.add_many(rows)
        merged = [r.id for r in stored if r.version != 1]
        if merged:  # each item has its own time, so none repeats a stored one
            raise RuntimeError(f"session items merged into stored memories: {merged}")

    def _pop(self) -> TResponseInputItem | None:
        with self._lock:
            records = self._records()
            if not records:
                return None
            last = records[-1]
            self.memory.delete(last.id, user_id=self.user_id, reason="openai-agents: pop_item")
            return _item(last)

    def _clear(self) -> None:
        with self._lock:
            self.memory.forget(
                user_id=self.user_id,
                agent_id=self.agent_id,
                session_id=self.session_id,
                filters={f"{_META}.session": self.session_id},
                reason="openai-agents: clear_session",
            )
            for record in self._records():  # quarantined or superseded ones forget leaves
                self.memory.delete(
                    record.id, user_id=self.user_id, reason="openai-agents: clear_session"
                )


# -- items <-> memories --------------------------------------------------------------------------


def _plain(item: Any) -> dict[str, Any]:
    """The item as plain JSON (what is stored and given back)."""
    if hasattr(item, "model_dump"):
        item = item.model_dump(exclude_unset=True)
    return cast(dict[str, Any], json.loads(json.dumps(item, default=str)))


def _item(record: Record) -> TResponseInputItem:
    meta = record.metadata.get(_META)
    item = meta.get("item") if isinstance(meta, Mapping) else None
    return cast(TResponseInputItem, item if isinstance(item, dict) else {})


def _parts_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text") or part.get("refusal") or part.get("transcript")
                if isinstance(text, str):
                    texts.append(text)
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    return ""


def _text(item: Mapping[str, Any]) -> str:
    """What the item says, for remem to index: content, a call, an output; else its JSON."""
    text = _parts_text(item.get("content"))
    kind = item.get("type")
    if not text.strip() and kind in ("function_call", "custom_tool_call"):
        args = item.get("arguments", item.get("input", ""))
        text = f"{item.get('name', 'tool')}({args})"
    if not text.strip() and "output" in item:
        out = item["output"]
        text = out if isinstance(out, str) else _parts_text(out) or json.dumps(out, default=str)
    if not text.strip() and kind == "reasoning":
        text = _parts_text(item.get("summary"))
    if not text.strip():
        text = json.dumps(item, ensure_ascii=False, sort_keys=True, default=str)
    return text


def _speaker(item: Mapping[str, Any]) -> str | None:
    who = item.get("role") or item.get("type")
    return str(who) if who else None


def _origin(item: Mapping[str, Any]) -> str:
    if item.get("role") == "user":
        return "user"
    if str(item.get("type", "")).endswith("_output"):
        return "tool"
    return "agent"


__all__ = ["RememSession"]
