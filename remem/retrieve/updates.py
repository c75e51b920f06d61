"""The latest fact wins (issue 14, item 2): when two of a query's best records are about the
same thing — both match the query, and they are close to each other — but were said at
different times, the newer is the current one. For a question in the present tense ("what car
do I drive?", "when is standup?") it ranks above the older; for a question about the past ("used
to", "before", "did …", a named time) nothing moves, and ``as_of`` sees the past as it was.

This is ranking, not deletion: both records stay, with their history. It needs no slot patterns:
"I drive a red Honda Civic" and "I sold the Civic and bought a blue Tesla" share no phrasing, but
both answer "what car do I drive?" and are close in meaning.
"""

from __future__ import annotations

import re

import numpy as np

from remem import _text
from remem.retrieve import timeline
from remem.types import Record, Vector

HEAD = 5  # how deep in the ranking a pair is looked for
DEEP = 10  # ... when the newer says that something changed (``CHANGE``)
SAME_SUBJECT = 0.3  # cosine between the two records at which they are about one thing
SHARED_SUBJECT = 0.15  # ... when they also name a thing in common
MARGIN = 0.05  # ... and closer to each other than either is to any other record of the head
STRONG_RANK = 3  # the newer is among the first this many of some retriever (it matches itself)
SAME_SESSION_GAP_S = 3600.0  # within one session, said at least this much later: the next
# turns of a conversation elaborate ("Noted, I'll write the migrations for Postgres then."), they
# do not replace; across sessions (or with no session), strictly later is enough — an app that
# passes no times writes a replacement milliseconds after the older record.
AS_RELEVANT = 0.35  # the newer's cosine to the query, at least this share of the older's
# ... and both together: the newer's closeness to the older times its share of the older's
# relevance. A replacement is about the older's subject and answers the question nearly as well;
# in a small store, a remark that is a little of each ("Can't wait for the trip!" after "Flight
# to Oslo leaves at 7:40", asked "what time is the flight?": 0.31 x 0.47) is neither.
JOINT = 0.16

_PAST = re.compile(
    r"\b(?:did|was|were|had|used\s+to|before|previously|originally|formerly|at\s+first|"
    r"in\s+the\s+past|back\s+then|earlier|ago|former|formerly|initially|last\s+(?:year|month|"
    r"week|time)|history|change[ds]?|since|until|"
    # the common irregular past forms
    r"went|came|made|got|took|saw|gave|told|said|found|felt|bought|sold|left|met|ran|wrote|"
    r"began|brought|thought|knew|became|chose|won|lost|spent|heard|kept|built|taught|caught|"
    r"fell|held|paid|sent|meant|sat|stood|understood|ate|drank|drove|flew|grew|threw|wore)\b",
    re.IGNORECASE,
)
# Words of a statement that says something changed ("we moved", "I switched to", "now", "no longer",
# "since the move"): a newer record that says so replaces an older one of the same subject even
# where the chat around them is as close to the older (no ``MARGIN``), and from deeper (``DEEP``).
# Words that add ("started", "joined", "adopted") are not among them: "I joined a beach volleyball
# league" adds a sport to the ones asked for by "What sports does Priya do?", it replaces none.
CHANGE = re.compile(
    r"\b(?:now|these\s+days|nowadays|lately|currently|anymore|any\s+more|no\s+longer|instead|"
    r"since\s+(?:the|then|last|my|our|this)|switched|changed|moved|relocated|transferred|replaced|"
    r"renamed|bumped|"
    r"upgraded|downgraded|migrated|sold|bought|quit|dropped|gave\s+up|given\s+up|got\s+rid|"
    r"retired|rewrote|raised|lowered|increased|decreased|doubled|halved|rescheduled|slipped|"
    r"broke\s+up|grew\s+out|grown\s+out|down\s+to|passed\s+away|died|closed|cancell?ed)\b",
    re.IGNORECASE,
)
# ... in a statement this short (characters): a long answer that says "now" or "instead" somewhere
# says many things, not that one of them changed.
CUE_CHARS = 300
# A regular past form ("moved", "motivated") — unless the question is in the present, where it is
# a participle ("where is the database hosted?").
_ED = re.compile(r"\b[a-z]{2,}ed\b", re.IGNORECASE)
_NOT_ED = frozenset("need speed indeed bed red seed feed breed shed embed weed".split())
# The present perfect ("What has Joanna written?", "Which countries have I visited?") asks what has
# happened so far, all of it, not how things are now: the latest does not replace the rest.
_PERFECT = re.compile(
    r"\b(?:has|have|'ve|hasn't|haven't)\s+(?:\w+\s+){0,3}?(?:been|done|made|had|read|run|won|"
    r"lost|got|gotten|bought|taught|thought|brought|met|kept|left|built|sent|spent|heard|told|"
    r"sung|begun|swum|drunk|\w+ed|\w+en|\w+wn)\b",
    re.IGNORECASE,
)
_PRESENT_AUX = frozenset("is are am do does don't doesn't isn't aren't".split())


def asks_present(query: str) -> bool:
    """Whether ``query`` asks how things are now (no past tense, no "before", "used to", ...)."""
    head = query[:2000]
    if _PAST.search(head) or _PERFECT.search(head):
        return False
    words = set(_text.words(head))
    if words & _PRESENT_AUX:
        return True
    return not any(m.group(0).lower() not in _NOT_ED for m in _ED.finditer(head))


def codes(query: str) -> set[str]:
    """The codes ``query`` names: terms of letters and digits both ("tok6x1", "ua123", "b12"), as
    ``newer_first`` compares them (stemmed). Asked for a code, a user wants the record that has it."""
    return {
        _text.stem(t)
        for t in _text.terms(query[:2000])
        if any(c.isdigit() for c in t) and any(c.isalpha() for c in t)
    }


def newer_first(
    records: list[Record],
    vectors: dict[str, Vector],
    query: Vector,
    strong: set[str] | None = None,
    named: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, str]:
    """Among ``records`` (the first ``DEEP`` of the ranking, best first, then up to ``DEEP``
    more that a retriever ranks among its first ``STRONG_RANK``): the record of the first
    ``HEAD`` closest to the query that a newer record of the same subject (as relevant to
    ``query``, within ``AS_RELEVANT``) replaces, as {newer id: older id} — whether the newer is
    already above it or not. One pair per query (the subject the query is most about), so a
    remark that happens to be newer and a little similar cannot climb a chain of them.

    Same subject: close in meaning (cosine ``SAME_SUBJECT``), or a little close and naming a
    thing in common ("sold the Civic" after "I drive a red Honda Civic"); and each other's
    nearest by ``MARGIN`` among the first ``HEAD`` — in a chat where every turn is about the same
    few things (all close), two of them being close says nothing — unless the newer says that
    something changed (``CHANGE``: "we moved", "I switched to", "now"), which is looked for among
    all of ``records``. The newer must match the query on its own (among the
    first ``STRONG_RANK`` of a retriever, when ``strong`` names those), and be close enough to
    the older and relevant enough to the query together (``JOINT``). A question replaces
    nothing: it states no value. A query that names a code
    (``named``, see ``codes``) the older has and the newer lacks looks the older up: it stays.
    """
    head = [r for r in records if r.id in vectors]
    if len(head) < 2:
        return {}
    mat = np.stack([np.asarray(vectors[r.id], dtype=np.float32) for r in head])
    mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    rel = mat @ (q / max(float(np.linalg.norm(q)), 1e-12))
    sims = mat @ mat.T
    said = [{_text.stem(t) for t in _text.terms(r.content[:2000])} for r in head]

    shallow = min(len(head), HEAD)
    cue = [len(r.content) <= CUE_CHARS and bool(CHANGE.search(r.content)) for r in head]

    def same(i: int, j: int) -> bool:
        close = sims[i, j] >= SAME_SUBJECT or (sims[i, j] >= SHARED_SUBJECT and said[i] & said[j])
        if close and cue[j]:
            return True
        if j >= shallow:
            return False
        others = [sims[i, k] for k in range(shallow) if k not in (i, j)]
        return bool(close and sims[i, j] - max(others, default=0.0) >= MARGIN)

    # The older looked at first is the head's record closest to the query in meaning: in a long
    # chat, the turns of the older's session are lifted around it, and one of them, less about
    # the query, may rank above it.
    for i in sorted(range(shallow), key=lambda i: (-rel[i], i)):
        earlier = head[i]
        later = [
            j
            for j in range(len(head))
            if j != i
            and same(i, j)
            and rel[j] >= AS_RELEVANT * rel[i]
            and sims[i, j] * rel[j] >= JOINT * rel[i]
            and not asks(head[j].content)
            and _later(earlier, head[j])
            and (strong is None or head[j].id in strong)
            and not (named & said[i]) - said[j]
        ]
        if later:
            best = max(later, key=lambda j: (sims[i, j] * rel[j], timeline.said(head[j])))
            return {head[best].id: earlier.id}
    return {}


def asks(content: str) -> bool:
    """Whether a turn is a question (it ends with one: "When's the wedding?"): it asks, it
    states no value (``hierarchy`` weighs question turns by this too)."""
    return content.rstrip().endswith("?")


def _later(earlier: Record, later: Record) -> bool:
    """Whether ``later`` was said after ``earlier`` late enough to replace it."""
    gap = _gap(earlier, later)
    same = earlier.session_id is not None and earlier.session_id == later.session_id
    return gap >= SAME_SESSION_GAP_S if same else gap > 0


def _gap(earlier: Record, later: Record) -> float:
    """Seconds by which ``later`` was said after ``earlier`` (negative or 0 when it was not)."""
    a, b = timeline.said(earlier), timeline.said(later)
    if a is None or b is None:
        return 0.0
    return (b - a).total_seconds()
