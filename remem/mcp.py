"""remem as an MCP server (the official ``mcp`` SDK): one tool per verb of the verb table.

``remem mcp`` serves these tools over stdio; ``remem serve`` mounts them at ``/mcp`` (streamable
HTTP), where the caller's API key picks the tenant. Each tool is built from its ``remem.verbs``
entry: its arguments with their descriptions, MCP's annotations from the verb's effect, and the
shared rules (``verbs.prepare``). remem errors become tool errors whose text starts with the error
type ("NotFound: memory ... not found").

Agents are not users: what ``add_memory`` stores has origin "agent" unless the call says
otherwise, and a caller may claim no origin above its ``max_origin`` (an API key's, or
``remem mcp --max-origin``). ``forget_memory`` acts on a whole scope only when told ``all: true``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import Field

from remem import verbs
from remem.errors import MissingDependency, RememError
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

# What each effect does to the store, for clients that ask before destructive calls. An update
# keeps the old version in history, yet what reads return changes: destructive for a client.
ANNOTATIONS = {
    "read": ToolAnnotations(read_only_hint=True, open_world_hint=False),
    "add": ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    "change": ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False),
    "remove": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
}
TOOLS = tuple(v.mcp for v in verbs.VERBS if v.mcp)
INSTRUCTIONS = (
    "Long-term memory. Store what happens with add_memory; before answering, look up what "
    "bears on the question with search_memory. Every call names the user_id it is about."
)


def create_mcp_server(
    memory: Memory | TenantMemory | Resolver,
    *,
    name: str = "remem",
    max_origin: str | None = None,
    table: Sequence[verbs.Verb] = verbs.VERBS,
) -> MCPServer:
    """Build the MCP server with remem's tools.

    Args:
        memory: the Memory (or TenantMemory) every tool uses, or a resolver that picks one (or a
            ``Caller``) from each request's headers (how ``remem serve`` maps API keys to tenants).
        name: the server name announced to clients.
        max_origin: the most trusted origin a tool call may claim ("agent": an agent cannot write
            as the user); None: any. A resolver's ``Caller.max_origin`` takes its place.
        table: the verbs to serve (the verb table).

    Returns:
        An ``MCPServer``; ``.run("stdio")`` serves it, ``.streamable_http_app()`` mounts it.

    Raises:
        InvalidInput: ``max_origin`` is not an origin.
    """
    if max_origin is not None:
        from remem.keys import check_origin

        check_origin(max_origin)
    resolve: Resolver = memory if callable(memory) else (lambda _headers: memory)
    # The SDK calls logging.basicConfig with this level; INFO would log every tool error.
    server: MCPServer = MCPServer(name, log_level="WARNING", instructions=INSTRUCTIONS)

    def caller(ctx: Context) -> Caller:
        resolved = resolve(ctx.headers)
        return resolved if isinstance(resolved, Caller) else Caller(resolved, max_origin)

    for verb in table:
        if verb.mcp:
            tool = _tool(verb, caller)
            server.tool(
                name=verb.mcp,
                description=f"{verb.summary} {verb.mcp_doc}".strip(),
                annotations=ANNOTATIONS[verb.effect],
            )(tool)
    return server


def _tool(verb: verbs.Verb, caller: Callable[[Context], Caller]) -> Callable[..., Any]:
    """The tool function of ``verb``: its signature (with a description per argument) is what
    the SDK turns into the tool's input schema."""

    def tool(ctx: Context, **kwargs: Any) -> dict[str, Any]:
        try:
            who = caller(ctx)
            ready = verbs.prepare(
                verb,
                kwargs,
                surface="mcp",
                max_origin=who.max_origin,
                memory=who.memory,
                order=trust_order(who.memory),
            )
            result = verbs.call(verb, who.memory, ready)
        except RememError as exc:
            # One place maps remem errors to tool errors; the type name leads for the model.
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        out: dict[str, Any] = verbs.to_json(verb, result, ready)
        verbose = kwargs.get("verbose", True) or verb.result in ("record", "answer")
        return out if verbose else verbs.compact(out)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)]
    for a in verb.args_on("mcp"):
        annotation: Any = Annotated[a.type, Field(description=a.doc)]
        default = a.default_on("mcp")
        params.append(
            inspect.Parameter(
                a.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    tool.__signature__ = inspect.Signature(params, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": dict[str, Any]}
    tool.__name__ = verb.mcp or verb.name
    tool.__doc__ = verb.summary
    return tool


def trust_order(memory: Any) -> str:
    """The ``trust_order`` setting of a Memory (the default order where there is none)."""
    base: Any = getattr(memory, "memory", memory)  # a TenantMemory wraps the Memory
    order = getattr(getattr(base, "settings", None), "trust_order", None)
    return order if isinstance(order, str) and order else trust.DEFAULT_ORDER
