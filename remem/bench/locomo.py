"""The LoCoMo retrieval benchmark: index each conversation's turns in its own scope, then score each
question's hits against its evidence turns (Recall@k, NDCG@10), with latency, ingest rate and memory.

Only the turns are indexed (text, speaker, session date, image caption); the dataset's LLM-written
summaries and observations are never used.
"""

from __future__ import annotations

import json
import math
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from remem import Memory

KS = (1, 3, 5, 10, 20)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_DIA = re.compile(r"D\d+:\d+")
_SESSION = re.compile(r"session_(\d+)")


@dataclass
class Question:
    """One scored question: its text, category and the dia_ids of its evidence turns."""

    sample_id: str
    text: str
    category: int
    evidence: list[str]


@dataclass
class Result:
    """Per-question metrics plus the run's timings."""

    per_question: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    turns: int = 0
    ingest_seconds: float = 0.0


def load(path: str | Path) -> list[dict[str, Any]]:
    """Read the LoCoMo JSON file (a list of samples)."""
    with open(path, encoding="utf-8") as handle:
        data: list[dict[str, Any]] = json.load(handle)
    return data


def parse_session_time(text: str) -> datetime:
    """Parse LoCoMo's '1:56 pm on 8 May, 2023'."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y")


def turns(sample: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The add() arguments for every turn of one conversation, in order."""
    conv = sample["conversation"]
    sessions = sorted((int(m.group(1)), key) for key in conv if (m := _SESSION.fullmatch(key)))
    for number, key in sessions:
        when = parse_session_time(conv[f"{key}_date_time"])
        for turn in conv[key]:
            text = turn["text"]
            if turn.get("blip_caption"):
                text = f"{text} [shares a photo: {turn['blip_caption']}]"
            yield {
                "content": text,
                "user_id": sample["sample_id"],
                "session_id": f"session_{number}",
                "speaker": turn["speaker"],
                "occurred_at": when,
                "metadata": {"dia_id": turn["dia_id"]},
            }


def questions(sample: dict[str, Any]) -> list[Question]:
    """Categories 1-4 with at least one well-formed evidence id (adversarial ones are unanswerable)."""
    out = []
    for qa in sample["qa"]:
        if qa.get("category") not in CATEGORIES:
            continue
        evidence = [e for e in qa.get("evidence", []) if _DIA.fullmatch(e)]
        if evidence:
            out.append(Question(sample["sample_id"], qa["question"], qa["category"], evidence))
    return out


def score(ranked: list[str], evidence: list[str]) -> dict[str, float]:
    """Recall@k for ``KS`` and binary NDCG@10 of one ranked list of dia_ids."""
    gold = set(evidence)
    out = {f"recall@{k}": len(gold & set(ranked[:k])) / len(gold) for k in KS}
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in gold)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), 10)))
    out["ndcg@10"] = dcg / idcg
    return out


def run(
    path: str | Path,
    *,
    memory_factory: Callable[[Path], Memory],
    progress: Callable[[str, int], None] | None = None,
) -> Result:
    """Ingest each conversation into its own scope and score every question.

    Args:
        path: the LoCoMo JSON file.
        memory_factory: makes the Memory under test from a store path.
        progress: called with (phase, units done) as work advances.
    """
    result = Result()
    with tempfile.TemporaryDirectory() as tmp:
        memory = memory_factory(Path(tmp) / "locomo.db")
        with memory:
            memory.search("warm up", user_id="warm-up")  # load the model outside the timings
            for sample in load(path):
                items = list(turns(sample))
                started = time.perf_counter()
                memory.add_many(items)
                result.ingest_seconds += time.perf_counter() - started
                result.turns += len(items)
                if progress:
                    progress("ingest", len(items))
                for q in questions(sample):
                    started = time.perf_counter()
                    hits = memory.search(q.text, user_id=q.sample_id, limit=max(KS))
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                    ranked = list(dict.fromkeys(h.record.metadata.get("dia_id") for h in hits))
                    result.per_question.append(
                        {
                            "sample_id": q.sample_id,
                            "category": q.category,
                            "question": q.text,
                            **score([r for r in ranked if r], q.evidence),
                        }
                    )
                    if progress:
                        progress("search", 1)
    return result


def summarize(result: Result) -> dict[str, Any]:
    """Aggregate metrics overall and per category, latency percentiles, ingest rate, peak RSS."""
    metrics = [f"recall@{k}" for k in KS] + ["ndcg@10"]

    def mean(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {m: round(statistics.fmean(r[m] for r in rows), 4) for m in metrics}

    rows = result.per_question
    lat = sorted(result.latencies_ms)
    return {
        "questions": len(rows),
        "overall": mean(rows),
        "per_category": {
            f"{c} {name}": {"n": len(sub), **mean(sub)}
            for c, name in CATEGORIES.items()
            if (sub := [r for r in rows if r["category"] == c])
        },
        "search_ms": {"p50": round(_pct(lat, 50), 2), "p95": round(_pct(lat, 95), 2)},
        "ingest_turns_per_s": round(result.turns / result.ingest_seconds, 1),
        "turns": result.turns,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    i = min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))
    return values[i]
