"""Think-in-Memory decisions, as pure functions: is a new memory a duplicate, does it replace one?

``near_duplicate`` decides merges; ``slot``/``slots`` read a single-valued fact ("I live in
Lisbon" -> subject, "lives_in", "Lisbon") by general English patterns; ``supersedes`` says a new
fact replaces an old one (same subject and attribute, another value); ``is_correction`` spots
"actually it was Tuesday". Questions, negations and conditionals never yield a fact.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from remem._text import LAST_WORD, STOPWORDS, words
from remem.organize.notes import COMMON_WORDS

DUPLICATE_SIMILARITY = 0.95
DUPLICATE_JACCARD = 0.8

_NEGATIONS: Final = frozenset(
    "not no never nothing none nobody neither nor without cannot hardly barely".split()
)
_NUMBER_WORDS: Final = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion half dozen first second third once twice".split()
)


def _numbers(tokens: list[str]) -> list[str]:
    return sorted(t for t in tokens if t in _NUMBER_WORDS or any(c.isdigit() for c in t))


def _negations(tokens: list[str]) -> int:
    return sum(1 for t in tokens if t in _NEGATIONS or t.endswith("n't"))


def near_duplicate(a: str, b: str, similarity: float) -> bool:
    """Whether two memory texts say the same thing.

    Args:
        a: one text.
        b: the other text.
        similarity: their embedding cosine similarity.

    Returns:
        True when the texts are equal after lower-casing and dropping punctuation, or when
        ``similarity >= 0.95``, their word sets overlap by Jaccard >= 0.8, and they carry the same
        numbers and the same number of negations ("2 cats" vs "3 cats", "like" vs "don't like"
        embed alike but differ).
    """
    ta, tb = words(a), words(b)
    if ta == tb:
        return True
    if similarity < DUPLICATE_SIMILARITY:
        return False
    if _numbers(ta) != _numbers(tb) or _negations(ta) != _negations(tb):
        return False
    sa, sb = set(ta), set(tb)
    return len(sa & sb) >= DUPLICATE_JACCARD * len(sa | sb)


@dataclass(frozen=True)
class Slot:
    """A single-valued fact: ``subject``'s ``attribute`` is ``value``.

    Attributes:
        subject: the speaker's name (or "user") for first person, "Ana's sister" for "my sister"
            said by Ana, or a third-person name as written.
        attribute: "lives_in", "works_at", "job", "name", "age", "relationship_status",
            "favorite:<thing>", "prefers", "prefers:<thing>" or another "my <noun>" attribute.
        value: the value as written, trimmed of articles and trailing time phrases.
    """

    subject: str
    attribute: str
    value: str


# --- pattern pieces -----------------------------------------------------------------------------
# A name word is at most 64 characters, read possessively (what follows it is a space or an
# apostrophe, never a word character): unbounded, every capital after a hyphen in a long
# "A-B-C-..." token re-read the rest of it, quadratic in its length.
_SUBJ = (
    r"(?P<subj>\bI\b|\b[Ww]e\b|\b[Mm]y\s+(?P<rel>[a-z]+(?:\s+[a-z]+)?)|"
    r"(?P<name>\b[A-Z][\w-]{0,63}+(?:\s+[A-Z][\w-]{0,63}+)?))"
)
_POSS = r"(?P<poss>\b[Mm]y|\b[Oo]ur|\b(?P<pname>[A-Z][\w-]{0,63}+)'s)"
_ADV = (
    r"(?:\s+(?:currently|now|still|just|recently|finally|actually|also|really|officially|"
    r"happily|eventually|already))?"
)
_BE = r"(?:\s+(?:am|is|are)|'m|'s|'re)"
_HAVE = r"(?:(?:\s+(?:have|has)|'ve|'s)(?:\s+just)?)?"
_VAL = r"\s+(?P<value>[^,;!?]+)"

_OCCUPATIONS: Final = frozenset(
    """
    accountant actor actress analyst architect artist assistant attorney author baker banker barber
    barista bartender biologist carpenter cashier ceo chef chemist cleaner clerk coach consultant
    cook counselor counsellor cto dancer dentist designer developer director doctor driver
    economist editor electrician engineer entrepreneur farmer firefighter founder freelancer
    intern janitor journalist judge lawyer lecturer librarian manager mechanic midwife musician
    nurse officer paramedic pharmacist photographer physician physicist pilot plumber poet
    politician professor programmer psychologist receptionist researcher salesman saleswoman
    scientist secretary singer soldier student surgeon tailor teacher technician therapist
    translator tutor veterinarian vet waiter waitress writer
    """.split()
)
_STATUS: Final = {
    "single": "single", "married": "married", "engaged": "engaged", "divorced": "divorced",
    "widowed": "widowed", "separated": "separated", "in a relationship": "in a relationship",
    "dating someone": "in a relationship", "seeing someone": "in a relationship",
}  # fmt: skip
_PERSONAL: Final = frozenset(
    """
    name email address phone number birthday job occupation profession title role username handle
    hometown nationality major religion pronouns website
    """.split()
) | {"email address", "phone number", "home address", "blood type", "zip code", "date of birth"}
_JOB_NOUNS: Final = frozenset({"job", "occupation", "profession"})

_c = re.compile
# (pattern, attribute); attribute "" means "taken from the match" (see ``_attribute``).
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (_c(rf"{_POSS}\s+(?:new\s+|all-time\s+)?favou?rite\s+(?P<thing>[a-z]+(?:\s+[a-z]+)?)\s+"
        rf"(?:is|are|has\s+to\s+be|would\s+be)(?:\s+now)?{_VAL}"), "favorite"),
    (_c(r"(?:^|,\s*)(?P<value>[\w' -]+?)\s+(?:is|are)(?:\s+now)?\s+"
        rf"{_POSS}\s+(?:new\s+|all-time\s+)?favou?rite\s+(?P<thing>[a-z]+(?:\s+[a-z]+)?)\b"),
     "favorite"),
    (_c(rf"{_SUBJ}{_ADV}(?:\s+(?:live|lives|reside|resides)|{_BE}{_ADV}\s+(?:living|based|"
        rf"staying|settled))\s+(?:in|at){_VAL}"), "lives_in"),
    (_c(rf"{_SUBJ}{_HAVE}{_ADV}\s+(?:moved|relocated)(?:\s+back|\s+over)?\s+(?:to|into){_VAL}"),
     "lives_in"),
    (_c(rf"{_SUBJ}{_BE}(?:\s+now)?\s+an?\s+(?P<job>[a-z]+(?:\s+[a-z]+)?)\s+(?:at|for|with){_VAL}"),
     "works_at"),
    (_c(rf"{_SUBJ}{_ADV}(?:\s+(?:work|works)|{_BE}{_ADV}\s+(?:working|employed))\s+(?:at|for)"
        rf"{_VAL}"), "works_at"),
    (_c(rf"{_SUBJ}{_HAVE}{_ADV}\s+(?:got|landed|accepted|started|took|found)\s+(?:a\s+|the\s+)?"
        rf"(?:new\s+)?(?:job|position|role|internship)\s+(?:at|with){_VAL}"), "works_at"),
    (_c(rf"{_SUBJ}{_HAVE}{_ADV}(?:\s+(?:work|works|worked|started\s+working|got\s+a\s+job|"
        rf"got\s+hired|was\s+hired|have\s+been\s+working)|{_BE}{_ADV}\s+working)\s+as{_VAL}"),
     "job"),
    (_c(rf"{_SUBJ}{_BE}(?:\s+now)?\s+an?\s+(?P<value>[a-z]+(?:\s+[a-z]+)?)\s*$"), "job"),
    (_c(rf"{_SUBJ}{_BE}{_ADV}(?:\s+happily)?\s+(?P<status>single|married|engaged|divorced|"
        r"widowed|separated|in\s+a\s+relationship|dating\s+someone|seeing\s+someone)\b"),
     "relationship_status"),
    (_c(rf"{_SUBJ}{_ADV}\s+got{_ADV}\s+(?P<status>married|engaged|divorced)\b"),
     "relationship_status"),
    (_c(rf"{_SUBJ}{_HAVE}{_ADV}\s+broke(?:n)?\s+up\b"), "relationship_status"),
    (_c(rf"{_SUBJ}{_BE}(?:\s+now)?\s+(?P<value>\d{{1,3}})(?:\s+years?\s+old\b|\s*$)"), "age"),
    (_c(rf"{_SUBJ}{_ADV}\s+turned\s+(?P<value>\d{{1,3}})\b"), "age"),
    (_c(r"(?:\b[Cc]all\s+me|\bI\s+go\s+by|\bI'm\s+called|\bI\s+am\s+called)\s+"
        r"(?P<value>[A-Z][\w-]*(?:\s+[A-Z][\w-]*)?)"), "name"),
    (_c(rf"{_SUBJ}{_ADV}\s+(?:prefer|prefers){_VAL}"), "prefers"),
    (_c(rf"{_POSS}\s+(?P<attr>[a-z]+(?:(?:'s)?\s+[a-z]+){{0,2}})\s+is(?:\s+now)?{_VAL}"), ""),
)  # fmt: skip

# What each pattern cannot match without (lower-case words searched in the lower-cased sentence,
# a necessary condition, so the pattern itself runs only when it may match): most sentences
# state no slot, and the patterns' names try a match at every capital.
_NEEDS: Final[tuple[re.Pattern[str], ...]] = tuple(
    _c(needle)
    for needle in (
        r"favou?rite",
        r"favou?rite",
        r"live|reside|living|based|staying|settled",
        r"moved|relocated",
        r" an? ",
        r"work|employed",
        r"job|position|role|internship",
        r" as ",
        r" an? ",
        r"single|married|engaged|divorced|widowed|separated|relationship|dating|seeing",
        r"got",
        r"broke",
        r"\d",
        r"turned",
        r"call|go by",
        r"prefer",
        r" is ",
    )
)
assert len(_NEEDS) == len(_PATTERNS)

_QUESTION_START = _c(
    r"^(?:do|does|did|are|is|am|was|were|where|what|when|which|who|whom|whose|how|why|can|"
    r"could|would|will|should|have|has|had|shall|may)\b",
    re.IGNORECASE,
)
_HYPOTHETICAL: Final = frozenset("if whether unless wish suppose imagine maybe perhaps".split())
# A title's period ("St. Mary's", "Dr. Lee") does not end a sentence.
_SENTENCES = _c(
    r"(?<!\bSt\.)(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bMt\.)(?<!\bJr\.)"
    r"(?<=[.!?])\s+|\n+"
)
_VALUE_END = _c(
    r"\s+(?:and|but|because|since|so|when|while|with|for|after|before|until|last|next|this|now|"
    r"anymore|again|too|recently|yesterday|today|tonight|ago|as|where|which|who|though|"
    r"although|if|or|than|over|to|from|right|on|these\s+days|at\s+the\s+moment|in\s+\d+|"
    r"in\s+(?:the\s+)?(?:early|late|spring|summer|fall|autumn|winter|past|last)|"
    r"in\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*)\b"
    r"|[.]\s*$",
    re.IGNORECASE,
)
# Lower-case articles only: a capital "The" starts a title ("The Hobbit").
_LEADING_ARTICLE = _c(r"^(?:a|an|the|A|An)\s+")
# ``(\w+)\W*$`` searched back from a match: linear, where the regex is quadratic per sentence.
_PREV_WORD = LAST_WORD
_NEW = _c(r"^(?:new|current|latest|updated|real|actual)\s+")
_FORMER: Final = frozenset("old previous former ex".split())


def _clean_value(raw: str) -> str:
    m = _VALUE_END.search(raw)
    value = raw[: m.start()] if m else raw
    return _LEADING_ARTICLE.sub("", value.strip().rstrip(".")).strip()


def _subject(m: re.Match[str], who: str) -> str | None:
    groups = m.groupdict()
    if "subj" not in groups and "poss" not in groups:
        return who  # "call me Ana": first person by construction
    if groups.get("pname"):
        name: str | None = groups["pname"]
    elif groups.get("poss") or groups.get("subj") in ("I", "we", "We"):
        return who
    elif groups.get("rel"):
        rel = groups["rel"]
        return None if rel.split()[0] in COMMON_WORDS else f"{who}'s {rel}"
    else:
        name = groups.get("name")
    if not name:
        return None
    # "Yesterday Ana moved": drop leading capitalised common words; a pronoun is not a name.
    parts = name.split()
    while parts and parts[0].lower() in COMMON_WORDS:
        parts = parts[1:]
    if not parts or parts[0].lower() in STOPWORDS:
        return None
    return " ".join(parts)


def _attribute(m: re.Match[str], attribute: str) -> tuple[str, str] | None:
    """(attribute, value) for a match, or None when the match is not a single-valued fact."""
    g = m.groupdict()
    if attribute == "favorite":
        parts = g["thing"].lower().split()
        while len(parts) > 1 and parts[-1] in COMMON_WORDS:  # "my favorite color now"
            parts.pop()
        thing = " ".join(parts)
        thing = thing[:-1] if thing.endswith("s") and not thing.endswith("ss") else thing
        return f"favorite:{thing}", _clean_value(g["value"])
    if attribute == "relationship_status":
        status = " ".join((g.get("status") or "single").lower().split())
        return attribute, _STATUS.get(status, status)
    if attribute == "works_at" and g.get("job") and g["job"].split()[-1] not in _OCCUPATIONS:
        return None  # "I'm a member at the gym", "I'm a regular at Joe's"
    if attribute == "job":
        value = _clean_value(g["value"])
        if not value or value.lower().split()[-1] not in _OCCUPATIONS:
            return None
        return attribute, value
    if attribute == "prefers":
        value = _clean_value(g["value"])
        head = value.lower().split()
        # "I prefer window seats" -> prefers:seats, so "tea" never replaces "aisle seats".
        return ("prefers:" + head[-1] if len(head) > 1 else "prefers"), value
    if attribute:
        return attribute, _clean_value(g["value"])
    # "my new email", "my current address": the attribute is the noun.
    attr = _NEW.sub("", g["attr"].lower())
    value = _clean_value(g["value"])
    if attr.startswith(("favorite", "favourite")) or attr.split()[0] in _FORMER:
        return None
    if attr in _JOB_NOUNS:
        return "job", value
    if attr.endswith("name") or attr in _PERSONAL:
        return attr.replace(" ", "_"), value
    # Other "my X is Y" only with a proper-noun, number or address value ("my boss is Tom"),
    # never a description ("my dog is cute").
    if value and (value[0].isupper() or value[0].isdigit() or "@" in value):
        return attr.replace(" ", "_"), value
    return None


def slots(content: str, *, speaker: str | None = None) -> list[Slot]:
    """Every single-valued fact stated in ``content`` (questions and conditionals state none).

    Args:
        content: the memory text.
        speaker: who said it; first person ("I", "we", "my") is normalised to this name, or to
            "user" when it is not given.

    Returns:
        The slots found, in pattern order within each sentence.
    """
    who = speaker.strip() if speaker and speaker.strip() else "user"
    found = _kept_slots(content, who) if len(content) <= _KEPT_CHARS else _slots(content, who)
    return list(found)


# A write reads the new record's slots up to three times (organize, supersede, each candidate)
# and its neighbours' slots once per record they neighbour: kept for the texts last read (at
# most 4,096 texts of at most 2,048 characters: 8 MB at worst).
_KEPT_CHARS = 2048


def _slots(content: str, who: str) -> tuple[Slot, ...]:
    out: list[Slot] = []
    for sentence in _SENTENCES.split(content.replace("’", "'")):
        sentence = " ".join(sentence.split())
        if not sentence or sentence.endswith("?") or _QUESTION_START.match(sentence):
            continue
        low = sentence.lower()
        for (pattern, attribute), needs in zip(_PATTERNS, _NEEDS, strict=True):
            if needs.search(low) is None:
                continue
            for m in pattern.finditer(sentence):
                prev = _PREV_WORD.search(sentence, 0, m.start())
                if prev and prev.group(1).lower() in _HYPOTHETICAL:
                    continue
                subject = _subject(m, who)
                found = _attribute(m, attribute) if subject else None
                if not subject or not found or not found[1] or found[1].lower() in STOPWORDS:
                    continue
                if "'s_" in found[0]:  # "my wife's name" -> subject "Ana's wife", "name"
                    owner, _, attr = found[0].partition("'s_")
                    subject, found = f"{subject}'s {owner}", (attr, found[1])
                out.append(Slot(subject, found[0], found[1]))
                if attribute == "works_at" and m.groupdict().get(
                    "job"
                ):  # "I'm a nurse at X" says both
                    out.append(Slot(subject, "job", m["job"]))
    return tuple(dict.fromkeys(out))


_kept_slots = functools.lru_cache(maxsize=4096)(_slots)


def slot(content: str, *, speaker: str | None = None) -> Slot | None:
    """The first single-valued fact in ``content``, or None (see ``slots``).

    Args:
        content: the memory text.
        speaker: who said it (first person becomes this name, or "user").

    Returns:
        A ``Slot`` such as ``Slot("Ana", "lives_in", "Lisbon")``, or None.
    """
    found = slots(content, speaker=speaker)
    return found[0] if found else None


def _same_value(a: str, b: str) -> bool:
    # "Google" and "Google in London" agree: one value extending the other is not a change.
    wa, wb = words(a), words(b)
    short, long_ = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return bool(short) and long_[: len(short)] == short


def supersedes(
    new: str, old: str, *, speaker_new: str | None = None, speaker_old: str | None = None
) -> bool:
    """Whether ``new`` replaces a fact in ``old``: same subject and attribute, another value.

    Args:
        new: the newer memory text.
        old: the older memory text.
        speaker_new: who said ``new``.
        speaker_old: who said ``old``.

    Returns:
        True when some slot of ``new`` and some slot of ``old`` share subject (case-insensitive)
        and attribute but not value.
    """
    new_slots = slots(new, speaker=speaker_new)
    if not new_slots:
        return False
    for o in slots(old, speaker=speaker_old):
        for n in new_slots:
            if (
                n.attribute == o.attribute
                and n.subject.casefold() == o.subject.casefold()
                and not _same_value(n.value, o.value)
            ):
                return True
    return False


_CORRECTION = _c(
    r"^\W*(?:actually\b|correction\b|oops\b|scratch\s+that\b|my\s+(?:bad|mistake)\b|"
    r"sorry,?\s+i\s+meant?\b|wait[,!]|no(?:pe)?[,.!]?\s+(?:wait|sorry|actually|it|it's|its|that|"
    r"that's|i\s+meant?)\b|to\s+(?:correct|clarify)\b|let\s+me\s+(?:correct|rephrase)\b)|"
    r"\bi\s+meant\b|\bi\s+misspoke\b|\bi\s+was\s+wrong\b|\bi\s+made\s+a\s+mistake\b|"
    r"\b(?:it|that|he|she|they)\s+(?:was|is|were)\s+actually\b|\b(?:it's|that's)\s+actually\b|"
    r"\bcorrection:",
    re.IGNORECASE,
)


def is_correction(content: str) -> bool:
    """Whether ``content`` corrects something said before ("actually it was Tuesday").

    Args:
        content: the memory text.

    Returns:
        True for openers such as "actually", "correction:", "no, it's", "sorry, I meant", and
        phrases such as "I meant", "I misspoke", "it was actually".
    """
    return _CORRECTION.search(content.replace("’", "'")) is not None
