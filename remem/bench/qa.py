"""LoCoMo question answering: ingest like ``remem.bench.locomo``, answer every question with
``remem.answer.answer`` and score the answers against the gold ones.

Scores follow the LoCoMo paper's evaluation (snap-research/locomo ``task_eval/evaluation.py``):
answers are normalized (commas dropped, lower-cased, punctuation and the words a/an/the/and
removed, whitespace collapsed); token F1 for categories 2-4 (category 3 keeps the gold answer up
to its first ``;``), for multi-hop (1) the mean over gold comma-parts of the best F1 against any
predicted comma-part; adversarial questions (5) score 1 when the answer abstains. One difference:
we do not Porter-stem tokens (no NLTK dependency), so F1 can read slightly lower than the paper's.
BLEU-1 is clipped unigram precision with the brevity penalty. An optional LLM judge labels each
answer CORRECT or WRONG against the gold one (the "J" score of later memory papers).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from remem import Memory
from remem.answer import answer
from remem.bench import locomo
from remem.config import Settings
from remem.errors import ConfigError, LLMError, NotFound
from remem.llm.base import LLMClient, LLMSettings, Usage, complete_json
from remem.llm.enrich import Enricher
from remem.types import Record

# Pass as ``llm``/``judge_llm`` to use the Memory's own configured client (``Memory.llm``).
FROM_MEMORY: Literal["memory"] = "memory"
ModelChoice = LLMClient | Literal["memory"] | None

ADVERSARIAL = 5
CATEGORIES = {**locomo.CATEGORIES, ADVERSARIAL: "adversarial"}
_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_ABSTAIN_PHRASES = ("no information available", "not mentioned")


@dataclass(frozen=True)
class QAItem:
    """One LoCoMo question with its gold answer (None for adversarial ones) and evidence."""

    sample_id: str
    question: str
    answer: str | None
    category: int
    evidence: tuple[str, ...] = ()


@dataclass
class _Totals:
    usage: Usage = field(default_factory=Usage)
    judge_usage: Usage = field(default_factory=Usage)
    enrich_usage: Usage = field(default_factory=Usage)
    ingest_seconds: float = 0.0
    enrich_seconds: float = 0.0
    turns: int = 0


# -- metrics -----------------------------------------------------------------------------------


def normalize(text: object) -> str:
    """LoCoMo's answer normalization: no commas, lower case, no punctuation or articles.

    Args:
        text: an answer (numbers are accepted: some gold answers are years).
    """
    s = str(text).replace(",", "").lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def token_f1(prediction: object, gold: object) -> float:
    """Token-level F1 between normalized prediction and gold (0.0 when either is empty).

    Args:
        prediction: the predicted answer.
        gold: the reference answer.
    """
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def multi_f1(prediction: object, gold: object) -> float:
    """LoCoMo's multi-hop F1: mean over gold comma-parts of the best F1 against a predicted part.

    Args:
        prediction: the predicted answer, possibly a comma-separated list.
        gold: the reference answer, possibly a comma-separated list.
    """
    preds = [p.strip() for p in str(prediction).split(",")]
    golds = [g.strip() for g in str(gold).split(",")]
    return statistics.fmean(max(token_f1(p, g) for p in preds) for g in golds)


def bleu1(prediction: object, gold: object) -> float:
    """BLEU-1: clipped unigram precision times the brevity penalty, on normalized tokens.

    Args:
        prediction: the predicted answer.
        gold: the reference answer.
    """
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    if not pred or not ref:
        return 0.0
    clipped = sum((Counter(pred) & Counter(ref)).values())
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return brevity * clipped / len(pred)


def says_abstain(text: str) -> bool:
    """True when an answer declines (LoCoMo's check for adversarial questions)."""
    low = text.lower()
    return any(phrase in low for phrase in _ABSTAIN_PHRASES)


def score_answer(prediction: str, gold: str | None, category: int, *, abstained: bool) -> float:
    """The LoCoMo score of one answer under its category's rule (see the module docstring).

    Args:
        prediction: the predicted answer text.
        gold: the gold answer (None for adversarial questions).
        category: the LoCoMo category, 1 to 5.
        abstained: whether the answerer abstained.
    """
    if category == ADVERSARIAL:
        return 1.0 if abstained or says_abstain(prediction) else 0.0
    ref = str(gold)
    if category == 3:
        ref = ref.split(";")[0].strip()
    if category == 1:
        return multi_f1(prediction, ref)
    return token_f1(prediction, ref)


class _Verdict(BaseModel):
    label: Literal["CORRECT", "WRONG"]


_JUDGE = (
    "You grade answers to questions about past conversations. Compare the generated answer with "
    "the gold answer. Be generous: if the generated answer mentions the same fact, entity or "
    "time as the gold one, it is CORRECT even if worded differently or longer; a date in another "
    "format, or a relative date resolving to the same period, is CORRECT. Otherwise WRONG.\n\n"
    "Question: {question}\nGold answer: {gold}\nGenerated answer: {prediction}\n\n"
    'Return {{"label": "CORRECT"}} or {{"label": "WRONG"}}.'
)


def judge(
    question: str, gold: object, prediction: str, *, llm: LLMClient
) -> tuple[bool | None, Usage]:
    """Ask an LLM whether ``prediction`` answers ``question`` as ``gold`` does.

    Args:
        question: the question.
        gold: the reference answer.
        prediction: the answer to grade.
        llm: the judge model.

    Returns:
        (True/False, or None when the judge failed; the judge's token usage).
    """
    prompt = _JUDGE.format(question=question, gold=gold, prediction=prediction)
    try:
        verdict, usage = complete_json(llm, [{"role": "user", "content": prompt}], _Verdict)
    except LLMError:
        return None, Usage()
    return verdict.label == "CORRECT", usage


# -- the run -----------------------------------------------------------------------------------


def qa_items(sample: dict[str, Any]) -> list[QAItem]:
    """Every question of one LoCoMo sample with its gold answer (categories 1 to 5).

    Args:
        sample: one sample of the LoCoMo JSON.
    """
    out = []
    for qa in sample["qa"]:
        category = qa.get("category")
        if category not in CATEGORIES:
            continue
        gold = None if category == ADVERSARIAL else qa.get("answer")
        if category != ADVERSARIAL and gold is None:
            continue
        out.append(
            QAItem(
                sample["sample_id"],
                qa["question"],
                None if gold is None else str(gold),
                category,
                tuple(qa.get("evidence") or ()),
            )
        )
    return out


def run_qa(
    path: str | Path,
    memory_factory: Callable[[Path], Memory],
    llm: ModelChoice,
    *,
    judge_llm: ModelChoice = None,
    enrich: bool = False,
    limit: int = 10,
    max_questions: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Ingest each conversation into its own scope, answer its questions and score them.

    Args:
        path: the LoCoMo JSON file.
        memory_factory: makes the Memory under test from a store path.
        llm: the answering model; ``"memory"`` uses ``Memory.llm`` (the ``REMEM_LLM_*`` settings);
            None uses the extractive no-LLM rule of ``remem.answer``.
        judge_llm: when given (a client or ``"memory"``), also grade each answerable question.
        enrich: run LLM enrichment (facts, session summaries) over each conversation before
            its questions; needs an LLM. A Memory that enriches by itself is always waited for.
        limit: hits given to the answerer per question.
        max_questions: stop after this many questions per sample (None: all).
        progress: called with (phase, units done): "ingest" per turn, "answer" per question.
        echo: called with one line per question: category, score, judge, tokens, latency.

    Returns:
        The summary (see ``summarize_qa``) with every question's row under ``"rows"``.
    """
    rows: list[dict[str, Any]] = []
    totals = _Totals()
    with tempfile.TemporaryDirectory() as tmp:
        with memory_factory(Path(tmp) / "locomo-qa.db") as memory:
            answerer = memory.llm if llm == FROM_MEMORY else llm
            grader = memory.llm if judge_llm == FROM_MEMORY else judge_llm
            assert not isinstance(answerer, str) and not isinstance(grader, str)
            # A Memory wired to enrich its own writes exposes the enricher; else make one here.
            hooked: Enricher | None = getattr(memory, "enricher", None)
            own = Enricher(memory, memory.llm) if enrich and hooked is None else None
            enricher = hooked or own
            memory.search("warm up", user_id="warm-up")  # load the model outside the timings
            try:
                for sample in locomo.load(path):
                    items = list(locomo.turns(sample))
                    started = time.perf_counter()
                    records = memory.add_many(items)
                    totals.ingest_seconds += time.perf_counter() - started
                    totals.turns += len(items)
                    if enricher is not None:
                        _enrich(enricher, own, records, totals)
                    if progress:
                        progress("ingest", len(items))
                    for item in qa_items(sample)[:max_questions]:
                        row = _answer_one(memory, item, answerer, grader, limit, totals)
                        rows.append(row)
                        if echo:
                            echo(question_line(len(rows), row))
                        if progress:
                            progress("answer", 1)
            finally:
                if own is not None:
                    own.close()
    return {**summarize_qa(rows, totals), "rows": rows}


def _enrich(
    enricher: Enricher, own: Enricher | None, records: list[Record], totals: _Totals
) -> None:
    before = enricher.llm.usage.total if enricher.llm is not None else Usage()
    started = time.perf_counter()
    if own is not None:
        own.submit(records)
    enricher.drain()  # questions see a fully enriched memory, every run alike
    totals.enrich_seconds += time.perf_counter() - started
    if enricher.llm is not None:
        after = enricher.llm.usage.total
        totals.enrich_usage = totals.enrich_usage + Usage(
            after.prompt_tokens - before.prompt_tokens,
            after.completion_tokens - before.completion_tokens,
            after.total_tokens - before.total_tokens,
            after.calls - before.calls,
        )


def question_line(number: int, row: dict[str, Any]) -> str:
    """One question's result on one line: number, category, score, judge, tokens, latency.

    Args:
        number: the question's 1-based position in the run.
        row: its row from ``run_qa``.
    """
    verdict = {True: " judge ✓", False: " judge ✗", None: ""}[row["judge"]]
    answered = "abstained" if row["abstained"] else f"score {row['score']:.2f}"
    return (
        f"q{number} [{CATEGORIES[row['category']]}] {answered}{verdict} · "
        f"{row['tokens']} tok · {row['latency_ms']:.0f} ms · {row['question'][:60]}"
    )


def _answer_one(
    memory: Memory,
    item: QAItem,
    llm: LLMClient | None,
    judge_llm: LLMClient | None,
    limit: int,
    totals: _Totals,
) -> dict[str, Any]:
    started = time.perf_counter()
    got = answer(memory, item.question, user_id=item.sample_id, llm=llm, limit=limit)
    latency = (time.perf_counter() - started) * 1000
    usage = Usage(**got.usage) if got.usage else Usage()
    totals.usage = totals.usage + usage
    cited = {d for i in got.citations for d in _dia_ids(memory, i)}
    row: dict[str, Any] = {
        "sample_id": item.sample_id,
        "category": item.category,
        "question": item.question,
        "gold": item.answer,
        "prediction": got.text,
        "abstained": got.abstained,
        "score": score_answer(got.text, item.answer, item.category, abstained=got.abstained),
        "f1": None,
        "bleu1": None,
        "judge": None,
        "evidence_cited": (
            len(cited & set(item.evidence)) / len(item.evidence) if item.evidence else None
        ),
        "latency_ms": round(latency, 2),
        "tokens": usage.total_tokens,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    if item.category != ADVERSARIAL:
        row["f1"] = row["score"]
        row["bleu1"] = bleu1(got.text, item.answer)
        if judge_llm is not None:
            row["judge"], judge_usage = judge(item.question, item.answer, got.text, llm=judge_llm)
            totals.judge_usage = totals.judge_usage + judge_usage
    return row


def _dia_ids(memory: Memory, record_id: str, depth: int = 2) -> set[str]:
    """The turns a cited record stands for: its own dia_id, or its sources' (derived records)."""
    try:
        meta = memory.get(record_id).metadata
    except NotFound:
        return set()
    if isinstance(meta.get("dia_id"), str):
        return {meta["dia_id"]}
    sources = meta.get("sources")
    if depth == 0 or not isinstance(sources, list):
        return set()
    return {d for s in sources if isinstance(s, str) for d in _dia_ids(memory, s, depth - 1)}


def summarize_qa(rows: list[dict[str, Any]], totals: _Totals | None = None) -> dict[str, Any]:
    """Aggregate per-question rows: F1, BLEU-1 and judge accuracy overall and per category, the
    adversarial abstention rate, tokens and latency percentiles.

    Args:
        rows: the rows ``run_qa`` produced.
        totals: the run's token and ingest totals, if known.
    """
    answerable = [r for r in rows if r["category"] != ADVERSARIAL]

    def metrics(sub: list[dict[str, Any]]) -> dict[str, Any]:
        judged = [r["judge"] for r in sub if r["judge"] is not None]
        return {
            "n": len(sub),
            "f1": _mean([r["f1"] for r in sub]),
            "bleu1": _mean([r["bleu1"] for r in sub]),
            "judge": _mean([float(j) for j in judged]) if judged else None,
            "abstained": _mean([float(r["abstained"]) for r in sub]),
        }

    adversarial = [r for r in rows if r["category"] == ADVERSARIAL]
    lat = sorted(r["latency_ms"] for r in rows)
    totals = totals or _Totals()
    return {
        "questions": len(rows),
        "overall": metrics(answerable),
        "per_category": {
            f"{c} {name}": metrics(sub)
            for c, name in locomo.CATEGORIES.items()
            if (sub := [r for r in answerable if r["category"] == c])
        },
        "adversarial": {
            "n": len(adversarial),
            "abstained": _mean([float(r["abstained"]) for r in adversarial]),
        },
        "abstention": abstention(rows),
        "evidence_cited": _mean(
            [r["evidence_cited"] for r in rows if r["evidence_cited"] is not None]
        ),
        "tokens": {
            **totals.usage.as_dict(),
            "per_question": round(totals.usage.total_tokens / len(rows), 1) if rows else 0.0,
            "judge_total": totals.judge_usage.total_tokens,
            "enrich": totals.enrich_usage.as_dict(),
        },
        "latency_ms": {"p50": round(_pct(lat, 50), 2), "p95": round(_pct(lat, 95), 2)},
        "turns": totals.turns,
        "ingest_seconds": round(totals.ingest_seconds, 3),
        "enrich_seconds": round(totals.enrich_seconds, 3),
    }


def abstention(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well abstaining tells the unanswerable (adversarial, category 5) questions apart:
    precision (of the questions abstained on, the share that are adversarial), recall (of the
    adversarial questions, the share abstained on) and their F1.

    Args:
        rows: the rows ``run_qa`` produced.
    """
    abstained = [r for r in rows if r["abstained"]]
    adversarial = [r for r in rows if r["category"] == ADVERSARIAL]
    right = sum(1 for r in abstained if r["category"] == ADVERSARIAL)
    precision = right / len(abstained) if abstained else 0.0
    recall = right / len(adversarial) if adversarial else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "abstained": len(abstained),
        "adversarial": len(adversarial),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    i = min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))
    return values[i]


# -- the command ---------------------------------------------------------------------------------


def main_qa(
    data: str | Path,
    *,
    judge: bool,
    out: Path | None,
    progress: Callable[[str, int], None] | None = None,
    echo: Callable[[str], None] | None = None,
    embedder: str = "minilm",
    enrich: bool = False,
    limit: int = 10,
    max_questions: int | None = None,
) -> dict[str, Any]:
    """``remem bench locomo --qa``: answer LoCoMo's questions with ``Memory(path)`` and its LLM.

    The LLM comes from ``REMEM_LLM_*`` (``Memory.llm``); with none configured the answers use the
    extractive rule. The same model judges when ``judge`` is set.

    Args:
        data: the LoCoMo JSON file.
        judge: grade answers with the LLM (needs one).
        out: also write the summary and every row here as JSON.
        progress: called with (phase, units): "ingest" per turn, "answer" per question.
        echo: called with one line per question (tokens, latency); see ``question_line``.
        embedder: the embedder name for each Memory.
        enrich: enrich each conversation with the LLM (facts, summaries) first (needs one).
        limit: hits given to the answerer per question.
        max_questions: at most this many questions per conversation.

    Returns:
        The summary of ``run_qa`` (rows included).

    Raises:
        ConfigError: ``judge`` or ``enrich`` without a configured LLM.
    """
    if (judge or enrich) and not LLMSettings.from_env().configured:
        raise ConfigError(
            "--judge and --enrich need an LLM: set REMEM_LLM_BASE_URL, REMEM_LLM_MODEL"
        )
    options: dict[str, Any] = {"embedder": embedder}
    if "llm_enrich" in {f.name for f in dataclasses.fields(Settings)}:
        options["llm_enrich"] = (
            enrich  # a Memory that enriches its own writes does so only if asked
        )

    def factory(path: Path) -> Memory:
        return Memory(path, **options)

    result = run_qa(
        data,
        factory,
        FROM_MEMORY,
        judge_llm=FROM_MEMORY if judge else None,
        enrich=enrich,
        limit=limit,
        max_questions=max_questions,
        progress=progress,
        echo=echo,
    )
    if out is not None:
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return result


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary of a QA run as plain text lines, for the CLI to print.

    Args:
        summary: what ``run_qa`` or ``main_qa`` returned.
    """

    def fmt(name: str, m: dict[str, Any]) -> str:
        judged = "" if m["judge"] is None else f"  judge {m['judge']:.3f}"
        return (
            f"{name:<16} n {m['n']:>5}  F1 {m['f1']:.3f}  BLEU-1 {m['bleu1']:.3f}{judged}  "
            f"abstained {m['abstained']:.3f}"
        )

    tokens, enrich = summary["tokens"], summary["tokens"]["enrich"]
    lines = [f"LoCoMo QA ({summary['questions']} questions)", fmt("overall", summary["overall"])]
    lines += [fmt(name, m) for name, m in summary["per_category"].items()]
    adversarial = summary["adversarial"]
    lines.append(
        f"{'5 adversarial':<16} n {adversarial['n']:>5}  abstained {adversarial['abstained']:.3f}"
    )
    held = summary.get("abstention")
    if held:
        lines.append(
            f"abstention       on {held['abstained']} of {summary['questions']} questions: "
            f"precision {held['precision']:.3f} (share adversarial), recall {held['recall']:.3f} "
            f"(of {held['adversarial']} adversarial), F1 {held['f1']:.3f}"
        )
    lines.append(
        f"evidence cited {summary['evidence_cited']:.3f} · answer tokens {tokens['total_tokens']} "
        f"({tokens['per_question']}/question, {tokens['calls']} calls) · judge tokens "
        f"{tokens['judge_total']} · latency p50 {summary['latency_ms']['p50']} ms, "
        f"p95 {summary['latency_ms']['p95']} ms"
    )
    lines.append(
        f"ingest {summary['turns']} turns in {summary['ingest_seconds']} s · enrichment "
        f"{enrich['total_tokens']} tokens, {enrich['calls']} calls, {summary['enrich_seconds']} s"
    )
    return lines
