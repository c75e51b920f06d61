"""The LLM-backed operations on memories, each with a heuristic fallback.

Every function takes ``llm`` (an ``LLMClient`` or None). With None, or when the call fails for any
reason, the heuristic runs and the failure is logged on the ``remem.llm`` logger: these run on
write paths and never raise because of the model.

Heuristics (no model):
    enrich_note: keywords = the most frequent content words (ties: first seen); tags = none;
        context = the first sentence.
    evolve_notes: none (no model, no evolution).
    extract_facts: no operations (remem keeps the raw record; facts need a model).
    summarize_session: the most central turns (bag-of-words cosine to the others), in order.
    insights: topics (content words) recurring in at least two summaries.
    lesson_text: the counted rule itself ("do build → migrate → deploy").
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from remem import _text
from remem.errors import LLMOutputError
from remem.llm.base import LLMClient, complete_json

logger = logging.getLogger("remem.llm")

FactOpName = Literal["add", "update", "supersede", "noop"]
T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)

# Prompts carry the content verbatim; bound them so one huge record cannot blow the context window.
MAX_PROMPT_CHARS = 8000
MAX_TURN_CHARS = 600


@dataclass(frozen=True)
class FactOp:
    """One change to the fact list: add a new fact, update or supersede ``existing[target_index]``,
    or noop (the content adds nothing)."""

    op: FactOpName
    fact: str
    target_index: int | None = None


# -- schemas the model must follow -----------------------------------------------------------


class _Note(BaseModel):
    keywords: list[str] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20)
    context: str


class _EvolveOut(BaseModel):
    neighbor: int
    tags: list[str] | None = Field(default=None, max_length=20)
    context: str | None = None


class _Evolution(BaseModel):
    updates: list[_EvolveOut] = Field(max_length=20)


class _FactOpOut(BaseModel):
    op: FactOpName
    fact: str = ""
    target: int | None = None


class _Facts(BaseModel):
    operations: list[_FactOpOut]


class _Summary(BaseModel):
    summary: str


class _Insights(BaseModel):
    insights: list[str]


class _Lesson(BaseModel):
    lesson: str


_SYSTEM = (
    "You organize an AI agent's long-term memory. Reply with one JSON object and nothing else."
)


def _ask(
    llm: LLMClient | None,
    task: str,
    prompt: str,
    schema: type[S],
    fallback: Callable[[], T],
    convert: Callable[[S], T],
    *,
    max_tokens: int | None = None,
) -> T:
    """Run one structured call; on no model or any failure, log and return the fallback."""
    if llm is None:
        return fallback()
    messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]
    try:
        parsed, _usage = complete_json(llm, messages, schema, max_tokens=max_tokens)
        return convert(parsed)
    # A write path must survive any client (including third-party ones): log and fall back.
    except Exception as exc:
        logger.warning("LLM %s failed, using the heuristic: %s", task, exc)
        return fallback()


# -- enrich_note -------------------------------------------------------------------------------

# Budgets for the notes an LLM writes: small enough to index and to show in a prompt.
NOTE_KEYWORDS = 8
NOTE_TAGS = 5
MAX_TAG_CHARS = 40
MAX_CONTEXT_CHARS = 200
NOTE_MAX_TOKENS = 256
EVOLVE_MAX_TOKENS = 512


def enrich_note(
    content: str, *, llm: LLMClient | None = None, fallback: bool = True
) -> dict[str, Any] | None:
    """Keywords, tags and a one-line context for a note (A-MEM style).

    Args:
        content: the note's text (``enrich.describe`` adds its date and speaker).
        llm: the model, or None for the heuristic.
        fallback: use the heuristic when there is no model or it fails; False returns None then
            (for callers that store the notes and want only model-written ones).

    Returns:
        ``{"keywords": list[str], "tags": list[str], "context": str}``: at most ``NOTE_KEYWORDS``
        keywords and ``NOTE_TAGS`` tags (lower-cased labels of at most ``MAX_TAG_CHARS``), a
        context of one line of at most ``MAX_CONTEXT_CHARS``; or None (see ``fallback``).
    """
    prompt = (
        "Describe this memory note for later retrieval.\n"
        f'Return {{"keywords": [up to {NOTE_KEYWORDS} salient words or short phrases from the '
        f'note], "tags": [up to {NOTE_TAGS} broad category labels], '
        '"context": "one sentence on the topic, who is involved and why it matters"}.\n\n'
        f"Note:\n{content[:MAX_PROMPT_CHARS]}"
    )

    def convert(note: _Note) -> dict[str, Any]:
        context = one_line(note.context)
        if not context:
            # A reply with no context is no description: the caller keeps its heuristic notes.
            raise LLMOutputError("the note's context is empty")
        return {
            "keywords": _clean_list(note.keywords, NOTE_KEYWORDS),
            "tags": clean_tags(note.tags),
            "context": context,
        }

    return _ask(
        llm,
        "enrich_note",
        prompt,
        _Note,
        lambda: _heuristic_note(content) if fallback else None,
        convert,
        max_tokens=NOTE_MAX_TOKENS,
    )


def clean_tags(items: Sequence[str], n: int = NOTE_TAGS) -> list[str]:
    """Tags as labels: lower-cased, one space between words, no ``#``, at most ``MAX_TAG_CHARS``
    (longer ones are dropped, not cut), no repeats, at most ``n``.

    Args:
        items: tags as a model wrote them.
        n: how many to keep.
    """
    out = []
    for item in items:
        tag = " ".join(str(item).split()).lstrip("#").strip(" .,;:").lower()
        if tag and len(tag) <= MAX_TAG_CHARS:
            out.append(tag)
    return list(dict.fromkeys(out))[:n]


def one_line(text: str | None, max_chars: int = MAX_CONTEXT_CHARS) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``max_chars`` with an ellipsis."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= max_chars else line[: max_chars - 1].rstrip() + "…"


# -- evolve_notes (A-MEM memory evolution) -----------------------------------------------------


@dataclass(frozen=True)
class NoteView:
    """A note as the evolution prompt shows it: its text, tags and context."""

    text: str
    tags: Sequence[str] = ()
    context: str | None = None

    def render(self) -> str:
        """``text`` (bounded), then its tags and context on their own lines when present."""
        lines = [" ".join(self.text.split())[:MAX_TURN_CHARS]]
        if self.tags:
            lines.append(f"   tags: {', '.join(self.tags)}")
        if self.context:
            lines.append(f"   context: {self.context}")
        return "\n".join(lines)


@dataclass(frozen=True)
class NoteChange:
    """New tags and/or context for ``neighbours[index]``; None keeps the old value."""

    index: int
    tags: tuple[str, ...] | None = None
    context: str | None = None


def evolve_notes(
    new: NoteView, neighbours: Sequence[NoteView], *, llm: LLMClient | None = None
) -> list[NoteChange] | None:
    """Decide how a new note changes its nearest notes' tags and context (A-MEM evolution).

    The model sees the new note and the numbered neighbours and returns only the neighbours to
    change; it can never change what a note says, only how it is labelled and described.

    Args:
        new: the note that just arrived.
        neighbours: its nearest existing notes (``NoteChange.index`` indexes this list).
        llm: the model; None means no evolution (there is no heuristic for it).

    Returns:
        The changes (changes naming no neighbour, or changing nothing, are dropped); [] when
        nothing should change; None when there is no model or the call failed (logged).
    """
    if not neighbours:
        return []
    shown = "\n".join(f"{i}. {n.render()}" for i, n in enumerate(neighbours, start=1))
    prompt = (
        "A new note joined an agent's long-term memory. Below are its nearest existing notes. "
        "Decide whether the new note changes how any of them should be tagged or described: "
        "it may reveal what a vague note was about, tie it to a person, place or project, or "
        "call for a more precise tag. Never restate or change what a note says.\n"
        f'Return {{"updates": [{{"neighbor": number, "tags": [up to {NOTE_TAGS} labels, the '
        'full new list], "context": "one new sentence"}]}, listing only the notes that should '
        'change; leave out "tags" or "context" to keep it. Return {"updates": []} when nothing '
        "should change.\n\n"
        f"New note:\n{new.render()}\n\nExisting notes:\n{shown}"
    )

    def convert(out: _Evolution) -> list[NoteChange]:
        changes: dict[int, NoteChange] = {}
        for raw in out.updates:
            index = raw.neighbor - 1
            if not 0 <= index < len(neighbours):
                logger.warning("LLM note evolution names no neighbour (%s); dropped", raw.neighbor)
                continue
            tags = None if raw.tags is None else tuple(clean_tags(raw.tags))
            context = one_line(raw.context) or None
            if tags is None and context is None:
                continue
            changes[index] = NoteChange(index, tags, context)  # a repeat: the last one wins
        return [changes[i] for i in sorted(changes)]

    return _ask(
        llm,
        "evolve_notes",
        prompt,  # bounded by its parts: the caller's k notes of MAX_TURN_CHARS each
        _Evolution,
        lambda: None,
        convert,
        max_tokens=EVOLVE_MAX_TOKENS,
    )


def _heuristic_note(content: str) -> dict[str, Any]:
    return {"keywords": keywords(content), "tags": [], "context": _first_sentence(content)}


def keywords(text: str, n: int = 5) -> list[str]:
    """The ``n`` most frequent content words of ``text`` (ties: first seen), lower-cased.

    Args:
        text: any text.
        n: how many.
    """
    toks = [w[:-2] if w.endswith("'s") else w for w in _text.words(text)]
    content = [w for w in toks if w not in _text.STOPWORDS and len(w) > 2 and not w.isdigit()]
    counts = Counter(content)
    first = {w: i for i, w in reversed(list(enumerate(content)))}
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:n]


# -- extract_facts -----------------------------------------------------------------------------


def extract_facts(
    content: str, existing: Sequence[str], *, llm: LLMClient | None = None
) -> list[FactOp]:
    """Decide how ``content`` changes a list of known facts (Mem0-style add/update/supersede/noop).

    Args:
        content: new text (a turn, a note).
        existing: the facts already known, in order; ``target_index`` indexes this list.
        llm: the model, or None (then no operations: facts need a model).

    Returns:
        The operations; ones naming a missing target are dropped (and logged).
    """
    known = "\n".join(f"{i}. {fact}" for i, fact in enumerate(existing, start=1)) or "(none)"
    prompt = (
        "Extract durable facts about the user or the world from the new text and compare them "
        "with the known facts.\nFor each fact choose one op:\n"
        '- "add": new information (target null)\n'
        '- "update": refines known fact number `target` without contradicting it\n'
        '- "supersede": contradicts or replaces known fact number `target` (it no longer holds)\n'
        '- "noop": already known or not worth keeping\n'
        'Return {"operations": [{"op": "...", "fact": "self-contained statement", '
        '"target": number or null}]}. Return {"operations": []} when there is no fact.\n'
        "If the new text starts with a date and a speaker, write facts in the third person "
        "(the speaker's name, not I) and resolve relative dates against that date.\n\n"
        f"Known facts:\n{known[:MAX_PROMPT_CHARS]}\n\nNew text:\n{content[:MAX_PROMPT_CHARS]}"
    )

    def convert(out: _Facts) -> list[FactOp]:
        ops = []
        for raw in out.operations:
            fact = raw.fact.strip()
            index = None if raw.target is None else raw.target - 1
            valid_target = index is not None and 0 <= index < len(existing)
            if raw.op in ("update", "supersede") and not valid_target:
                logger.warning(
                    "LLM fact op %s names no known fact (%s); dropped", raw.op, raw.target
                )
                continue
            if raw.op != "noop" and not fact:
                continue
            ops.append(FactOp(raw.op, fact, index if raw.op != "add" and valid_target else None))
        return ops

    return _ask(llm, "extract_facts", prompt, _Facts, list, convert)


# -- summarize_session -------------------------------------------------------------------------


def summarize_session(
    turns: Sequence[str],
    *,
    llm: LLMClient | None = None,
    max_chars: int = 600,
    fallback: bool = True,
) -> str:
    """A short summary of one session's turns.

    Args:
        turns: the turns in order (``"Speaker: text"`` reads best).
        llm: the model, or None for the heuristic.
        max_chars: the heuristic summary's length bound.
        fallback: use the heuristic when there is no model or it fails; False returns "" then
            (for callers that store the result and want only model-written summaries).

    Returns:
        The summary ("" for no turns).
    """
    if not turns:
        return ""
    shown = _bounded([t[:MAX_TURN_CHARS] for t in turns])
    prompt = (
        "Summarize this conversation session in at most 5 sentences: who, what, when, decisions, "
        'facts about the participants. Return {"summary": "..."}.\n\n' + "\n".join(shown)
    )
    return _ask(
        llm,
        "summarize_session",
        prompt,
        _Summary,
        lambda: central_turns(turns, max_chars=max_chars) if fallback else "",
        lambda out: out.summary.strip(),
    )


def central_turns(turns: Sequence[str], *, max_chars: int = 600, k: int = 3) -> str:
    """The ``k`` turns most similar to the rest of the session (bag of words), in session order.

    Args:
        turns: the session's turns.
        max_chars: cut the joined result to this length.
        k: how many turns.
    """
    bags = [Counter(w for w in _text.terms(t) if w not in _text.STOPWORDS) for t in turns]
    norms = [math.sqrt(sum(v * v for v in b.values())) or 1.0 for b in bags]

    def cosine(i: int, j: int) -> float:
        small, big = (bags[i], bags[j]) if len(bags[i]) < len(bags[j]) else (bags[j], bags[i])
        return sum(v * big[w] for w, v in small.items()) / (norms[i] * norms[j])

    # O(n^2) in turns; sessions are short, and a cap keeps a pathological one bounded.
    pool = range(min(len(turns), 400))
    centrality = {i: sum(cosine(i, j) for j in pool if j != i) for i in pool}
    chosen = sorted(sorted(pool, key=lambda i: (-centrality[i], i))[:k])
    text = " ".join(" ".join(turns[i].split()) for i in chosen)
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


# -- insights ----------------------------------------------------------------------------------


def insights(
    summaries: Sequence[str], *, llm: LLMClient | None = None, fallback: bool = True
) -> list[str]:
    """Durable lessons or patterns across several session summaries (G-Memory's insight tier).

    Args:
        summaries: session summaries, oldest first.
        llm: the model, or None for the heuristic (recurring topics).
        fallback: use the heuristic when there is no model or it fails; False returns [] then.

    Returns:
        Insight sentences, at most 10.
    """
    if not summaries:
        return []
    shown = _bounded([f"{i}. {s}" for i, s in enumerate(summaries, start=1)])
    prompt = (
        "From these session summaries, state the durable insights: recurring preferences, habits, "
        "goals, lessons, relationships. Only what the summaries support; at most 10. "
        'Return {"insights": ["...", ...]}.\n\n' + "\n".join(shown)
    )
    return _ask(
        llm,
        "insights",
        prompt,
        _Insights,
        lambda: recurring_topics(summaries) if fallback else [],
        lambda out: _clean_list(out.insights, 10),
    )


def recurring_topics(summaries: Sequence[str], *, min_count: int = 2, n: int = 5) -> list[str]:
    """``"Recurring topic: <word> (k of n sessions)"`` for words found in ``min_count``+ summaries.

    Args:
        summaries: session summaries.
        min_count: in how many summaries a word must appear.
        n: at most this many lines.
    """
    seen = Counter(w for s in summaries for w in set(keywords(s, n=20)))
    common = [w for w, c in seen.most_common() if c >= min_count][:n]
    return [f"Recurring topic: {w} ({seen[w]} of {len(summaries)} sessions)" for w in common]


# -- lesson_text (the insight task, for the lessons of remem.episodes) ------------------------

LESSON_MAX_CHARS = 300
LESSON_MAX_TOKENS = 200


def lesson_text(
    rule: str,
    pattern: Sequence[str],
    support: int,
    of: int,
    evidence: Sequence[str],
    *,
    llm: LLMClient | None = None,
    fallback: bool = True,
) -> str | None:
    """The words of a lesson counted from episodes (``remem.episodes``): the insight task,
    grounded in the lesson's own evidence.

    The model sees the counted rule, its support (n of m) and the episodes it was counted from
    (task, outcome, step sequence: tools and actions only, never an observation), and writes
    one sentence of advice. Its text is kept only when it names every step of ``pattern``
    (it must say the same thing, not another); else the heuristic.

    Args:
        rule: the counted rule ("do build → migrate → deploy").
        pattern: the steps it is about.
        support: episodes that agree with it.
        of: episodes it applies to.
        evidence: one line per source episode ("<task>: <outcome>; steps a → b").
        llm: the model, or None for the heuristic (the rule itself).
        fallback: use the rule when there is no model or it fails; False returns None then.

    Returns:
        One sentence, at most ``LESSON_MAX_CHARS``.
    """
    shown = _bounded([f"{i}. {e}" for i, e in enumerate(evidence, start=1)])
    prompt = (
        "These are an agent's past episodes of similar tasks, with their outcomes and steps. "
        f"Counting them gave this rule: {rule} (supported by {support} of the {of} episodes it "
        "applies to). State it as one short, general sentence of advice for the next similar "
        "task: name every step of the rule, say nothing the episodes do not show. "
        'Return {"lesson": "..."}.\n\n' + "\n".join(shown)
    )

    def grounded(out: _Lesson) -> str | None:
        text = " ".join(out.lesson.split())
        if len(text) > LESSON_MAX_CHARS:
            text = text[: LESSON_MAX_CHARS - 1].rstrip() + "…"
        said = text.lower()
        if text and all(step.lower() in said for step in pattern):
            return text
        logger.warning("LLM lesson_text left out a step of %r, using the rule", rule)
        return rule if fallback else None

    return _ask(
        llm,
        "lesson_text",
        prompt,
        _Lesson,
        lambda: rule if fallback else None,
        grounded,
        max_tokens=LESSON_MAX_TOKENS,
    )


# -- helpers -----------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _first_sentence(text: str, max_chars: int = 200) -> str:
    first = _SENTENCE.split(" ".join(text.split()), maxsplit=1)[0]
    return first if len(first) <= max_chars else first[: max_chars - 1].rstrip() + "…"


def _clean_list(items: Sequence[str], n: int) -> list[str]:
    out = [" ".join(str(x).split()) for x in items]
    return list(dict.fromkeys(x for x in out if x))[:n]


def _bounded(lines: list[str]) -> list[str]:
    """Lines up to ``MAX_PROMPT_CHARS``; past it, the head and the tail around a gap mark."""
    if sum(len(x) + 1 for x in lines) <= MAX_PROMPT_CHARS:
        return lines
    head: list[str] = []
    tail: list[str] = []
    budget = MAX_PROMPT_CHARS // 2
    for line in lines:
        if sum(len(x) + 1 for x in head) + len(line) > budget:
            break
        head.append(line)
    for line in reversed(lines[len(head) :]):
        if sum(len(x) + 1 for x in tail) + len(line) > budget:
            break
        tail.insert(0, line)
    return [*head, "[...]", *tail]
