"""TenantMemory: user_ids qualified going in, unqualified coming out; other tenants invisible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remem import Memory
from remem.errors import Conflict, InvalidInput, NotFound
from remem.tenancy import TenantMemory


@pytest.fixture
def acme(mem: Memory) -> TenantMemory:
    return TenantMemory(mem, "acme")


@pytest.fixture
def globex(mem: Memory) -> TenantMemory:
    return TenantMemory(mem, "globex")


def test_user_ids_are_qualified_in_the_store_and_not_in_results(
    mem: Memory, acme: TenantMemory
) -> None:
    rec = acme.add("Ana moved to Lisbon", user_id="ana")
    assert rec.user_id == "ana"
    assert mem.get(rec.id).user_id == "acme/ana"
    assert acme.get(rec.id).user_id == "ana"
    assert acme.get(rec.id, user_id="ana").id == rec.id
    assert [r.user_id for r in acme.list(user_id="ana")] == ["ana"]
    hits = acme.search("Lisbon", user_id="ana")
    assert [h.record.user_id for h in hits] == ["ana"]
    history = acme.history(rec.id)
    assert history[0].after is not None and history[0].after["user_id"] == "ana"


def test_same_user_id_in_two_tenants_is_two_scopes(
    acme: TenantMemory, globex: TenantMemory
) -> None:
    acme.add("acme secret: the launch is in May", user_id="ana")
    globex.add("globex note about lunch", user_id="ana")
    assert [r.content for r in globex.list(user_id="ana")] == ["globex note about lunch"]
    found = [h.record.content for h in globex.search("launch May secret", user_id="ana")]
    assert found == ["globex note about lunch"]


def test_other_tenants_records_are_not_found(acme: TenantMemory, globex: TenantMemory) -> None:
    rec = acme.add("private", user_id="ana")
    for call in (
        lambda: globex.get(rec.id),
        lambda: globex.get(rec.id, user_id="ana"),
        lambda: globex.update(rec.id, content="hijacked"),
        lambda: globex.update(rec.id, content="hijacked", user_id="ana"),
        lambda: globex.delete(rec.id),
        lambda: globex.history(rec.id),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert "acme" not in str(info.value)
    assert acme.get(rec.id).content == "private"


def test_update_delete_history_within_tenant(acme: TenantMemory, globex: TenantMemory) -> None:
    rec = acme.add("v1", user_id="ana", metadata={"a": 1})
    new = acme.update(rec.id, content="v2", reason="fix")
    assert (new.version, new.user_id, new.content) == (2, "ana", "v2")
    with pytest.raises(NotFound):
        acme.update(rec.id, content="v3", user_id="bob")
    acme.delete(rec.id, reason="done")
    with pytest.raises(NotFound):
        acme.get(rec.id)
    ops = [e.op for e in acme.history(rec.id)]
    assert ops == ["add", "update", "delete"]
    assert all(
        snap["user_id"] == "ana"
        for e in acme.history(rec.id)
        for snap in (e.before, e.after)
        if snap is not None
    )
    with pytest.raises(NotFound):
        globex.history(rec.id)


def test_add_many_and_purge(acme: TenantMemory, globex: TenantMemory, mem: Memory) -> None:
    recs = acme.add_many(
        [{"content": "one", "user_id": "ana"}, {"content": "two", "user_id": "bob"}]
    )
    assert [r.user_id for r in recs] == ["ana", "bob"]
    globex.add("keep", user_id="ana")
    assert acme.purge(user_id="ana") == 1
    assert len(mem.list(user_id="globex/ana")) == 1
    assert len(acme.list(user_id="bob")) == 1


@pytest.mark.parametrize("user_id", [None, "", "   ", 5, "x" * 300])
def test_bad_user_ids_are_rejected_before_qualifying(acme: TenantMemory, user_id: object) -> None:
    with pytest.raises(InvalidInput):
        acme.add("x", user_id=user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="item 0"):
        acme.add_many([{"content": "x", "user_id": user_id}])
    with pytest.raises(InvalidInput):
        acme.list(user_id=user_id)  # type: ignore[arg-type]


def test_add_many_rejects_a_single_mapping(acme: TenantMemory) -> None:
    with pytest.raises(InvalidInput):
        acme.add_many({"content": "x", "user_id": "ana"})


def test_bad_tenant_name(mem: Memory) -> None:
    with pytest.raises(InvalidInput):
        TenantMemory(mem, "a/b")


def test_export_holds_only_this_tenant_unqualified(
    tmp_path: Path, acme: TenantMemory, globex: TenantMemory
) -> None:
    kept = acme.add("acme one", user_id="ana")
    acme.add("acme two", user_id="bob")
    gone = acme.add("acme deleted", user_id="ana")
    acme.delete(gone.id)
    globex.add("globex", user_id="ana")
    out = tmp_path / "acme.jsonl"
    assert acme.export(out) == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    records = [x for x in lines if x["type"] == "record"]
    assert sorted(r["content"] for r in records) == ["acme one", "acme two"]
    assert {r["user_id"] for r in records} == {"ana", "bob"}
    history_ids = {x["memory_id"] for x in lines if x["type"] == "history"}
    assert kept.id in history_ids and gone.id in history_ids
    assert "globex" not in out.read_text() and "acme/" not in out.read_text()

    one_user = tmp_path / "ana.jsonl"
    assert acme.export(one_user, user_id="ana") == 1


def test_import_into_another_tenant_and_store(tmp_path: Path, db_path: Path) -> None:
    out = tmp_path / "acme.jsonl"
    with Memory(db_path, embedder="hashing") as first:
        acme = TenantMemory(first, "acme")
        rec = acme.add("moved to Lisbon", user_id="ana")
        acme.update(rec.id, content="moved to Porto")
        acme.export(out)
    with Memory(tmp_path / "other.db", embedder="hashing") as second:
        initech = TenantMemory(second, "initech")
        assert initech.import_(out) == 1
        assert second.get(rec.id).user_id == "initech/ana"
        assert initech.get(rec.id).content == "moved to Porto"
        assert [e.op for e in initech.history(rec.id)] == ["add", "update"]
        with pytest.raises(Conflict):
            initech.import_(out)


def test_import_cannot_attach_history_to_another_tenants_record(
    tmp_path: Path, acme: TenantMemory, globex: TenantMemory
) -> None:
    victim = acme.add("acme record", user_id="ana")
    forged = {
        "type": "history",
        "memory_id": victim.id,
        "version": 9,
        "op": "update",
        "at": "2024-01-01T00:00:00+00:00",
        "actor": "user",
        "reason": None,
        "before": None,
        "after": {"user_id": "ana", "content": "forged"},
    }
    path = tmp_path / "forged.jsonl"
    path.write_text(json.dumps(forged) + "\n")
    with pytest.raises(Conflict):
        globex.import_(path)
    assert [e.op for e in acme.history(victim.id)] == ["add"]


@pytest.mark.parametrize(
    "text", ["not json\n", "[1, 2]\n", json.dumps({"type": "record", "user_id": ""}) + "\n"]
)
def test_import_rejects_malformed_lines(tmp_path: Path, acme: TenantMemory, text: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=":1: "):
        acme.import_(path)


def test_import_missing_file(tmp_path: Path, acme: TenantMemory) -> None:
    with pytest.raises(InvalidInput):
        acme.import_(tmp_path / "missing.jsonl")


def test_tenant_memory_has_the_verbs_of_memory() -> None:
    import inspect

    verbs = [
        name
        for name, _ in inspect.getmembers(Memory, inspect.isfunction)
        # backup copies the whole store: an operator's verb, never a tenant's.
        if not name.startswith("_") and name not in ("close", "backup")
    ]
    assert "timeline" in verbs and "forget" in verbs
    assert not hasattr(TenantMemory, "backup")
    for verb in verbs:
        ours = inspect.signature(getattr(TenantMemory, verb)).parameters
        theirs = inspect.signature(getattr(Memory, verb)).parameters
        assert list(ours) == list(theirs), verb


# -- the organize verbs: links, timeline, first_of, forget, ttl, quarantine ----------------------


def _story(t: TenantMemory, user_id: str = "ana") -> list[str]:
    recs = [
        t.add(
            "I adopted a puppy named Rex",
            user_id=user_id,
            session_id="s1",
            occurred_at="2024-03-01T10:00:00",
        ),
        t.add(
            "Rex chewed my shoes",
            user_id=user_id,
            session_id="s1",
            occurred_at="2024-03-02T10:00:00",
        ),
        t.add(
            "I started a pottery class",
            user_id=user_id,
            session_id="s2",
            occurred_at="2024-01-05T10:00:00",
        ),
    ]
    return [r.id for r in recs]


def test_links_are_the_tenants_and_others_are_not_found(
    acme: TenantMemory, globex: TenantMemory
) -> None:
    puppy, shoes, _ = _story(acme)
    links = acme.links(puppy)
    assert {(x.a, x.b) for x in links if x.relation == "next"} == {(puppy, shoes)}
    assert acme.links(puppy, user_id="ana") == links
    for call in (lambda: globex.links(puppy), lambda: globex.links(puppy, user_id="ana")):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotFound):
        acme.links(puppy, user_id="bob")


def test_timeline_and_first_of_stay_in_the_tenant(acme: TenantMemory, globex: TenantMemory) -> None:
    _story(acme)
    globex.add("globex pottery happened first", user_id="ana", occurred_at="2020-01-01T00:00:00")
    timeline = acme.timeline(user_id="ana")
    assert [r.content for r in timeline] == [
        "I started a pottery class",
        "I adopted a puppy named Rex",
        "Rex chewed my shoes",
    ]
    assert {r.user_id for r in timeline} == {"ana"}
    since = acme.timeline(user_id="ana", start="2024-02-01", end="2024-03-02", limit=5)
    assert [r.content for r in since] == ["I adopted a puppy named Rex"]
    earlier, later = acme.first_of("puppy named Rex", "pottery class", user_id="ana")
    assert (earlier.record.content, later.record.content) == (
        "I started a pottery class",
        "I adopted a puppy named Rex",
    )
    assert earlier.record.user_id == later.record.user_id == "ana"
    with pytest.raises(InvalidInput):
        acme.timeline(user_id="ana", start="soon")
    with pytest.raises(NotFound):
        globex.first_of("puppy", "shoes", user_id="bob")


def test_forget_by_id_and_by_scope_within_the_tenant(
    mem: Memory, acme: TenantMemory, globex: TenantMemory
) -> None:
    puppy, _, pottery = _story(acme)
    theirs = globex.add("pottery at globex", user_id="ana", session_id="s2")
    with pytest.raises(NotFound):
        globex.forget(puppy)
    with pytest.raises(InvalidInput):
        acme.forget()
    assert acme.forget(puppy, reason="asked") == 1
    assert [e.op for e in acme.history(puppy)][-1] == "forget"
    assert acme.forget(user_id="ana", filters={"session_id": "s2"}) == 1
    with pytest.raises(NotFound):
        acme.get(pottery)
    assert mem.get(theirs.id).content == "pottery at globex"
    assert [r.content for r in acme.list(user_id="ana")] == ["Rex chewed my shoes"]


def test_ttl_and_forget_expired(mem: Memory, acme: TenantMemory, globex: TenantMemory) -> None:
    import time

    short = acme.add("parking spot 42 today", user_id="ana", ttl=1)
    assert short.expires_at is not None and short.user_id == "ana"
    acme.add("kept", user_id="ana")
    globex_short = globex.add("globex short", user_id="ana", ttl=1)
    assert globex.add_many([{"content": "many", "user_id": "ana", "ttl": 5}])[0].expires_at
    time.sleep(1.1)
    assert acme.forget_expired(user_id="ana") == 1
    assert [e.op for e in acme.history(short.id)][-1] == "expire"
    assert mem.history(globex_short.id)[-1].op == "add"  # the other tenant's is untouched
    with pytest.raises(InvalidInput):
        acme.forget_expired(user_id="")


def test_search_as_of_and_session_level(acme: TenantMemory) -> None:
    _story(acme)
    assert acme.search("Rex", user_id="ana", as_of="2000-01-01T00:00:00") == []
    sessions = acme.search("Rex puppy", user_id="ana", level="session")
    assert sessions and {h.record.level for h in sessions} == {"session"}
    assert {h.record.user_id for h in sessions} == {"ana"}
    with pytest.raises(InvalidInput):
        acme.search("Rex", user_id="ana", level="galaxy")


def test_quarantine_and_restore_within_the_tenant(acme: TenantMemory, globex: TenantMemory) -> None:
    _, shoes, _ = _story(acme)
    with pytest.raises(NotFound):
        globex.quarantine(shoes)
    hidden = acme.quarantine(shoes, reason="suspicious")
    assert (hidden.level, hidden.user_id) == ("quarantine", "ana")
    assert shoes not in {h.record.id for h in acme.search("shoes chewed", user_id="ana")}
    with pytest.raises(NotFound):
        globex.restore(shoes)
    back = acme.restore(shoes, user_id="ana")
    assert (back.level, back.user_id) == ("record", "ana")
    with pytest.raises(InvalidInput):
        acme.restore(shoes)


def test_export_carries_links_and_skips_derived_units(tmp_path: Path, acme: TenantMemory) -> None:
    puppy, shoes, _ = _story(acme)
    out = tmp_path / "acme.jsonl"
    assert acme.export(out) == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {x["level"] for x in lines if x["type"] == "record"} == {"record"}
    assert {"a": puppy, "b": shoes, "relation": "next", "weight": 1.0, "type": "link"} in lines
    with Memory(tmp_path / "other.db", embedder="hashing") as other:
        initech = TenantMemory(other, "initech")
        assert initech.import_(out) == 3
        assert (puppy, shoes, "next") in {(x.a, x.b, x.relation) for x in initech.links(puppy)}
        assert initech.search("Rex puppy", user_id="ana", level="session")  # units rebuilt


def test_quarantined_memories_travel_and_derived_units_cannot_be_imported(
    tmp_path: Path, acme: TenantMemory
) -> None:
    _, shoes, _ = _story(acme)
    acme.quarantine(shoes, reason="odd")
    out = tmp_path / "acme.jsonl"
    assert acme.export(out) == 3
    with Memory(tmp_path / "other.db", embedder="hashing") as other:
        initech = TenantMemory(other, "initech")
        assert initech.import_(out) == 3
        assert initech.get(shoes).level == "quarantine"
        assert [e.op for e in initech.history(shoes)] == ["add", "quarantine"]
        forged = tmp_path / "lesson.jsonl"
        line = {"type": "record", **acme.get(shoes).to_dict(), "id": "forged", "level": "lesson"}
        forged.write_text(json.dumps(line) + "\n")
        with pytest.raises(InvalidInput, match=":1: level"):
            initech.import_(forged)


def test_answer_within_the_tenant(acme: TenantMemory, globex: TenantMemory) -> None:
    puppy, _, _ = _story(acme)
    question = "What is the name of the puppy I adopted?"
    result = acme.answer(question, user_id="ana", session_id="s1")
    assert (result.abstained, result.citations) == (False, (puppy,))
    assert globex.answer(question, user_id="ana").abstained
    with pytest.raises(InvalidInput):
        acme.answer(question, user_id="")
