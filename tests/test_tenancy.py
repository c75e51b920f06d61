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
    with pytest.raises(InvalidInput, match="line 1"):
        acme.import_(path)


def test_import_missing_file(tmp_path: Path, acme: TenantMemory) -> None:
    with pytest.raises(InvalidInput):
        acme.import_(tmp_path / "missing.jsonl")


def test_tenant_memory_has_the_verbs_of_memory() -> None:
    import inspect

    verbs = (
        "add",
        "add_many",
        "search",
        "get",
        "list",
        "update",
        "delete",
        "history",
        "purge",
        "export",
        "import_",
    )
    for verb in verbs:
        ours = inspect.signature(getattr(TenantMemory, verb)).parameters
        theirs = inspect.signature(getattr(Memory, verb)).parameters
        assert list(ours) == list(theirs), verb
