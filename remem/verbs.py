"""The verb table: every verb of ``Memory`` declared once, with what each surface needs.

Each ``Verb`` names its ``Memory`` method, its arguments (type at the edge, default, doc), its REST
method and path, its MCP tool (or why it has none), its CLI command (or why not), what it returns
and which shared rule applies to it. The surfaces are generated from this table:

- REST routes (``remem.server.routes``): path parameters from the path, query parameters for
  GET and DELETE, a JSON body otherwise;
- MCP tools (``remem.mcp``) with a description per argument and MCP's tool annotations;
- CLI commands (``remem.cli``): positional arguments and ``--options``, ``--json``;
- ``Client`` (``remem.client``) and the tenant view (``remem.tenancy``).

A newcomer adds a verb by writing its ``Memory`` method and one entry here; ``tests/test_parity.py``
checks the table against ``Memory`` and every surface against the table. Defaults (limits,
levels, origins) live here and nowhere else in the surfaces.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from remem.errors import Forbidden, InvalidInput
from remem.guard import trust

REQUIRED: Any = inspect.Parameter.empty

Kind = Literal["episodic", "semantic", "procedural", "core"]
Origin = Literal["user", "agent", "tool", "import", "derived"]
Level = Literal["record", "session", "fact"]


@dataclass(frozen=True)
class Arg:
    """One argument of a verb.

    Attributes:
        name: the ``Memory`` parameter name.
        type: its type at the edge (JSON: str, int, bool, dict, Literal, ``| None``).
        default: ``REQUIRED`` or the default every surface uses.
        doc: one line for OpenAPI, MCP and ``--help``.
        positional: the ``Memory`` method takes it positionally (the CLI makes it an argument).
        flag: the CLI option, when not ``--`` + the name with dashes (``--user`` for user_id).
        short: a one-letter CLI alias (``-u``).
        json: a JSON object: on the CLI and in a REST query it is JSON text.
        adapter_only: a safety argument of the surfaces that ``Memory`` does not take.
        surface_defaults: a different default on one surface ({"mcp": "agent"}), with its reason
            in ``doc``.
        surfaces: the surfaces that take it, when not all (an adapter-only argument of one).
        from_file: the CLI also reads it from standard input ("-") or ``--file``.
    """

    name: str
    type: Any
    default: Any = REQUIRED
    doc: str = ""
    positional: bool = False
    flag: str | None = None
    short: str | None = None
    json: bool = False
    adapter_only: bool = False
    surface_defaults: Mapping[str, Any] = field(default_factory=dict)
    surfaces: tuple[str, ...] = ()
    from_file: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_on(self, surface: str) -> Any:
        return self.surface_defaults.get(surface, self.default)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Verb:
    """One verb on every surface.

    Attributes:
        name: the ``Memory`` method.
        summary: one line (OpenAPI summary, CLI help, the start of the MCP description).
        args: the arguments, in the method's order.
        result: what it returns, which decides every rendering (see ``RESULTS``).
        effect: "read", "add", "change" or "remove": MCP annotations and CLI confirmations.
        addressing: "scope" (a required user_id), "id" (an id, optionally checked against a
            user_id), "either" (an id, or a user scope: forget) or "none".
        rest: (method, path), or None with the reason in ``why_not["rest"]``.
        mcp: the tool name, or None with the reason in ``why_not["mcp"]``.
        mcp_doc: what the model should know beyond the summary.
        cli: the command name, or None with the reason in ``why_not["cli"]``.
        confirm: the CLI asks this (or takes ``--yes``) before acting.
        say: the CLI's line for a person (formatted with ``result`` and the arguments); None:
            the result kind's table.
        status: the REST status of success.
        why_not: surface ("rest", "mcp", "cli", "client", "tenant") -> why the verb has no form
            there, or why its form is written by hand ("by hand: ...").
        rules: the shared rules every surface applies before the call (see ``prepare``).
    """

    name: str
    summary: str
    args: tuple[Arg, ...]
    result: str
    effect: str
    addressing: str
    rest: tuple[str, str] | None = None
    mcp: str | None = None
    mcp_doc: str = ""
    cli: str | None = None
    confirm: str | None = None
    say: str | None = None
    status: int = 200
    why_not: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[Callable[[Ready], None], ...] = ()

    def arg(self, name: str) -> Arg:
        return next(a for a in self.args if a.name == name)

    def args_on(self, surface: str) -> tuple[Arg, ...]:
        """The arguments ``surface`` takes."""
        return tuple(a for a in self.args if not a.surfaces or surface in a.surfaces)

    @property
    def memory_args(self) -> tuple[Arg, ...]:
        """The arguments ``Memory`` takes (not the surfaces' safety arguments)."""
        return tuple(a for a in self.args if not a.adapter_only)

    def generated(self, surface: str) -> bool:
        """True when ``surface`` builds this verb from the table (not by hand, not absent)."""
        return surface not in self.why_not


# -- the rules the surfaces share (``Verb.rules``; applied by ``prepare``) -----------------------


@dataclass
class Ready:
    """One call on its way to ``Memory``: the arguments as given, those ``Memory`` will get, and
    who calls (the most trusted origin it may claim, on which surface)."""

    verb: Verb
    given: Mapping[str, Any]
    out: dict[str, Any]
    surface: str
    max_origin: str | None
    memory: Any
    order: str


def whole_scope_needs_all(c: Ready) -> None:
    """A forget with no id and no filters empties a scope: it must say ``all``; not with an id."""
    everything = bool(c.given.get("all"))
    if c.out.get("id") is not None and everything:
        raise InvalidInput("all: give either one id or all=true for a whole scope, not both")
    if c.out.get("id") is None and not c.out.get("filters") and not everything:
        raise InvalidInput(
            "forgetting a whole scope (no id, no filters) needs all=true; "
            "give an id or filters to forget less"
        )


def origin_within_claim(c: Ready) -> None:
    """No origin above what the caller may claim (403); a left-out origin is the surface's
    default, lowered to it."""
    origin = c.out.get("origin")
    if origin is None:
        c.out["origin"] = trust.cap(
            c.verb.arg("origin").default_on(c.surface), c.max_origin, c.order
        )
    else:
        trust.check_claim(origin, c.max_origin, c.order)


def only_what_it_could_write(c: Ready) -> None:
    """A new version keeps the memory's origin: a caller may change only what it could write."""
    if c.max_origin is None:
        return
    current = c.memory.get(c.out["id"], user_id=c.out.get("user_id")).origin
    try:
        trust.check_claim(current, c.max_origin, c.order)
    except Forbidden as exc:
        raise Forbidden(f"memory {c.out['id']} may not be changed by this caller: {exc}") from exc


# -- the arguments verbs share, declared once ------------------------------------------------

DEFAULT_LIMIT = 10  # search and answer: hits
PAGE_LIMIT = 100  # list and timeline: records per page

ID = Arg("id", str, doc="The memory's id.", positional=True)
USER = Arg("user_id", str, doc="The user scope.", flag="--user", short="-u")
OWNER = Arg(
    "user_id",
    str | None,
    None,
    doc="If given, the memory must belong to this user.",
    flag="--user",
    short="-u",
)
AGENT = Arg("agent_id", str | None, None, doc="One agent within the user's scope.", flag="--agent")
SESSION = Arg(
    "session_id", str | None, None, doc="One session (conversation) of the scope.", flag="--session"
)
FILTERS = Arg(
    "filters", dict[str, Any] | None, None, doc="Field conditions (see remem.filters).", json=True
)
REASON = Arg("reason", str | None, None, doc="Why, recorded in history.")
LIMIT = Arg("limit", int, DEFAULT_LIMIT, doc="How many hits.", short="-k")
PAGE = Arg("limit", int, PAGE_LIMIT, doc="How many records.", short="-k")
SCOPE = (USER, AGENT, SESSION)
ANY_USER = Arg(
    "user_id",
    str | None,
    None,
    doc="The user scope; without one, the agent's (or run's) own scope.",
    flag="--user",
    short="-u",
)
RUN = Arg("run_id", str | None, None, doc="Mem0's name for the session.", flag="--run")
# Mem0-style scoping: a user, or an agent or a run of its own.
OPEN_SCOPE = (ANY_USER, AGENT, SESSION, RUN)
TEAM = Arg(
    "team_id", str | None, None, doc="A team's shared scope (team:<id>) instead.", flag="--team"
)
VERBOSE = Arg(
    "verbose",
    bool,
    False,
    doc="Every field of each memory; by default a compact form (id, content, speaker, when, "
    "session, kind, flags, score).",
    adapter_only=True,
    surfaces=("mcp",),
)

_OPERATOR = "copies the whole store to a file on the server: an operator's job, not a tenant's"
_FILES = "by hand: reads or writes a file, streamed over REST"

VERBS: tuple[Verb, ...] = (
    Verb(
        "add",
        "Store one memory (a fact, event or conversation turn).",
        (
            Arg("content", str, doc="The text to remember.", positional=True, from_file=True),
            *OPEN_SCOPE,
            Arg("speaker", str | None, None, doc="Who said or did it."),
            Arg(
                "occurred_at",
                str | None,
                None,
                doc="When it happened (ISO 8601); default now.",
                flag="--when",
            ),
            Arg(
                "metadata",
                dict[str, Any] | None,
                None,
                doc="A JSON object kept with it.",
                json=True,
            ),
            Arg("kind", Kind, "episodic", doc="episodic, semantic, procedural or core."),
            Arg("ttl", int | None, None, doc="Seconds until it expires and is forgotten."),
            Arg(
                "origin",
                Origin,
                "user",
                doc="Where it came from (sets its trust): user, agent, tool, import or derived; "
                "over MCP 'agent' by default (an agent is not the user); at most what the "
                "caller may claim.",
                surface_defaults={"mcp": "agent"},
            ),
        ),
        "record",
        "add",
        "scope",
        rest=("POST", "/v1/memories"),
        mcp="add_memory",
        mcp_doc="Returns the stored record.",
        cli="add",
        say="{result.id}",
        status=201,
        why_not={"rest": "by hand: one body takes a memory or a batch ({'items': [...]})"},
        rules=(origin_within_claim,),
    ),
    Verb(
        "add_many",
        "Store many memories in one transaction, all or nothing.",
        (
            Arg(
                "items",
                list[dict[str, Any]],
                doc="Objects with the arguments of add.",
                positional=True,
            ),
        ),
        "records",
        "add",
        "none",
        rest=("POST", "/v1/memories"),
        status=201,
        why_not={
            "rest": "by hand: POST /v1/memories with {'items': [...]}",
            "mcp": "batches are for bulk loaders; an agent stores one memory per add_memory",
            "cli": "by hand: `remem ingest FILE` loads a file through add_many",
            "client": "by hand: the batch body of POST /v1/memories",
            "tenant": "by hand: each item's user_id is qualified",
        },
    ),
    Verb(
        "search",
        "Find the memories of one scope that bear on a query, best first.",
        (
            Arg("query", str, doc="What to look for, in natural language.", positional=True),
            *OPEN_SCOPE,
            LIMIT,
            FILTERS,
            Arg(
                "as_of",
                str | None,
                None,
                doc="A past moment (ISO 8601): what was known and valid then.",
            ),
            Arg(
                "level",
                Level,
                "record",
                doc="record (what was stored), session or fact (derived units).",
            ),
            VERBOSE,
        ),
        "hits",
        "read",
        "scope",
        rest=("POST", "/v1/memories/search"),
        mcp="search_memory",
        mcp_doc="Each hit has a score and explain. level 'session' suits broad questions.",
        cli="search",
    ),
    Verb(
        "get_all",
        "Every memory of a scope (a user's, an agent's or a run's), oldest first: Mem0's listing.",
        (ANY_USER, AGENT, RUN, FILTERS, PAGE),
        "records",
        "read",
        "scope",
        rest=("GET", "/v1/memories:all"),
        why_not={
            "mcp": "list_memories pages through the same records",
            "cli": "`remem list` pages through the same records",
        },
    ),
    Verb(
        "answer",
        "Answer a question from one user's memories, citing them, or abstain.",
        (
            Arg("question", str, doc="The question.", positional=True),
            *SCOPE,
            Arg("limit", int, DEFAULT_LIMIT, doc="Memories to answer from.", short="-k"),
            FILTERS,
        ),
        "answer",
        "read",
        "scope",
        rest=("POST", "/v1/answer"),
        mcp="answer_question",
        cli="answer",
    ),
    Verb(
        "profile",
        "The standing instructions and preferences of a scope, the latest per subject.",
        (ANY_USER, AGENT),
        "profile",
        "read",
        "scope",
        rest=("GET", "/v1/profile"),
        mcp="memory_profile",
        mcp_doc="What the user asked to always (or never) be done, and their preferences: "
        "put 'prompt' in your instructions.",
        cli="profile",
    ),
    Verb(
        "get",
        "Return one memory.",
        (ID, OWNER),
        "record",
        "read",
        "id",
        rest=("GET", "/v1/memories/{id}"),
        mcp="get_memory",
        cli="get",
    ),
    Verb(
        "list",
        "List one scope's memories in creation order, a page at a time.",
        (
            *SCOPE,
            FILTERS,
            PAGE,
            Arg("cursor", str | None, None, doc="next_cursor of the last page."),
            VERBOSE,
        ),
        "page",
        "read",
        "scope",
        rest=("GET", "/v1/memories"),
        mcp="list_memories",
        mcp_doc="Pass next_cursor back as cursor for the next page.",
        cli="list",
    ),
    Verb(
        "update",
        "Change a memory's content or metadata; the old version stays in history.",
        (
            ID,
            Arg("content", str | None, None, doc="The new content."),
            Arg("metadata", dict[str, Any] | None, None, doc="New metadata (replaces).", json=True),
            OWNER,
            REASON,
        ),
        "record",
        "change",
        "id",
        rest=("PATCH", "/v1/memories/{id}"),
        mcp="update_memory",
        cli="update",
        say="{result.id} is now version {result.version}",
        rules=(only_what_it_could_write,),
    ),
    Verb(
        "delete",
        "Delete a memory from every index; its history keeps the last version.",
        (ID, OWNER, REASON),
        "none",
        "remove",
        "id",
        rest=("DELETE", "/v1/memories/{id}"),
        mcp="delete_memory",
        cli="delete",
        say="deleted {id}",
        status=204,
    ),
    Verb(
        "history",
        "Every version of a memory, oldest first: when, what, who and why.",
        (ID, OWNER),
        "entries",
        "read",
        "id",
        rest=("GET", "/v1/memories/{id}/history"),
        mcp="memory_history",
        cli="history",
        why_not={"tenant": "by hand: after a delete the owner is only in the history snapshots"},
    ),
    Verb(
        "links",
        "The links of a memory: similar, shared entity, next turn, supersedes, conflicts_with.",
        (ID, OWNER),
        "links",
        "read",
        "id",
        rest=("GET", "/v1/memories/{id}/links"),
        mcp="memory_links",
        cli="links",
    ),
    Verb(
        "timeline",
        "One scope's memories in the order the events happened.",
        (
            *SCOPE,
            Arg("start", str | None, None, doc="ISO 8601, inclusive."),
            Arg("end", str | None, None, doc="ISO 8601, exclusive."),
            PAGE,
            VERBOSE,
        ),
        "records",
        "read",
        "scope",
        rest=("GET", "/v1/timeline"),
        mcp="memory_timeline",
        cli="timeline",
    ),
    Verb(
        "first_of",
        "Which of two described events happened first.",
        (
            Arg("event_a", str, doc="One event, described.", positional=True),
            Arg("event_b", str, doc="The other event, described.", positional=True),
            USER,
            VERBOSE,
        ),
        "pair",
        "read",
        "scope",
        rest=("POST", "/v1/first-of"),
        mcp="memory_first_of",
        cli="first-of",
    ),
    Verb(
        "forget",
        "Forget one memory by id, or every memory of a scope that matches the filters.",
        (
            Arg(
                "id",
                str | None,
                None,
                doc="One memory; or leave out and give user_id.",
                positional=True,
            ),
            Arg(
                "user_id",
                str | None,
                None,
                doc="The scope (required without id).",
                flag="--user",
                short="-u",
            ),
            AGENT,
            SESSION,
            FILTERS,
            REASON,
            Arg(
                "all",
                bool,
                False,
                doc="Required (true) to forget a whole scope: no id and no filters.",
                adapter_only=True,
            ),
        ),
        "forgotten",
        "remove",
        "either",
        rest=("POST", "/v1/forget"),
        mcp="forget_memory",
        mcp_doc="Without an id or filters this empties the scope: rarely what a conversation "
        "calls for.",
        cli="forget",
        say="forgot {result} memories",
        rules=(whole_scope_needs_all,),
    ),
    Verb(
        "forget_expired",
        "Remove one user's memories whose TTL has passed.",
        (USER,),
        "forgotten",
        "remove",
        "scope",
        rest=("POST", "/v1/scopes/{user_id}/forget-expired"),
        cli="forget-expired",
        say="removed {result} expired memories",
        why_not={"mcp": "housekeeping run by an operator or a schedule, not an agent choice"},
    ),
    Verb(
        "quarantine",
        "Hide a memory from every search and listing, keeping it and its history.",
        (ID, OWNER, REASON),
        "record",
        "remove",
        "id",
        rest=("POST", "/v1/memories/{id}/quarantine"),
        mcp="quarantine_memory",
        cli="quarantine",
    ),
    Verb(
        "restore",
        "Bring a quarantined memory back.",
        (ID, OWNER, REASON),
        "record",
        "change",
        "id",
        rest=("POST", "/v1/memories/{id}/restore"),
        cli="restore",
        why_not={
            "mcp": "trusting again what the guard hid is a human decision: a poisoned agent "
            "could be told to restore its poison"
        },
    ),
    Verb(
        "purge",
        "Hard-delete everything of one user, history included.",
        (USER,),
        "purged",
        "remove",
        "scope",
        rest=("DELETE", "/v1/scopes/{user_id}"),
        cli="purge",
        confirm="Delete every memory and all history of user {user_id!r}?",
        say="purged {result} memories of {user_id}",
        why_not={"mcp": "irreversible hard delete of a user, history included: not for a model"},
    ),
    Verb(
        "export",
        "Write memories, history and links to a JSONL file.",
        (
            Arg("path", str, doc="The file.", positional=True),
            Arg("user_id", str | None, None, doc="Only this user.", flag="--user", short="-u"),
        ),
        "count",
        "read",
        "none",
        rest=("POST", "/v1/export"),
        why_not={
            "rest": _FILES,
            "mcp": "writes a file on the server's disk; REST streams it, the CLI writes it",
            "cli": _FILES,
            "client": _FILES,
            "tenant": "by hand: only the tenant's rows, user ids unqualified",
        },
    ),
    Verb(
        "import_",
        "Load a file written by export; every record passes the guard; all or nothing.",
        (
            Arg("path", str, doc="The file.", positional=True),
            Arg(
                "max_origin",
                Origin | None,
                None,
                doc="Records of a more trusted origin come in as this one.",
            ),
        ),
        "count",
        "add",
        "none",
        rest=("POST", "/v1/import"),
        why_not={
            "rest": _FILES,
            "mcp": "reads a file on the server's disk; REST and the CLI take the file",
            "cli": _FILES,
            "client": _FILES,
            "tenant": "by hand: user ids are qualified line by line",
        },
    ),
    Verb(
        "backup",
        "Copy the whole store to a new SQLite file while it stays in use.",
        (Arg("path", str, doc="The new file.", positional=True),),
        "none",
        "read",
        "none",
        why_not={
            "rest": _OPERATOR,
            "mcp": _OPERATOR,
            "client": _OPERATOR,
            "tenant": _OPERATOR,
            "cli": "by hand: an operator's command on the store file",
        },
    ),
    Verb(
        "add_episode",
        "Record what an agent did: a task, its steps and the outcome (all or nothing).",
        (
            Arg("task", str, doc="What was to be done.", positional=True),
            Arg(
                "steps",
                list[dict[str, Any]],
                doc="The steps, in order: {action, tool?, args?, observation?} each (JSON).",
                positional=True,
                json=True,
            ),
            Arg("outcome", str, doc="success, failure or partial.", positional=True),
            Arg("reward", float | None, None, doc="A finite number, if the task had one."),
            USER,
            Arg("agent_id", str | None, None, doc="The agent that did it.", flag="--agent"),
            TEAM,
            SESSION,
            Arg("metadata", dict[str, Any] | None, None, doc="A JSON object kept.", json=True),
            Arg(
                "occurred_at", str | None, None, doc="When (ISO 8601); default now.", flag="--when"
            ),
        ),
        "episode",
        "add",
        "scope",
        rest=("POST", "/v1/episodes"),
        mcp="record_episode",
        mcp_doc="Record what I did, step by step, and how it went; tool observations are "
        "screened by the guard. Lessons of similar tasks are updated.",
        cli="add-episode",
        status=201,
    ),
    Verb(
        "cases",
        "Similar past episodes, best first, informative failures kept.",
        (
            Arg("task", str, doc="The task at hand.", positional=True),
            Arg("k", int, 5, doc="How many cases.", short="-k"),
            USER,
            TEAM,
            Arg("agent_id", str | None, None, doc="Only this agent's episodes.", flag="--agent"),
            Arg("outcome", str | None, None, doc="Only this outcome: success, failure, partial."),
        ),
        "cases",
        "read",
        "scope",
        rest=("POST", "/v1/cases"),
        mcp="similar_cases",
        mcp_doc="How did similar tasks go? Each case has the episode's steps and outcome.",
        cli="cases",
    ),
    Verb(
        "lessons",
        "Rules learned from similar episodes, with their support and confidence.",
        (
            Arg("task", str, doc="The task at hand.", positional=True),
            Arg("k", int, 5, doc="How many lessons.", short="-k"),
            USER,
            TEAM,
        ),
        "lessons",
        "read",
        "scope",
        rest=("POST", "/v1/lessons"),
        mcp="lessons_for",
        mcp_doc="What have I learned about tasks like this one?",
        cli="lessons",
    ),
)

BY_NAME: dict[str, Verb] = {v.name: v for v in VERBS}
SURFACES = ("rest", "mcp", "cli", "client", "tenant")


# -- what a verb returns, in JSON: one definition for REST, MCP and the CLI's --json -------------


def to_json(verb: Verb, result: Any, args: Mapping[str, Any]) -> Any:
    """The JSON form of ``result`` (REST's body, MCP's tool result)."""
    kind = verb.result
    if kind == "record":
        return result.to_dict()
    if kind in ("hits", "records", "entries", "links"):
        key = {"entries": "entries", "links": "links", "hits": "hits"}.get(kind, "records")
        return {key: [x.to_dict() for x in result]}
    if kind == "page":
        return {"records": [r.to_dict() for r in result], "next_cursor": result.next_cursor}
    if kind == "pair":
        return {"earlier": result[0].to_dict(), "later": result[1].to_dict()}
    if kind == "answer":
        return {
            "text": result.text,
            "citations": list(result.citations),
            "abstained": result.abstained,
            "usage": dict(result.usage),
        }
    if kind in ("forgotten", "purged"):
        return {kind: result}
    if kind in ("episode", "cases", "lessons"):  # remem.episodes: Episode, Case, Lesson
        return result.to_dict() if kind == "episode" else {kind: [x.to_dict() for x in result]}
    if kind == "count":
        return {"count": result}
    if kind == "profile":  # remem.standing.Profile
        return result.to_dict()
    return {"deleted": args.get("id")}


COMPACT = ("id", "content", "speaker", "occurred_at", "session_id", "kind")


def compact(data: Any) -> Any:
    """The compact JSON of a result (what an agent reads by default over MCP): each record
    as ``COMPACT`` plus its flags and ``valid_to`` when set; hits keep their score."""
    if isinstance(data, list):
        return [compact(x) for x in data]
    if not isinstance(data, dict):
        return data
    if "record" in data and "score" in data:
        return {**compact(data["record"]), "score": round(float(data["score"]), 4)}
    if "content" in data and "id" in data:
        out = {k: data.get(k) for k in COMPACT if data.get(k) is not None}
        out.update({k: data[k] for k in ("flags", "valid_to") if data.get(k)})
        return out
    return {k: compact(v) for k, v in data.items()}


def items_of(verb: Verb, data: Any) -> Any:
    """The list inside a listing's JSON (the CLI's ``--json`` prints lists bare)."""
    if verb.result in ("hits", "records", "entries", "links") and isinstance(data, dict):
        return next(iter(data.values()))
    return data


def prepare(
    verb: Verb,
    kwargs: dict[str, Any],
    *,
    surface: str,
    max_origin: str | None,
    memory: Any,
    order: str = trust.DEFAULT_ORDER,
) -> dict[str, Any]:
    """Apply ``verb``'s shared rules to one call; returns the arguments for ``Memory`` (without
    the surfaces' safety arguments).

    Raises:
        InvalidInput: a forget that does not say what it forgets.
        Forbidden: an origin above what the caller may claim.
    """
    adapter = {a.name for a in verb.args if a.adapter_only}
    out = {k: v for k, v in kwargs.items() if k not in adapter}
    ready = Ready(verb, kwargs, out, surface, max_origin, memory, order)
    for rule in verb.rules:
        rule(ready)
    return ready.out


def call(verb: Verb, memory: Any, kwargs: Mapping[str, Any]) -> Any:
    """Call ``verb`` on ``memory`` (a Memory, a tenant view or a Client) with keyword ``kwargs``,
    passing the positional arguments positionally."""
    positional = [kwargs[a.name] for a in verb.memory_args if a.positional and a.name in kwargs]
    named = {
        k: v
        for k, v in kwargs.items()
        if not any(a.name == k and a.positional for a in verb.memory_args)
    }
    return getattr(memory, verb.name)(*positional, **named)


def signature(verb: Verb, *, surface: str = "memory") -> inspect.Signature:
    """The ``Memory``-style signature of ``verb``: positional arguments first, then keyword-only
    (the adapters' safety arguments only when ``surface`` is not "memory")."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for a in verb.args_on(surface) if surface != "memory" else verb.memory_args:
        kind = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if a.positional
            else inspect.Parameter.KEYWORD_ONLY
        )
        params.append(inspect.Parameter(a.name, kind, default=a.default_on(surface)))
    return inspect.Signature(params)


def attach(
    cls: type,
    surface: str,
    run: Callable[[Any, Verb, dict[str, Any]], Any],
    table: Sequence[Verb] = VERBS,
) -> None:
    """Give ``cls`` a method for every verb ``surface`` generates: it takes the verb's
    ``Memory`` signature, binds the call (defaults applied) and hands it to ``run(self, verb,
    arguments)``. How the Client, the tenant view and the async twins get their verbs; when
    ``run`` is a coroutine function the methods are ``async``. A surface not named in any verb's
    ``why_not`` (such as "async") gets every verb."""
    for verb in table:
        if not verb.generated(surface):
            continue
        sig = signature(verb)

        def call(self: Any, args: Any, kw: Any, _verb: Verb = verb, _sig: Any = sig) -> Any:
            bound = _sig.bind(self, *args, **kw)
            bound.apply_defaults()
            return run(self, _verb, {k: v for k, v in bound.arguments.items() if k != "self"})

        async def coroutine(self: Any, *args: Any, _call: Any = call, **kw: Any) -> Any:
            return await _call(self, args, kw)

        def plain(self: Any, *args: Any, _call: Any = call, **kw: Any) -> Any:
            return _call(self, args, kw)

        method: Any = coroutine if inspect.iscoroutinefunction(run) else plain

        method.__signature__ = sig
        method.__name__ = verb.name
        method.__doc__ = f"{verb.summary} (see ``Memory.{verb.name}``)"
        setattr(cls, verb.name, method)
