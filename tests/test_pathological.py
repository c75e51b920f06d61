"""Pathological content: long unbroken tokens, blobs and code must not slow down later searches.

Ordinary tool output (a hex dump, base64, minified JSON, a source file) stored as one memory once
made every later search of its scope take 12-90 s: a regex in the consensus check was quadratic
in the length of an unbroken token, and ran again on every search. Every text heuristic must be
linear in its input; this stores one of each kind at near the 64 KiB content limit and searches.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from remem import Memory
from remem.bench import pathological

USER = "ana"

# (query, a phrase of the turn that answers it)
QUESTIONS = [
    ("What is the name of my dog?", "Biscuit"),
    ("Where does my sister live?", "Porto"),
    ("Which instrument am I learning?", "cello"),
    ("Where are we going on holiday in October?", "Kyoto"),
]


@pytest.mark.parametrize("kind", [*pathological.BLOBS, "all"])
def test_search_stays_fast_and_right_with_pathological_memories(tmp_path: Path, kind: str) -> None:
    blobs = pathological.blobs() if kind == "all" else {kind: pathological.blobs()[kind]}
    for text in blobs.values():
        assert 50_000 < len(text.encode()) < 64 * 1024
    with Memory(tmp_path / "m.db", embedder="hashing") as mem:
        items = pathological.scope_items(USER, blobs)
        for item in items:
            mem.add(**item)
        started = time.perf_counter()
        for _ in range(3):
            for query, phrase in QUESTIONS:
                # A limit past the scope's size: every blob is among the hits the guard reviews.
                hits = mem.search(query, user_id=USER, limit=len(items) + 5)
                assert len(hits) == len(items)
                assert any(phrase in h.record.content for h in hits[:3]), (query, kind)
        elapsed = time.perf_counter() - started
    # Linear code does these 12 searches in well under a second; the quadratic consensus regex
    # took minutes. The bound is loose so a slow machine never fails it.
    assert elapsed < 30, elapsed


def test_blobs_are_what_they_claim() -> None:
    blobs = pathological.blobs()
    assert set(blobs) == set(pathological.BLOBS)
    assert " " not in blobs["token"] and "\n" not in blobs["token"]
    assert " " not in blobs["base64"]
    assert blobs["json"].startswith(("{", "["))
    assert "def " in blobs["code"]
