"""Agents that learn from experience: episodes, case recall and lessons (``Memory.add_episode``,
``Memory.cases``, ``Memory.lessons``), after AgentFly (case-based memory), ArcMemo (abstract,
reusable lessons) and G-Memory (shared team memory).

An episode is a task, the steps taken (action, tool, arguments, observation) and its outcome. It
is stored through the ordinary write path, all in one ``add_many`` (all or nothing):

- the task: one record of kind "procedural", origin "agent", its metadata
  ``{"episode": {"id", "task", "outcome", "reward", "steps", "signature"}}`` (``signature``: the
  step sequence, each step's tool or else its action); its ``sources`` are its step records;
- each step: a record of kind "episodic", origin "agent", content "step N: action [tool(args)]",
  metadata ``{"episode_id", "step", "part": "action", "action", "tool", "args"}``;
- each step's observation: a record of its own, origin "tool" (untrusted: the guard scans it and
  quarantines an injection without losing the step), metadata ``part: "observation"``.

Team scope: with ``team_id`` the records belong to the scope ``team:<team_id>`` (inside the
caller's tenant: ``acme/ana`` with team "ops" writes to ``acme/team:ops``), so several agents of a
team share their episodes; each keeps its attribution through ``agent_id``. A team scope is an
ordinary user scope: whoever may act as its id may read it.

Lessons are derived without a model, from the similar past episodes only (bounded work): a step
sequence that keeps succeeding ("seq"), a step that keeps failing ("avoid") and a step that fails
unless another one ran before it ("pre"). Each is a record of kind "procedural", origin
"derived", metadata ``{"lesson": {"kind", "key", "rule", "task", "support", "of", "confidence",
"sources"}}``, linked by ``sources`` to the episodes' task records; its confidence
``(support + 1) / (of + 2)`` decays as later episodes contradict it. The lessons are counted,
never a model's guess; with an LLM configured the model words a new one (``Lesson.text``, from
the rule, its support and its source episodes), without one the rule is its text.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from remem import _ids, _time, _validate
from remem.config import Settings
from remem.embed.base import Embedder, embed
from remem.errors import InvalidInput
from remem.organize import writer
from remem.organize.writer import cosine
from remem.store.base import MAX_PARTS, Scope, Store, part_id
from remem.types import Hit, Page, Record

OUTCOMES = ("success", "failure", "partial")
BONUS = {"success": 0.5, "partial": 0.2, "failure": 0.0}  # case score = sim × (1 + bonus)
MAX_STEPS = 100
POOL = 30  # similar episodes (and lessons) looked at: the bound on each call's work
SIMILAR = 0.5  # task similarity (cosine) of episodes that teach one another
MIN_SUPPORT = 2  # episodes that must agree before a lesson is written
_STEP_KEYS = frozenset({"action", "tool", "args", "observation"})
_EPISODES = {"kind": "procedural", "metadata.episode.outcome": {"$in": list(OUTCOMES)}}
_LESSONS = {"kind": "procedural", "metadata.lesson.kind": {"$in": ["seq", "avoid", "pre"]}}
# The task index: each episode's task record (and each lesson) has one derived unit of its own
# level holding the task text and its vector (id ``<record id>#11``, so it goes with the record),
# so recall is one vector search over those units and reads of the few records it found.
UNIT_LEVEL = {"episode": "episode", "lesson": "lesson"}
UNIT_INDEX = MAX_PARTS - 1


class Host(Protocol):
    """What these verbs need of a ``Memory``."""

    settings: Settings
    store: Store
    embedder: Embedder

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> list[Record]: ...

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]: ...

    def list(
        self,
        *,
        user_id: str,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page: ...


@dataclass(frozen=True)
class Step:
    """One step of an episode: what was done, with which tool and arguments, and what came back
    (``observation``: None when there was none or the guard quarantined it, see ``flags``)."""

    action: str
    tool: str | None = None
    args: Any = None
    observation: str | None = None
    flags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The step in a sequence signature: its tool, else its action (lower case)."""
        return " ".join((self.tool or self.action).lower().split())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        for name in ("tool", "args", "observation"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.flags:
            out["flags"] = list(self.flags)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            str(data["action"]),
            data.get("tool"),
            data.get("args"),
            data.get("observation"),
            tuple(data.get("flags") or ()),
        )


@dataclass(frozen=True)
class Episode:
    """A task, its steps and how it went.

    Attributes:
        id: the episode id ("ep_…"; the steps' ``metadata.episode_id``).
        task: what was to be done.
        outcome: "success", "failure" or "partial".
        steps: the steps, in order.
        reward: a number, or None.
        record_id: the task record's id.
        agent_id: the agent that did it.
        team_id: the team whose scope holds it, or None (the user's own scope).
        session_id: the session it belongs to.
        occurred_at: when it happened (ISO 8601).
        metadata: the caller's metadata.
    """

    id: str
    task: str
    outcome: str
    steps: tuple[Step, ...] = ()
    reward: float | None = None
    record_id: str = ""
    agent_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
    occurred_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def signature(self) -> tuple[str, ...]:
        """The step sequence: each step's tool, else its action."""
        return tuple(s.key for s in self.steps)

    def as_prompt(self) -> str:
        """A compact rendering for a prompt: the task, the outcome (and reward), numbered steps."""
        reward = "" if self.reward is None else f" (reward {self.reward:g})"
        lines = [f"Task: {self.task}", f"Outcome: {self.outcome}{reward}"]
        for i, s in enumerate(self.steps, 1):
            call = ""
            if s.tool:
                args = "" if s.args is None else json.dumps(s.args, sort_keys=True)[:200]
                call = f" [{s.tool}({args})]"
            seen = f" -> {s.observation[:200]}" if s.observation else ""
            lines.append(f"{i}. {s.action}{call}{seen}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "outcome": self.outcome,
            "reward": self.reward,
            "steps": [s.to_dict() for s in self.steps],
            "record_id": self.record_id,
            "agent_id": self.agent_id,
            "team_id": self.team_id,
            "session_id": self.session_id,
            "occurred_at": self.occurred_at,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Episode:
        return cls(
            id=str(data["id"]),
            task=str(data["task"]),
            outcome=str(data["outcome"]),
            steps=tuple(Step.from_dict(s) for s in data.get("steps") or ()),
            reward=data.get("reward"),
            record_id=str(data.get("record_id") or ""),
            agent_id=data.get("agent_id"),
            team_id=data.get("team_id"),
            session_id=data.get("session_id"),
            occurred_at=data.get("occurred_at"),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class Case:
    """A similar past episode: its score (similarity × outcome bonus) and why it was picked."""

    episode: Episode
    score: float
    explain: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"episode": self.episode.to_dict(), "score": self.score, "explain": self.explain}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        return cls(
            Episode.from_dict(data["episode"]), float(data["score"]), data.get("explain", {})
        )


@dataclass(frozen=True)
class Lesson:
    """A rule several similar episodes agree on.

    Attributes:
        id: its record's id.
        kind: "seq" (this sequence succeeds), "avoid" (this step fails), "pre" (do
            ``pattern[0]`` before ``pattern[1]``).
        pattern: the steps it is about.
        rule: the rule, in words.
        task: the task it was first learned from.
        support: episodes that agree with it.
        of: episodes it applies to.
        confidence: ``(support + 1) / (of + 2)``.
        sources: the task record ids of the episodes that support it (also its ``sources``).
        score: its relevance to the task asked about (similarity × confidence).
        text: the lesson in words: with an LLM configured, the model's sentence (grounded in
            the rule, its support and its source episodes); else ``rule``.
    """

    id: str
    kind: str
    pattern: tuple[str, ...]
    rule: str
    task: str
    support: int
    of: int
    confidence: float
    sources: tuple[str, ...] = ()
    score: float = 0.0
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "pattern": list(self.pattern),
            "rule": self.rule,
            "task": self.task,
            "support": self.support,
            "of": self.of,
            "confidence": self.confidence,
            "sources": list(self.sources),
            "score": self.score,
            "text": self.text or self.rule,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lesson:
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            pattern=tuple(data["pattern"]),
            rule=str(data["rule"]),
            task=str(data["task"]),
            support=int(data["support"]),
            of=int(data["of"]),
            confidence=float(data["confidence"]),
            sources=tuple(data.get("sources") or ()),
            score=float(data.get("score", 0.0)),
            text=str(data.get("text") or data["rule"]),
        )


# -- scopes and input --------------------------------------------------------------------------


def scope_of(user_id: Any, team_id: Any) -> str:
    """The user id that holds the records: the user's own, or its team's (``team:<id>``, in the
    user's tenant: the part of ``user_id`` before its first "/", as the tenant view writes it).

    Raises:
        InvalidInput: a missing user_id, or a bad team_id.
    """
    uid = str(_validate.ident(user_id, field="user_id", required=True))
    team = _validate.ident(team_id, field="team_id")
    if team is None:
        return uid
    if "/" in team:
        raise InvalidInput("team_id: must not contain '/'")
    tenant = uid.split("/", 1)[0] + "/" if "/" in uid else ""
    return f"{tenant}team:{team}"


def _steps(steps: Any) -> list[Step]:
    if isinstance(steps, Mapping | str | bytes) or not isinstance(steps, Sequence):
        raise InvalidInput("steps: expected a list of {action, tool?, args?, observation?}")
    if len(steps) > MAX_STEPS:
        raise InvalidInput(f"steps: at most {MAX_STEPS}")
    out = []
    for i, s in enumerate(steps):
        if not isinstance(s, Mapping):
            raise InvalidInput(f"steps[{i}]: expected an object, got {type(s).__name__}")
        unknown = set(s) - _STEP_KEYS
        if unknown:
            raise InvalidInput(
                f"steps[{i}]: unknown field(s): {', '.join(sorted(map(str, unknown)))}"
            )
        action, tool, obs = s.get("action"), s.get("tool"), s.get("observation")
        if not isinstance(action, str) or not action.strip():
            raise InvalidInput(f"steps[{i}].action: a non-empty string is required")
        for name, value in (("tool", tool), ("observation", obs)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidInput(f"steps[{i}].{name}: expected a non-empty string")
        out.append(Step(action.strip(), tool.strip() if tool else None, s.get("args"), obs))
    return out


def _reward(reward: Any) -> float | None:
    if reward is None:
        return None
    if isinstance(reward, bool) or not isinstance(reward, int | float) or not math.isfinite(reward):
        raise InvalidInput("reward: expected a finite number or null")
    return float(reward)


# -- add_episode -------------------------------------------------------------------------------


@dataclass
class _Draft:
    """An episode checked and turned into the items of its ``add_many`` (nothing stored yet)."""

    episode: Episode
    scope: str
    steps: list[Step]
    items: list[dict[str, Any]]


def _draft(
    task: Any,
    steps: Any,
    outcome: Any,
    *,
    reward: Any = None,
    user_id: Any,
    agent_id: str | None = None,
    team_id: str | None = None,
    session_id: str | None = None,
    metadata: Any = None,
    occurred_at: Any = None,
) -> _Draft:
    """Check an episode and build its records' items (see the module docstring).

    Raises:
        InvalidInput: a bad task, step, outcome, reward, metadata or scope.
    """
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome: expected one of {', '.join(OUTCOMES)}, got {outcome!r}")
    scope, clean, score = scope_of(user_id, team_id), _steps(steps), _reward(reward)
    if not isinstance(task, str) or not task.strip():
        raise InvalidInput("task: a non-empty string is required")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidInput("metadata: expected a JSON object")
    task = task.strip()
    eid = "ep_" + _ids.new_id()
    base: datetime = _time.parse(occurred_at, field="occurred_at") or _time.now()
    sig = [s.key for s in clean]
    info: dict[str, Any] = {"id": eid, "task": task, "outcome": outcome, "reward": score}
    info |= {"steps": len(clean), "signature": sig, "team_id": team_id}
    common = {"user_id": scope, "agent_id": agent_id, "session_id": session_id}
    items: list[dict[str, Any]] = [
        {
            **common,
            "content": f"{task}\n[episode {eid}: {outcome}; {len(clean)} steps: {' → '.join(sig)}]",
            "kind": "procedural",
            "origin": "agent",
            "occurred_at": base,
            "metadata": {**(metadata or {}), "episode": info},
        }
    ]
    for i, s in enumerate(clean):
        call = f" [{s.tool}({json.dumps(s.args, sort_keys=True) if s.args is not None else ''})]"
        part = {"episode_id": eid, "step": i, "part": "action", "action": s.action}
        part |= {"tool": s.tool, "args": s.args}
        at = base + timedelta(milliseconds=2 * i + 1)
        items.append(
            {
                **common,
                "content": f"step {i + 1}: {s.action}{call if s.tool else ''}",
                "occurred_at": at,
                "origin": "agent",
                "metadata": part,
            }
        )
        if s.observation is not None:
            items.append(
                {
                    **common,
                    # On a line of its own: the guard sees it as it came (role markers and
                    # the like are found at the start of a line).
                    "content": f"observation of step {i + 1}:\n{s.observation}",
                    "occurred_at": at + timedelta(milliseconds=1),
                    "origin": "tool",
                    "metadata": {"episode_id": eid, "step": i, "part": "observation"},
                }
            )
    episode = Episode(
        eid, task, outcome, tuple(clean), score, "", agent_id, team_id, session_id,
        base.isoformat(), dict(metadata or {}),
    )  # fmt: skip
    return _Draft(episode, scope, clean, items)


def _finish(self: Host, draft: _Draft, records: Sequence[Record]) -> Episode:
    """Link the stored task record to its step records; the episode as the guard left it."""
    head, parts = records[0], records[1:]
    eid = draft.episode.id
    writer.new_version(
        self.store,
        head,
        replace(head, sources=tuple(r.id for r in parts)),
        None,
        op="link",
        at=_time.now(),
        reason=f"episode {eid}: its steps",
        actor="derived",
    )
    # What the guard made of each observation: its flags; a quarantined one is not shown.
    # A step whose action the guard flagged carries its flags too (quarantined: never recalled).
    seen = {r.metadata.get("step"): r for r in parts if r.metadata.get("part") == "observation"}
    did = {r.metadata.get("step"): r for r in parts if r.metadata.get("part") == "action"}
    shown = []
    for i, s in enumerate(draft.steps):
        obs, act = seen.get(i), did.get(i)
        if obs is not None and (obs.flags or obs.level != "record"):
            hidden = obs.level != "record"
            flags = obs.flags or ((obs.level,) if hidden else ())
            s = replace(s, observation=None if hidden else s.observation, flags=flags)
        if act is not None and (act.flags or act.level != "record"):
            extra = act.flags or ((act.level,) if act.level != "record" else ())
            s = replace(s, flags=tuple(dict.fromkeys((*s.flags, *extra))))
        shown.append(s)
    return replace(draft.episode, steps=tuple(shown), record_id=head.id)


def _query(self: Host, texts: Sequence[str]) -> np.ndarray:
    """The vectors of ``texts`` as queries: the Memory's query cache when it has one."""
    cached = getattr(self, "_query_vector", None)
    if cached is not None and len(texts) == 1:
        return np.asarray([cached(texts[0])], dtype=np.float32)
    return embed(self.embedder, list(texts), batch_size=self.settings.embed_batch_size)


def _index(self: Host, meta: str, records: Sequence[Record], tasks: Sequence[str]) -> None:
    """Put the task units of stored task (or lesson) records: one vector search finds them."""
    heads = [(r, t) for r, t in zip(records, tasks, strict=True) if r.level == "record"]
    if not heads:
        return  # quarantined: never recalled
    vectors = _query(self, [t for _, t in heads])
    at = _time.now()
    units = [
        Record(
            id=part_id(r.id, UNIT_INDEX),
            user_id=r.user_id,
            content=task,
            kind=r.kind,
            agent_id=r.agent_id,
            session_id=r.session_id,
            occurred_at=r.occurred_at,
            created_at=at,
            updated_at=at,
            valid_from=r.valid_from,
            origin="derived",
            sources=(r.id,),
            level=UNIT_LEVEL[meta],
            metadata={"index": UNIT_INDEX},
        )  # fmt: skip
        for r, task in heads
    ]
    self.store.put_derived(units, vectors)


def add_episode(
    self: Host,
    task: str,
    steps: Sequence[Mapping[str, Any]],
    outcome: str,
    *,
    reward: float | None = None,
    user_id: str,
    agent_id: str | None = None,
    team_id: str | None = None,
    session_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    occurred_at: Any = None,
) -> Episode:
    """Store what an agent did: a task, its steps and the outcome, in one transaction (all or
    nothing), then update the lessons of similar tasks (see ``remem.episodes``).

    Args:
        task: what was to be done.
        steps: ``{"action": str, "tool"?: str, "args"?: JSON, "observation"?: str}`` each, in
            order; observations are stored with origin "tool" (the guard scans them).
        outcome: "success", "failure" or "partial".
        reward: a finite number, or None.
        user_id: who recorded it (the scope, unless ``team_id`` is given).
        agent_id: the agent that did it (kept in a team scope too).
        team_id: store it in the team's shared scope ``team:<team_id>``.
        session_id: the session it belongs to.
        metadata: a JSON object kept with the task record.
        occurred_at: when it happened (datetime or ISO 8601); default now.

    Returns:
        The stored Episode.

    Raises:
        InvalidInput: a bad task, step, outcome, reward or scope; nothing is stored.
    """
    draft = _draft(
        task, steps, outcome, reward=reward, user_id=user_id, agent_id=agent_id,
        team_id=team_id, session_id=session_id, metadata=metadata, occurred_at=occurred_at,
    )  # fmt: skip
    records = self.add_many(draft.items)
    episode = _finish(self, draft, records)
    _index(self, "episode", records[:1], [episode.task])
    _learn(self, draft.scope, episode)
    return episode


def load_episodes(self: Host, episodes: Iterable[Mapping[str, Any]]) -> list[Episode]:
    """Store many episodes in one ``add_many`` (all or nothing) without updating lessons: to
    grow a scope fast (``remem bench cases --scale``, imports). Lessons come from later
    ``add_episode`` calls, which look at these episodes like any others.

    Args:
        episodes: ``add_episode``'s arguments, as mappings (``task``, ``steps``, ``outcome``,
            ``user_id``, and the optional ones).

    Raises:
        InvalidInput: a bad episode (the message names its index); nothing is stored.
    """
    drafts = []
    for i, given in enumerate(episodes):
        if not isinstance(given, Mapping):
            raise InvalidInput(f"episodes[{i}]: expected an object")
        try:
            drafts.append(_draft(**given))
        except TypeError as exc:
            raise InvalidInput(f"episodes[{i}]: {exc}") from exc
        except InvalidInput as exc:
            raise InvalidInput(f"episodes[{i}]: {exc}") from exc
    records = self.add_many([item for d in drafts for item in d.items])
    out, heads, start = [], [], 0
    for d in drafts:
        heads.append(records[start])
        out.append(_finish(self, d, records[start : start + len(d.items)]))
        start += len(d.items)
    _index(self, "episode", heads, [e.task for e in out])
    return out


def reindex(self: Host, *, user_id: str, team_id: str | None = None) -> int:
    """Complete what an interrupted ``add_episode`` (a crash after its records committed, before
    it returned) may have left undone in a scope: the task record's link to its steps and the
    task units of episodes and lessons. Reads the whole scope's episodes: maintenance, not a
    per-call cost. Returns how many records it completed.

    Raises:
        InvalidInput: a bad scope.
    """
    scope = scope_of(user_id, team_id)
    fixed = 0
    for meta, filters in (("episode", _EPISODES), ("lesson", _LESSONS)):
        cursor: str | None = None
        while True:
            page = self.list(user_id=scope, filters=filters, limit=500, cursor=cursor)
            have = self.store.vectors([part_id(r.id, UNIT_INDEX) for r in page.records])
            todo = []
            for r in page.records:
                info = r.metadata.get(meta)
                if not isinstance(info, dict):
                    continue
                if meta == "episode" and not r.sources:
                    where = {"metadata.episode_id": str(info["id"])}
                    parts = self.list(user_id=scope, filters=where, limit=3 * MAX_STEPS).records
                    if parts:
                        linked = replace(r, sources=tuple(p.id for p in parts))
                        reason = f"episode {info['id']}: its steps (reindex)"
                        writer.new_version(
                            self.store, r, linked, None, op="link", at=_time.now(),
                            reason=reason, actor="derived",
                        )  # fmt: skip
                        fixed += 1
                if part_id(r.id, UNIT_INDEX) not in have:
                    todo.append((r, str(info.get("task", ""))))
            if todo:
                _index(self, meta, [r for r, _ in todo], [t for _, t in todo])
                fixed += len(todo)
            cursor = page.next_cursor
            if cursor is None:
                break
    return fixed


# -- recall ------------------------------------------------------------------------------------


def _similar(self: Host, task: str, texts: list[str]) -> list[float]:
    """The cosine similarity of ``task`` to each of ``texts``."""
    if not texts:
        return []
    vecs = embed(self.embedder, [task, *texts], batch_size=self.settings.embed_batch_size)
    norms = np.linalg.norm(vecs, axis=1)
    norms[norms == 0] = 1.0
    unit = vecs / norms[:, None]
    return [float(x) for x in unit[1:] @ unit[0]]


def _found(
    self: Host,
    task: str,
    scope: str,
    filters: Mapping[str, Any],
    meta: str,
    agent_id: str | None = None,
    outcome: str | None = None,
) -> list[tuple[Record, float]]:
    """The task (or lesson) records of ``scope`` nearest ``task``, with their task similarity,
    most similar first: at most ``POOL`` of them.

    One vector search over the scope's task units (level "episode" or "lesson"), then one read
    of the records they belong to (the store applies the scope: visible, current, this agent);
    the work grows with the candidates, not with the scope. With ``agent_id`` or ``outcome`` the
    search widens until ``POOL`` candidates pass or every unit was seen. A scope without task
    units (episodes stored before them) is searched as records with ``filters`` instead.
    """
    query = _query(self, [task])[0]
    level = UNIT_LEVEL[meta]
    limit = POOL if agent_id is None and outcome is None else 4 * POOL
    while True:
        hits = self.store.vector(query, Scope(user_id=scope, levels=(level,)), limit=limit)
        if not hits:
            if meta == "lesson" and self.store.vector(
                query, Scope(scope, levels=("episode",)), limit=1
            ):
                return []  # an indexed scope without lessons (yet)
            return _searched(self, task, scope, filters, meta, agent_id)
        sims: dict[str, float] = {}
        for uid, score in hits:
            sims.setdefault(uid.rsplit("#", 1)[0], cosine(score))
        where = Scope(user_id=scope, agent_id=agent_id, ids=tuple(sims))
        page = self.store.list(where, limit=len(sims), cursor=None)
        found = [
            (r, sims[r.id])
            for r in page.records
            if isinstance(r.metadata.get(meta), dict)
            and (outcome is None or r.metadata[meta].get("outcome") == outcome)
        ]
        if len(found) >= POOL or len(hits) < limit:
            break
        limit *= 4
    # Ties go to the newest (ids carry random bits: their order would make runs differ).
    found.sort(key=lambda x: (-round(x[1], 6), _newest(x[0])))
    return found[:POOL]


def _searched(
    self: Host,
    task: str,
    scope: str,
    filters: Mapping[str, Any],
    meta: str,
    agent_id: str | None = None,
) -> list[tuple[Record, float]]:
    """``_found`` for a scope without task units: a filtered search, then the task texts
    embedded (the work grows with the scope: only records stored before the task units)."""
    hits = self.search(task, user_id=scope, agent_id=agent_id, limit=POOL, filters=filters)
    records = [h.record for h in hits if isinstance(h.record.metadata.get(meta), dict)]
    sims = _similar(self, task, [str(r.metadata[meta].get("task", "")) for r in records])
    return sorted(zip(records, sims, strict=True), key=lambda x: (-round(x[1], 6), _newest(x[0])))


def _newest(record: Record) -> tuple[float, str]:
    """A sort key: the most recent episode (then content) first."""
    return (-(record.occurred_at.timestamp() if record.occurred_at else 0.0), record.content)


def _observation(content: str) -> str:
    """An observation record's text without its "observation of step N:" line."""
    head, sep, rest = content.partition(":\n")
    return rest if sep and head.startswith("observation of step") else content.split(": ", 1)[-1]


def _parts(self: Host, scope: str, records: Sequence[Record]) -> dict[str, list[Record]]:
    """The step and observation records of these task records, by task record id: their
    ``sources`` read by id in one query (a task record without them, by its episode id)."""
    wanted = tuple(dict.fromkeys(i for r in records for i in r.sources))
    found: dict[str, Record] = {}
    if wanted:
        page = self.store.list(Scope(user_id=scope, ids=wanted), limit=len(wanted), cursor=None)
        found = {r.id: r for r in page.records}
    out = {}
    for record in records:
        if record.sources:
            out[record.id] = [found[i] for i in record.sources if i in found]
        else:
            where = {"metadata.episode_id": str(record.metadata["episode"]["id"])}
            out[record.id] = self.list(user_id=scope, filters=where, limit=3 * MAX_STEPS).records
    return out


def _load(record: Record, parts: Sequence[Record]) -> Episode:
    """The episode of a task record, from its step and observation records (quarantined ones
    are not among them)."""
    info = record.metadata["episode"]
    eid = str(info["id"])
    actions: dict[int, Step] = {}
    seen: dict[int, str] = {}
    for r in parts:
        m, i = r.metadata, int(r.metadata.get("step", -1))
        if m.get("part") == "action":
            text = m.get("action") or r.content.split(": ", 1)[-1].split(" [", 1)[0]
            actions[i] = Step(str(text), m.get("tool"), m.get("args"))
        elif m.get("part") == "observation":
            seen[i] = _observation(r.content)
    steps = tuple(replace(s, observation=seen.get(i)) for i, s in sorted(actions.items()))
    user_meta = {k: v for k, v in record.metadata.items() if k != "episode"}
    when = record.occurred_at.isoformat() if record.occurred_at else None
    return Episode(
        eid, str(info["task"]), str(info["outcome"]), steps, info.get("reward"), record.id,
        record.agent_id, info.get("team_id"), record.session_id, when, user_meta,
    )  # fmt: skip


def cases(
    self: Host,
    task: str,
    *,
    k: int = 5,
    user_id: str,
    team_id: str | None = None,
    agent_id: str | None = None,
    outcome: str | None = None,
) -> list[Case]:
    """Similar past episodes, best first: how did tasks like this one go?

    Each candidate (found by searching the scope's episode task records) scores its task
    similarity × (1 + a bonus for its outcome: success 0.5, partial 0.2, failure 0). Failures
    are informative: the best successes and the best of the rest are taken in turn, and the most
    similar failure is always kept (for k of 2 or more: ``k=1`` is the best case alone); the
    chosen cases are returned by score.

    Args:
        task: the task at hand.
        k: how many cases (1 to 100).
        user_id: the scope (the asking user, or a member of ``team_id``).
        team_id: look in the team's shared scope instead.
        agent_id: only this agent's episodes.
        outcome: only episodes with this outcome.

    Returns:
        Cases: the episode with its steps, a score and ``explain`` (similarity, outcome, bonus,
        why it was kept).

    Raises:
        InvalidInput: an empty task, a bad k, outcome or scope.
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
        raise InvalidInput("k: expected an integer from 1 to 100")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome: expected one of {', '.join(OUTCOMES)}")
    scope = scope_of(user_id, team_id)
    filters = dict(_EPISODES)
    if outcome is not None:
        filters["metadata.episode.outcome"] = outcome
    scored = []
    for record, sim in _found(self, task, scope, filters, "episode", agent_id, outcome):
        result = str(record.metadata["episode"]["outcome"])
        scored.append((sim * (1 + BONUS.get(result, 0.0)), sim, result, record))
    scored.sort(key=lambda x: (-round(x[0], 6), _newest(x[3])))
    # Successes and the rest taken in turn (AgentFly keeps both), then the best failure kept.
    wins = [x for x in scored if x[2] == "success"]
    rest = [x for x in scored if x[2] != "success"]
    chosen: list[tuple[float, float, str, Record]] = []
    while len(chosen) < k and (wins or rest):
        for side in (wins, rest):
            if side and len(chosen) < k:
                chosen.append(side.pop(0))
    failure = next((x for x in scored if x[2] == "failure"), None)
    if failure is not None and failure not in chosen and k > 1:  # k=1: the best case alone
        chosen = [*chosen[: k - 1], failure]
    chosen.sort(key=lambda x: (-round(x[0], 6), _newest(x[3])))
    out = []
    parts = _parts(self, scope, [x[3] for x in chosen])
    for score, sim, result, record in chosen:
        why = "the most similar failure: what not to do" if result == "failure" else "similar"
        explain = {"similarity": round(sim, 4), "outcome": result, "bonus": BONUS[result]}
        episode = _load(record, parts[record.id])
        out.append(Case(episode, round(score, 4), {**explain, "why": why}))
    return out


# -- lessons -----------------------------------------------------------------------------------


@dataclass
class _Stats:
    support: int = 0
    of: int = 0
    sources: list[str] = field(default_factory=list)


def _rule(kind: str, pattern: Sequence[str]) -> str:
    if kind == "seq":
        return "do " + " → ".join(pattern)
    if kind == "avoid":
        return f"avoid {pattern[0]}: it keeps failing"
    return f"do {pattern[0]} before {pattern[1]}"


def _stats(kind: str, pattern: tuple[str, ...], pool: list[dict[str, Any]]) -> _Stats:
    """How the pool's episodes bear on one lesson: those that agree (support) of those it
    applies to (of)."""
    st = _Stats()
    for ep in pool:
        sig, failed = tuple(ep["signature"]), ep["outcome"] == "failure"
        agree: bool | None = None
        if kind == "seq" and sig == pattern:
            agree = ep["outcome"] == "success"
        elif kind == "avoid" and pattern[0] in sig:
            agree = failed and sig[-1] == pattern[0]
        elif kind == "pre" and pattern[1] in sig:
            x = sig.index(pattern[1])
            ok = not (failed and x == len(sig) - 1)
            agree = ok == (pattern[0] in sig[:x])
        if agree is not None:
            st.of += 1
            if agree:
                st.support += 1
                st.sources.append(ep["record_id"])
    return st


def _candidates(pool: list[dict[str, Any]]) -> set[tuple[str, tuple[str, ...]]]:
    """The lessons the pool suggests: sequences that succeeded twice, steps that failed twice
    and never succeeded, steps that failed and twice succeeded after the same other step."""
    out: set[tuple[str, tuple[str, ...]]] = set()
    wins = Counter(tuple(ep["signature"]) for ep in pool if ep["outcome"] == "success")
    out |= {("seq", sig) for sig, n in wins.items() if n >= MIN_SUPPORT and sig}
    fails: Counter[str] = Counter()
    oks: dict[str, Counter[str]] = {}
    for ep in pool:
        sig = list(ep["signature"])
        failed = ep["outcome"] == "failure"
        for x, step in enumerate(sig):
            if failed and x == len(sig) - 1:
                fails[step] += 1
            else:
                oks.setdefault(step, Counter()).update(set(sig[:x]))
                oks[step][""] += 1
    for step, n in fails.items():
        if step not in oks and n >= MIN_SUPPORT:
            out.add(("avoid", (step,)))
        before = oks.get(step, Counter())
        out |= {("pre", (y, step)) for y, m in before.items() if y and m >= MIN_SUPPORT}
    return out


def _learn(self: Host, scope: str, episode: Episode) -> None:
    """Recompute the lessons the similar past episodes (``POOL`` at most) bear out, after
    ``episode``: new ones written through the write path (origin "derived"), known ones given
    their new support and confidence."""
    pool = [
        {**r.metadata["episode"], "record_id": r.id}
        for r, sim in _found(self, episode.task, scope, _EPISODES, "episode")
        if sim >= SIMILAR
    ]
    if not pool:
        return
    known: dict[tuple[str, tuple[str, ...]], Record] = {}
    for r, sim in _found(self, episode.task, scope, _LESSONS, "lesson"):
        info = r.metadata["lesson"]
        key = (str(info["kind"]), tuple(info["pattern"]))
        if sim >= SIMILAR and key not in known:
            known[key] = r
    fresh: list[tuple[tuple[str, tuple[str, ...]], _Stats]] = []
    at = _time.now()
    for key in sorted(set(known) | _candidates(pool)):
        st = _stats(*key, pool)
        confidence = round((st.support + 1) / (st.of + 2), 4)
        record = known.get(key)
        if record is None:
            if st.support >= MIN_SUPPORT and confidence > 0.5:
                fresh.append((key, st))
            continue
        info = record.metadata["lesson"]
        if st.of == 0 or (info["support"], info["of"]) == (st.support, st.of):
            continue  # unchanged, or none of these episodes bears on it: it keeps its counts
        info = {**info, "support": st.support, "of": st.of, "confidence": confidence}
        info["sources"] = st.sources[-POOL:]
        changed = replace(record, metadata={"lesson": info}, sources=tuple(st.sources[-POOL:]))
        reason = f"after episode {episode.id}: {st.support} of {st.of}"
        writer.new_version(self.store, record, changed, None, op="update", at=at, reason=reason)
    if not fresh:
        return
    items = []
    by_id = {ep["record_id"]: ep for ep in pool}
    for (kind, pattern), st in fresh:
        rule = _rule(kind, pattern)
        info = {"kind": kind, "pattern": list(pattern), "rule": rule, "task": episode.task}
        info |= {"support": st.support, "of": st.of, "sources": st.sources[-POOL:]}
        info["confidence"] = round((st.support + 1) / (st.of + 2), 4)
        text, info["written_by"] = _words(self, rule, pattern, st, by_id)
        info["text"] = text
        content = f"Lesson for tasks like {episode.task!r}: {text.rstrip('.')}."
        items.append(
            {"content": content, "user_id": scope, "kind": "procedural", "origin": "derived"}
            | {"metadata": {"lesson": info}}
        )
    stored = self.add_many(items)
    for record, (_, st) in zip(stored, fresh, strict=True):
        linked = replace(record, sources=tuple(st.sources[-POOL:]))
        writer.new_version(self.store, record, linked, None, op="link", at=at, reason="sources")
    _index(self, "lesson", stored, [episode.task] * len(stored))


def _words(
    self: Host, rule: str, pattern: Sequence[str], st: _Stats, pool: Mapping[str, Any]
) -> tuple[str, str]:
    """A new lesson's words and who wrote them: with an LLM configured, the model (the insight
    task ``remem.llm.tasks.lesson_text``, shown the rule, its support and its source episodes:
    tasks, outcomes and step sequences, never an observation); else, or when the model fails
    or strays from the rule, the rule itself."""
    llm = getattr(self, "llm", None)
    if llm is None:
        return rule, "rule"
    from remem.llm import tasks

    evidence = []
    for rid in st.sources[-POOL:]:
        ep = pool.get(rid)
        if ep is not None:
            steps = " → ".join(ep.get("signature") or []) or "none"
            evidence.append(f"{ep.get('task')}: {ep.get('outcome')}; steps {steps}")
    text = tasks.lesson_text(rule, pattern, st.support, st.of, evidence, llm=llm, fallback=False)
    return (text, "llm") if text else (rule, "rule")


def _lesson(record: Record, score: float) -> Lesson:
    info = record.metadata["lesson"]
    return Lesson(
        record.id, str(info["kind"]), tuple(info["pattern"]), str(info["rule"]), str(info["task"]),
        int(info["support"]), int(info["of"]), float(info["confidence"]),
        tuple(info.get("sources") or ()), round(score, 4), str(info.get("text") or info["rule"]),
    )  # fmt: skip


def lessons(
    self: Host, task: str, *, k: int = 5, user_id: str, team_id: str | None = None
) -> list[Lesson]:
    """The lessons learned from tasks like this one, most relevant first (task similarity ×
    confidence); lessons of unrelated tasks (similarity below 0.5) are left out.

    Args:
        task: the task at hand.
        k: how many lessons (1 to 100).
        user_id: the scope (the asking user, or a member of ``team_id``).
        team_id: look in the team's shared scope instead.

    Returns:
        Lessons: kind, pattern, rule, support of how many, confidence, source episodes, score.

    Raises:
        InvalidInput: an empty task, a bad k or scope.
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
        raise InvalidInput("k: expected an integer from 1 to 100")
    scope = scope_of(user_id, team_id)
    found = [
        _lesson(r, sim * float(r.metadata["lesson"]["confidence"]))
        for r, sim in _found(self, task, scope, _LESSONS, "lesson")
        if sim >= SIMILAR
    ]
    return sorted(found, key=lambda x: (-x.score, x.rule, x.task))[:k]
