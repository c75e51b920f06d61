"""Mem0-style calls: chat messages in, scopes by user, agent or run, ``get_all``.

``Memory.add(messages, user_id=...)`` takes a list of ``{"role", "content", "name"?}`` messages
(OpenAI's chat format, as Mem0 does) and stores one memory per message: the speaker is the
message's name or role, its origin follows the role (a user's words are the user's, an
assistant's are the agent's, a tool's are the tool's; never above the origin the call gives), and
``run_id`` is the session. A scope is a user, or — with no user — an agent or a run of its own
(``agent:<id>``, ``run:<id>``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from remem import _validate
from remem.errors import InvalidInput
from remem.guard import trust

# The origin a message's role gives it.
ROLE_ORIGINS = trust.ROLE_ORIGINS


class AddArgs(TypedDict, total=False):
    """The keyword arguments of ``Memory.add`` (for its typed overloads)."""

    user_id: str | None
    agent_id: str | None
    session_id: str | None
    run_id: str | None
    speaker: str | None
    occurred_at: Any
    metadata: Mapping[str, Any] | None
    kind: str
    ttl: int | None
    origin: str


def owner(user_id: Any, agent_id: Any, run_id: Any) -> str:
    """The scope's owner: the user, else the agent's or the run's own scope.

    Raises:
        InvalidInput: none of the three is given.
    """
    if user_id is not None:
        return str(_validate.ident(user_id, field="user_id", required=True))
    if agent_id is not None:
        return "agent:" + str(_validate.ident(agent_id, field="agent_id", required=True))
    if run_id is not None:
        return "run:" + str(_validate.ident(run_id, field="run_id", required=True))
    raise InvalidInput("user_id is required (or agent_id or run_id for a scope of its own)")


def session(session_id: Any, run_id: Any) -> Any:
    """``run_id`` is Mem0's name for a session.

    Raises:
        InvalidInput: both are given and differ.
    """
    if run_id is not None and session_id is not None and run_id != session_id:
        raise InvalidInput("run_id and session_id name the same thing: give one of them")
    return session_id if session_id is not None else run_id


def scoped(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (a call's arguments) with ``run_id`` folded into the session and the owner
    resolved; ``user_id``, ``agent_id``, ``session_id`` and ``run_id`` keys are read."""
    out = dict(fields)
    run_id = out.pop("run_id", None)
    out["user_id"] = owner(out.get("user_id"), out.get("agent_id"), run_id)
    if "session_id" in out or run_id is not None:
        out["session_id"] = session(out.get("session_id"), run_id)
    return out


def items(messages: Sequence[Any], fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``add`` item per message, the call's other arguments shared.

    Raises:
        InvalidInput: a message is not ``{"role", "content", "name"?}`` (the index is named).
    """
    if isinstance(messages, str | bytes | Mapping):
        raise InvalidInput("messages: expected a list of {'role', 'content'} objects")
    cap = fields.get("origin") or "user"
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidInput(f"message {i}: expected an object with role and content")
        unknown = set(message) - {"role", "content", "name"}
        if unknown:
            raise InvalidInput(f"message {i}: unknown field(s) {sorted(map(str, unknown))}")
        role = message.get("role")
        if role not in ROLE_ORIGINS:
            raise InvalidInput(f"message {i}: role must be one of {sorted(ROLE_ORIGINS)}")
        meta = {**(fields.get("metadata") or {}), "role": role}
        out.append(
            {
                **fields,
                "content": _text(message.get("content"), i),
                "speaker": message.get("name") or fields.get("speaker") or role,
                "origin": trust.cap(ROLE_ORIGINS[role], cap),
                "metadata": meta,
            }
        )
    return out


def _text(content: Any, i: int) -> str:
    """A message's text: a string, or the text parts of OpenAI's content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p.get("text") for p in content if isinstance(p, Mapping) and p.get("type") == "text"
        ]
        if parts and all(isinstance(p, str) for p in parts):
            return "\n".join(str(p) for p in parts)
    raise InvalidInput(f"message {i}: content must be text (or a list of text parts)")
