"""Episodes and lessons are records like any other: another user (or tenant) can never read,
change or remove an episode, its steps, its observations, its task unit or a lesson, and
nothing another scope does changes what cases and lessons return. Over the service: a tenant's
API key never reaches another tenant's team scope. (The tenant property test, with forged
imports of these ids, is tests/security/test_episode_boundary.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from remem import Memory, NotFound
from remem.episodes import UNIT_INDEX, Episode
from remem.keys import KeyStore
from remem.server.app import create_app, serve_in_thread
from remem.store.base import part_id
from remem.tenancy import TenantMemory

GOOD: list[dict[str, Any]] = [
    {"action": "build it", "tool": "build", "observation": "built"},
    {"action": "migrate the db", "tool": "migrate", "observation": "ok"},
    {"action": "deploy it", "tool": "deploy", "observation": "deployed"},
]
BAD: list[dict[str, Any]] = [
    {"action": "deploy it", "tool": "deploy", "observation": "error: schema is old"}
]
TASK = "deploy the billing service to staging"


def _teach(mem: Any, **scope: Any) -> list[Episode]:
    eps = [mem.add_episode(TASK, GOOD, "success", **scope) for _ in range(3)]
    eps += [mem.add_episode(TASK, BAD, "failure", **scope) for _ in range(2)]
    return eps


def _ids(mem: Memory, user: str, eps: list[Episode]) -> list[str]:
    """Every id an episode made: task records, steps, observations, task units, lessons."""
    out = []
    for ep in eps:
        out += [ep.record_id, part_id(ep.record_id, UNIT_INDEX)]
        out += [r.id for r in mem.list(user_id=user, filters={"metadata.episode_id": ep.id})]
    out += [x.id for x in mem.lessons(TASK, k=100, user_id=user)]
    return out


def _view(mem: Any, **scope: Any) -> Any:
    """What a scope observes of its episodes and lessons (ids left out: they differ per run)."""
    cases = [
        (c.episode.task, c.episode.outcome, c.episode.signature, c.score, c.episode.as_prompt())
        for c in mem.cases(TASK, k=10, **scope)
    ]
    lessons = [
        (x.kind, x.pattern, x.support, x.of, x.confidence)
        for x in mem.lessons(TASK, k=100, **scope)
    ]
    return cases, lessons


def test_another_user_can_neither_see_nor_change_an_episode(mem: Memory, tmp_path: Path) -> None:
    eps = _teach(mem, user_id="ana", agent_id="a1")
    ids = _ids(mem, "ana", eps)
    assert len(ids) > 5 * 2 + 3 and len(mem.lessons(TASK, user_id="ana")) >= 2
    before = _view(mem, user_id="ana")
    for rid in ids:
        for call in (
            lambda rid=rid: mem.get(rid, user_id="bo"),
            lambda rid=rid: mem.history(rid, user_id="bo"),
            lambda rid=rid: mem.delete(rid, user_id="bo"),
            lambda rid=rid: mem.update(rid, content="ignore the lesson", user_id="bo"),
            lambda rid=rid: mem.quarantine(rid, user_id="bo"),
            lambda rid=rid: mem.links(rid, user_id="bo"),
        ):
            with pytest.raises(NotFound):
                call()
    # bo works on the same tasks in his own scope, forgets and purges it: ana sees no change.
    _teach(mem, user_id="bo", agent_id="a1")
    assert mem.cases(TASK, user_id="bo") and mem.lessons(TASK, user_id="bo")
    assert not {c.episode.id for c in mem.cases(TASK, k=20, user_id="bo")} & {e.id for e in eps}
    assert not {h.record.id for h in mem.search(TASK, user_id="bo", limit=50)} & set(ids)
    exported = tmp_path / "bo.jsonl"
    mem.export(exported, user_id="bo")
    assert not {json.loads(line).get("id") for line in exported.read_text().splitlines()} & set(ids)
    mem.forget(user_id="bo")
    mem.purge(user_id="bo")
    assert _view(mem, user_id="ana") == before
    assert mem.cases(TASK, user_id="bo") == [] and mem.lessons(TASK, user_id="bo") == []


def test_a_team_scope_is_only_its_tenants(mem: Memory) -> None:
    acme, globex = TenantMemory(mem, "acme"), TenantMemory(mem, "globex")
    eps = _teach(acme, user_id="ana", team_id="ops", agent_id="a1")
    before = _view(acme, user_id="bo", team_id="ops")
    assert before[0] and before[1]
    # globex has a team of the same name, the same tasks, and asks as "team:ops" directly.
    _teach(globex, user_id="ana", team_id="ops", agent_id="a1")
    globex.add_episode(TASK, GOOD, "failure", user_id="eve", team_id="ops")
    assert {c.episode.id for c in globex.cases(TASK, k=20, user_id="x", team_id="ops")}.isdisjoint(
        {e.id for e in eps}
    )
    assert globex.cases(TASK, user_id="team:ops") and not {
        c.episode.id for c in globex.cases(TASK, k=20, user_id="team:ops")
    } & {e.id for e in eps}
    for rid in _ids(mem, "acme/team:ops", eps):
        with pytest.raises(NotFound):
            globex.get(rid)
        with pytest.raises(NotFound):
            globex.delete(rid)
    globex.forget(user_id="team:ops")
    globex.purge(user_id="team:ops")
    assert _view(acme, user_id="bo", team_id="ops") == before
    # Purging the team removes everything of it, the task units included.
    acme.purge(user_id="team:ops")
    assert acme.cases(TASK, user_id="bo", team_id="ops") == []
    assert not mem.store.vectors([part_id(e.record_id, UNIT_INDEX) for e in eps])


def test_over_the_service_a_key_reaches_only_its_tenants_team(mem: Memory, tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.db")
    acme_key = keys.create("acme")[1]
    globex_key = keys.create("globex")[1]
    with serve_in_thread(create_app(mem, mcp=False, keys=keys)) as url:

        def post(path: str, key: str, body: dict[str, Any]) -> httpx.Response:
            return httpx.post(url + path, json=body, headers={"authorization": f"Bearer {key}"})

        for steps, outcome in ((GOOD, "success"), (GOOD, "success"), (BAD, "failure")):
            body = {"task": TASK, "steps": steps, "outcome": outcome}
            got = post("/v1/episodes", acme_key, body | {"user_id": "ana", "team_id": "ops"})
            assert got.status_code == 201, got.text
        head = got.json()["record_id"]
        ask = {"task": TASK, "user_id": "bo", "team_id": "ops"}
        mine = post("/v1/cases", acme_key, ask).json()["cases"]
        assert len(mine) == 3 and "acme/" not in json.dumps(mine)
        assert post("/v1/lessons", acme_key, ask).json()["lessons"]
        assert post("/v1/cases", globex_key, ask).json()["cases"] == []
        assert post("/v1/lessons", globex_key, ask).json()["lessons"] == []
        direct = {"task": TASK, "user_id": "acme/team:ops"}
        reply = post("/v1/cases", globex_key, direct)  # a name in globex, or refused
        assert reply.status_code in (200, 400, 404) and not reply.json().get("cases")
        gone = httpx.delete(
            f"{url}/v1/memories/{head}", headers={"authorization": f"Bearer {globex_key}"}
        )
        assert gone.status_code == 404
        assert len(post("/v1/cases", acme_key, ask).json()["cases"]) == 3
