"""Time expressions: find dates in text and resolve them against an anchor, no model involved.

``resolve`` turns "yesterday", "last Saturday", "two weeks ago", "in May", "8 May 2023" into
``Span`` objects (inclusive date ranges with a granularity). ``query_range`` gives the window a
search query is about; ``asks_when`` tells whether a query asks for a time.

Year choice for dates given without one ("in May", "May 8th", "on Saturday") follows the tense of
the sentence they appear in: past tense picks the latest occurrence on or before the anchor, future
tense the next one on or after it, and anything else the anchor's own year (weekdays: the most
recent one before the anchor). Tense is a cheap guess from auxiliaries and "-ed" verbs.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from remem import _time
from remem._text import LAST_LETTERS, STOPWORDS

Granularity = str  # "day" | "week" | "month" | "year"
_ORDER: Final = {"day": 0, "week": 1, "month": 2, "year": 3}
_WIDER: Final = {"day": "week", "week": "month", "month": "year", "year": "year"}


@dataclass(frozen=True)
class Span:
    """An inclusive date range found in text.

    Attributes:
        start: first day of the range.
        end: last day of the range (inclusive).
        text: the words it was found in, as written.
        granularity: "day", "week", "month" or "year".
    """

    start: date
    end: date
    text: str
    granularity: Granularity

    @property
    def iso(self) -> str:
        """The middle of the range: "YYYY-MM-DD", a week's Monday, "YYYY-MM" or "YYYY"."""
        # The middle, not the start: a widened "a few weeks ago" should name its centre.
        mid = self.start + (self.end - self.start) // 2
        if self.granularity == "day":
            return mid.isoformat()
        if self.granularity == "week":
            return (mid - timedelta(days=mid.weekday())).isoformat()
        if self.granularity == "month":
            return f"{mid.year:04d}-{mid.month:02d}"
        return f"{mid.year:04d}"

    def overlaps(self, start: date, end: date) -> bool:
        """Whether this span shares at least one day with the inclusive range ``start``..``end``."""
        return self.start <= end and start <= self.end


# --- vocabulary (general English) ------------------------------------------------------------
_MONTHS: Final = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sept", "sep"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_WEEKDAYS: Final = {
    d: i
    for i, d in enumerate(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    )
}
_NUMBERS: Final = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50,
}  # fmt: skip
# Vague counts: (nominal value, widen the granularity?)
_FUZZY: Final = {"couple": (2, False), "few": (3, True), "several": (4, True)}
_SEASONS: Final = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}

_MON = (
    r"(?P<mon>january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
_FULLMON = (
    r"(?P<mon>january|february|march|april|may|june|july|august|september|october|november"
    r"|december)"
)
_WD = r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_ORD = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_NUM = (
    r"(?P<num>\d{1,3}|a\s+couple(?:\s+of)?|couple\s+of|a\s+few|few|several|an?|one|two|three|"
    r"four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty)"
)
_UNIT = r"(?P<unit>day|week|month|year)s?"

_I = re.IGNORECASE
_P_ISO = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")
_P_SLASH = re.compile(r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})\b")
_P_DMY = re.compile(rf"\b(?:the\s+)?{_ORD}\s+(?:of\s+)?{_MON}\.?,?\s+(?P<y>\d{{4}})\b", _I)
_P_MDY = re.compile(rf"\b{_MON}\.?\s+(?:the\s+)?{_ORD},?\s+(?P<y>\d{{4}})\b", _I)
_P_YM_ISO = re.compile(r"\b(?P<y>\d{4})-(?P<m>0[1-9]|1[0-2])\b(?!-\d)")
_P_MY = re.compile(rf"\b(?:(?:early|late|mid)[\s-]+)?{_MON}\.?,?\s+(?:of\s+)?(?P<y>\d{{4}})\b", _I)
_P_SEASON = re.compile(
    r"\b(?:(?P<rel>last|this|next|past)\s+|(?P<the>the\s+|in\s+))?"
    r"(?P<season>spring|summer|fall|autumn|winter)(?:\s+(?:of\s+)?(?P<y>\d{4}))?\b",
    _I,
)
_P_DM = re.compile(rf"\b(?:the\s+)?{_ORD}\s+(?:of\s+)?{_MON}\b", _I)
_P_MD = re.compile(rf"\b{_MON}\.?\s+(?:the\s+)?{_ORD}\b(?![:\d])", _I)
_P_REL_DAY = re.compile(
    r"\b(?:(?P<dby>the\s+day\s+before\s+yesterday)|(?P<dat>the\s+day\s+after\s+tomorrow)|"
    r"(?P<yest>yesterday|last\s+night)|(?P<today>today|tonight|this\s+(?:morning|afternoon|"
    r"evening))|(?P<tom>tomorrow)|(?P<other>the\s+other\s+day))\b",
    _I,
)
_P_AGO = re.compile(rf"\b{_NUM}\s+{_UNIT}\s+(?P<dir>ago|back|from\s+now)\b", _I)
_P_IN = re.compile(rf"\b(?:in|within)\s+{_NUM}\s+{_UNIT}\b", _I)
_P_ROLL = re.compile(rf"\b(?:the\s+)?(?:last|past)\s+{_NUM}\s+{_UNIT}\b", _I)
_P_REL = re.compile(
    r"\b(?P<rel>this\s+past|last|this|next|past|coming|the)\s+"
    r"(?P<what>week|month|year|weekend|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"january|february|march|april|may|june|july|august|september|october|november|december)\b",
    _I,
)
_P_MONTH = re.compile(
    r"\b(?:(?P<prep>in|of|during|since|until|till|by|through|throughout|early|late|mid|around|"
    rf"before|after|from|to)[\s-]+(?:(?:early|late|mid)[\s-]+)?)?{_FULLMON}\b",
    _I,
)
_P_WD = re.compile(rf"\b{_WD}\b", _I)
_P_YEAR = re.compile(r"(?<![$£€#\d.,/])(?<!\d-)\b(?P<y>19\d\d|20\d\d|2100)\b(?![.,/-]?\d)")

_LETTERS = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"\d")
_MONTH_WORDS: Final = frozenset(_MONTHS)
_WEEKDAY_WORDS: Final = frozenset(_WEEKDAYS)
_UNIT_WORDS: Final = frozenset("day days week weeks month months year years".split())
_SEASON_WORDS: Final = frozenset(_SEASONS)
_REL_WORDS: Final = _WEEKDAY_WORDS | _MONTH_WORDS | _UNIT_WORDS | {"weekend"}
_DAY_WORDS: Final = frozenset(
    "yesterday today tonight tomorrow night morning afternoon evening day".split()
)

_FUTURE = re.compile(
    r"\b(?:will|shall|gonna|going\s+to|plan|plans|planning|planned|hope|hoping|want\s+to|"
    r"wants\s+to|would\s+like|next|upcoming|coming\s+up|soon|tomorrow|looking\s+forward|"
    r"can't\s+wait|cannot\s+wait|intend|intends|scheduled)\b|'ll\b|’ll\b",
    _I,
)
_PAST = re.compile(
    r"\b(?:was|were|did|had|went|got|came|saw|made|took|met|ran|won|lost|bought|gave|left|felt|"
    r"told|said|found|thought|began|became|brought|sent|spent|built|wrote|ate|drove|flew|sang|"
    r"swam|knew|heard|kept|held|paid|sold|taught|caught|fought|sat|stood|slept|wore|ago|last|"
    r"yesterday|used\s+to|[a-z]{3,}ed)\b",
    _I,
)
# "-ed" words that are not past-tense verbs (or describe a present state).
_NOT_PAST: Final = frozenset(
    "speed breed bleed greed indeed hundred sacred naked wicked kindred beloved proceed succeed "
    "exceed embed excited interested tired scared worried supposed bored pleased thrilled "
    "engaged married obsessed amazed stressed".split()
)
_SENT_END = re.compile(r"[.!?\n]")
# ``([A-Za-z]+)\W*$`` searched back from a match (the regex rescans the text from its start).
_PREV_WORD = LAST_LETTERS
_NEXT_WORD = re.compile(r"\s*([A-Za-z']+)")
_YEAR_PREP: Final = frozenset(
    "in of since until till by during from to through around circa early late mid year summer "
    "winter spring fall autumn before after back and or between class".split()
)


# --- calendar helpers --------------------------------------------------------------------------
def _day(d: date, text: str) -> Span:
    return Span(d, d, text, "day")


def _week(d: date, text: str) -> Span:
    monday = d - timedelta(days=d.weekday())
    return Span(monday, monday + timedelta(days=6), text, "week")


def _month(y: int, m: int, text: str) -> Span | None:
    if not (1 <= m <= 12 and 1 <= y <= 9999):
        return None
    return Span(date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]), text, "month")


def _year(y: int, text: str) -> Span | None:
    return Span(date(y, 1, 1), date(y, 12, 31), text, "year") if 1 <= y <= 9999 else None


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _shift_months(d: date, n: int) -> date:
    idx = d.year * 12 + d.month - 1 + n
    y, m = divmod(idx, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _shift(d: date, unit: str, n: int) -> date:
    if unit == "day":
        return d + timedelta(days=n)
    if unit == "week":
        return d + timedelta(weeks=n)
    return _shift_months(d, n * (12 if unit == "year" else 1))


def _unit_span(d: date, unit: str, text: str) -> Span:
    if unit == "day":
        return _day(d, text)
    if unit == "week":
        return _week(d, text)
    span = _month(d.year, d.month, text) if unit == "month" else _year(d.year, text)
    assert span is not None  # d is a valid date, so its month and year are too
    return span


def _count(raw: str) -> tuple[int, bool, bool]:
    """(value, fuzzy, widen) for "3", "three", "a", "a few", "a couple of"."""
    key = raw.lower().split()
    for word in key:
        if word in _FUZZY:
            value, widen = _FUZZY[word]
            return value, True, widen
    word = key[0]
    return (int(word) if word.isdigit() else _NUMBERS[word]), False, False


def _offset_span(anchor: date, raw_num: str, unit: str, sign: int, text: str) -> Span:
    """The span ``sign * N units`` from the anchor; vague counts cover N-1..N+1 units."""
    n, fuzzy, widen = _count(raw_num)
    if not fuzzy:
        return _unit_span(_shift(anchor, unit, sign * n), unit, text)
    a = _unit_span(_shift(anchor, unit, sign * (n + 1)), unit, text)
    b = _unit_span(_shift(anchor, unit, sign * (n - 1)), unit, text)
    lo, hi = (a, b) if sign < 0 else (b, a)
    return Span(lo.start, hi.end, text, _WIDER[unit] if widen else unit)


class _Doc:
    """The text being resolved, with the sentence tenses the handlers ask for worked out once.

    Finding a match's sentence by scanning from the start of the text, and reading the sentence
    again for every date in it, made ``resolve`` quadratic on long texts ("Monday Monday ...",
    a log full of dates). Sentence ends are found once; each sentence's tense is judged once.
    """

    __slots__ = ("text", "_ends", "_tenses")

    def __init__(self, text: str) -> None:
        self.text = text
        self._ends: list[int] | None = None
        self._tenses: dict[tuple[int, int], int] = {}

    def tense(self, start: int, end: int) -> int:
        """-1 past, +1 future, 0 unknown, judged on the sentence around ``text[start:end]``."""
        if self._ends is None:
            self._ends = [m.start() for m in _SENT_END.finditer(self.text)]
        ends = self._ends
        i = bisect.bisect_left(ends, start)  # sentence ends before ``start``
        left = ends[i - 1] + 1 if i else 0
        j = bisect.bisect_left(ends, end)  # the first at or after ``end``
        stop = ends[j] if j < len(ends) else len(self.text)
        key = (left, stop)
        if key not in self._tenses:
            self._tenses[key] = _tense(self.text[left:stop])
        return self._tenses[key]


def _tense(sentence: str) -> int:
    """-1 past, +1 future, 0 unknown."""
    if _FUTURE.search(sentence):
        return 1
    if any(m.group(0).lower() not in _NOT_PAST for m in _PAST.finditer(sentence)):
        return -1
    return 0


def _pick_year(anchor: date, month: int, day: int, tense: int) -> int:
    """The year of month/day nearest the anchor in the direction of ``tense`` (0: same year)."""
    key, ref = (month, day), (anchor.month, anchor.day)
    if tense < 0 and key > ref:
        return anchor.year - 1
    if tense > 0 and key < ref:
        return anchor.year + 1
    return anchor.year


def _weekday(anchor: date, wd: int, direction: int) -> date:
    """The nearest weekday ``wd`` strictly before (direction -1) or after (+1) the anchor."""
    if direction < 0:
        return anchor - timedelta(days=(anchor.weekday() - wd) % 7 or 7)
    return anchor + timedelta(days=(wd - anchor.weekday()) % 7 or 7)


def _weekend(anchor: date, which: int, text: str) -> Span:
    """Saturday-Sunday of the anchor's week shifted by ``which`` weeks."""
    saturday = anchor - timedelta(days=anchor.weekday()) + timedelta(days=5 + 7 * which)
    return Span(saturday, saturday + timedelta(days=1), text, "week")


def _season(year: int, season: str, text: str) -> Span:
    first = _SEASONS[season]
    start = date(year, first, 1)
    last = _shift_months(start, 2)
    return Span(start, date(last.year, last.month, calendar.monthrange(last.year, last.month)[1]),
                text, "month")  # fmt: skip


# --- handlers: one per pattern; each returns None when the match is not a usable date ---------
def _h_iso(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    d = _date(int(m["y"]), int(m["m"]), int(m["d"]))
    return _day(d, m.group(0)) if d else None


def _h_slash(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    a, b, y = int(m["a"]), int(m["b"]), int(m["y"])
    if len(m["y"]) == 2:
        y += 2000 if y < 70 else 1900
    # US order (month/day) unless only the day-first reading is valid.
    d = _date(y, a, b) or _date(y, b, a)
    return _day(d, m.group(0)) if d else None


def _h_dmy(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    d = _date(int(m["y"]), _MONTHS[m["mon"].lower()], int(m["day"]))
    return _day(d, m.group(0)) if d else None


def _h_ym_iso(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    return _month(int(m["y"]), int(m["m"]), m.group(0))


def _h_my(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    return _month(int(m["y"]), _MONTHS[m["mon"].lower()], m.group(0))


def _h_season(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    season, rel, t = m["season"].lower(), (m["rel"] or "").lower(), m.group(0)
    if m["y"]:
        return _season(int(m["y"]), season, t)
    if anchor is None or not (rel or m["the"]):
        return None  # "fall" and "spring" are verbs and nouns too: need a determiner
    # ``cur``: the latest such season to start on or before the anchor (winter starts in December).
    cur = anchor.year if anchor.month >= _SEASONS[season] else anchor.year - 1
    here = _season(cur, season, t)
    inside = here.start <= anchor <= here.end
    tense = {"last": -1, "past": -1, "next": 1, "this": 0}.get(rel)
    if tense is None:  # "in the summer": by the sentence's tense, the current one if we are in it
        tense = 0 if inside else doc.tense(m.start(), m.end())
    if tense < 0:
        return here if here.end < anchor else _season(cur - 1, season, t)
    if tense > 0:
        return _season(cur + 1, season, t)
    return here if inside else _season(anchor.year, season, t)


def _h_dm(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    if anchor is None:
        return None
    month, day = _MONTHS[m["mon"].lower()], int(m["day"])
    year = _pick_year(anchor, month, day, doc.tense(m.start(), m.end()))
    d = _date(year, month, day)
    return _day(d, m.group(0)) if d else None


def _h_rel_day(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    if anchor is None:
        return None
    if m["other"]:  # "the other day": some day in the last week
        return Span(anchor - timedelta(days=7), anchor - timedelta(days=1), m.group(0), "week")
    offset = -2 if m["dby"] else 2 if m["dat"] else -1 if m["yest"] else 1 if m["tom"] else 0
    return _day(anchor + timedelta(days=offset), m.group(0))


def _h_ago(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    if anchor is None:
        return None
    sign = 1 if m["dir"].lower().startswith("from") else -1
    return _offset_span(anchor, m["num"], m["unit"].lower(), sign, m.group(0))


def _h_in(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    if anchor is None:
        return None
    return _offset_span(anchor, m["num"], m["unit"].lower(), 1, m.group(0))


def _h_roll(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    """ "the past three weeks": from N units back up to the anchor."""
    if anchor is None:
        return None
    n, _, widen = _count(m["num"])
    unit = m["unit"].lower()
    return Span(_shift(anchor, unit, -n), anchor, m.group(0), _WIDER[unit] if widen else unit)


def _h_rel(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    if anchor is None:
        return None
    rel, what, t = " ".join(m["rel"].lower().split()), m["what"].lower(), m.group(0)
    step = {"last": -1, "this past": -1, "past": -1, "this": 0, "next": 1, "coming": 1}.get(rel, 0)
    if what == "weekend":
        if rel == "the":  # "over the weekend": the latest one, or the coming one in future talk
            on_it = anchor.weekday() >= 5
            if doc.tense(m.start(), m.end()) > 0:
                return _weekend(anchor, 0 if anchor.weekday() < 5 else 1, t)
            return _weekend(anchor, 0 if on_it else -1, t)
        return _weekend(anchor, step, t)
    if what in _WEEKDAYS:
        wd = _WEEKDAYS[what]
        if rel == "the":
            return None
        if step == 0:
            return _day(anchor - timedelta(days=anchor.weekday() - wd), t)
        return _day(_weekday(anchor, wd, step), t)
    if what in _MONTHS:
        month = _MONTHS[what]
        if rel == "the":
            return None
        year = anchor.year
        if step < 0:
            year -= 1 if month >= anchor.month else 0
        elif step > 0:
            year += 1 if month <= anchor.month else 0
        return _month(year, month, t)
    if rel == "the":
        return None
    if rel == "past":  # "the past week": a rolling window ending at the anchor
        return Span(_shift(anchor, what, -1), anchor, t, what)
    return _unit_span(_shift(anchor, what, step), what, t)


def _h_month(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    word = doc.text[m.start("mon") : m.end("mon")]
    if anchor is None:
        return None
    # "may" is a modal verb and "march" a verb: without a preposition, want a capital and not "May".
    if not m["prep"] and (word.lower() == "may" or not word[0].isupper()):
        return None
    month = _MONTHS[word.lower()]
    return _month(_pick_year(anchor, month, 1, doc.tense(m.start(), m.end())), month, m.group(0))


def _h_weekday(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    if anchor is None:
        return None
    prev = _PREV_WORD.search(doc.text, 0, m.start())
    if prev and prev.group(1).lower() in ("every", "each"):
        return None  # a habit, not a date
    direction = 1 if doc.tense(m.start(), m.end()) > 0 else -1
    return _day(_weekday(anchor, _WEEKDAYS[m["wd"].lower()], direction), m.group(0))


def _h_year(m: re.Match[str], doc: _Doc, anchor: date | None) -> Span | None:
    # A bare 4-digit number is a year after a time preposition, or when no noun follows it
    # ("2000 people", "2019 steps" are counts).
    prev = _PREV_WORD.search(doc.text, 0, m.start())
    if not (prev and prev.group(1).lower() in _YEAR_PREP):
        nxt = _NEXT_WORD.match(doc.text, m.end())
        if nxt and nxt.group(1).lower() not in STOPWORDS:
            return None
    return _year(int(m["y"]), m.group(0))


# Order matters: the first pattern to claim a stretch of text wins it. Each rule runs only when
# the text has a digit (if it needs one) and one of its trigger words: most turns name no time,
# and a set lookup is far cheaper than a case-insensitive regex scan.
_Rule = tuple[
    re.Pattern[str],
    Callable[[re.Match[str], _Doc, date | None], Span | None],
    bool,
    frozenset[str] | None,
]
_RULES: Final[tuple[_Rule, ...]] = (
    (_P_ISO, _h_iso, True, None),
    (_P_SLASH, _h_slash, True, None),
    (_P_DMY, _h_dmy, True, _MONTH_WORDS),
    (_P_MDY, _h_dmy, True, _MONTH_WORDS),
    (_P_YM_ISO, _h_ym_iso, True, None),
    (_P_MY, _h_my, True, _MONTH_WORDS),
    (_P_SEASON, _h_season, False, _SEASON_WORDS),
    (_P_REL_DAY, _h_rel_day, False, _DAY_WORDS),
    (_P_AGO, _h_ago, False, frozenset({"ago", "back", "now"})),
    (_P_IN, _h_in, False, _UNIT_WORDS),
    (_P_ROLL, _h_roll, False, _UNIT_WORDS),
    (_P_REL, _h_rel, False, _REL_WORDS),
    (_P_DM, _h_dm, True, _MONTH_WORDS),
    (_P_MD, _h_dm, True, _MONTH_WORDS),
    (_P_MONTH, _h_month, False, _MONTH_WORDS),
    (_P_WD, _h_weekday, False, _WEEKDAY_WORDS),
    (_P_YEAR, _h_year, True, None),
)


def _anchor_date(anchor: datetime | date | None) -> date | None:
    if isinstance(anchor, datetime):
        return anchor.date()
    return anchor


def resolve(text: str, anchor: datetime | date | None) -> list[Span]:
    """Find the time expressions in ``text`` and resolve them against ``anchor``.

    Args:
        text: any English text.
        anchor: when the text was said (its ``occurred_at``); relative expressions ("yesterday",
            "last week", "in May") need it. Aware datetimes are taken at their own calendar date.

    Returns:
        The spans in order of appearance. Without an anchor only absolute dates resolve.
    """
    present = set(_LETTERS.findall(text.lower()))
    digits = _DIGIT.search(text) is not None
    day = _anchor_date(anchor)
    doc = _Doc(text)
    # The stretches already claimed, disjoint and sorted (looked up by bisection: a text full of
    # dates has thousands).
    starts: list[int] = []
    ends: list[int] = []
    found: list[tuple[int, Span]] = []
    for pattern, handler, needs_digit, triggers in _RULES:
        if (needs_digit and not digits) or (triggers is not None and present.isdisjoint(triggers)):
            continue
        for m in pattern.finditer(text):
            s, e = m.span()
            i = bisect.bisect_left(starts, e)  # claimed stretches starting before ``e``
            if i and ends[i - 1] > s:
                continue
            try:
                span = handler(m, doc, day)
            except (ValueError, OverflowError):  # arithmetic past year 1 or 9999
                continue
            if span is not None:
                at = bisect.bisect_right(starts, s)
                starts.insert(at, s)
                ends.insert(at, e)
                found.append((s, span))
    found.sort(key=lambda item: item[0])
    return [span for _, span in found]


def query_range(query: str, *, now: datetime | None = None) -> Span | None:
    """The time window a search query is about, or None when it names no time.

    Args:
        query: the search text ("what did I do last week?").
        now: the anchor for relative expressions; default the current UTC time.

    Returns:
        The one span named, or the smallest span covering all of them (at the coarsest
        granularity among them).
    """
    spans = resolve(query, now or _time.now())
    if not spans:
        return None
    if len(spans) == 1:
        return spans[0]
    return Span(
        min(s.start for s in spans),
        max(s.end for s in spans),
        ", ".join(s.text for s in spans),
        max((s.granularity for s in spans), key=_ORDER.__getitem__),
    )


_ASKS_WHEN = re.compile(
    r"^\W*when\b|\bwhen\s+(?:did|was|were|is|are|do|does|will|would|had|has|have|can|could|"
    r"should|'s|’s)\b|\b(?:what|which)\s+(?:date|day|year|month|week|time|season|decade)\b|"
    r"\bhow\s+long\s+ago\b|\bhow\s+(?:many|much)\s+(?:years|months|weeks|days|time)\s+ago\b|"
    r"\bsince\s+when\b|\bwhat\s+(?:was\s+|is\s+)?the\s+date\b|\bhow\s+long\s+(?:has|have|had)\b",
    _I,
)


def asks_when(query: str) -> bool:
    """Whether ``query`` asks for a time ("when did …", "what year …", "how long ago …").

    Args:
        query: the search text.

    Returns:
        True for questions whose answer is a date, time or duration up to now.
    """
    return _ASKS_WHEN.search(query) is not None
