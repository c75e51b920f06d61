"""remem as an MCP server (the official ``mcp`` SDK): each tool makes one Memory call.

``remem mcp`` serves these tools over stdio; ``remem serve`` mounts them at ``/mcp`` (streamable
HTTP), where the caller's API key picks the tenant. remem errors become MCP tool errors whose text
starts with the error type ("NotFound: memory ... not found").

Agents are not users: what ``add_memory`` stores has origin "agent" unless the call says
otherwise, and a caller may claim no origin above its ``max_origin`` (an API key's, or
``remem mcp --max-origin``). Tools carry MCP annotations (``readOnlyHint``, ``destructiveHint``),
and ``forget_memory`` acts on a whole scope only when told ``all: true``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from remem.errors import Forbidden, MissingDependency, RememError
from remem.guard import trust

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolAnnotations
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependency("the MCP server needs: pip install 'remem[mcp]'") from exc

if TYPE_CHECKING:
    from remem.memory import Memory
    from remem.tenancy import TenantMemory

MemoryLike: TypeAlias = "Memory | TenantMemory"


@dataclass(frozen=True)
class Caller:
    """What a resolver may return instead of a bare Memory: the Memory and its origin limit.

    Attributes:
        memory: the Memory (or TenantMemory) the tools use for this request.
        max_origin: the most trusted origin the caller may claim; None: any.
    """

    memory: MemoryLike
    max_origin: str | None = None


# Given the request headers (None on stdio), return the Memory to use (or a Caller); raises for
# a bad key.
Resolver: TypeAlias = Callable[[Mapping[str, str] | None], "Memory | TenantMemory | Caller"]

# What each tool does to the store, for clients that ask before destructive calls.
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
# update keeps the old version in history, yet what reads return changes: destructive for a client.
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
DESTRUCTIVE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

TOOLS = (
    "add_memory",
    "search_memory",
    "answer_question",
    "get_memory",
    "update_memory",
    "delete_memory",
    "list_memories",
    "memory_history",
    "memory_links",
    "memory_timeline",
    "memory_first_of",
    "forget_memory",
    "quarantine_memory",
)


def create_mcp_server(
    memory: Memory | TenantMemory | Resolver,
    *,
    name: str = "remem",
    max_origin: str | None = None,
) -> MCPServer:
    """Build the MCP server with remem's tools.

    Args:
        memory: the Memory (or TenantMemory) every tool uses, or a resolver that picks one (or a
            ``Caller``) from each request's headers (how ``remem serve`` maps API keys to tenants).
        name: the server name announced to clients.
        max_origin: the most trusted origin a tool call may claim ("agent": an agent cannot write
            as the user); None: any. A resolver's ``Caller.max_origin`` takes its place.

    Returns:
        An ``MCPServer``; ``.run("stdio")`` serves it, ``.streamable_http_app()`` mounts it.

    Raises:
        InvalidInput: ``max_origin`` is not an origin.
    """
    if max_origin is not None:
        from remem.keys import check_origin

        check_origin(max_origin)
    resolve: Resolver = memory if callable(memory) else (lambda _headers: memory)
    server: MCPServer = MCPServer(
        name,
        # The SDK calls logging.basicConfig with this level; INFO would log every tool error.
        log_level="WARNING",
        instructions=(
            "Long-term memory. Store what happens with add_memory; before answering, look up what "
            "bears on the question with search_memory. Every call names the user_id it is about."
        ),
    )

    def _caller(ctx: Context) -> Caller:
        try:
            resolved = resolve(ctx.headers)
        except RememError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        return resolved if isinstance(resolved, Caller) else Caller(resolved, max_origin)

    def _call(
        ctx: Context,
        verb: Callable[[MemoryLike], Any],
        *,
        check: Callable[[Caller], None] | None = None,
    ) -> Any:
        caller = _caller(ctx)
        try:
            if check is not None:
                check(caller)
            return verb(caller.memory)
        except RememError as exc:
            # One place maps remem errors to tool errors; the type name leads for the model.
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    def _claim(origin: str) -> Callable[[Caller], None]:
        def check(caller: Caller) -> None:
            trust.check_claim(origin, caller.max_origin, _trust_order(caller.memory))

        return check

    def _may_change(id: str, user_id: str | None) -> Callable[[Caller], None]:
        # A new version keeps the memory's origin: a caller may only change what it could write.
        def check(caller: Caller) -> None:
            if caller.max_origin is None:
                return
            origin = caller.memory.get(id, user_id=user_id).origin
            try:
                trust.check_claim(origin, caller.max_origin, _trust_order(caller.memory))
            except Forbidden as exc:
                raise Forbidden(f"memory {id} may not be changed by this caller: {exc}") from exc

        return check

    @server.tool(annotations=ADDITIVE)
    def add_memory(
        ctx: Context,
        content: str,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        speaker: str | None = None,
        occurred_at: str | None = None,
        metadata: dict[str, Any] | None = None,
        kind: str = "episodic",
        ttl: int | None = None,
        origin: str = "agent",
    ) -> dict[str, Any]:
        """Store one memory (a fact, event or conversation turn) for a user. Returns the record.

        ttl: seconds until it expires (for things that are only true for a while). origin: who
        it comes from: "agent" (you, the default), "tool" (a tool's output), or "user" (the
        user's own words, when this server lets the caller claim that).
        """
        return _call(  # type: ignore[no-any-return]
            ctx,
            lambda m: m.add(
                content,
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                speaker=speaker,
                occurred_at=occurred_at,
                metadata=metadata,
                kind=kind,
                ttl=ttl,
                origin=origin,
            ).to_dict(),
            check=_claim(origin),
        )

    @server.tool(annotations=READ_ONLY)
    def search_memory(
        ctx: Context,
        query: str,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: dict[str, Any] | None = None,
        as_of: str | None = None,
        level: str = "record",
    ) -> dict[str, Any]:
        """Find a user's memories that bear on a question, best first, with scores.

        as_of: an ISO 8601 moment, to see what was known and valid then. level: "record" (what
        was stored), "session" (whole-session units, for broad questions) or "fact" (single
        sentences).
        """
        hits = _call(
            ctx,
            lambda m: m.search(
                query,
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                limit=limit,
                filters=filters,
                as_of=as_of,
                level=level,
            ),
        )
        return {"hits": [h.to_dict() for h in hits]}

    @server.tool(annotations=READ_ONLY)
    def answer_question(
        ctx: Context,
        question: str,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer a question from a user's memories, citing the memory ids, or abstain."""
        result = _call(
            ctx,
            lambda m: m.answer(
                question,
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                limit=limit,
                filters=filters,
            ),
        )
        return {
            "text": result.text,
            "citations": list(result.citations),
            "abstained": result.abstained,
            "usage": dict(result.usage),
        }

    @server.tool(annotations=READ_ONLY)
    def get_memory(ctx: Context, id: str, user_id: str | None = None) -> dict[str, Any]:
        """Return one memory by id (optionally only if it belongs to user_id)."""
        return _call(ctx, lambda m: m.get(id, user_id=user_id).to_dict())  # type: ignore[no-any-return]

    @server.tool(annotations=DESTRUCTIVE)
    def update_memory(
        ctx: Context,
        id: str,
        content: str | None = None,
        metadata: dict[str, Any] | None = None,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Change a memory's content or metadata; the old version stays in its history."""
        return _call(  # type: ignore[no-any-return]
            ctx,
            lambda m: m.update(
                id, content=content, metadata=metadata, user_id=user_id, reason=reason
            ).to_dict(),
            check=_may_change(id, user_id),
        )

    @server.tool(annotations=DESTRUCTIVE_IDEMPOTENT)
    def delete_memory(
        ctx: Context, id: str, user_id: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Delete a memory (its history keeps the last version)."""
        _call(ctx, lambda m: m.delete(id, user_id=user_id, reason=reason))
        return {"deleted": id}

    @server.tool(annotations=READ_ONLY)
    def list_memories(
        ctx: Context,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """List a user's memories oldest first; pass next_cursor back for the next page."""
        page = _call(
            ctx,
            lambda m: m.list(
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                limit=limit,
                cursor=cursor,
            ),
        )
        return {"records": [r.to_dict() for r in page], "next_cursor": page.next_cursor}

    @server.tool(annotations=READ_ONLY)
    def memory_history(ctx: Context, id: str, user_id: str | None = None) -> dict[str, Any]:
        """Every version of a memory, oldest first: what changed, when, by whom and why."""
        entries = _call(ctx, lambda m: m.history(id, user_id=user_id))
        return {"entries": [e.to_dict() for e in entries]}

    @server.tool(annotations=READ_ONLY)
    def memory_links(ctx: Context, id: str, user_id: str | None = None) -> dict[str, Any]:
        """The memories linked to one memory: similar, same entity, next turn, supersedes, ..."""
        links = _call(ctx, lambda m: m.links(id, user_id=user_id))
        return {"links": [x.to_dict() for x in links]}

    @server.tool(annotations=READ_ONLY)
    def memory_timeline(
        ctx: Context,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        """A user's memories in the order the events happened, optionally in [start, end)."""
        records = _call(
            ctx,
            lambda m: m.timeline(
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                start=start,
                end=end,
                limit=limit,
            ),
        )
        return {"records": [r.to_dict() for r in records]}

    @server.tool(annotations=READ_ONLY)
    def memory_first_of(ctx: Context, event_a: str, event_b: str, user_id: str) -> dict[str, Any]:
        """Which of two described events happened first; returns both matched memories."""
        earlier, later = _call(ctx, lambda m: m.first_of(event_a, event_b, user_id=user_id))
        return {"earlier": earlier.to_dict(), "later": later.to_dict()}

    @server.tool(annotations=DESTRUCTIVE_IDEMPOTENT)
    def forget_memory(
        ctx: Context,
        id: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: dict[str, Any] | None = None,
        reason: str | None = None,
        all: bool = False,
    ) -> dict[str, Any]:
        """Forget one memory by id, or every memory of a user's scope matching the filters.

        Without an id and without filters this forgets the whole scope (the user's, or one
        agent's or session's of it): that needs all=true, and is rarely what a conversation
        calls for.
        """
        if id is not None and all:
            raise ToolError("InvalidInput: give either one id or all=true for a whole scope")
        if id is None and not filters and not all:
            raise ToolError(
                "InvalidInput: forgetting a whole scope (no id, no filters) needs all=true; "
                "give an id or filters to forget less"
            )
        count = _call(
            ctx,
            lambda m: m.forget(
                id,
                user_id=user_id,
                agent_id=agent_id,
                session_id=session_id,
                filters=filters,
                reason=reason,
            ),
        )
        return {"forgotten": count}

    @server.tool(annotations=DESTRUCTIVE_IDEMPOTENT)
    def quarantine_memory(
        ctx: Context, id: str, user_id: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Hide a suspicious memory from every search and listing (kept for review)."""
        return _call(  # type: ignore[no-any-return]
            ctx, lambda m: m.quarantine(id, user_id=user_id, reason=reason).to_dict()
        )

    return server


def _trust_order(memory: MemoryLike) -> str:
    """The ``trust_order`` setting of a Memory (the default order where there is none)."""
    base: Any = getattr(memory, "memory", memory)  # a TenantMemory wraps the Memory
    order = getattr(getattr(base, "settings", None), "trust_order", None)
    return order if isinstance(order, str) and order else trust.DEFAULT_ORDER
