"""Consensus validation over retrieved memories, and lessons learned from detected attacks.

A-MemGuard's observation: a poisoned memory rarely agrees with the rest of what is known about
its subject. Among candidates about the same subject (cosine at or above ``SAME_SUBJECT``), a
candidate is flagged "contradicts_consensus" when at least two others, which agree with each
other, contradict it and outnumber its own supporters. Two kinds of contradiction are seen:

* an instruction-like, low-trust candidate next to flag-free, better-trusted ones;
* a simple assertion ("X lives in Y", "X's Z is Y", numbers) whose value the majority states
  differently.

Everything here is conservative: no majority of two, no flag; a candidate is never outvoted by
less trusted ones. Detected attacks become ``Lesson``s, matched later by ``matches_lesson``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from remem.guard.signals import INSTRUCTION, TOOL_CALL, find_instructions, scan
from remem.types import Vector

CONTRADICTS = "contradicts_consensus"
SAME_SUBJECT = 0.6
LOW_TRUST = 0.5
MIN_MAJORITY = 2

_RELATIONS = (
    "lives in",
    "lived in",
    "lives at",
    "works at",
    "works for",
    "works as",
    "was born in",
    "was born on",
    "is from",
    "comes from",
    "is called",
    "is named",
    "is married to",
    "is allergic to",
    "is at",
    "is on",
    "costs",
    "weighs",
    "is",
    "are",
    "was",
)
_REL_RE = "|".join(re.escape(r).replace(r"\ ", r"\s+") for r in _RELATIONS)
_ASSERT_BODY = (
    r"(?P<subj>(?:[\w’'-]+\s+){0,4}?[\w’'-]+)\s+(?P<rel>" + _REL_RE + r")"
    r"\s+(?P<val>[^.,;!?\n]{1,80})"
)
# An assertion's subject starts where a word starts. Without the look-behind every position inside
# a long unbroken token (a hex dump, base64) was tried, each reading to the token's end: quadratic.
# A match never starts inside a word anyway (the match at the word's start would come first),
# except where ``finditer`` resumes mid-word after a value cut at 80 characters; ``_assertions``
# tries that one position with ``_ASSERT_AT`` so the matches are exactly the old ones.
_ASSERT_RE = re.compile(r"(?<![\w’'-])" + _ASSERT_BODY, re.IGNORECASE)
_ASSERT_AT = re.compile(_ASSERT_BODY, re.IGNORECASE)
_SUBJ_CHAR = re.compile(r"[\w’'-]")
# Generic "is/are/was" only asserts an attribute when the subject names one: "my sister's
# birthday", "the wifi password". "Ana is tired" and "Ana is a teacher" do not contradict.
_GENERIC = frozenset({"is", "are", "was", "is at", "is on"})
_ATTRIBUTE_SUBJ = re.compile(r"(?:^|\s)(?:my|your|his|her|their|our|the)\s|['’]s\b", re.IGNORECASE)
_NEGATED = re.compile(r"^(?:not|no\s+longer|never|n['’]t)\b|\bnot\b", re.IGNORECASE)
_HEDGED = re.compile(r"\b(?:maybe|perhaps|probably|might|possibly|either|or)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that end a lead-in clause: "I think my sister lives in ..." is about "my sister".
_CLAUSE = re.compile(
    r"^.*\b(?:that|think|thinks|said|says|believe|believes|know|knows|heard|guess|and|but|so"
    r"|because)\s+",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_FILLER = frozenset(
    "a an the of to all any every your my our their his her its please now just that this "
    "these those and or actually still currently also really".split()
)


@dataclass(frozen=True)
class Candidate:
    """One retrieved memory as the consensus check sees it.

    Attributes:
        text: the content.
        vector: its unit-length float32 embedding.
        trust: its trust in [0, 1].
        created_index: its position in creation order (older is smaller).
    """

    text: str
    vector: Vector
    trust: float
    created_index: int


@dataclass(frozen=True)
class Lesson:
    """A detected attack pattern, kept apart from ordinary memories to recognise repeats.

    Attributes:
        key: the normalised signature from ``lesson_key``.
        reason: why it was judged an attack (a flag name or a sentence).
        example: the text it was learned from (for people reviewing lessons).
    """

    key: str
    reason: str = CONTRADICTS
    example: str = ""


@dataclass(frozen=True)
class _Claim:
    key: str
    words: frozenset[str]
    numbers: frozenset[str]


def check(
    items: Sequence[Candidate], *, threshold: float = SAME_SUBJECT
) -> dict[int, tuple[str, ...]]:
    """Flag candidates that contradict what the others agree on.

    Args:
        items: the retrieved candidates (any order).
        threshold: the cosine at which two candidates are about the same subject.

    Returns:
        Index into ``items`` -> flags ("contradicts_consensus"); unflagged indices are absent.
    """
    n = len(items)
    if n < MIN_MAJORITY + 1:
        return {}
    matrix = np.stack([np.asarray(c.vector, dtype=np.float32) for c in items])
    same = (matrix @ matrix.T) >= threshold
    scans = [
        _long("scan", c.text, scan) if len(c.text) > _CACHED_CHARS else _scan_short(c.text)
        for c in items
    ]
    commanding = [bool({INSTRUCTION, TOOL_CALL}.intersection(f)) for f in scans]
    claims = [_claims(c.text) for c in items]
    out: dict[int, tuple[str, ...]] = {}
    for i, cand in enumerate(items):
        near = [j for j in range(n) if j != i and same[i, j]]
        if commanding[i] and cand.trust < LOW_TRUST:
            clean = [j for j in near if not commanding[j] and items[j].trust >= cand.trust]
            if _agreeing_group(clean, same) >= MIN_MAJORITY:
                out[i] = (CONTRADICTS,)
                continue
        if _outvoted(i, near, items, claims, same):
            out[i] = (CONTRADICTS,)
    return out


def lesson_key(text: str) -> str:
    """Return a normalised signature of an attack: its trigger phrase, or its leading words.

    Args:
        text: the content judged to be an attack.

    Returns:
        Lower-case words without fillers, e.g. "ignore previous instructions" for "Please IGNORE
        all previous instructions!". Text without a recognised trigger gives its first 12 words.
    """
    if len(text) > _CACHED_CHARS:
        return _long("lesson_key", text, _lesson_key)
    return _lesson_key(text)


def _lesson_key(text: str) -> str:
    triggers = find_instructions(text)
    if triggers:
        return _normal(triggers[0])
    return " ".join(_normal(text).split()[:12])


def matches_lesson(text: str, lessons: Iterable[Lesson]) -> bool:
    """Tell whether ``text`` repeats a known attack.

    Args:
        text: new content.
        lessons: the lessons learned so far.

    Returns:
        True when a lesson's key equals ``text``'s key or occurs, word-aligned, in its
        normalised words.
    """
    key = lesson_key(text)
    padded = f" {_normal_long(text) if len(text) > _CACHED_CHARS else _normal(text)} "
    for lesson in lessons:
        if lesson.key and (lesson.key == key or f" {lesson.key} " in padded):
            return True
    return False


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    words = [w.lower() for w in _WORD.findall(text)]
    return " ".join(w for w in words if w not in _FILLER)


def _claims(text: str) -> tuple[_Claim, ...]:
    # The same hits come back query after query. Short texts are cached by value, so the cache
    # stays a few tens of MB at most; long ones by digest (``_long``).
    if len(text) <= _CACHED_CHARS:
        return _claims_cached(text)
    return _long("claims", text, _claims_of)


_CACHED_CHARS = 2000
_LONG_MAX = 1024
_LONG: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
_LONG_LOCK = threading.Lock()
_T = TypeVar("_T")


# The normalised words of a long text are about as long as the text: only a few are kept.
_NORMAL_MAX = 32
_NORMAL: OrderedDict[tuple[str, bytes], Any] = OrderedDict()


def _long(
    kind: str,
    text: str,
    compute: Callable[[str], _T],
    cache: OrderedDict[tuple[str, bytes], Any] = _LONG,
    size: int = _LONG_MAX,
) -> _T:
    """``compute(text)`` for a long text (tool output, a file: up to 64 KiB), cached by a 16-byte
    digest so a stored blob is read once, not on every search it comes back in. The keys never
    hold the text; the values of ``_LONG`` are small (claims, flags, a lesson key)."""
    key = (kind, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
    with _LONG_LOCK:
        if key in cache:
            cache.move_to_end(key)
            hit: _T = cache[key]
            return hit
    value = compute(text)
    with _LONG_LOCK:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


def _normal_long(text: str) -> str:
    return _long("normal", text, _normal, _NORMAL, _NORMAL_MAX)


@functools.lru_cache(maxsize=16384)
def _scan_short(text: str) -> tuple[str, ...]:
    """``scan`` of a text of at most ``_CACHED_CHARS`` (bounded: 16k entries of at most 2 KB):
    the same hits come back search after search, and their verdict does not change."""
    return scan(text)


@functools.lru_cache(maxsize=16384)
def _claims_cached(text: str) -> tuple[_Claim, ...]:
    return _claims_of(text)


def _claims_of(text: str) -> tuple[_Claim, ...]:
    out = []
    for m in _assertions(text):
        subj, rel, val = m.group("subj"), m.group("rel").lower(), m.group("val")
        rel = " ".join(rel.split())
        if rel in _GENERIC and not _ATTRIBUTE_SUBJ.search(" " + subj):
            continue
        if _NEGATED.search(val) or _HEDGED.search(val) or _NEGATED.search(subj):
            continue
        subj_words = [w for w in _normal(_CLAUSE.sub("", subj)).split() if not w.isdigit()]
        words = frozenset(_normal(val).split())
        if not subj_words or not words:
            continue
        out.append(
            _Claim(f"{' '.join(subj_words[-3:])}|{rel}", words, frozenset(_NUMBER.findall(val)))
        )
    return tuple(out)


def _assertions(text: str) -> Iterator[re.Match[str]]:
    """The matches of the unanchored ``_ASSERT_BODY`` over ``text``, in time linear in its length."""
    pos = 0
    while True:
        m = None
        if 0 < pos < len(text) and _SUBJ_CHAR.match(text, pos - 1):
            m = _ASSERT_AT.match(text, pos)  # resumed inside a word
        if m is None:
            m = _ASSERT_RE.search(text, pos)
        if m is None:
            return
        yield m
        pos = m.end()  # never empty: the value has at least one character


def _conflict(a: _Claim, b: _Claim) -> bool:
    """Two values for the same subject and relation disagree (numbers first, then words)."""
    if a.numbers and b.numbers:
        return a.numbers.isdisjoint(b.numbers)
    return a.words.isdisjoint(b.words)


def _outvoted(
    i: int,
    near: list[int],
    items: Sequence[Candidate],
    claims: list[tuple[_Claim, ...]],
    same: npt.NDArray[np.bool_],
) -> bool:
    for mine in claims[i]:
        against: list[int] = []
        support = 0
        for j in near:
            theirs = [c for c in claims[j] if c.key == mine.key]
            if not theirs:
                continue
            if any(_conflict(mine, c) for c in theirs):
                against.append(j)
            else:
                support += 1
        if len(against) < MIN_MAJORITY or len(against) <= support + 1:
            continue
        # The opponents must agree among themselves, or there is no consensus to contradict.
        values = [c for j in against for c in claims[j] if c.key == mine.key]
        if any(_conflict(a, b) for a in values for b in values):
            continue
        if _agreeing_group(against, same) < MIN_MAJORITY:
            continue
        # Never outvote a record with less trusted ones: a user's own statement stands.
        if items[i].trust > max(items[j].trust for j in against):
            continue
        return True
    return False


def _agreeing_group(members: list[int], same: npt.NDArray[np.bool_]) -> int:
    """Size of the largest set among ``members`` whose members are all about the same subject."""
    best = 0
    for a in members:
        group = [a]
        for b in members:
            if b != a and all(same[b, g] for g in group):
                group.append(b)
        best = max(best, len(group))
    return best
