"""Tokenizing for query analysis: words, a general English stop-word list, light normalization."""

from __future__ import annotations

import re
from collections.abc import Callable

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# Function words of English (closed classes: pronouns, articles, auxiliaries, prepositions,
# conjunctions, question words). Content words are never listed here.
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't down during each few for from further had hadn't has hasn't have haven't having he he'd
    he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into
    is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only
    or other ought our ours ourselves out over own same shan't she she'd she'll she's should
    shouldn't so some such than that that's the their theirs them themselves then there there's
    these they they'd they'll they're they've this those through to too under until up very was
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while
    who who's whom why why's will with won't would wouldn't you you'd you'll you're you've your
    yours yourself yourselves s t just also would may might shall must
    """.split()
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (apostrophes kept inside words)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def terms(text: str) -> list[str]:
    """Distinct content terms of ``text`` in order: words minus stop words (all words if none left)."""
    # Possessives: "Ana's" should find "Ana".
    toks = [w[:-2] if w.endswith("'s") else w for w in words(text)]
    kept = [w for w in toks if w not in STOPWORDS]
    return list(dict.fromkeys(kept or toks))


def _is_word_char(ch: str) -> bool:
    # What ``\w`` matches in a str pattern: Unicode letters, digits and numerics, and "_".
    return ch.isalnum() or ch == "_"


class TrailingWord:
    """``re.compile(rf"({word}+)\\W*$").search(text, pos, endpos)``, reading back from ``endpos``.

    The regex form tries every start position from ``pos`` and backtracks over each long word, so
    asking it once per match is quadratic in the text (and one call on a long unbroken token is
    too). This walks back over the trailing non-word characters and then the word, and returns
    the same match object (the regex run at the one position where its match can start).

    Args:
        word: a character class such as ``r"\\w"`` or ``"[A-Za-z]"`` (its characters must be word
            characters).
        is_word: tells whether one character is in ``word``.
    """

    def __init__(self, word: str, is_word: Callable[[str], bool]) -> None:
        self.pattern = re.compile(rf"({word}+)\W*$")
        self._is_word = is_word

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        """The match of ``pattern.search(text, pos, endpos)``, in time linear in what it reads."""
        end = len(text) if endpos is None else max(0, min(endpos, len(text)))
        q = end
        while q > pos and not _is_word_char(text[q - 1]):
            q -= 1
        p = q
        while p > pos and self._is_word(text[p - 1]):
            p -= 1
        return self.pattern.match(text, p, end) if p < q else None


#: ``(\w+)\W*$``: the last word before a position.
LAST_WORD = TrailingWord(r"\w", _is_word_char)
#: ``([A-Za-z]+)\W*$``: the last ASCII-letter word before a position.
LAST_LETTERS = TrailingWord("[A-Za-z]", lambda ch: "a" <= ch <= "z" or "A" <= ch <= "Z")


_SUFFIXES = ("ing", "ed", "es", "s")


def stem(word: str) -> str:
    """A crude stem for matching word forms: "moved", "moves", "moving" and "move" -> "mov"
    (a suffix off words of five letters or more, then a final "e")."""
    for suffix in _SUFFIXES:
        if len(word) >= 5 and word.endswith(suffix) and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) >= 4 and word.endswith("e") else word
