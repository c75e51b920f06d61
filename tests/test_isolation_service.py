"""Tenant isolation through the service: a real uvicorn server (REST and MCP at ``/mcp``) with an
API key per tenant, fuzzed by Hypothesis.

Each example makes two fresh tenants (the second's name starts with the first's) whose users have
the same ids, and runs random operations for both through REST or MCP: adds, batches, poisoned
adds (quarantined, each leaving a lesson), update, delete, forget, quarantine, restore, get,
history and links of any id (the other tenant's too), forgetting a scope, purging a user, and
imports that reuse the other tenant's ids. Every response is checked as it arrives: no 5xx; errors
are JSON with a reason; the other tenant's ids, its speaker marker and any qualified user id
(``tenant/user``) never appear. An operation on another tenant's id answers exactly as one on an
id that never existed (404 / a NotFound tool error) and changes nothing. At the end of each
example every read path of every user of both tenants is checked against a model: list, timeline,
search (records and session units), first-of, answer, links and export.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from remem import Memory
from remem.guard import consensus, policy, signals
from remem.keys import KeyStore
from remem.server.app import create_app, serve_in_thread

USERS = ["ana", "bob", "team/ana"]
SESSIONS = ["s1", "s2"]
WORDS = ["apple", "budget", "cat", "dentist", "Lisbon", "piano", "trip", "ana", "bob"]
HIDDEN = " \u200b"  # a zero-width space: quarantined, and a lesson for the writer's scope
HEX_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
TENANT_NAMES = itertools.count()
# serve_in_thread's listening socket has proto 0, so asyncio leaves Nagle on for accepted
# connections and every request on a kept-alive one waits ~40 ms for a delayed ACK; a fresh
# connection per request takes ~2 ms. (Reported; drop this once the socket is IPPROTO_TCP.)
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)

users = st.sampled_from(USERS)
words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
sessions = st.sampled_from([None, *SESSIONS])
tenant = st.integers(0, 1)
channel = st.sampled_from(["rest", "mcp"])
pick = st.integers(0, 200)
ops = st.one_of(
    st.tuples(st.just("add"), tenant, channel, users, words, sessions),
    st.tuples(st.just("batch"), tenant, users, st.lists(words, min_size=1, max_size=3), sessions),
    st.tuples(st.just("poison"), tenant, users, words, sessions),
    st.tuples(
        st.sampled_from(["get", "history", "links", "update", "delete", "forget", "quarantine"]),
        tenant,
        channel,
        pick,
        words,
    ),
    st.tuples(st.just("restore"), tenant, pick),
    st.tuples(st.just("forget_scope"), tenant, channel, users, sessions),
    st.tuples(st.just("purge"), tenant, users),
    st.tuples(st.just("steal_import"), tenant, pick, st.booleans()),
)
MCP_ERRORS = {404: "NotFound", 409: "Conflict", 422: "InvalidInput"}


@dataclass
class Service:
    url: str
    memory: Memory
    keys: KeyStore
    owner_of: dict[str, str] = field(default_factory=dict)  # any id ever seen -> its tenant

    def learn_owners(self, ids: set[str]) -> None:
        """Look up the tenant owning each id: stored (derived units included) or in history."""
        found = self.memory.store.get_many(sorted(ids))
        for rid in ids:
            if rid in found:
                user = found[rid].user_id
            else:
                snaps = [e.after or e.before or {} for e in self.memory.store.history(rid)]
                user = next((str(x["user_id"]) for x in snaps if "user_id" in x), "")
            self.owner_of[rid] = user.split("/", 1)[0]


@dataclass
class Tenant:
    name: str
    token: str
    http: httpx.Client
    marker: str  # every memory of this tenant is spoken by this speaker
    owner: dict[str, str] = field(default_factory=dict)  # ids ever made -> user
    alive: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)  # quarantined
    gone: set[str] = field(default_factory=set)  # purged: no history left either
    session: dict[str, str | None] = field(default_factory=dict)
    lessons: dict[str, list[consensus.Lesson]] = field(default_factory=dict)

    def visible(self, user: str, session: str | None = None) -> set[str]:
        return {
            i
            for i in self.alive - self.hidden
            if self.owner[i] == user and (session is None or self.session[i] == session)
        }

    def stored(self, user: str | None = None) -> set[str]:
        return {i for i in self.alive if user is None or self.owner[i] == user}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("isolation-service")
    memory = Memory(tmp / "memory.db", embedder="hashing")
    keys = KeyStore(tmp / "keys.db")
    with serve_in_thread(create_app(memory, keys=keys)) as url:
        yield Service(url, memory, keys)
    memory.close()
    keys.close()


def _tenants(service: Service) -> list[Tenant]:
    n = next(TENANT_NAMES)
    # The second name extends the first: a prefix check without the "/" would mix them up.
    out = []
    for name in (f"t{n}", f"t{n}-x"):
        token = service.keys.create(name)[1]
        http = httpx.Client(
            base_url=service.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=NO_KEEPALIVE,
        )
        out.append(Tenant(name, token, http, marker=f"Spk{name.replace('-', 'q')}Z"))
    return out


class Checker:
    """Sends requests as one tenant and checks every answer for leaks and 5xx.

    MCP calls go through one session per tenant, kept open in a background event loop.
    """

    def __init__(self, service: Service, tenants: list[Tenant]) -> None:
        self.service = service
        self.tenants = tenants
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._sessions: dict[str, Client] = {}

    def close(self) -> None:
        """Close the MCP sessions and the tenants' HTTP clients."""
        self._stack.close()
        for t in self.tenants:
            t.http.close()

    def _session(self, me: Tenant) -> Client:
        if self._portal is None:
            self._portal = self._stack.enter_context(start_blocking_portal())
        if me.name not in self._sessions:
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {me.token}"},
                timeout=30,
                limits=httpx2.Limits(max_keepalive_connections=0),
            )
            self._stack.enter_context(self._portal.wrap_async_context_manager(http))
            client = Client(streamable_http_client(self.service.url + "/mcp", http_client=http))
            self._sessions[me.name] = self._stack.enter_context(
                self._portal.wrap_async_context_manager(client)
            )
        return self._sessions[me.name]

    def _scan(self, me: Tenant, text: str, sent: set[str]) -> None:
        for other in self.tenants:
            assert f"{other.name}/" not in text, f"a qualified user id reached {me.name}: {text}"
            if other is not me:
                assert other.marker not in text, f"{other.name}'s content reached {me.name}"
        found = set(HEX_ID.findall(text)) - sent
        unknown = found - self.service.owner_of.keys()
        if unknown:
            self.service.learn_owners(unknown)
        for rid in found:
            owner = self.service.owner_of.get(rid)
            assert owner == me.name, f"{me.name} was shown id {rid} of {owner}: {text[:500]}"

    def rest(
        self, me: Tenant, method: str, path: str, *, sent: set[str] | None = None, **kw: Any
    ) -> httpx.Response:
        response = me.http.request(method, path, **kw)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body["error"], str) and isinstance(body["detail"], str)
        self._scan(me, response.text, sent or set())
        return response

    def mcp(self, me: Tenant, tool: str, sent: set[str] | None = None, **args: Any) -> Any:
        """One tool call as ``me``; returns the structured result or the error text."""
        client = self._session(me)
        assert self._portal is not None
        result = self._portal.call(client.call_tool, tool, args)
        text = json.dumps(result.structured_content) + " ".join(
            getattr(c, "text", "") for c in result.content
        )
        self._scan(me, text, sent or set())
        if result.is_error:
            return " ".join(getattr(c, "text", "") for c in result.content)
        assert isinstance(result.structured_content, dict)
        return result.structured_content


# -- operations ------------------------------------------------------------------------------


def _added(me: Tenant, rec: dict[str, Any], user: str) -> None:
    assert rec["user_id"] == user and rec["speaker"] == me.marker
    expect = bool(signals.scan(rec["content"])) or consensus.matches_lesson(
        rec["content"], me.lessons.get(user, [])
    )
    assert (rec["level"] == policy.QUARANTINE) == expect, (rec["content"], rec["flags"])
    me.owner[rec["id"]] = user
    me.alive.add(rec["id"])
    me.session[rec["id"]] = rec["session_id"]
    if expect:
        me.hidden.add(rec["id"])


def _expected(me: Tenant, op: str, rid: str) -> int:
    """The status a by-id operation must get (as for an id that never existed: 404)."""
    if op == "history":
        return 200 if rid in me.owner and rid not in me.gone else 404
    if rid not in me.alive:
        return 404
    if op == "quarantine" and rid in me.hidden:
        return 422
    if op == "restore" and rid not in me.hidden:
        return 422
    return 200


def _by_id(chk: Checker, me: Tenant, op: str, via: str, rid: str, text: str) -> None:
    status = _expected(me, op, rid)
    before = chk.service.memory.store.get_many([rid]).get(rid)
    if via == "mcp" and op != "restore":
        tool, args = {
            "get": ("get_memory", {}),
            "history": ("memory_history", {}),
            "links": ("memory_links", {}),
            "update": ("update_memory", {"content": text}),
            "delete": ("delete_memory", {}),
            "forget": ("forget_memory", {}),
            "quarantine": ("quarantine_memory", {"reason": "fuzz"}),
        }[op]
        out = chk.mcp(me, tool, sent={rid}, id=rid, **args)
        if status == 200:
            assert isinstance(out, dict), out
        else:
            assert isinstance(out, str) and f"{MCP_ERRORS[status]}: " in out, out
        if status == 404:
            fresh = secrets.token_hex(16)
            twin = chk.mcp(me, tool, sent={fresh}, id=fresh, **args)
            assert isinstance(twin, str) and twin.replace(fresh, "<id>") == out.replace(rid, "<id>")
    else:
        method, path, kw = {
            "get": ("GET", "", {}),
            "history": ("GET", "/history", {}),
            "links": ("GET", "/links", {}),
            "update": ("PATCH", "", {"json": {"content": text}}),
            "delete": ("DELETE", "", {}),
            "forget": ("POST", "", {}),
            "quarantine": ("POST", "/quarantine", {"json": {"reason": "fuzz"}}),
            "restore": ("POST", "/restore", {"json": {}}),
        }[op]
        if op == "forget":
            response = chk.rest(me, "POST", "/v1/forget", sent={rid}, json={"id": rid})
        else:
            response = chk.rest(me, method, f"/v1/memories/{rid}{path}", sent={rid}, **kw)
        expected = 204 if (op == "delete" and status == 200) else status
        assert response.status_code == expected, (op, response.text)
        if status == 404:
            # Indistinguishable from an id that never existed.
            fresh = secrets.token_hex(16)
            if op == "forget":
                twin = chk.rest(me, "POST", "/v1/forget", sent={fresh}, json={"id": fresh})
            else:
                twin = chk.rest(me, method, f"/v1/memories/{fresh}{path}", sent={fresh}, **kw)
            assert twin.status_code == 404
            assert twin.json()["detail"].replace(fresh, "<id>") == response.json()[
                "detail"
            ].replace(rid, "<id>")
    if status != 200:
        assert chk.service.memory.store.get_many([rid]).get(rid) == before
        return
    if op in ("delete", "forget"):
        me.alive.discard(rid)
    elif op == "quarantine":
        me.hidden.add(rid)
    elif op == "restore":
        me.hidden.discard(rid)


def _steal_import(chk: Checker, me: Tenant, rid: str, as_history: bool) -> None:
    """An import that reuses another tenant's id is refused (409), and imports nothing."""
    before = chk.service.memory.store.history(rid)
    if as_history:
        line = {
            "type": "history",
            "memory_id": rid,
            "version": 9,
            "op": "update",
            "at": "2024-01-01T00:00:00+00:00",
            "after": {"user_id": "ana", "content": "forged"},
        }
    else:
        line = {
            "type": "record",
            "id": rid,
            "user_id": "ana",
            "content": "forged",
            "created_at": "2024-01-01T00:00:00+00:00",
            "updated_at": "2024-01-01T00:00:00+00:00",
        }
    extra = {
        "type": "record",
        "id": secrets.token_hex(16),
        "user_id": "ana",
        "content": "carried along",
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "2024-01-01T00:00:00+00:00",
    }
    body = "\n".join(json.dumps(x) for x in (extra, line)) + "\n"
    ndjson = {"Content-Type": "application/x-ndjson"}
    response = chk.rest(
        me, "POST", "/v1/import", sent={rid, extra["id"]}, content=body, headers=ndjson
    )
    assert response.status_code == 409, response.text
    assert chk.service.memory.store.history(rid) == before
    assert chk.service.memory.store.get_many([extra["id"]]) == {}


def _apply(chk: Checker, tenants: list[Tenant], op: tuple[Any, ...]) -> None:
    name, me = op[0], tenants[op[1]]
    every = sorted(set(tenants[0].owner) | set(tenants[1].owner))
    if name == "add":
        _, _, via, user, text, session = op
        args = {"content": text, "user_id": user, "session_id": session, "speaker": me.marker}
        if via == "mcp":
            rec = chk.mcp(me, "add_memory", **args)
        else:
            response = chk.rest(me, "POST", "/v1/memories", json=args)
            assert response.status_code == 201
            rec = response.json()
        _added(me, rec, user)
    elif name == "batch":
        _, _, user, texts, session = op
        items = [
            {"content": t, "user_id": user, "session_id": session, "speaker": me.marker}
            for t in texts
        ]
        response = chk.rest(me, "POST", "/v1/memories", json={"items": items})
        assert response.status_code == 201
        for rec in response.json()["items"]:
            _added(me, rec, user)
    elif name == "poison":
        _, _, user, text, session = op
        args = {"content": text + HIDDEN, "user_id": user, "session_id": session}
        response = chk.rest(me, "POST", "/v1/memories", json={**args, "speaker": me.marker})
        assert response.status_code == 201
        rec = response.json()
        assert rec["level"] == policy.QUARANTINE
        _added(me, rec, user)
        me.lessons.setdefault(user, []).append(
            consensus.Lesson(consensus.lesson_key(rec["content"]), "", rec["content"])
        )
    elif name in ("get", "history", "links", "update", "delete", "forget", "quarantine"):
        if every:
            _by_id(chk, me, name, op[2], every[op[3] % len(every)], op[4])
    elif name == "restore":
        if every:
            _by_id(chk, me, "restore", "rest", every[op[2] % len(every)], "")
    elif name == "forget_scope":
        _, _, via, user, session = op
        gone = me.visible(user, session)
        args = {"user_id": user, "session_id": session, "all": True}
        if via == "mcp":
            assert chk.mcp(me, "forget_memory", **args) == {"forgotten": len(gone)}
        else:
            response = chk.rest(me, "POST", "/v1/forget", json=args)
            assert response.json() == {"forgotten": len(gone)}
        me.alive -= gone
    elif name == "purge":
        user = op[2]
        response = chk.rest(me, "DELETE", f"/v1/scopes/{user}")
        assert response.status_code == 200
        # Derived units and lessons go too, so the count is at least the stored memories.
        assert response.json()["purged"] >= len(me.stored(user))
        ids = {i for i, u in me.owner.items() if u == user}
        me.alive -= ids
        me.gone |= ids
        me.lessons.pop(user, None)
    elif name == "steal_import":
        other = tenants[1 - op[1]]
        theirs = sorted(other.stored())
        if theirs:
            _steal_import(chk, me, theirs[op[2] % len(theirs)], op[3])


# -- the read sweep --------------------------------------------------------------------------


def _sweep(chk: Checker, me: Tenant, other: Tenant, queries: list[str]) -> None:
    for user in USERS:
        mine = me.visible(user)
        listed: set[str] = set()
        cursor = None
        while True:
            params = {"user_id": user, "limit": 7, **({"cursor": cursor} if cursor else {})}
            page = chk.rest(me, "GET", "/v1/memories", params=params).json()
            listed |= {r["id"] for r in page["records"]}
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert listed == mine
        timeline = chk.rest(me, "GET", "/v1/timeline", params={"user_id": user, "limit": 10_000})
        assert {r["id"] for r in timeline.json()["records"]} == mine
        if user == USERS[0]:
            via_mcp = chk.mcp(me, "memory_timeline", user_id=user, limit=10_000)
            assert {r["id"] for r in via_mcp["records"]} == mine
        for query in queries:
            body = {"query": query, "user_id": user, "limit": 100}
            hits = chk.rest(me, "POST", "/v1/memories/search", json=body).json()["hits"]
            assert {h["record"]["id"] for h in hits} <= mine
            units = chk.rest(
                me, "POST", "/v1/memories/search", json={**body, "level": "session"}
            ).json()["hits"]
            for h in units:
                assert h["record"]["level"] == "session" and set(h["record"]["sources"]) <= mine
        found = chk.mcp(me, "search_memory", query=queries[0], user_id=user, limit=100)
        assert {h["id"] for h in found["hits"]} <= mine  # compact hits by default
        answer = chk.rest(me, "POST", "/v1/answer", json={"question": queries[0], "user_id": user})
        assert answer.status_code == 200 and set(answer.json()["citations"]) <= mine
        first = chk.rest(
            me,
            "POST",
            "/v1/first-of",
            json={"event_a": queries[0], "event_b": queries[-1], "user_id": user},
        )
        if first.status_code == 200:
            order = first.json()
            assert {order["earlier"]["record"]["id"], order["later"]["record"]["id"]} <= mine
        else:  # no memory matches well enough (search may return nothing)
            assert first.status_code == 404
        assert _export(chk, me, user) == me.stored(user)  # quarantined ones included
    assert _export(chk, me, None) == me.stored()
    for rid in sorted(me.alive)[:8]:
        for link in chk.rest(me, "GET", f"/v1/memories/{rid}/links").json()["links"]:
            assert {link["a"], link["b"]} <= set(me.owner)
    for rid in sorted(other.owner)[:3]:
        for op in ("get", "history", "links"):
            _by_id(chk, me, op, "rest", rid, "")


def _export(chk: Checker, me: Tenant, user: str | None) -> set[str]:
    response = chk.rest(me, "POST", "/v1/export", json={"user_id": user} if user else {})
    assert response.status_code == 200
    lines = [json.loads(x) for x in response.text.splitlines()]
    records = [x for x in lines if x["type"] == "record"]
    assert response.headers["x-remem-count"] == str(len(records))
    assert all(r["user_id"] == (user or r["user_id"]) and r["user_id"] in USERS for r in records)
    for entry in (x for x in lines if x["type"] == "history"):
        assert entry["memory_id"] in me.owner
    return {r["id"] for r in records}


@settings(
    max_examples=15,
    deadline=None,
    # Shrinking replays whole service sessions (minutes); the failing sequence is printed whole.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(ops, min_size=4, max_size=24), queries=st.lists(words, min_size=1, max_size=2)
)
def test_tenants_never_see_each_other(
    service: Service, steps: list[tuple[Any, ...]], queries: list[str]
) -> None:
    tenants = _tenants(service)
    chk = Checker(service, tenants)
    try:
        for op in steps:
            _apply(chk, tenants, op)
        for me, other in (tenants, tenants[::-1]):
            _sweep(chk, me, other, [*queries, "ana"])
    finally:
        chk.close()


def test_lessons_stay_in_their_tenant(service: Service) -> None:
    """The same user id in two tenants: a lesson learned in one does not judge the other."""
    a, b = _tenants(service)
    chk = Checker(service, [a, b])
    try:
        for text in ("the piano budget" + HIDDEN, "the piano budget"):
            rec = chk.rest(a, "POST", "/v1/memories", json={"content": text, "user_id": "ana"})
            assert rec.json()["level"] == policy.QUARANTINE  # the second by the lesson alone
        body = {"content": "the piano budget", "user_id": "ana"}
        clean = chk.rest(b, "POST", "/v1/memories", json=body).json()
        assert clean["level"] == "record" and clean["flags"] == []
        query = {"query": "piano", "user_id": "ana"}
        hits = chk.rest(b, "POST", "/v1/memories/search", json=query).json()["hits"]
        assert [h["record"]["id"] for h in hits] == [clean["id"]] and hits[0]["flags"] == []
        assert chk.rest(a, "POST", "/v1/memories/search", json=query).json()["hits"] == []
    finally:
        chk.close()
