"""Request and response bodies of the REST API (pydantic, used only at this edge).

Request bodies are made from the verb table (``body_model``): their fields are the verb's
arguments, with the table's types, defaults and docs; ``Memory`` still does the validation that
matters (sizes, scopes, filters), so the rules live in one place. Response models exist for the
OpenAPI document: routes render the library's own ``to_dict()`` through ``verbs.to_json``.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from remem import verbs
from remem.types import HistoryEntry, Hit, Link, Record

# A misspelled field is an error, not silently ignored.
_FORBID = ConfigDict(extra="forbid")


def body_model(name: str, args: Sequence[verbs.Arg], doc: str) -> type[BaseModel]:
    """A request body whose fields are ``args`` (required ones first-class, docs included)."""
    fields: dict[str, Any] = {
        a.name: (a.type, Field(... if a.required else a.default_on("rest"), description=a.doc))
        for a in args
    }
    model: type[BaseModel] = create_model(name, __config__=_FORBID, __doc__=doc, **fields)
    return model


AddItem = body_model("AddItem", verbs.BY_NAME["add"].args, "One memory to store: Memory.add.")


class AddBatch(BaseModel):
    """Many memories, stored in one transaction (all or nothing): ``Memory.add_many``."""

    model_config = _FORBID
    items: list[AddItem]  # type: ignore[valid-type]


def _add_shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "items" in value else "item"


# A callable discriminator: a bad single item reports its own fields, not both union branches.
AddBody = Annotated[
    Annotated[AddItem, Tag("item")] | Annotated[AddBatch, Tag("batch")],  # type: ignore[valid-type]
    Discriminator(_add_shape),
]


class ExportBody(BaseModel):
    """Which memories to export: one user's, or all (of the caller's tenant)."""

    model_config = _FORBID
    user_id: str | None = None


# -- responses (documentation only) ----------------------------------------------------------


def _json_type(hint: Any) -> Any:
    """The JSON form of a dataclass field's type: datetimes are ISO 8601 strings, tuples lists."""
    args = typing.get_args(hint)
    if hint is datetime or datetime in args:
        return str | None
    if typing.get_origin(hint) is tuple:
        return list[str]
    return hint


def _out(cls: type, doc: str, **override: Any) -> type[BaseModel]:
    """The response model of a dataclass the library renders with ``to_dict()``."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {n: (override.get(n, _json_type(t)), ...) for n, t in hints.items()}
    model: type[BaseModel] = create_model(cls.__name__ + "Out", __doc__=doc, **fields)
    return model


def _list(item: Any) -> Any:
    return list[item]


def _wrap(name: str, doc: str, **fields: Any) -> type[BaseModel]:
    required: dict[str, Any] = {k: (t, ...) for k, t in fields.items()}
    model: type[BaseModel] = create_model(name, __doc__=doc, **required)
    return model


RecordOut = _out(Record, "One memory, as stored (Record.to_dict()).")
HitOut = _out(
    Hit, "One search result: the record, its score and why it was found.", record=RecordOut
)
HistoryEntryOut = _out(HistoryEntry, "One change to a record.", at=str)
LinkOut = _out(Link, "A typed, weighted edge between two records of one user.")
BatchOut = _wrap(
    "BatchOut", "The stored records of a batch, in input order.", items=_list(RecordOut)
)
ImportOut = _wrap("ImportOut", "How many memories were imported.", imported=int)

# The response model of each result kind of the verb table.
RESPONSES: dict[str, type[BaseModel] | None] = {
    "record": RecordOut,
    "hits": _wrap("SearchOut", "Search results, best first.", hits=_list(HitOut)),
    "page": _wrap(
        "PageOut",
        "One page; pass next_cursor back as cursor (null at the end).",
        records=_list(RecordOut),
        next_cursor=str | None,
    ),
    "records": _wrap("TimelineOut", "Memories in event order.", records=_list(RecordOut)),
    "entries": _wrap("HistoryOut", "Every version, oldest first.", entries=_list(HistoryEntryOut)),
    "links": _wrap("LinksOut", "The links of one memory.", links=_list(LinkOut)),
    "pair": _wrap("FirstOfOut", "The two events, in order.", earlier=HitOut, later=HitOut),
    "answer": _wrap(
        "AnswerOut",
        "An answer with the memories it rests on, or an abstention.",
        text=str,
        citations=list[str],
        abstained=bool,
        usage=dict[str, int],
    ),
    "forgotten": _wrap("ForgetOut", "How many memories were forgotten.", forgotten=int),
    "purged": _wrap("PurgeOut", "How many memories were removed.", purged=int),
    "episode": _wrap(  # remem.episodes.Episode.to_dict(); cases and lessons below
        "EpisodeOut",
        "A stored episode: task, outcome, reward, steps.",
        **dict.fromkeys(("id", "task", "outcome", "record_id"), str),
        reward=float | None,
        steps=list[dict[str, Any]],
        **dict.fromkeys(("agent_id", "team_id", "session_id", "occurred_at"), str | None),
        metadata=dict[str, Any],
    ),
    "cases": _wrap("CasesOut", "Similar episodes, best first.", cases=list[dict[str, Any]]),
    "lessons": _wrap("LessonsOut", "Lessons, most relevant first.", lessons=list[dict[str, Any]]),
    "profile": _wrap(  # remem.standing.Profile.to_dict()
        "ProfileOut",
        "Standing instructions and preferences, the latest per subject, and a prompt of them.",
        items=list[dict[str, Any]],
        prompt=str,
    ),
    "none": None,
}


class ErrorOut(BaseModel):
    """Every error: the remem error type, the reason, and for bad fields, which ones."""

    error: str
    detail: str
    fields: list[dict[str, Any]] | None = None


class HealthOut(BaseModel):
    """Liveness or readiness."""

    status: str
