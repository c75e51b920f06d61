"""The CLI's conveniences: content from standard input or a file, --version, and a ready MCP
client entry (remem mcp --print-config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remem import Memory, __version__
from remem.cli import app
from remem.errors import InvalidInput

ENV = {"REMEM_EMBEDDER": "hashing"}


def test_add_reads_standard_input_and_files(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    runner = CliRunner()
    piped = runner.invoke(
        app, ["add", "-", "-u", "ana", "--db", str(db)], input="a long\nnote\n", env=ENV
    )
    assert piped.exit_code == 0, piped.output
    note = tmp_path / "note.md"
    note.write_text("```python\nprint('hi')\n```\n", encoding="utf-8")
    filed = runner.invoke(app, ["add", "--file", str(note), "-u", "ana", "--db", str(db)], env=ENV)
    assert filed.exit_code == 0, filed.output
    neither = runner.invoke(app, ["add", "-u", "ana", "--db", str(db)], env=ENV)
    assert neither.exit_code != 0
    both = runner.invoke(
        app, ["add", "x", "--file", str(note), "-u", "ana", "--db", str(db)], env=ENV
    )
    assert both.exit_code != 0
    with Memory(db, embedder="hashing") as m:
        assert [r.content for r in m.list(user_id="ana")] == [
            "a long\nnote",
            "```python\nprint('hi')\n```",
        ]


def test_version_and_mcp_config(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip() == f"remem {__version__}"
    out = runner.invoke(app, ["mcp", "--print-config", "--db", str(tmp_path / "m.db")])
    entry = json.loads(out.output)["mcpServers"]["remem"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][:3] == ["mcp", "--db", str((tmp_path / "m.db").resolve())]
    assert entry["args"][-2:] == ["--max-origin", "agent"]


def test_ingest_takes_openai_style_message_lines(tmp_path: Path) -> None:
    src = tmp_path / "chat.jsonl"
    lines = [
        {"role": "user", "content": "I moved to Lisbon", "name": "Ana", "run_id": "c1"},
        {"role": "assistant", "content": "Lisbon is lovely.", "run_id": "c1"},
        {"content": "a plain add() line", "session_id": "c2"},
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    db = tmp_path / "i.db"
    out = CliRunner().invoke(app, ["ingest", str(src), "--user", "ana", "--db", str(db)], env=ENV)
    assert out.exit_code == 0, out.output
    with Memory(db, embedder="hashing") as m:
        got = [(r.content, r.speaker, r.origin, r.session_id) for r in m.list(user_id="ana")]
    assert got == [
        ("I moved to Lisbon", "Ana", "user", "c1"),
        ("Lisbon is lovely.", "assistant", "agent", "c1"),
        ("a plain add() line", None, "user", "c2"),
    ]


def test_bench_scale_recall_db_is_checked_before_any_work(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "missing.json"  # never read: both refusals come first
    alone = runner.invoke(
        app, ["bench", "scale", "--recall-db", str(tmp_path / "x.db"), "--data", str(data)]
    )
    assert isinstance(alone.exception, InvalidInput)
    assert "--recall-db goes with --ann-recall" in str(alone.exception)
    absent = runner.invoke(
        app,
        [
            "bench",
            "scale",
            "--ann-recall",
            "--recall-db",
            str(tmp_path / "x.db"),
            "--data",
            str(data),
        ],
    )
    assert isinstance(absent.exception, InvalidInput)
    assert "no such file" in str(absent.exception)


def test_bench_scale_recall_refuses_queries_of_another_embedder(tmp_path: Path) -> None:
    # A store written by the hashing embedder asked with MiniLM queries measured HNSW recall on
    # queries from another space (0.43 where the store's own give 0.9+): refused, naming both.
    from remem.bench import scale
    from remem.errors import EmbedderMismatch

    data = tmp_path / "locomo.json"
    sample = {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Bo",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [{"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a cat"}],
        },
        "qa": [{"question": "What pet?", "answer": "cat", "evidence": ["D1:1"], "category": 4}],
    }
    data.write_text(json.dumps([sample]), encoding="utf-8")
    db = tmp_path / "h.db"
    with Memory(db, embedder="hashing") as m:
        m.add_many([{"content": f"turn {i} about cats", "user_id": scale.USER} for i in range(20)])
    with pytest.raises(EmbedderMismatch, match="hashing.*pass the store's own embedder"):
        scale.ann_recall_store(db, data, embedder="minilm", queries=1)
    rows = scale.ann_recall_store(db, data, embedder="hashing", queries=1)
    assert rows and rows[0]["level"] == "record" and 0.0 <= rows[0]["recall_at_10"] <= 1.0
