"""Request and response bodies of the REST API (pydantic, used only at this edge).

Request bodies are made from the verb table (``body_model``): their fields are the verb's
arguments, with the table's types, defaults and docs; ``Memory`` still does the validation that
matters (sizes, scopes, filters), so the rules live in one place. Response models exist for the
OpenAPI document: routes render the library's own ``to_dict()`` through ``verbs.to_json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from remem import verbs

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


class RecordOut(BaseModel):
    """One memory, as stored (``Record.to_dict()``)."""

    id: str
    user_id: str
    content: str
    kind: str
    agent_id: str | None
    session_id: str | None
    speaker: str | None
    metadata: dict[str, Any]
    occurred_at: str | None
    created_at: str | None
    updated_at: str | None
    version: int
    origin: str
    trust: float
    valid_from: str | None
    valid_to: str | None
    sources: list[str]
    keywords: list[str]
    entities: list[str]
    dates: list[str]
    level: str
    expires_at: str | None
    flags: list[str]
    tags: list[str]
    context: str | None


class BatchOut(BaseModel):
    """The stored records of a batch, in input order."""

    items: list[RecordOut]


class HitOut(BaseModel):
    """One search result: the record, its score (higher is better) and why it was found."""

    record: RecordOut
    score: float
    explain: dict[str, Any]
    flags: list[str]


class SearchOut(BaseModel):
    """Search results, best first."""

    hits: list[HitOut]


class PageOut(BaseModel):
    """One page of a listing; pass ``next_cursor`` back as ``cursor`` (null at the end)."""

    records: list[RecordOut]
    next_cursor: str | None


class HistoryEntryOut(BaseModel):
    """One change to a record."""

    memory_id: str
    version: int
    op: str
    at: str
    actor: str | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class HistoryOut(BaseModel):
    """Every version of a memory, oldest first."""

    entries: list[HistoryEntryOut]


class LinkOut(BaseModel):
    """A typed, weighted edge between two records of one user."""

    a: str
    b: str
    relation: str
    weight: float


class LinksOut(BaseModel):
    """The links of one memory."""

    links: list[LinkOut]


class TimelineOut(BaseModel):
    """One scope's memories in event order."""

    records: list[RecordOut]


class FirstOfOut(BaseModel):
    """The two matched events, in the order they happened."""

    earlier: HitOut
    later: HitOut


class AnswerOut(BaseModel):
    """An answer with the ids of the memories it rests on, or an abstention."""

    text: str
    citations: list[str]
    abstained: bool
    usage: dict[str, int]


class ForgetOut(BaseModel):
    """How many memories were forgotten."""

    forgotten: int


class PurgeOut(BaseModel):
    """How many memories were removed."""

    purged: int


class ImportOut(BaseModel):
    """How many memories were imported."""

    imported: int


class ErrorOut(BaseModel):
    """Every error: the remem error type, the reason, and for bad fields, which ones."""

    error: str
    detail: str
    fields: list[dict[str, Any]] | None = None


class HealthOut(BaseModel):
    """Liveness or readiness."""

    status: str


# The response model of each result kind of the verb table.
RESPONSES: dict[str, type[BaseModel] | None] = {
    "record": RecordOut,
    "hits": SearchOut,
    "page": PageOut,
    "records": TimelineOut,
    "entries": HistoryOut,
    "links": LinksOut,
    "pair": FirstOfOut,
    "answer": AnswerOut,
    "forgotten": ForgetOut,
    "purged": PurgeOut,
    "none": None,
}
