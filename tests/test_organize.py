"""Memory organization through the library API: notes, links, session units, routing, time,
consolidation (merge, supersede, correct), TTL and forgetting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from remem import InvalidInput, Memory, NotFound
from remem.store.base import Scope


def _conversation(mem: Memory) -> list[str]:
    items = [
        (
            "s1",
            "2023-05-08T13:56:00",
            "Ana",
            "I went to a pottery class yesterday with my friend Jo.",
        ),
        ("s1", "2023-05-08T13:57:00", "Ben", "That sounds fun! What did you make?"),
        ("s1", "2023-05-08T13:58:00", "Ana", "A small blue bowl, it came out lopsided."),
        ("s2", "2023-06-20T09:00:00", "Ben", "I started a new job at Northwind last week."),
        ("s2", "2023-06-20T09:01:00", "Ana", "Congrats! Is it far from your flat in Leeds?"),
        ("s2", "2023-06-20T09:02:00", "Ben", "About twenty minutes by bike."),
    ]
    records = mem.add_many(
        {"content": c, "user_id": "u", "session_id": s, "occurred_at": t, "speaker": who}
        for s, t, who, c in items
    )
    return [r.id for r in records]


def test_notes_are_derived_on_add_and_shown_by_get(mem: Memory) -> None:
    rec = mem.add(
        "I joined a pottery class in Lisbon with Google friends last month",
        user_id="u",
        speaker="Ana",
        occurred_at="2023-05-08T12:00:00",
    )
    got = mem.get(rec.id)
    assert "Lisbon" in got.entities and "Google" in got.entities
    assert got.keywords
    assert "2023-04" in got.dates


def test_links_connect_a_session_in_order_and_shared_entities(mem: Memory) -> None:
    ids = _conversation(mem)
    nxt = {(x.a, x.b) for x in mem.links(ids[1]) if x.relation == "next"}
    assert (ids[0], ids[1]) in nxt and (ids[1], ids[2]) in nxt
    later = mem.add("Jo and I are going back to pottery next week", user_id="u", speaker="Ana")
    assert any(x.relation == "entity" and ids[0] in (x.a, x.b) for x in mem.links(later.id))
    with pytest.raises(NotFound):
        mem.links(ids[0], user_id="someone-else")


def test_session_units_exist_but_are_never_returned_in_place_of_records(mem: Memory) -> None:
    _conversation(mem)
    units = mem.store.list(Scope(user_id="u", levels=("session",)), limit=10, cursor=None)
    assert {u.session_id for u in units} == {"s1", "s2"}
    s1 = next(u for u in units if u.session_id == "s1")
    assert len(s1.sources) == 3 and "lopsided" in s1.content
    hits = mem.search("pottery bowl", user_id="u", limit=10)
    assert all(h.record.level == "record" for h in hits)
    assert all(h.record.id not in {u.id for u in units} for h in hits)
    coarse = mem.search("pottery bowl", user_id="u", level="session", limit=2)
    assert coarse[0].record.session_id == "s1" and coarse[0].record.level == "session"
    assert len(mem.list(user_id="u")) == 6


def test_session_units_follow_updates_and_deletes(mem: Memory) -> None:
    ids = _conversation(mem)
    mem.update(ids[2], content="A tall green vase, it came out perfect.")
    unit = next(
        u
        for u in mem.store.list(Scope(user_id="u", levels=("session",)), limit=10, cursor=None)
        if u.session_id == "s1"
    )
    assert "green vase" in unit.content and "lopsided" not in unit.content
    mem.delete(ids[0])
    mem.delete(ids[1])
    mem.delete(ids[2])
    units = mem.store.list(Scope(user_id="u", levels=("session",)), limit=10, cursor=None)
    assert {u.session_id for u in units} == {"s2"}


def test_explain_names_the_paths_that_found_a_hit(mem: Memory) -> None:
    ids = _conversation(mem)
    hit = mem.search("What did Ana make at the pottery class?", user_id="u", limit=3)
    found = {h.record.id: h.explain for h in hit}
    assert ids[2] in found or ids[0] in found
    top = hit[0].explain
    assert {"bm25", "vector"} & set(top) and "score" in top
    assert any(k in top for k in ("session", "lift", "neighbor", "speaker"))


def test_a_reply_is_lifted_by_its_neighbour(mem: Memory) -> None:
    ids = _conversation(mem)
    hits = mem.search("pottery class", user_id="u", limit=3)
    reply = next(h for h in hits if h.record.id == ids[1])
    assert reply.explain.get("neighbor", 0) > 0 or reply.explain.get("session", 0) > 0


def test_speaker_named_in_the_query_is_preferred(mem: Memory) -> None:
    mem.add_many(
        [
            {"content": "I love hiking in the mountains", "user_id": "u", "speaker": "Ana"},
            {"content": "I love hiking in the mountains too", "user_id": "u", "speaker": "Ben"},
        ]
    )
    hits = mem.search("Does Ben love hiking?", user_id="u", limit=2)
    assert hits[0].record.speaker == "Ben" and hits[0].explain.get("speaker")


def test_a_time_window_in_the_query_uses_when_things_happened(mem: Memory) -> None:
    ids = _conversation(mem)
    # Ben speaks in both sessions: the window decides which of his turns come first.
    hits = mem.search("what did Ben say in June 2023", user_id="u", limit=3)
    assert hits[0].record.session_id == "s2" and hits[0].explain.get("time")
    assert not any(h.explain.get("time") for h in hits if h.record.session_id == "s1")
    assert ids[3] in {h.record.id for h in mem.search("new job in June 2023", user_id="u", limit=3)}


def test_timeline_is_in_event_order_and_first_of_answers_sequence(mem: Memory) -> None:
    mem.add("We adopted a puppy", user_id="u", occurred_at="2023-03-01")
    mem.add("I ran my first marathon", user_id="u", occurred_at="2023-09-10")
    mem.add("I graduated from university", user_id="u", occurred_at="2022-06-15")
    line = mem.timeline(user_id="u")
    assert [r.content.split()[-1] for r in line] == ["university", "puppy", "marathon"]
    window = mem.timeline(user_id="u", start="2023-01-01", end="2023-12-31")
    assert len(window) == 2
    first, second = mem.first_of("ran a marathon", "adopted a puppy", user_id="u")
    assert "puppy" in first.record.content and "marathon" in second.record.content
    with pytest.raises(InvalidInput):
        mem.timeline(user_id="u", start="not a date")


def test_event_time_comes_from_dates_the_memory_mentions(mem: Memory) -> None:
    a = mem.add("I went to the dentist yesterday", user_id="u", occurred_at="2023-05-08T10:00")
    b = mem.add("I bought new shoes", user_id="u", occurred_at="2023-05-07T18:00")
    first, _ = mem.first_of("bought shoes", "went to the dentist", user_id="u")
    assert first.record.id == a.id  # the dentist was on the 7th, before 18:00 of the 7th
    assert b.id != a.id


def test_an_exact_retry_of_an_event_merges_instead_of_duplicating(mem: Memory) -> None:
    item = {
        "content": "We landed in Oslo",
        "user_id": "u",
        "session_id": "trip",
        "occurred_at": "2023-05-01T10:00",
        "speaker": "Ana",
    }
    first = mem.add(**item)
    again = mem.add(**item)
    assert again.id == first.id and again.version == 2
    assert len(mem.list(user_id="u")) == 1
    assert [h.op for h in mem.history(first.id)] == ["add", "merge"]


def test_near_duplicate_facts_merge_and_keep_both_provenances(mem: Memory) -> None:
    a = mem.add(
        "Ana is allergic to peanuts", user_id="u", kind="semantic", metadata={"src": "chat"}
    )
    b = mem.add(
        "Ana is allergic to peanuts.", user_id="u", kind="semantic", metadata={"via": "form"}
    )
    assert b.id == a.id and b.metadata == {"src": "chat", "via": "form"}
    different = mem.add("Ana is not allergic to peanuts", user_id="u", kind="semantic")
    assert different.id != a.id


@pytest.mark.parametrize(
    "old, new, query",
    [
        ("I live in Berlin", "I moved to Lisbon", "Where do I live?"),
        ("My favorite color is green", "My favorite color is orange", "favorite color"),
        ("I work at Initech", "I work at Globex now", "Where do I work?"),
        ("I am 31 years old", "I am 32 years old", "How old am I?"),
    ],
)
def test_a_new_fact_supersedes_the_old_one_which_stays_in_history(
    mem: Memory, old: str, new: str, query: str
) -> None:
    before = mem.add(old, user_id="u", speaker="Ana", occurred_at="2023-01-01")
    after = mem.add(new, user_id="u", speaker="Ana", occurred_at="2023-06-01")
    hits = mem.search(query, user_id="u", limit=5)
    assert after.id in {h.record.id for h in hits}
    assert before.id not in {h.record.id for h in hits}
    closed = mem.get(before.id)
    assert closed.valid_to == datetime(2023, 6, 1, tzinfo=UTC)
    assert [h.op for h in mem.history(before.id)] == ["add", "supersede"]
    assert any(x.relation == "supersedes" and x.b == before.id for x in mem.links(after.id))
    past = mem.search(query, user_id="u", as_of="2023-03-01", limit=5)
    assert before.id in {h.record.id for h in past}


def test_a_late_arriving_older_fact_does_not_override_a_newer_one(mem: Memory) -> None:
    newer = mem.add("I live in Lisbon", user_id="u", speaker="Ana", occurred_at="2023-06-01")
    mem.add("I live in Berlin", user_id="u", speaker="Ana", occurred_at="2022-01-01")
    assert mem.get(newer.id).valid_to is None


def test_a_correction_amends_the_previous_statement(mem: Memory) -> None:
    said = mem.add(
        "We met on Monday at the cafe",
        user_id="u",
        session_id="s",
        speaker="Ana",
        occurred_at="2023-05-01T10:00",
    )
    mem.add(
        "Actually it was Tuesday",
        user_id="u",
        session_id="s",
        speaker="Ana",
        occurred_at="2023-05-01T10:01",
    )
    fixed = mem.get(said.id)
    assert "Tuesday" in fixed.content and "Monday" in fixed.content and fixed.version == 2
    assert [h.op for h in mem.history(said.id)] == ["add", "correct"]
    hit = mem.search("when did we meet at the cafe", user_id="u", limit=1)[0]
    assert "Tuesday" in hit.record.content


def test_ttl_expires_a_memory_and_forget_expired_removes_it(mem: Memory) -> None:
    short = mem.add("the door code is 4512", user_id="u", ttl=1)
    keep = mem.add("the door is blue", user_id="u")
    assert short.expires_at is not None
    # Expire it by moving the clock: rewrite the expiry into the past through the store.
    from dataclasses import replace

    from remem.types import HistoryEntry

    past = replace(short, expires_at=datetime.now(UTC) - timedelta(seconds=5), version=2)
    mem.store.replace(past, None, HistoryEntry(short.id, 2, "update", datetime.now(UTC)))
    assert short.id not in {h.record.id for h in mem.search("door code", user_id="u")}
    assert short.id not in {r.id for r in mem.list(user_id="u")}
    assert mem.forget_expired(user_id="u") == 1
    assert mem.history(short.id)[-1].op == "expire"
    assert mem.get(keep.id)


def test_default_ttl_setting_applies_to_new_memories(db_path) -> None:  # type: ignore[no-untyped-def]
    with Memory(db_path, embedder="hashing", default_ttl=3600) as m:
        rec = m.add("temporary", user_id="u")
        assert rec.expires_at is not None and rec.expires_at > datetime.now(UTC)


def test_forget_by_id_and_by_filter_leaves_history(mem: Memory) -> None:
    a = mem.add("note a", user_id="u", metadata={"topic": "x"})
    mem.add("note b", user_id="u", metadata={"topic": "y"})
    mem.add("note c", user_id="u", metadata={"topic": "x"})
    mem.add("other user's x", user_id="v", metadata={"topic": "x"})
    assert mem.forget(a.id, reason="asked") == 1
    assert mem.history(a.id)[-1].op == "forget"
    assert mem.forget(user_id="u", filters={"topic": "x"}) == 1
    assert [r.content for r in mem.list(user_id="u")] == ["note b"]
    assert len(mem.list(user_id="v")) == 1
    with pytest.raises(InvalidInput):
        mem.forget()


def test_first_of_never_returns_one_memory_twice(mem: Memory) -> None:
    only = mem.add("We adopted a puppy", user_id="u", occurred_at="2023-03-01")
    with pytest.raises(NotFound):
        mem.first_of("adopted a puppy", "got a puppy", user_id="u")
    mem.add("I ran a marathon", user_id="u", occurred_at="2023-09-01")
    # A description that none of the other memories mentions is not matched to one anyway.
    with pytest.raises(NotFound):
        mem.first_of("adopted a puppy", "adopted a dog", user_id="u")
    first, second = mem.first_of("adopted a puppy", "running a marathon", user_id="u")
    assert first.record.id == only.id and second.record.id != only.id


def test_a_long_session_built_turn_by_turn_has_complete_ordered_chunks(mem: Memory) -> None:
    from remem.organize.units import CHUNK

    ids = [
        mem.add(
            f"turn number {i}",
            user_id="u",
            session_id="long",
            occurred_at=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}",
        ).id
        for i in range(2 * CHUNK + 5)
    ]
    units = sorted(
        mem.store.list(Scope(user_id="u", levels=("session",)), limit=10, cursor=None),
        key=lambda u: u.metadata["chunk"],
    )
    assert [u.metadata["chunk"] for u in units] == [0, 1, 2]
    assert [t for u in units for t in u.sources] == ids
    nxt = {(x.a, x.b) for x in mem.links(ids[CHUNK]) if x.relation == "next"}
    assert {(ids[CHUNK - 1], ids[CHUNK]), (ids[CHUNK], ids[CHUNK + 1])} <= nxt
    # An earlier event arriving late shifts every later chunk: they are rebuilt.
    late = mem.add(
        "a late turn", user_id="u", session_id="long", occurred_at="2024-01-01T00:00:00.5"
    )
    units = sorted(
        mem.store.list(Scope(user_id="u", levels=("session",)), limit=10, cursor=None),
        key=lambda u: u.metadata["chunk"],
    )
    assert [t for u in units for t in u.sources] == [ids[0], late.id, *ids[1:]]
