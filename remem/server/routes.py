"""The REST routes: each parses its input, makes one Memory call and renders the result.

Routes are plain ``def`` so FastAPI runs them in its thread pool (the core is synchronous). Errors
are not handled here: the one exception handler in ``app.py`` maps them to statuses.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from remem.answer import Answer
from remem.errors import InvalidInput
from remem.memory import Memory
from remem.server import schemas
from remem.server.auth import request_memory
from remem.tenancy import TenantMemory

MemoryDep = Annotated[Memory | TenantMemory, Depends(request_memory)]
JSONL = "application/x-ndjson"

router = APIRouter(prefix="/v1", tags=["memories"])


def _json(data: Any, code: int = status.HTTP_200_OK) -> JSONResponse:
    return JSONResponse(data, status_code=code)


@router.post(
    "/memories",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RecordOut | schemas.BatchOut,
    summary="Store one memory, or a batch ({'items': [...]}) all or nothing",
)
def add_memories(body: schemas.AddBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.add`` for one object; ``Memory.add_many`` for ``{"items": [...]}``."""
    if isinstance(body, schemas.AddBatch):
        records = memory.add_many([item.model_dump(exclude_unset=True) for item in body.items])
        return _json({"items": [r.to_dict() for r in records]}, status.HTTP_201_CREATED)
    fields = body.model_dump(exclude_unset=True)
    return _json(memory.add(fields.pop("content"), **fields).to_dict(), status.HTTP_201_CREATED)


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
def update_memory(id: str, body: schemas.UpdateBody, memory: MemoryDep) -> JSONResponse:
    """``Memory.update``: a new version; the old one stays in history."""
    return _json(memory.update(id, **body.model_dump(exclude_unset=True)).to_dict())


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
    """``Memory.forget``: each forgotten memory leaves a "forget" entry in its history."""
    fields = body.model_dump(exclude_unset=True)
    return _json({"forgotten": memory.forget(fields.pop("id", None), **fields)})


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
            "content": {JSONL: {"schema": {"type": "string", "description": "export lines"}}},
        }
    },
    summary="Import a JSONL export (all or nothing)",
)
async def import_memories(request: Request, memory: MemoryDep) -> JSONResponse:
    """``Memory.import_`` of the request body (the lines ``/v1/export`` wrote)."""
    fd, path = tempfile.mkstemp(suffix=".jsonl", prefix="remem-import-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        count = await run_in_threadpool(memory.import_, path)
    finally:
        os.unlink(path)
    return _json({"imported": count}, status.HTTP_201_CREATED)


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
