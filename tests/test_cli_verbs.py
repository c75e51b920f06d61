"""The CLI commands over the organized memory, driven by Typer's CliRunner on a real SQLite file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remem import Memory
from remem.cli import app, main
from remem.errors import InvalidInput, NotFound

ENV = {"REMEM_EMBEDDER": "hashing", "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def cli(db: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, [*args, "--db", str(db)], env=ENV)
    return result.exit_code, result.stdout, result.exception


def ok(db: Path, *args: str) -> str:
    code, out, exc = cli(db, *args)
    assert code == 0 and exc is None, (out, exc)
    return out


@pytest.fixture
def story(db_path: Path) -> list[str]:
    with Memory(db_path, embedder="hashing") as m:
        recs = m.add_many(
            [
                {
                    "content": "I adopted a puppy named Rex",
                    "user_id": "ana",
                    "session_id": "s1",
                    "occurred_at": "2024-03-01T10:00:00",
                },
                {
                    "content": "Rex chewed my shoes",
                    "user_id": "ana",
                    "session_id": "s1",
                    "occurred_at": "2024-03-02T10:00:00",
                },
                {
                    "content": "I started a pottery class",
                    "user_id": "ana",
                    "session_id": "s2",
                    "occurred_at": "2024-01-05T10:00:00",
                },
            ]
        )
    return [r.id for r in recs]


def test_links(db_path: Path, story: list[str]) -> None:
    puppy, shoes, _ = story
    links = json.loads(ok(db_path, "links", puppy, "--user", "ana", "--json"))
    assert {"a": puppy, "b": shoes, "relation": "next", "weight": 1.0} in links
    assert "next" in ok(db_path, "links", puppy)
    code, _, exc = cli(db_path, "links", puppy, "--user", "bob")
    assert code == 1 and isinstance(exc, NotFound)


def test_timeline(db_path: Path, story: list[str]) -> None:
    puppy, shoes, pottery = story
    records = json.loads(ok(db_path, "timeline", "--user", "ana", "--json"))
    assert [r["id"] for r in records] == [pottery, puppy, shoes]
    window = ok(db_path, "timeline", "-u", "ana", "--start", "2024-02-01", "--end", "2024-03-02")
    assert "puppy named Rex" in window and "pottery" not in window and "shoes" not in window
    assert len(json.loads(ok(db_path, "timeline", "-u", "ana", "--limit", "1", "--json"))) == 1
    code, _, exc = cli(db_path, "timeline", "--user", "ana", "--start", "soon")
    assert code == 1 and isinstance(exc, InvalidInput)


def test_first_of(db_path: Path, story: list[str]) -> None:
    puppy, _, pottery = story
    order = json.loads(ok(db_path, "first-of", "puppy Rex", "pottery class", "-u", "ana", "--json"))
    assert (order["earlier"]["record"]["id"], order["later"]["record"]["id"]) == (pottery, puppy)
    table = ok(db_path, "first-of", "puppy Rex", "pottery class", "-u", "ana")
    assert table.index("pottery") < table.index("puppy")
    code, _, exc = cli(db_path, "first-of", "a", "b", "--user", "nobody")
    assert code == 1 and isinstance(exc, NotFound)


def test_forget(db_path: Path, story: list[str]) -> None:
    puppy, shoes, pottery = story
    assert json.loads(ok(db_path, "forget", puppy, "--reason", "asked", "--json")) == {
        "forgotten": 1
    }
    out = ok(db_path, "forget", "--user", "ana", "--filters", '{"session_id": "s2"}')
    assert "forgot 1" in out
    with Memory(db_path, embedder="hashing") as m:
        assert [e.op for e in m.history(puppy)][-1] == "forget"
        assert [r.id for r in m.list(user_id="ana")] == [shoes]
        assert m.history(pottery)[-1].op == "forget"
    code, _, exc = cli(db_path, "forget")
    assert code == 1 and isinstance(exc, InvalidInput)
    code, out, _ = cli(db_path, "forget", "--user", "ana", "--filters", "{nope")
    assert code == 2  # a usage error: bad JSON never reaches Memory


def test_ttl_and_forget_expired(db_path: Path) -> None:
    rec = json.loads(ok(db_path, "add", "parking spot 42", "-u", "ana", "--ttl", "1", "--json"))
    assert rec["expires_at"] is not None
    code, _, exc = cli(db_path, "add", "never", "-u", "ana", "--ttl", "0")
    assert code == 1 and isinstance(exc, InvalidInput)
    time.sleep(1.1)
    assert json.loads(ok(db_path, "forget-expired", "-u", "ana", "--json")) == {"forgotten": 1}
    assert "removed 0 expired" in ok(db_path, "forget-expired", "--user", "ana")
    code, _, exc = cli(db_path, "forget-expired", "--user", "")
    assert code == 1 and isinstance(exc, InvalidInput)


def test_search_as_of_and_level(db_path: Path, story: list[str]) -> None:
    hits = json.loads(ok(db_path, "search", "Rex", "-u", "ana", "--json"))
    assert hits
    past = ok(db_path, "search", "Rex", "-u", "ana", "--as-of", "2000-01-01", "--json")
    assert json.loads(past) == []
    units = json.loads(ok(db_path, "search", "Rex", "-u", "ana", "--level", "session", "--json"))
    assert units and {h["record"]["level"] for h in units} == {"session"}
    code, _, exc = cli(db_path, "search", "Rex", "-u", "ana", "--level", "galaxy")
    assert code == 1 and isinstance(exc, InvalidInput)


def test_quarantine_and_restore(db_path: Path, story: list[str]) -> None:
    _, shoes, _ = story
    hidden = json.loads(ok(db_path, "quarantine", shoes, "--reason", "odd", "--json"))
    assert hidden["level"] == "quarantine"
    assert "quarantine" in ok(db_path, "get", shoes)
    assert "record" in ok(db_path, "restore", shoes, "--user", "ana")
    code, _, exc = cli(db_path, "restore", shoes)
    assert code == 1 and isinstance(exc, InvalidInput)
    code, _, exc = cli(db_path, "quarantine", shoes, "--user", "bob")
    assert code == 1 and isinstance(exc, NotFound)


def test_backup(db_path: Path, story: list[str], tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    assert "backed up" in ok(db_path, "backup", str(copy))
    with Memory(copy, embedder="hashing") as m:
        assert len(m.list(user_id="ana")) == 3
    code, _, exc = cli(db_path, "backup", str(copy))
    assert code == 1 and exc is not None


def test_main_prints_one_line_and_exits_1(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMEM_EMBEDDER", "hashing")
    monkeypatch.setattr(sys, "argv", ["remem", "links", "nope", "--db", str(db_path)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    assert capsys.readouterr().err == "error: memory nope not found\n"


def test_main_reports_usage_errors_without_a_traceback(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMEM_EMBEDDER", "hashing")
    argv = ["remem", "forget", "--user", "ana", "--filters", "{nope", "--db", str(db_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--filters is not valid JSON" in err and "Traceback" not in err


def test_answer(db_path: Path, story: list[str]) -> None:
    puppy = story[0]
    question = "What is the name of the puppy I adopted?"
    result = json.loads(ok(db_path, "answer", question, "--user", "ana", "--json"))
    assert (result["abstained"], result["citations"]) == (False, [puppy])
    out = ok(db_path, "answer", question, "-u", "ana")
    assert "Rex" in out and puppy in out
    assert "No information available." in ok(db_path, "answer", "favourite opera?", "-u", "ana")
    code, _, exc = cli(db_path, "answer", " ", "--user", "ana")
    assert code == 1 and isinstance(exc, InvalidInput)
