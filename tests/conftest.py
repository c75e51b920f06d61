"""Shared fixtures: a clean environment, throwaway stores, the hashing test double."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from remem import Memory

# The scripted chat-completions server's ``llm_server`` fixture, for every test file.
pytest_plugins = ["tests.llm_server"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No REMEM_* setting leaks in from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("REMEM_"):
            monkeypatch.delenv(key)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def mem(db_path: Path) -> Iterator[Memory]:
    """A Memory on a real SQLite file with the hashing embedder (fast, deterministic)."""
    with Memory(db_path, embedder="hashing") as memory:
        yield memory
