"""Answer a question from memory: retrieve, then let the LLM answer from numbered memories with
citations, or abstain when memory holds no support.

Without an LLM (or when the call fails) the rule is extractive and conservative: the first of
the best ``ANSWER_DEPTH`` hits that *states* more than ``MIN_COVERAGE`` (half) of the question's
content terms is returned, cited; otherwise the answer abstains. No hits always abstains. What
counts as stated (``stated``):

- only sentences that state something: a question in memory ("did you make it?") answers nothing;
- when the question names a person who speaks in the hits ("What did Ana paint?"), only what is
  about them: sentences that name them, or that they said about themselves (not addressed to
  someone else: "your painting is lovely" is about the listener);
- the names of who said it and the dates the question names do not count toward coverage (that
  Ana said something does not answer "Where did Ana move?"; a date is the record's time, not its
  words);
- nor do the words that frame what kind of answer is wanted rather than what it is about
  (``FRAME``: "What is the kitten's *name*?", "What does Marta do for a *living*?", "What's
  *wrong* with the car?", "What class does Ana *take*?"): an answer does not repeat them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from remem import _text
from remem.errors import LLMError
from remem.llm.base import LLMClient, complete_json
from remem.ports import MemoryPort
from remem.types import Hit

logger = logging.getLogger("remem.llm")

ABSTAIN_TEXT = "No information available."
MIN_COVERAGE = 0.5
# The extractive rule reads this many of the best hits for one that states the answer.
ANSWER_DEPTH = 3
# Keep the prompt compact: long memories are cut, and the context stops at a total budget.
MAX_MEMORY_CHARS = 500
MAX_CONTEXT_CHARS = 6000

_SYSTEM = (
    "You answer questions about a user's past conversations using only the numbered memories "
    "given. Each memory shows the date it happened and who said it; resolve relative dates "
    "('yesterday', 'last year') against that date. Answer briefly: a short phrase when possible. "
    "Cite the numbers of the memories you used. If the memories do not contain the answer, "
    "set abstain to true. Reply with one JSON object and nothing else."
)


@dataclass(frozen=True)
class Answer:
    """An answer with the ids of the memories it rests on.

    Attributes:
        text: the answer (``ABSTAIN_TEXT`` when abstained).
        citations: ids of the records cited, in citation order.
        abstained: True when memory held no support for an answer.
        usage: tokens spent (prompt_tokens, completion_tokens, total_tokens, calls); empty
            when no LLM was called.
    """

    text: str
    citations: tuple[str, ...]
    abstained: bool
    usage: dict[str, int] = field(default_factory=dict)


class _Reply(BaseModel):
    answer: str = ""
    citations: list[int] = Field(default_factory=list)
    abstain: bool = False


def answer(
    memory: MemoryPort,
    question: str,
    *,
    user_id: str,
    llm: LLMClient | None,
    limit: int = 10,
    **search_kwargs: Any,
) -> Answer:
    """Answer ``question`` from one user's memories.

    Args:
        memory: where to look.
        question: the question, in natural language.
        user_id: whose memories.
        llm: the model; None for the extractive rule (see the module docstring).
        limit: how many hits to put in front of the model.
        **search_kwargs: more ``Memory.search`` options (agent_id, session_id, filters).

    Returns:
        The Answer; ``abstained`` when there are no hits, the model says so, or (without a model)
        the best hit does not cover the question.

    Raises:
        InvalidInput: an empty question or a bad scope (from ``Memory.search``).
    """
    # Annotated: Memory's own annotations trip mypy while its method named `list` shadows list.
    hits: Sequence[Hit] = memory.search(question, user_id=user_id, limit=limit, **search_kwargs)
    if not hits:
        return Answer(ABSTAIN_TEXT, (), True, {})
    if llm is None:
        return extractive_answer(question, hits)
    try:
        reply, usage = complete_json(llm, build_messages(question, hits), _Reply)
    except LLMError as exc:
        logger.warning("LLM answer failed, using the extractive rule: %s", exc)
        return extractive_answer(question, hits)
    shown = len(_context_lines(hits))
    cited = [hits[n - 1].record.id for n in reply.citations if 1 <= n <= shown]
    text = reply.answer.strip()
    if reply.abstain or not text:
        return Answer(ABSTAIN_TEXT, (), True, usage.as_dict())
    return Answer(text, tuple(dict.fromkeys(cited)), False, usage.as_dict())


def extractive_answer(question: str, hits: Sequence[Hit]) -> Answer:
    """The no-LLM rule: the first of the best ``ANSWER_DEPTH`` hits whose stated content
    (``stated``) covers more than ``MIN_COVERAGE`` of the question.

    Args:
        question: the question.
        hits: search hits, best first.

    Returns:
        That hit's content cited by its id, or an abstention.
    """
    named = named_people(question, (h.record.speaker for h in hits))
    for hit in hits[:ANSWER_DEPTH]:
        r = hit.record
        said = stated(r.content, speaker=r.speaker, about=named)
        if coverage(question, said, names=r.speaker) > MIN_COVERAGE:
            return Answer(r.content, (r.id,), False, {})
    return Answer(ABSTAIN_TEXT, (), True, {})


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|you're|you've|you'll|you'd)\b", re.I)
_NAME = re.compile(r"\b([A-Z][\w-]*)(?:['’]s)?\b")
# Words of a question that say what kind of answer it wants (a name, a kind, a job, a fault) or are
# light verbs ("take a class", "get a job"): the answering memory seldom repeats them.
FRAME = frozenset(
    """name names named called kind kinds type types sort sorts living wrong happen happened
    happening thing things take took get got make made go went give gave""".split()
)
_DATE_TERM = re.compile(
    r"^(?:\d{1,4}(?:st|nd|rd|th|s)?|january|february|march|april|may|june|july|august|september"
    r"|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)$"
)


def named_people(question: str, speakers: Iterable[str | None]) -> set[str]:
    """The people ``question`` names who speak in the hits (by name, case folded)."""
    known = {w for s in speakers if s for w in _text.words(s)}
    return {n.casefold() for n in _NAME.findall(question) if n.casefold() in known}


def stated(text: str, *, speaker: str | None = None, about: set[str] | None = None) -> str:
    """What ``text`` states: its sentences that are not questions; when ``about`` names people
    (case folded), only the sentences that name one of them or that one of them (the
    ``speaker``) said without addressing someone else."""
    about = about or set()
    by_them = bool(about & set(_text.words(speaker or "")))
    kept = []
    for sentence in _SENTENCE.findall(text):
        s = sentence.strip()
        if not s or s.endswith("?"):
            continue
        if about:
            names = set(_text.words(s))
            if not (about & names) and not (by_them and not _SECOND_PERSON.search(s)):
                continue
        kept.append(s)
    return " ".join(kept)


def coverage(question: str, text: str, *, names: str | None = None) -> float:
    """The share of the question's content terms that occur in ``text`` (0 when it has none),
    word forms folded ("moved" covers "move"). Terms of ``names`` (the hit's speaker) do not
    count: that Ana said something does not make it an answer to "Where did Ana move?"; nor do
    the dates the question names (days, months, years: a record's time, not its words), nor its
    ``FRAME`` words.

    Args:
        question: the question.
        text: a candidate answer passage.
        names: who said it, if known.
    """
    wanted = {
        _text.stem(t) for t in _text.terms(question) if not _DATE_TERM.match(t) and t not in FRAME
    }
    ignored = {_text.stem(t) for t in _text.words(names or "")}
    if wanted - ignored:
        wanted -= ignored
    if not wanted:
        return 0.0
    return len(wanted & {_text.stem(t) for t in _text.terms(text)}) / len(wanted)


def build_messages(question: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
    """The chat messages for one question: numbered memories (date, speaker, content), then the ask.

    Args:
        question: the question.
        hits: search hits, best first; numbered from 1 in this order.
    """
    context = "\n".join(_context_lines(hits))
    user = (
        f"Memories:\n{context}\n\nQuestion: {question}\n\n"
        'Return {"answer": "short answer", "citations": [memory numbers], "abstain": false}, '
        'or {"answer": "", "citations": [], "abstain": true} if the memories do not say.'
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def _context_lines(hits: Sequence[Hit]) -> list[str]:
    lines: list[str] = []
    used = 0
    for number, hit in enumerate(hits, start=1):
        r = hit.record
        when = r.occurred_at.strftime("%Y-%m-%d %H:%M") if r.occurred_at else "undated"
        content = " ".join(r.content.split())
        if len(content) > MAX_MEMORY_CHARS:
            content = content[: MAX_MEMORY_CHARS - 1] + "…"
        line = f"[{number}] {when} {r.speaker or 'unknown'}: {content}"
        if lines and used + len(line) > MAX_CONTEXT_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    return lines
