"""What kind of answer a question asks for, and whether a memory holds one (classic QA answer
typing): "how much …" wants a number, "which day …" a day or time, "who …" a person, "where …" a
place. A memory that matched the question and also holds an answer of the asked kind is likelier
to be the answer than one that only repeats the question's words (the question turn itself, a
remark on the same topic).

Everything here is a bounded scan of one string: no pattern can backtrack super-linearly.
"""

from __future__ import annotations

import re

NUMBER, TIME, PERSON, PLACE = "number", "time", "person", "place"

_ASKS = [
    (
        NUMBER,
        re.compile(
            r"\bhow\s+(?:many|much|long|often|old|far|big|tall|fast|heavy)\b"
            r"|\bwhat\s+(?:number|percentage|amount|price|size|score|version)\b"
            r"|\b(?:cost|price|budget|rate|limit)\b",
            re.I,
        ),
    ),
    (
        TIME,
        re.compile(
            r"\b(?:when|what\s+(?:time|day|date|year|month)|which\s+(?:day|days|date|month|year|time))\b",
            re.I,
        ),
    ),
    (
        PERSON,
        re.compile(
            r"^\s*(?:who|whom|whose)\b|\bwho\s+(?:is|was|are|did|does|will|takes?|handles?)\b", re.I
        ),
    ),
    (
        PLACE,
        re.compile(
            r"\bwhere\b|\b(?:which|what)\s+(?:city|cities|country|countries|town|place|places)\b",
            re.I,
        ),
    ),
]

_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|dozen|once|twice|half)\b",
    re.I,
)
_TIME = re.compile(
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b|\b\d{1,2}(?::\d{2})?\s*(?:am|pm)\b"
    r"|\b\d{1,2}:\d{2}\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b"
    r"|\b(?:today|tomorrow|tonight|yesterday|weekend|morning|evening|noon|midnight)\b|\b\d{4}\b",
    re.I,
)
# A capitalised word that does not start a sentence: a name of someone or somewhere.
_NAME = re.compile(r"(?<=[a-z,;]\s)[A-Z][a-z]+|(?<=[a-z,;]\s\s)[A-Z][a-z]+")
_CAP = 2000  # characters of a memory read for an answer (the heuristic needs no more)


# "How do I fix …", "how did we solve …", "what fixed …", "is there a workaround for …": the
# question asks for what was done about a problem, which the problem's own statement is not.
_FIX = re.compile(
    r"\bhow\s+(?:do|did|can|could|should|would|to)\s+(?:(?:i|we|you|they|one)\s+)?"
    r"(?:fix|solve|resolve|repair|debug|avoid|prevent|handle|stop|get\s+(?:rid|past|around)|"
    r"work\s+around|deal\s+with|get\s+around)\b"
    r"|\bhow\s+(?:was|were|is|are|has|have)\s+(?:\w+\s+){0,6}?(?:fixed|solved|resolved|repaired)\b"
    r"|\bwhat\s+(?:fixed|solved|resolved|was\s+the\s+(?:fix|solution|workaround|cause))\b"
    r"|\b(?:fix|solution|workaround|remedy)\s+(?:for|to)\b",
    re.I,
)


def asks_fix(question: str) -> bool:
    """Whether ``question`` asks how a problem was (or is to be) fixed."""
    return _FIX.search(question[:_CAP]) is not None


def asked(question: str) -> str | None:
    """The kind of answer ``question`` asks for, or None."""
    head = question[:_CAP]
    for kind, pattern in _ASKS:
        if pattern.search(head):
            return kind
    return None


def holds(kind: str, content: str, *, exclude: frozenset[str] = frozenset()) -> bool:
    """Whether ``content`` holds an answer of ``kind`` (a name must not be one of ``exclude``:
    the question's own words, the speakers)."""
    text = content[:_CAP]
    if kind == NUMBER:
        return _NUMBER.search(text) is not None
    if kind == TIME:
        return _TIME.search(text) is not None
    return any(m.group(0).lower() not in exclude for m in _NAME.finditer(text))
