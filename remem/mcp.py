"""remem as an MCP server (the official ``mcp`` SDK): each tool makes one Memory call.

``remem mcp`` serves these tools over stdio; ``remem serve`` mounts them at ``/mcp`` (streamable
HTTP), where the caller's API key picks the tenant. remem errors become MCP tool errors whose text
starts with the error type ("NotFound: memory ... not found").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from remem.errors import MissingDependency, RememError

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependency("the MCP server needs: pip install 'remem[mcp]'") from exc

if TYPE_CHECKING:
    from remem.memory import Memory
    from remem.tenancy import TenantMemory

MemoryLike: TypeAlias = "Memory | TenantMemory"
# Given the request headers (None on stdio), return the Memory to use; raises for a bad key.
Resolver: TypeAlias = Callable[[Mapping[str, str] | None], "Memory | TenantMemory"]

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
    memory: Memory | TenantMemory | Resolver, *, name: str = "remem"
) -> MCPServer:
    """Build the MCP server with remem's tools.

    Args:
        memory: the Memory (or TenantMemory) every tool uses, or a resolver that picks one from
            each request's headers (how ``remem serve`` maps API keys to tenants).
        name: the server name announced to clients.

    Returns:
        An ``MCPServer``; ``.run("stdio")`` serves it, ``.streamable_http_app()`` mounts it.
    """
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

    def _memory(ctx: Context) -> MemoryLike:
        try:
            return resolve(ctx.headers)
        except RememError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    def _call(ctx: Context, verb: Callable[[MemoryLike], Any]) -> Any:
        memory = _memory(ctx)
        try:
            return verb(memory)
        except RememError as exc:
            # One place maps remem errors to tool errors; the type name leads for the model.
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    @server.tool()
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
    ) -> dict[str, Any]:
        """Store one memory (a fact, event or conversation turn) for a user. Returns the record.

        ttl: seconds until it expires (for things that are only true for a while).
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
            ).to_dict(),
        )

    @server.tool()
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

    @server.tool()
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

    @server.tool()
    def get_memory(ctx: Context, id: str, user_id: str | None = None) -> dict[str, Any]:
        """Return one memory by id (optionally only if it belongs to user_id)."""
        return _call(ctx, lambda m: m.get(id, user_id=user_id).to_dict())  # type: ignore[no-any-return]

    @server.tool()
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
        )

    @server.tool()
    def delete_memory(
        ctx: Context, id: str, user_id: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Delete a memory (its history keeps the last version)."""
        _call(ctx, lambda m: m.delete(id, user_id=user_id, reason=reason))
        return {"deleted": id}

    @server.tool()
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

    @server.tool()
    def memory_history(ctx: Context, id: str, user_id: str | None = None) -> dict[str, Any]:
        """Every version of a memory, oldest first: what changed, when, by whom and why."""
        entries = _call(ctx, lambda m: m.history(id, user_id=user_id))
        return {"entries": [e.to_dict() for e in entries]}

    @server.tool()
    def memory_links(ctx: Context, id: str, user_id: str | None = None) -> dict[str, Any]:
        """The memories linked to one memory: similar, same entity, next turn, supersedes, ..."""
        links = _call(ctx, lambda m: m.links(id, user_id=user_id))
        return {"links": [x.to_dict() for x in links]}

    @server.tool()
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

    @server.tool()
    def memory_first_of(ctx: Context, event_a: str, event_b: str, user_id: str) -> dict[str, Any]:
        """Which of two described events happened first; returns both matched memories."""
        earlier, later = _call(ctx, lambda m: m.first_of(event_a, event_b, user_id=user_id))
        return {"earlier": earlier.to_dict(), "later": later.to_dict()}

    @server.tool()
    def forget_memory(
        ctx: Context,
        id: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        filters: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Forget one memory by id, or every memory of a user's scope matching the filters."""
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

    @server.tool()
    def quarantine_memory(
        ctx: Context, id: str, user_id: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Hide a suspicious memory from every search and listing (kept for review)."""
        return _call(  # type: ignore[no-any-return]
            ctx, lambda m: m.quarantine(id, user_id=user_id, reason=reason).to_dict()
        )

    return server
