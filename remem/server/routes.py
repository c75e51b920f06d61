"""The REST routes: one per verb of the verb table (``remem.verbs``), each parsing its input,
applying the shared rules, making one Memory call and rendering the result. Adding memories (one
or a batch), export and import are written out here; every other route is generated.

Routes are plain ``def`` so FastAPI runs them in its thread pool (the core is synchronous). Errors
are not handled here: the one exception handler in ``app.py`` maps them to statuses.

Writes are bounded by what the caller's key may claim (``Caller.max_origin``): an add with a more
trusted origin is refused (403), an import's records are lowered to it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from remem import _validate, verbs
from remem.errors import Forbidden, InvalidInput
from remem.guard import trust
from remem.memory import Memory
from remem.server import schemas
from remem.server.auth import Caller, request_caller, request_memory, trust_order
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
    add = verbs.BY_NAME["add"]

    def ready(item: Any) -> dict[str, Any]:
        return verbs.prepare(
            add,
            item.model_dump(exclude_unset=True),
            surface="rest",
            max_origin=caller.max_origin if caller.limited else None,
            memory=memory,
            order=trust_order(memory),
        )

    if isinstance(body, schemas.AddBatch):
        items = []
        for i, item in enumerate(body.items):
            try:
                items.append(ready(item))
            except Forbidden as exc:
                raise Forbidden(f"item {i}: {exc}") from exc
        records = memory.add_many(items)
        return _json({"items": [r.to_dict() for r in records]}, status.HTTP_201_CREATED)
    return _json(verbs.call(add, memory, ready(body)).to_dict(), status.HTTP_201_CREATED)


def _endpoint(verb: verbs.Verb) -> Callable[..., Any]:
    """The route function of ``verb``: path parameters from its path, query parameters for GET
    and DELETE, else a JSON body made from its arguments; then ``verbs.prepare`` and one call."""
    assert verb.rest is not None
    method, path = verb.rest
    in_path = re.findall(r"{(\w+)}", path)
    in_query = method in ("GET", "DELETE")
    rest = [a for a in verb.args_on("rest") if a.name not in in_path]
    body = (
        None
        if in_query or not rest
        else schemas.body_model(
            _camel(verb.name) + "Body", rest, f"The arguments of Memory.{verb.name}."
        )
    )

    def endpoint(caller: Caller, **kwargs: Any) -> Response:
        values = {name: kwargs[name] for name in in_path}
        if body is not None:
            values.update(kwargs["body"].model_dump(exclude_unset=True))
        elif in_query:
            values.update({a.name: _from_query(a, kwargs[a.name]) for a in rest})
        ready = verbs.prepare(
            verb,
            values,
            surface="rest",
            max_origin=caller.max_origin if caller.limited else None,
            memory=caller.memory,
            order=trust_order(caller.memory),
        )
        result = verbs.call(verb, caller.memory, ready)
        if verb.result == "none":
            return Response(status_code=verb.status)
        return _json(verbs.to_json(verb, result, ready), verb.status)

    P = inspect.Parameter
    params = [P("caller", P.KEYWORD_ONLY, annotation=CallerDep)]
    params += [P(n, P.KEYWORD_ONLY, annotation=Annotated[str, Path()]) for n in in_path]
    if body is not None:
        params.append(P("body", P.KEYWORD_ONLY, annotation=Annotated[body, Body()]))
    elif in_query:
        params += [
            P(
                a.name,
                P.KEYWORD_ONLY,
                default=None if a.required else a.default,
                annotation=Annotated[str | None if a.json else a.type, Query(description=a.doc)]
                if not a.required
                else Annotated[a.type, Query(description=a.doc)],
            )
            for a in rest
        ]
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = verb.name
    endpoint.__doc__ = f"``Memory.{verb.name}``: {verb.summary}"
    return endpoint


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _from_query(arg: verbs.Arg, value: Any) -> Any:
    """A query parameter's value: JSON objects arrive as JSON text."""
    if not arg.json or value is None:
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise InvalidInput(f"{arg.name}: not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise InvalidInput(f"{arg.name}: expected a JSON object")
    return parsed


def add_routes(target: APIRouter, table: Sequence[verbs.Verb] = verbs.VERBS) -> None:
    """Add a generated route for every verb of ``table`` that REST builds from the table."""
    for verb in table:
        if verb.rest is not None and verb.generated("rest"):
            method, path = verb.rest
            target.add_api_route(
                # A user_id in the path may hold "/": it takes the rest of the path.
                path.removeprefix("/v1").replace("{user_id}", "{user_id:path}"),
                _endpoint(verb),
                methods=[method],
                status_code=verb.status,
                response_model=schemas.RESPONSES[verb.result],
                summary=verb.summary,
            )


add_routes(router)


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
