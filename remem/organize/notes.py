"""A-MEM style notes for one memory, by heuristics only: keywords, named entities, dates.

``extract`` runs on every ``add``, so it is a handful of regular expressions and set lookups
(well under a millisecond for a conversational turn). Keywords are RAKE-like: runs of content words
between stop words and punctuation, scored by word degree, so noun phrases such as "support
group" outrank their single words. Entities are runs of capitalised words, minus sentence-initial
function words. Dates come from ``timeexpr.resolve`` against ``occurred_at``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from remem._text import STOPWORDS, words
from remem.organize.timeexpr import resolve

MAX_KEYWORDS = 8
_MAX_PHRASE = 3


@dataclass(frozen=True)
class Note:
    """The derived note fields of one memory.

    Attributes:
        keywords: up to ``MAX_KEYWORDS`` salient lower-case words or phrases, best first.
        entities: named things as written ("Lisbon", "New York", "The Hobbit"), in order.
        dates: ISO strings ("2023-05-07", "2023-05", "2022") of the dates the text mentions.
    """

    keywords: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Greetings, reactions and discourse markers of chat: never a topic, never a name.
_INTERJECTIONS: Final = _wordset(
    """
    hi hey hello bye goodbye yeah yes yep yup nope nah oh ooh ah aw aww wow whoa um uh hmm haha
    hahaha lol omg ok okay sure thanks thank thx please sorry congrats congratulations cheers
    well anyway anyways btw alright right great awesome cool nice amazing wonderful fantastic
    absolutely totally definitely honestly actually really seriously basically literally indeed
    maybe perhaps hopefully exactly true agreed gosh dear wait look listen
    """
)

# Words that carry no topic in conversation: very common verbs in all their forms, vague nouns,
# evaluative adjectives, adverbs, number and time words (dates are kept separately).
_FILLER: Final = _wordset(
    """
    get gets got gotten getting go goes went gone going make makes made making take takes took
    taken taking come comes came coming see sees saw seen seeing know knows knew known knowing
    think thinks thought thinking want wants wanted wanting say says said saying tell tells told
    telling feel feels felt feeling look looks looked looking give gives gave given giving find
    finds found finding use uses used using try tries tried trying need needs needed keep keeps
    kept keeping put puts seem seems seemed like likes liked love loves loved loving enjoy enjoys
    enjoyed hope hopes hoped mean means meant guess let lets happen happens happened start
    started starting help helps helped call called talk talked talking share shared sharing
    glad happy excited proud fun funny good better best bad worse great nice lovely cute beautiful
    super pretty big little small new old whole real different same sure able own lot lots bit
    thing things stuff something anything everything nothing someone anyone everyone somebody
    anybody everybody nobody one ones way ways kind kinds sort type kinda sorta gonna wanna
    people person guy guys folks time times moment moments today tomorrow yesterday tonight
    morning evening afternoon night day days week weeks weekend month months year years ago now
    recently lately soon later earlier ever never always often sometimes usually still even
    already yet much many lots else though although however also back away around together
    first second last next since etc via quite rather almost enough probably especially every
    another other others
    ate ran met bought sent spent built wrote drove flew sang swam won lost left paid sold taught
    caught brought began became chose broke fell forgot heard led rode rose shook spoke stood
    woke wore threw fine okay alright sound sounds sounded seeing thinking feeling looking trying
    near across along among behind beside besides beyond despite inside outside toward towards
    upon within without onto unlike per plus except amid till whether either neither
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december zero two three four five six seven
    eight nine ten hundred thousand million
    """
)
_NOT_ADVERB: Final = _wordset(
    "family rally belly jelly supply reply assembly anomaly bully lily butterfly dragonfly "
    "firefly monopoly homily italy july jolly"
)
# Nouns that end like a past participle.
_NOT_PARTICIPLE: Final = _wordset("speed breed creed greed hundred seaweed tweed")
_TIME_NAMES: Final = _wordset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may "
    "june july august september october november december today tomorrow yesterday tonight"
)
_COMMON: Final = STOPWORDS | _INTERJECTIONS | _FILLER
#: Lower-case words that are never a topic or a name on their own (function words, chat fillers,
#: very common verbs and adjectives, time and number words).
COMMON_WORDS: Final = _COMMON
# Lower-case words allowed inside a name ("Bank of America", "Lord of the Rings").
_CONNECTORS: Final = _wordset("of the for de da del la le van von der du &")
_TITLES: Final = _wordset("mr mrs ms dr st prof jr sr mt")
_FIRST_PERSON: Final = _wordset("i i'm i've i'd i'll i’m i’ve i’d i’ll")

_SEGMENT = re.compile(r"[.,!?;:()\[\]{}\"“”…—–/\n]+|\s-+\s")
_TOKEN = re.compile(r"([^\W\d_][\w]*(?:['’&.-][\w]+)*)|([.!?:;\n]+)|([,()\"“”—–]+)")


def _content(word: str) -> bool:
    if len(word) < 3 or word in _COMMON or not word.isalpha():
        return False
    if len(word) > 4:
        # "-ly" words are nearly all adverbs or adjectives, "-ed" words verbs or participles.
        if word.endswith("ly"):
            return word in _NOT_ADVERB
        if word.endswith("ed"):
            return word in _NOT_PARTICIPLE
    return True


def _keywords(text: str, skip: frozenset[str]) -> tuple[str, ...]:
    """RAKE-style keyphrases: runs of content words scored by the sum of degree/frequency."""
    phrases: list[tuple[str, ...]] = []
    for segment in _SEGMENT.split(text):
        run: list[str] = []
        for w in words(segment) + [""]:
            if w.endswith("'s"):
                w = w[:-2]
            if w and w not in skip and _content(w):
                run.append(w)
                continue
            if len(run) > _MAX_PHRASE:
                # A long run is rarely one phrase: keep its head pair and its words.
                phrases.append(tuple(run[-2:]))
                phrases.extend((x,) for x in run[:-2])
            elif run:
                phrases.append(tuple(run))
            run = []
    if not phrases:
        return ()
    freq: dict[str, int] = {}
    degree: dict[str, int] = {}
    for p in phrases:
        for w in p:
            freq[w] = freq.get(w, 0) + 1
            degree[w] = degree.get(w, 0) + len(p)
    scored: dict[tuple[str, ...], float] = {}
    for p in phrases:
        if p not in scored:
            # Longer words are more specific: a small bonus breaks ties toward them.
            scored[p] = sum(degree[w] / freq[w] + (0.25 if len(w) > 6 else 0.0) for w in p)
    best = sorted(scored, key=lambda p: -scored[p])  # stable: ties keep text order
    out: list[str] = []
    covered: set[str] = set()
    for p in best:
        if len(p) == 1 and p[0] in covered:
            continue
        out.append(" ".join(p))
        covered.update(p)
        if len(out) == MAX_KEYWORDS:
            break
    return tuple(out)


def _is_cap(tok: str, shouting: bool) -> bool:
    if tok[0].isupper():
        return not (shouting and tok.isupper() and len(tok) > 1)
    # "iPhone", "eBay": lower-case start, capital inside.
    return len(tok) > 1 and tok[0].islower() and any(c.isupper() for c in tok[1:])


def _entities(text: str, speaker: str | None) -> tuple[str, ...]:
    """Runs of capitalised tokens, minus sentence-initial common words and the speaker."""
    toks: list[tuple[str, int, int, bool]] = []  # (word, start, end, sentence-initial)
    initial = True
    alpha = upper = 0
    for m in _TOKEN.finditer(text):
        word, end_mark = m.group(1), m.group(2)
        if word:
            toks.append((word, m.start(), m.end(), initial))
            initial = False
            alpha += 1
            upper += word.isupper() and len(word) > 1
        elif end_mark:
            # "Dr. Smith": a title's period does not end the sentence.
            if not (end_mark == "." and toks and toks[-1][0].lower() in _TITLES):
                initial = True
                toks.append(("", m.start(), m.end(), False))
        else:
            toks.append(("", m.start(), m.end(), False))
    shouting = alpha >= 4 and upper * 2 > alpha
    lowered = {t[0].lower() for t in toks if t[0] and not t[0][0].isupper()}
    me = (
        {speaker.casefold(), speaker.split()[0].casefold()}
        if speaker and speaker.split()
        else set()
    )

    found: dict[str, str] = {}
    i, n = 0, len(toks)
    while i < n:
        word = toks[i][0]
        if not word or not _is_cap(word, shouting) or _breaks(word):
            i += 1
            continue
        j = i + 1  # extend over capitalised words, and connectors followed by one
        while j < n:
            w = toks[j][0]
            if w and _is_cap(w, shouting) and not _breaks(w):
                if toks[j - 1][0][-2:] in ("'s", "’s"):
                    break  # a possessive ends a name: "Ana's Tom" is Ana and Tom
                j += 1
            elif (
                w.lower() in _CONNECTORS
                and j + 1 < n
                and toks[j + 1][0]
                and (_is_cap(toks[j + 1][0], shouting) and not _breaks(toks[j + 1][0]))
            ):
                j += 2
            else:
                break
        _add_run(text, toks[i:j], found, lowered, me)
        i = j
    return tuple(found.values())


def _breaks(word: str) -> bool:
    low = word.lower()
    return low in _FIRST_PERSON or low in _TIME_NAMES


def _add_run(
    text: str,
    run: list[tuple[str, int, int, bool]],
    found: dict[str, str],
    lowered: set[str],
    me: set[str],
) -> None:
    initial = run[0][3]
    # Drop leading function words and interjections ("Hey Caroline", "Thanks Mel"), except a
    # mid-sentence capital "The" that starts a title ("I read The Hobbit"). Other common words
    # may start a name ("New York"). Indices, not slices: a run of thousands of "And And ..."
    # would be copied once per word dropped.
    lo, hi = 0, len(run)
    while lo < hi:
        low = _strip_possessive(run[lo][0]).lower()
        if low == "the" and not initial and hi - lo > 1:
            break
        if low in STOPWORDS or low in _INTERJECTIONS or low in _CONNECTORS:
            lo, initial = lo + 1, False
            continue
        break
    while lo < hi and run[hi - 1][0].lower() in _CONNECTORS:
        hi -= 1
    if lo == hi:
        return
    run = run[lo:hi]
    if len(run) == 1:
        low = _strip_possessive(run[0][0]).lower()
        if low in _COMMON:
            return
        # A lone capitalised first word is a name only if it is not an ordinary word in disguise.
        if initial and (low in lowered or low.endswith(("ing", "ed", "ly"))):
            return
    name = text[run[0][1] : run[-1][2]]
    name = _strip_possessive(name)
    key = name.casefold()
    if key in me or len(name) < 2 or key in found:
        return
    found[key] = name


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "’s")) else word


def extract(
    content: str, *, occurred_at: datetime | None = None, speaker: str | None = None
) -> Note:
    """Derive keywords, entities and dates from one memory's text.

    Args:
        content: the memory text.
        occurred_at: when it was said; relative dates ("yesterday", "last May") resolve against it
            and are dropped without it.
        speaker: who said it; their own name is not listed as an entity.

    Returns:
        A ``Note``; every field may be empty.
    """
    entities = _entities(content, speaker)
    # Names are already entities; keywords are for the topic.
    skip = frozenset(w for e in (*entities, speaker or "") for w in words(e))
    dates = tuple(dict.fromkeys(span.iso for span in resolve(content, occurred_at)))
    return Note(keywords=_keywords(content, skip), entities=entities, dates=dates)
