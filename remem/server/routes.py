"""The REST routes: each parses its input, makes one Memory call and renders the result.

Routes are plain ``def`` so FastAPI runs them in its thread pool (the core is synchronous). Errors
are not handled here: the one exception handler in ``app.py`` maps them to statuses.

Writes are bounded by what the caller's key may claim (``Caller.max_origin``): an add with a more
trusted origin is refused (403), an import's records are lowered to it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from remem import _validate
from remem.answer import Answer
from remem.errors import Forbidden, InvalidInput
from remem.guard import trust
from remem.memory import Memory
from remem.server import schemas
from remem.server.auth import Caller, request_caller, request_memory
from remem.tenancy import TenantMemory
from remem.types import ORIGINS

MemoryDep = Annotated[Memory | TenantMemory, Depends(request_memory)]
CallerDep = Annotated[Caller, Depends(request_caller)]
JSONL = "application/x-ndjson"
# The import body's own media types (JSON Lines); see ``app.WRITE_TYPES``.
JSONL_TYPES = (JSONL, "application/jsonl")
# The temporary file an import body is written to, as it appears in error messages.
_TMP_IMPORT = re.compile(r"\S*remem-import-[^\s:]*\.jsonl")


class ImportLineError(InvalidInput):
    """An import body's line that cannot be imported: the REST answer carries ``"line": N``.

    Args:
        message: the reason, starting with "line N:".
        line: the 1-based line number in the request body.
    """

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


router = APIRouter(prefix="/v1", tags=["memories"])


def _json(data: Any, code: int = status.HTTP_200_OK) -> JSONResponse:
    return JSONResponse(data, status_code=code)


@router.post(
    "/memories",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RecordOut | schemas.BatchOut,
    summary="Store one memory, or a batch ({'items': [...]}) all or nothing",
)
def add_memories(body: schemas.AddBody, caller: CallerDep) -> JSONResponse:
    """``Memory.add`` for one object; ``Memory.add_many`` for ``{"items": [...]}``.

    An ``origin`` above the key's ``max_origin`` is refused (403); a missing one is "user",
    lowered to the key's ``max_origin``.
    """
    memory = caller.memory
    if isinstance(body, schemas.AddBatch):
        items = [item.model_dump(exclude_unset=True) for item in body.items]
        for i, item in enumerate(items):
            try:
                item["origin"] = _claimed(caller, item.get("origin"))
            except Forbidden as exc:
                raise Forbidden(f"item {i}: {exc}") from exc
        records = memory.add_many(items)
        return _json({"items": [r.to_dict() for r in records]}, status.HTTP_201_CREATED)
    fields = body.model_dump(exclude_unset=True)
    fields["origin"] = _claimed(caller, fields.get("origin"))
    return _json(memory.add(fields.pop("content"), **fields).to_dict(), status.HTTP_201_CREATED)


def _claimed(caller: Caller, origin: str | None) -> str:
    """The origin a write is stored with: the one claimed, if the caller may claim it."""
    if origin is None:
        return caller.cap_origin("user")
    caller.check_origin(origin)
    return origin


@router.post("/memories/search", response_model=schemas.SearchOut, summary="Search one scope")
def search_memories(body: schemas.SearchBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.search``: hits best first, each with its score and ``explain``."""
    fields = body.model_dump(exclude_unset=True)
    hits = memory.search(fields.pop("query"), **fields)
    return _json({"hits": [h.to_dict() for h in hits]})


@router.get("/memories", response_model=schemas.PageOut, summary="List one scope, a page at a time")
def list_memories(
    memory: MemoryDep,
    user_id: Annotated[str, Query()],
    agent_id: Annotated[str | None, Query()] = None,
    session_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query()] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    filters: Annotated[str | None, Query(description="A JSON filter object")] = None,
) -> JSONResponse:
    """``Memory.list`` in id (creation) order."""
    page = memory.list(
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        limit=limit,
        cursor=cursor,
        filters=_parse_filters(filters),
    )
    return _json({"records": [r.to_dict() for r in page], "next_cursor": page.next_cursor})


@router.get("/memories/{id}", response_model=schemas.RecordOut, summary="Get one memory")
def get_memory(
    id: str, memory: MemoryDep, user_id: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """``Memory.get``."""
    return _json(memory.get(id, user_id=user_id).to_dict())


@router.patch("/memories/{id}", response_model=schemas.RecordOut, summary="Change one memory")
def update_memory(id: str, body: schemas.UpdateBody, caller: CallerDep) -> JSONResponse:
    """``Memory.update``: a new version; the old one stays in history.

    The new version keeps the memory's origin, so a key whose ``max_origin`` ranks below that
    origin may not change it (403): an agent's key cannot rewrite what the user said.
    """
    fields = body.model_dump(exclude_unset=True)
    if caller.limited:
        current = caller.memory.get(id, user_id=fields.get("user_id"))
        try:
            caller.check_origin(current.origin)
        except Forbidden as exc:
            raise Forbidden(f"memory {id} may not be changed with this key: {exc}") from exc
    return _json(caller.memory.update(id, **fields).to_dict())


@router.delete(
    "/memories/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete one memory"
)
def delete_memory(
    id: str,
    memory: MemoryDep,
    user_id: Annotated[str | None, Query()] = None,
    reason: Annotated[str | None, Query()] = None,
) -> Response:
    """``Memory.delete``: gone from every index; its history keeps the last version."""
    memory.delete(id, user_id=user_id, reason=reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/memories/{id}/history", response_model=schemas.HistoryOut, summary="Every version of a memory"
)
def memory_history(
    id: str, memory: MemoryDep, user_id: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """``Memory.history``, oldest first."""
    return _json({"entries": [e.to_dict() for e in memory.history(id, user_id=user_id)]})


@router.get(
    "/memories/{id}/links", response_model=schemas.LinksOut, summary="The links of a memory"
)
def memory_links(
    id: str, memory: MemoryDep, user_id: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """``Memory.links``: similar, shared entity, next turn, supersedes, ..."""
    return _json({"links": [x.to_dict() for x in memory.links(id, user_id=user_id)]})


@router.post(
    "/memories/{id}/quarantine",
    response_model=schemas.RecordOut,
    summary="Hide a memory from searches and listings",
)
def quarantine_memory(id: str, body: schemas.MoveBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.quarantine``: kept, with its history, but never returned by reads."""
    return _json(memory.quarantine(id, **body.model_dump(exclude_unset=True)).to_dict())


@router.post("/memories/{id}/restore", response_model=schemas.RecordOut, summary="Restore a memory")
def restore_memory(id: str, body: schemas.MoveBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.restore`` of a quarantined memory."""
    return _json(memory.restore(id, **body.model_dump(exclude_unset=True)).to_dict())


@router.get("/timeline", response_model=schemas.TimelineOut, summary="One scope in event order")
def timeline(
    memory: MemoryDep,
    user_id: Annotated[str, Query()],
    agent_id: Annotated[str | None, Query()] = None,
    session_id: Annotated[str | None, Query()] = None,
    start: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    end: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query()] = 100,
) -> JSONResponse:
    """``Memory.timeline``: by when each event happened, optionally within [start, end)."""
    records = memory.timeline(
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        start=start,
        end=end,
        limit=limit,
    )
    return _json({"records": [r.to_dict() for r in records]})


@router.post(
    "/answer", response_model=schemas.AnswerOut, summary="Answer a question from memory, or abstain"
)
def answer(body: schemas.AnswerBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.answer``: the text, the ids of the memories it cites, and whether it abstained."""
    fields = body.model_dump(exclude_unset=True)
    return _json(answer_dict(memory.answer(fields.pop("question"), **fields)))


@router.post(
    "/first-of", response_model=schemas.FirstOfOut, summary="Which of two events came first"
)
def first_of(body: schemas.FirstOfBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.first_of``: each description matched to its best memory, then ordered."""
    earlier, later = memory.first_of(body.event_a, body.event_b, user_id=body.user_id)
    return _json({"earlier": earlier.to_dict(), "later": later.to_dict()})


@router.post(
    "/forget", response_model=schemas.ForgetOut, summary="Forget one memory, or a scope's matches"
)
def forget(body: schemas.ForgetBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.forget``: each forgotten memory leaves a "forget" entry in its history.

    A whole scope (no id, no filters) is forgotten only with ``"all": true``.
    """
    fields = body.model_dump(exclude_unset=True)
    everything = fields.pop("all", False)
    id = fields.pop("id", None)
    check_forget_all(id, fields.get("filters"), everything)
    return _json({"forgotten": memory.forget(id, **fields)})


def check_forget_all(id: str | None, filters: Any, everything: bool) -> None:
    """A scope-wide forget must say so: ``all`` without an id, and not with one.

    Raises:
        InvalidInput: no id and no filters without ``all``, or ``all`` with an id.
    """
    if id is not None and everything:
        raise InvalidInput("all: give either one id or all=true for a whole scope, not both")
    if id is None and not filters and not everything:
        raise InvalidInput(
            "forgetting a whole scope (no id, no filters) needs all=true; "
            "give an id or filters to forget less"
        )


@router.post(
    "/scopes/{user_id:path}/forget-expired",
    response_model=schemas.ForgetOut,
    summary="Remove one user's memories whose TTL has passed",
)
def forget_expired(user_id: str, memory: MemoryDep) -> JSONResponse:
    """``Memory.forget_expired``."""
    return _json({"forgotten": memory.forget_expired(user_id=user_id)})


@router.delete(
    "/scopes/{user_id:path}",
    response_model=schemas.PurgeOut,
    summary="Hard-delete everything of one user, history included",
)
def purge_scope(user_id: str, memory: MemoryDep) -> JSONResponse:
    """``Memory.purge``."""
    return _json({"purged": memory.purge(user_id=user_id)})


@router.post(
    "/export",
    response_class=FileResponse,
    responses={200: {"content": {JSONL: {}}, "description": "One JSON object per line"}},
    summary="Export memories and history as JSONL",
)
def export_memories(body: schemas.ExportBody, memory: MemoryDep) -> FileResponse:
    """``Memory.export`` of one user, or of everything the caller may see.

    The number of memories is in the ``X-Remem-Count`` header.
    """
    fd, path = tempfile.mkstemp(suffix=".jsonl", prefix="remem-export-")
    os.close(fd)
    try:
        count = memory.export(path, user_id=body.user_id)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type=JSONL,
        headers={"X-Remem-Count": str(count)},
        background=BackgroundTask(os.unlink, path),
    )


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "description": "export lines"}}
                for kind in JSONL_TYPES
            },
        }
    },
    summary="Import a JSONL export (all or nothing)",
)
async def import_memories(request: Request, caller: CallerDep) -> JSONResponse:
    """``Memory.import_`` of the request body (the lines ``/v1/export`` wrote).

    The body is ``application/x-ndjson`` (or ``application/jsonl``). Records whose origin ranks
    above the key's ``max_origin`` are imported with that origin instead. A bad line answers 422
    with its number in ``"line"``.
    """
    fd, path = tempfile.mkstemp(suffix=".jsonl", prefix="remem-import-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        try:
            requested = request.query_params.get("max_origin")
            count = await run_in_threadpool(_import, caller, path, requested)
        except InvalidInput as exc:
            raise import_error(exc) from exc
    finally:
        os.unlink(path)
    return _json({"imported": count}, status.HTTP_201_CREATED)


def _import(caller: Caller, path: str, requested: str | None) -> int:
    # Keyless and "user" keys: nothing is lowered (every origin ranks at most "user"). The
    # caller may ask for a lower ceiling (``?max_origin=``), never a higher one.
    ceiling = caller.max_origin if caller.limited else None
    if requested is not None:
        _validate.choice(requested, field="max_origin", options=ORIGINS)
        if ceiling is None or trust.rank(requested) < trust.rank(ceiling):
            ceiling = requested
    return caller.memory.import_(path, max_origin=ceiling)


def import_error(exc: InvalidInput) -> InvalidInput:
    """An import error as the client should see it: the server's temporary file name replaced,
    and the line number (if the message has one) as ``ImportLineError.line``."""
    message = str(exc)
    found = re.match(rf"{_TMP_IMPORT.pattern}:(\d+):\s*", message) or re.match(
        r"line (\d+):\s*", message
    )
    if found is None:
        cleaned = _TMP_IMPORT.sub("the request body", message)
        return exc if cleaned == message else type(exc)(cleaned)
    line = int(found.group(1))
    text = f"line {line}: " + _TMP_IMPORT.sub("the request body", message[found.end() :])
    # A subclass (TooLarge: 413) keeps its own type and status; its line stays in the text.
    return ImportLineError(text, line) if type(exc) is InvalidInput else type(exc)(text)


def answer_dict(answer: Answer) -> dict[str, Any]:
    """An ``Answer`` as JSON (the dataclass has no ``to_dict``)."""
    return {
        "text": answer.text,
        "citations": list(answer.citations),
        "abstained": answer.abstained,
        "usage": dict(answer.usage),
    }


def _parse_filters(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"filters: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput("filters: expected a JSON object")
    return value
