"""Request and response bodies of the REST API (pydantic, used only at this edge).

Request fields mirror the keyword arguments of ``Memory``; ``Memory`` still does the validation
that matters (sizes, scopes, filters), so the rules live in one place. Response models exist for
the OpenAPI document: routes render the library's own ``to_dict()``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Kind = Literal["episodic", "semantic", "procedural", "core"]
Origin = Literal["user", "agent", "tool", "import", "derived"]


class _Body(BaseModel):
    # A misspelled field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class AddItem(_Body):
    """One memory to store: the arguments of ``Memory.add``."""

    content: str = Field(description="The text to remember.")
    user_id: str = Field(description="The scope's owner.")
    agent_id: str | None = None
    session_id: str | None = None
    speaker: str | None = None
    occurred_at: str | None = Field(None, description="When it happened (ISO 8601); default now.")
    metadata: dict[str, Any] | None = None
    kind: Kind = "episodic"
    ttl: int | None = Field(None, description="Seconds until the memory expires and is forgotten.")
    origin: Origin = Field(
        "user",
        description=(
            "Where it came from; sets its starting trust. At most the API key's max_origin "
            "(403 above it); left out: 'user', lowered to the key's max_origin."
        ),
    )


class AddBatch(_Body):
    """Many memories, stored in one transaction (all or nothing): ``Memory.add_many``."""

    items: list[AddItem]


def _add_shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "items" in value else "item"


# A callable discriminator: a bad single item reports its own fields, not both union branches.
AddBody = Annotated[
    Annotated[AddItem, Tag("item")] | Annotated[AddBatch, Tag("batch")], Discriminator(_add_shape)
]


class SearchBody(_Body):
    """The arguments of ``Memory.search``."""

    query: str
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    limit: int = 10
    filters: dict[str, Any] | None = Field(None, description="Field conditions, see remem.filters.")
    as_of: str | None = Field(
        None, description="A past moment (ISO 8601): what was known and valid then."
    )
    level: Literal["record", "session", "fact"] = Field(
        "record",
        description="What was stored, or the derived session units or one-sentence fact units.",
    )


class AnswerBody(_Body):
    """The arguments of ``Memory.answer``."""

    question: str
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    limit: int = 10
    filters: dict[str, Any] | None = Field(None, description="Field conditions, see remem.filters.")


class FirstOfBody(_Body):
    """The arguments of ``Memory.first_of``: two event descriptions in one user's scope."""

    event_a: str
    event_b: str
    user_id: str


class ForgetBody(_Body):
    """The arguments of ``Memory.forget``: one ``id``, or a ``user_id`` scope (and filters)."""

    id: str | None = Field(None, description="One memory to forget.")
    user_id: str | None = Field(None, description="The scope; required without id.")
    agent_id: str | None = None
    session_id: str | None = None
    filters: dict[str, Any] | None = Field(None, description="Field conditions, see remem.filters.")
    reason: str | None = Field(None, description="Why, recorded in history.")
    all: bool = Field(
        False,
        description="Required (true) to forget a whole scope: no id and no filters.",
    )


class MoveBody(_Body):
    """The arguments of ``Memory.quarantine`` and ``Memory.restore``."""

    user_id: str | None = Field(None, description="If given, the memory must belong to this user.")
    reason: str | None = Field(None, description="Why, recorded in history.")


class UpdateBody(_Body):
    """The arguments of ``Memory.update``: content and/or metadata (which replaces the old)."""

    content: str | None = None
    metadata: dict[str, Any] | None = None
    user_id: str | None = Field(None, description="If given, the memory must belong to this user.")
    reason: str | None = Field(None, description="Why, recorded in history.")


class ExportBody(_Body):
    """Which memories to export: one user's, or all (of the caller's tenant)."""

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
