"""Standing memory: the user's instructions and preferences, kept as ``kind="core"``.

A standing memory is something that should shape every later interaction, not something that
happened: an **instruction** ("always format code blocks", "never call me before 9", "keep answers
short", "use pnpm, not npm", "commit messages should follow Conventional Commits") or a
**preference** about how things are done for the user ("I prefer minimal dependencies", "I like my
answers short", "I'd rather you didn't use emojis"). What is *not* standing (see docs/standing.md):

- facts about the user, however durable: "I'm vegetarian", "I live in Lisbon", "my favourite food
  is sardines" (ordinary memories, found by search, updated by knowledge updates);
- tastes and habits told in conversation: "I love painting", "I always go hiking on weekends",
  "we always go camping in summer" (first-person habits, not requests);
- one-off requests: "call me tomorrow", "please fix the failing test", "write a function that ...";
- other people's habits, questions, the past: "my mom never calls before 9", "do you prefer tea?",
  "I used to prefer vim";
- advice between friends: "never give up on your dreams", "you should always follow your heart".

``detect`` is a rule set over sentences (no model); ``classify`` applies it on every write path
(add, update, import): a trusted record — the user's own words, or an agent's in the agent's own
scope — that is detected becomes ``kind="core"``. Nothing from a tool, an import or another
origin becomes core, and nothing quarantined does; the guard flags a user's own standing
instruction ``directive`` and keeps it.

``profile`` is the current standing set of a scope: per subject (an attribute such as answer
length, language, contact time, indentation, package manager; else shared topic words and vector
similarity), the latest record wins; the older ones stay stored, in history and findable.
``surface`` is the last stage of ``Memory.search``: it brings in a standing record relevant to the
query (similar to it, or an instruction for the kind of task the query asks for) even when the
query does not repeat its words, taking at most one slot of the top 5.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from remem import _text, _time
from remem.guard import trust
from remem.store.base import Scope, Store
from remem.types import Hit, Record, Vector

CORE = "core"
INSTRUCTION, PREFERENCE, NOTE = "instruction", "preference", "note"
# Core records of a scope read for a profile or a search (the most recent first).
MAX_CORE = 200
# Cosine similarity (not the store's [0, 1] score) above which a standing record bears on a query;
# on a request (a task for the assistant, ``applies``) a looser one.
RELEVANT = 0.45
RELEVANT_TO_TASK = 0.3
# Two standing records are about the same subject above this similarity, or above SHARED when
# they also share a topic word.
SAME_SUBJECT = 0.8
SHARED = 0.5
TOP = 5  # the stage takes at most one slot of the top TOP
MAX_MORE = 2  # and adds at most this many more after them
_ASSISTANT_SPEAKERS = frozenset({"assistant", "ai", "bot", "system", "developer", "tool", "agent"})

# -- detection -----------------------------------------------------------------------------------

_FILLER = re.compile(
    r"^(?:(?:oh|ok|okay|so|also|and|but|btw|by\s+the\s+way|fyi|hey|hi|one\s+more\s+thing|just\s+so"
    r"\s+you\s+know|for\s+the\s+record|(?:please\s+)?(?:note|remember|keep\s+in\s+mind)(?:\s+that)?"
    r"|reminder|important|quick\s+note|p\.?s\.?|heads\s+up|just|actually|and\s+also)\b"
    r"[\s,:!\-–—]*)+"
)
_STANDING_ADVERB = re.compile(
    r"\b(?:always|never|every\s+time|each\s+time|whenever|everywhere|by\s+default|consistently"
    r"|at\s+all\s+times|from\s+now\s+on|going\s+forward|henceforth|in\s+(?:all|every|any)\b"
    r"|all\s+(?:my|the|your|our)\b|unless\s+i|only\b|as\s+a\s+rule|in\s+general|no\s+matter"
    r"|anymore|any\s+more|ever\b"
    r"|(?<!\bit\s)(?<!\bthem\s)(?<!\bus\s)\b(?:all|every|each)\b(?!\s+(?:the|of|this|that|these|those"
    r"|day|night|week|morning|evening|other|over|along|around|together|right|in|at|set|good|done"
    r"|ready|my\s+life)\b)(?=\s+\w)"
    r"|on\s+(?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays|weekends|weekdays)"
    r"|on\s+\w+days?\s+(?:mornings|evenings|afternoons|nights)|\bin\s+the\s+mornings\b"
    r"|\b(?:anything|everything|any\s+(?!time\b|more\b|way\b|chance\b)\w+s)\b)"
)
# A standing phrase anywhere: "I'd like responses in bullet points from now on."
_FROM_NOW = re.compile(
    r"\b(?:from\s+now\s+on|going\s+forward|henceforth|from\s+here\s+on(?:\s+out)?|moving\s+forward"
    r"|in\s+(?:the\s+)?future)\b"
)
# An assistant's task as the condition: "... when you suggest meals", "when suggesting restaurants, ..."
_TASK_CLAUSE = re.compile(
    r"\b(?:when|whenever|every\s+time|each\s+time|if)\s+(?:you\s+)?(?:write|answer|reply|respond"
    r"|suggest|recommend|explain|review|generate|summari[sz]e|send|draft|book|schedule|code|give"
    r"|plan|email|pick|choose|make|create|format|propose|list|order|search|look\s+up)(?:s|ing)?\b"
)
_CLAUSES = re.compile(r",\s+(?:so|but)\s+|;\s*|\s+[-–—]\s+")
_OPENER = re.compile(
    r"^(?:from\s+now\s+on|going\s+forward|moving\s+forward|henceforth|from\s+here\s+on(?:\s+out)?"
    r"|in\s+(?:the\s+)?future|for\s+(?:all\s+)?future\s+\w+|by\s+default|as\s+a\s+(?:general\s+)?"
    r"rule|in\s+general|starting\s+(?:now|today)|until\s+i\s+say\s+otherwise"
    r"|(?:for|in)\s+(?:this|our|the)\s+(?:project|repo|repository|codebase|code\s+base|team)"
    r"|(?:when|whenever|every\s+time|each\s+time)\s+you\s+(?:write|answer"
    r"|reply|respond|suggest|recommend|explain|review|generate|summari[sz]e|send|draft|book"
    r"|schedule|code|give|show|format|create|make|add|refactor|fix|plan|email|text|talk)"
    r"(?:\s+\w+){0,4}?)\s*[,:]\s*|^(?:from\s+now\s+on|going\s+forward|henceforth|by\s+default)\s+"
)
# What an assistant produces or does for the user, and the tools of a project: the objects of a
# standing instruction ("use tabs", "no emojis in answers").
_TARGET = re.compile(
    r"\b(?:answers?|responses?|repl(?:y|ies)|messages?|emails?|e-mails?|texts?|summar(?:y|ies)"
    r"|explanations?|examples?|code|coding|snippets?|code\s+blocks?|comments?|docstrings?|docs"
    r"|documentation|readmes?|functions?|variables?|names?|naming|classes|methods|imports?"
    r"|modules?|files?|lines?|tests?|testing|commits?|commit\s+messages?|prs?|pull\s+requests?"
    r"|branch(?:es)?|merges?|releases?|versions?|dependenc(?:y|ies)|librar(?:y|ies)|packages?"
    r"|frameworks?|tools?|emojis?|emoticons?|exclamation|jargon|slang|acronyms?|abbreviations?"
    r"|markdown|bullets?|bullet\s+points|lists?|tables?|headers?|headings?|formatting|format"
    r"|syntax\s+highlighting|indent(?:ation|s)?|tabs|spaces|semicolons?|quotes|type\s+hints?"
    r"|types|typing|linters?|linting|formatters?|spelling|grammar|tone|language|units?|metric"
    r"|imperial|celsius|fahrenheit|currency|dates?|timestamps?|time\s*zones?|utc|apolog\w*"
    r"|disclaimers?|caveats?|pleasantries|small\s+talk|filler|sources|citations?|links?|urls?"
    r"|output|logs?|logging|errors?|exceptions?|print\s+statements?|api|apis|endpoints?|sql"
    r"|queries|migrations?|configs?|secrets?|passwords?|notifications?|reminders?|meetings?"
    r"|calls?|spoilers|recipes?|meals?|flights?|seats?|hotels?|restaurants?|python|typescript"
    r"|javascript|rust|golang|java|kotlin|swift|ruby|php|c\+\+|bash|shell|pnpm|npm|yarn|pip"
    r"|poetry|conda|pytest|unittest|jest|vitest|docker|kubernetes|postgres(?:ql)?|sqlite|mysql"
    r"|redis|black|ruff|eslint|prettier|mypy|git|ci|snake_case|camel\s*case|kebab-case"
    r"|conventional\s+commits|semver|utf-8|iso\s*8601|english|french|spanish|german|italian"
    r"|portuguese|dutch|japanese|chinese|mandarin|korean|russian|arabic|hindi|polish|swedish"
    r"|british|american|paragraphs?)\b"
)
# Style words an instruction asks for ("be concise", "keep it short").
_STYLE = (
    r"(?:concise|brief|terse|succinct|short|shorter|direct|blunt|honest|formal|informal|casual"
    r"|polite|friendly|detailed|thorough|explicit|specific|precise|clear|simple|minimal|upfront"
    r"|straightforward|professional|gentle|patient|technical|high-level|focused|to\s+the\s+point"
    r"|sweet|plain|readable|clean|small|tidy|consistent|strict|typed|documented|commented)"
)
_STYLE_RE = re.compile(rf"\b{_STYLE}\b")
# Verbs of a standing imperative ("use tabs", "keep answers short", "avoid jargon").
_IMPERATIVE = re.compile(
    r"^(?:please\s+)?(?:(?:do\s+)?(?:use|prefer|avoid|keep|stick\s+(?:to|with)|write|format"
    r"|respond|reply|answer|explain|include|put|name|indent|wrap|limit|cite|show|give|speak"
    r"|talk|spell|sign|end|start|begin|default\s+to|target|follow|favou?r|mark|label|sort"
    r"|summari[sz]e|translate|add|run|pin|prefix|suffix|document|comment|test|lint|squash"
    r"|rebase|commit|address|refer\s+to|omit|skip|drop|leave\s+out|stop|quit|send|email|text"
    r"|remind|notify|schedule|book|recommend|suggest|assume|treat|round|convert|measure|list"
    r"|double-check|make\s+sure|make|ensure|be"
    # a standing instruction changed: "switch to 4-space indentation", "go back to pip"
    r"|switch\s+(?:over\s+|back\s+)?to|change\s+to|move\s+to|go\s+back\s+to|revert\s+to)\b)"
)
_NEGATIVE = re.compile(
    r"^(?:please\s+)?(?:(?:don'?t|do\s+not|never|no\s+more|stop|quit|avoid|skip|omit)\b"
    r"(?:\s+ever)?)"
)
_ADVERB_IMPERATIVE = re.compile(
    r"^(?:please\s+)?(?:always|never|only|don'?t\s+ever|do\s+not\s+ever|never\s+ever)\s+(\w+)"
)
# Words after "always"/"never" at a sentence start that make it no imperative ("never mind",
# "always a pleasure", "never been better").
_NOT_VERB = frozenset(
    "mind again ever been was were is are a an the my your his her our their so too more less "
    "that this there here had has have i you he she it we they yet before after thought knew "
    "felt liked loved wanted did does do seen heard gonna going good great happy glad here up down "
    "ready willing nice fun fine welcome late sure true right open available around saw said got "
    "went came made took gave told thought knew felt met ran found lost left heard full free busy "
    "amazing awesome cool special worth such very really super totally exactly just".split()
)
# Advice between friends, not instructions to an assistant.
_CLICHE = re.compile(
    r"\b(?:give\s+up|give\s+in|say\s+never|lose\s+hope|lose\s+sight|stop\s+(?:believing|dreaming|trying"
    r"|learning|growing|smiling|chasing)|believe\s+in|follow\s+your|chase\s+your|yourself"
    r"|your\s+(?:heart|dreams?|passions?|gut|instincts?|feelings?|values)|quit\s+on|look\s+back"
    r"|keep\s+(?!using\b)\w+ing\b|worr(?:y|ying|ied)"
    r"|let\s+(?:anything|anyone|anybody|nothing|it|them|that|this|\w+)\s+(?:stop|get|bring|hold)\s+you|take\s+\w+\s+for"
    r"\s+granted|underestimate|worry|forget\s+(?:where|who|to\s+(?:smile|breathe|have\s+fun)))\b"
)
# A one-off request: something here and now ("fix this", "call me tomorrow").
_ONE_OFF = re.compile(
    r"\b(?:today|tonight|tomorrow|yesterday|right\s+now|this\s+(?:morning|afternoon|evening"
    r"|weekend|week|time)|next\s+(?:week|time|monday|tuesday|wednesday|thursday|friday|saturday"
    r"|sunday|month)|asap|later\s+today|in\s+a\s+(?:minute|second|bit|moment)|for\s+now"
    r"|when\s+you\s+(?:can|get\s+a\s+chance|have\s+(?:a\s+)?(?:time|chance|minute|sec))"
    r"|if\s+you\s+(?:can|could|get\s+a\s+chance))\b"
    r"|^(?:please\s+)?(?:(?:don'?t|do\s+not|never)\s+)?\w+(?:\s+(?:me|us|up|out))?\s+that\b"
    r"|\b(?:this|these|those|it)\b(?!\s+(?:project|repo|repository|codebase|code\s+base"
    r"|team|company|conversation|chat|workspace|app|service|org|organi[sz]ation|house|when|if"
    r"|household|account|way)\b)"
)
_CONTACT = re.compile(
    r"\b(?:call|text|email|e-mail|message|ping|phone|ring|contact|bother|disturb|wake|notify"
    r"|remind|schedule|book)\s+(?:me|us)\b(?:\s+\w+){0,3}?\s+(?:before|after|between|until|past"
    r"|earlier\s+than|later\s+than|on\s+(?:weekends|weekdays|sundays|saturdays|mondays|fridays)"
    r"|at\s+night|in\s+the\s+(?:morning|evening|afternoon)s?|during\s+(?:work|the\s+day|lunch"
    r"|meetings|the\s+night)|outside)\b"
)
_ADDRESS = re.compile(
    r"^(?:please\s+)?(?:call\s+me|address\s+me\s+as|refer\s+to\s+me\s+as)\s+(?!when\b|if\b|at\b"
    r"|back\b|later\b|on\b|whenever\b|anytime\b|any\s+time\b|tomorrow\b|tonight\b|crazy\b|old\b"
    r"|a\b|an\b|the\b|it\b)(\w[\w.\-']*)(?:\s+\w[\w.\-']*)?\s*(?:,?\s*(?:not|instead|please)\b.*)?$"
    r"|^my\s+(?:pronouns\s+are|name\s+is\s+pronounced|preferred\s+name\s+is)\b"
)
_YOU_RULE = re.compile(
    r"\byou\s+(?:should|must|need\s+to|have\s+to|are\s+to|will|shall)\s+(?:always|never"
    r"|only)\b|\bi(?:\s+want|\s+need|\s+expect|\s+would\s+like|'d\s+like|\s+require)\s+you\s+to\b"
    r"|\bi\s+(?:don'?t|do\s+not)\s+(?:want|need)\s+you\s+to\b"
    r"|\bi(?:'d|\s+would)\s+(?:appreciate\s+it|prefer\s+it|like\s+it)\s+if\s+you\b"
    r"|\bi(?:'d|\s+would)\s+rather\s+(?:you|not\s+have\s+you)\b"
    r"|\bi\s+(?:really\s+)?(?:hate|dislike|don'?t\s+like|do\s+not\s+like|can'?t\s+stand|love"
    r"|like|appreciate|prefer)\s+(?:it\s+)?when\s+you\b"
)
_PREFER = re.compile(
    r"^(?:i|we)(?:\s+(?:really|generally|usually|always|much|strongly|definitely|personally|also"
    r"|still|now|tend\s+to|do))?\s+(?:prefer|favou?r)\b"
    r"|^(?:i|we)\s*(?:'d|would)\s+(?:much\s+|really\s+)?prefer\s+(?:you|if|that|it\s+if|when"
    r"|not\b)"
    r"|^my\s+(?:preference|preferred\s+\w+(?:\s+\w+)?)\s+(?:is|are)\b"
    r"|^(?:i|we)\s+(?:like|want|need|prefer)\s+(?:my|our)\s+(?:\w+\s+){1,2}?" + _STYLE + r"\b"
    r"|^(?:i|we)\s+(?:like|want|need|prefer)\s+(?:my|our)\s+\w+\s+(?:black|strong|spicy|mild"
    r"|hot|cold|rare|well\s+done|sweet|plain)\b"
)
_PROJECT = re.compile(
    r"^(?:we|our\s+team|the\s+team|this\s+(?:project|repo|repository|codebase|team|app|service)"
    r"|the\s+(?:project|repo|repository|codebase)|our\s+(?:code|codebase|repo|repository|project"
    r"|stack|convention|style\s+guide|services?|apps?|ci))\s+(?:(?:always|never|only|usually"
    r"|generally|all)\s+)?(?:use|uses|prefer|prefers|standardi[sz]ed\s+on|follow|follows|target"
    r"|targets|require|requires|stick\s+to|sticks\s+to|avoid|avoids|don'?t|do\s+not|doesn'?t|squashes|rebases|merges"
    r"|is\s+written\s+in|runs\s+on|deploy|deploys|name|names|format|formats|keep|keeps|squash"
    r"|rebase|pin|pins|write|writes|ban|bans|forbid|forbids|must|should)\b"
)
_RULE_SUBJECT = re.compile(
    r"^(?:all\s+|every\s+|each\s+|any\s+|new\s+|the\s+|our\s+|your\s+|my\s+)?(?:\w+\s+)?"
    r"(?:code|answers?|responses?|replies|summaries|commit\s+messages?|commits?|tests?|functions?"
    r"|variables?|variable\s+names|names|comments?|docstrings?|docs|documentation|prs?|pull"
    r"\s+requests?|branch(?:es|\s+names)?|emails?|messages?|dates?|times?|timestamps?|logs?"
    r"|errors?|examples?|output|explanations?|imports?|files?|lines?|classes|methods|endpoints?"
    r"|queries|migrations?|configs?|secrets?|passwords?|dependencies|releases?|meetings?"
    r"|calls?|notifications?|reminders?|prices?|amounts?|temperatures?|distances?)\s+"
    r"(?:should|must|need\s+to|have\s+to|are\s+to|shall|ought\s+to|go|belong|live|needs?|requires?"
    r"|may\s+not|can'?t|cannot)\b"
)
_LANGUAGE_REPLY = re.compile(
    r"^(?:please\s+)?(?:answer|respond|reply|write|talk|speak|explain)\s+(?:to\s+me\s+)?in\s+"
    r"(?:english|french|spanish|german|italian|portuguese|dutch|japanese|chinese|mandarin|korean"
    r"|russian|arabic|hindi|polish|swedish|plain\s+english|simple\s+english|british\s+english"
    r"|american\s+english|bullet\s+points|markdown|plain\s+text)\b"
)
# A terse standing preference: "Window seat, always.", "No onions, ever.", "Aisle seat please."
_TERSE = re.compile(
    r"^(?!(?:thanks|thank|me|you|i|we|same|love|miss|see|talk|bye|hugs|yes|yeah|sure|ok)\b)"
    r"(?:no\s+)?[a-z][\w\s'-]{1,30}?,?\s+(?:always|every\s+time|ever|never|please|by\s+default)$"
)
_QUESTION_REQUEST = re.compile(
    r"^(?:can|could|would|will)\s+you\s+(?:please\s+)?(?=(?:always|never|stop|keep|start"
    r"|from\s+now\s+on|going\s+forward|use|avoid|not)\b)"
)
_SENTENCES = re.compile(r"[^.!?\n]+[.!?]*")


def _sentences(content: str) -> Iterator[str]:
    text = content.replace("’", "'").replace("‘", "'").replace("`", "")
    for raw in _SENTENCES.findall(text):
        s = raw.strip()
        if len(s) < 4:
            continue
        yield s


def _clean(sentence: str) -> tuple[str, bool]:
    """The sentence lower-cased without leading fillers, bullets and quotes; and whether it
    asks a question."""
    question = sentence.rstrip().endswith("?")
    s = sentence.strip().lower().rstrip(".!? ")
    s = re.sub(r"^[\s\-*•>#\d.)\"']+", "", s)
    s = _FILLER.sub("", s).strip(" ,:")
    return s, question


def detect(content: str) -> str | None:
    """What kind of standing memory ``content`` is: "instruction", "preference", or None.

    One sentence that is a standing instruction or preference makes the whole record standing
    (see the module docstring for what counts and what does not).
    """
    found: str | None = None
    for sentence in _sentences(content):
        kind = _sentence_kind(sentence)
        if kind == INSTRUCTION:
            return kind
        found = found or kind
    return found


def _sentence_kind(sentence: str) -> str | None:
    original = sentence.strip()
    s, question = _clean(original)
    if not s:
        return None
    if question:
        request = _QUESTION_REQUEST.match(s)
        if request is None:
            return None
        s = s[request.end() :]
    if _CLICHE.search(s):
        return None
    clauses = _CLAUSES.split(s)
    if len(clauses) > 1:  # "I'm allergic to peanuts, so never suggest recipes with peanuts"
        kinds = [_clause_kind(c.strip(), original) for c in clauses if c.strip()]
        return next((k for k in kinds if k == INSTRUCTION), None) or next(
            (k for k in kinds if k), None
        )
    return _clause_kind(s, original)


def _clause_kind(s: str, original: str) -> str | None:
    whenever = re.match(r"^(?:whenever|every\s+time|each\s+time)\s+you\s+\w+[^,]{0,60},\s*(.+)$", s)
    if whenever and not re.search(r"\byour?\b", whenever.group(1)):
        then = whenever.group(1)
        if (
            _IMPERATIVE.match(then) or _NEGATIVE.match(then) or _ADVERB_IMPERATIVE.match(then)
        ) and (not re.match(r"^(?:just\s+)?let\s+me\s+know", then)):
            return INSTRUCTION
    if re.match(r"^(?:please\s+)?stop\s+\w+ing\b", s) and not _ONE_OFF.search(s):
        return INSTRUCTION
    if re.match(
        r"^(?:please\s+)?(?:explain|describe|answer|write|format|summari[sz]e|present)\s+"
        r"(?:things|everything|stuff|concepts|ideas|it\s+all)\b",
        s,
    ):
        return INSTRUCTION
    feeling = re.search(
        r"\b(?:love|like|enjoy|appreciate|miss|adore|hate)\s+(?:it\s+)?(?:when|whenever|if)\s+you\b",
        s,
    )
    if (
        _TASK_CLAUSE.search(s)
        and not feeling
        and not re.match(r"^(?:he|she|they|it|there|we|i\s+(?:was|did))\b", s)
    ):
        after_comma = s.split(",", 1)[1].strip() if "," in s else ""
        if (
            re.search(r"\b(?:you|me|my|i'?m|i\s+am)\b", s)
            or _IMPERATIVE.match(s)
            or _OPENER.match(s)
            or (
                after_comma
                and (_IMPERATIVE.match(after_comma) or _NEGATIVE.match(after_comma))
                and not re.search(r"\byour?\b", s)
            )
        ):
            if not _ONE_OFF.search(s) or _STANDING_ADVERB.search(s):
                return INSTRUCTION
    plans = re.search(
        r"\b(?:i|we)\s+(?:want|plan|hope|wish|intend|would\s+love|'d\s+love)\s+to\b|\bi'?m\s+going\s+to"
        r"|\b(?:i|we)\s+will\b|\b(?:i'll|we'll)\b",
        s,
    )
    if (
        _FROM_NOW.search(s)
        and not plans
        and not re.match(r"^(?:he|she|they|it|there|this|that)\b", s)
    ):
        if re.search(r"\b(?:you|your|me|my|please|i'?d\s+like|i\s+want)\b", s) or _IMPERATIVE.match(
            s
        ):
            return INSTRUCTION
    if re.match(r"^(?:i|we)\s+(?:used\s+to|once|never\s+(?:thought|knew|expected|imagined))\b", s):
        return None
    opener = _OPENER.match(s)
    if opener:
        rest = s[opener.end() :]
        if re.match(r"^(?:i|we)\b", rest) and not re.match(
            r"^(?:i|we)(?:\s+want|\s+need|'d\s+like|\s+would\s+like|\s+expect|\s+prefer"
            r"|\s+require)\s+(?!to\b)",
            rest,
        ):
            return None
        if rest and not re.match(r"^(?:he|she|they|it|there|this|that)\b", rest):
            return INSTRUCTION
    if re.match(
        r"^(?:please\s+)?(?:(?:address|refer\s+to)\s+me\s+as|use\s+my\s+(?:nick)?name|my\s+nickname\s+is)\b",
        s,
    ):
        return INSTRUCTION
    if _ADDRESS.search(s) and (not re.match(r"^(?:please\s+)?call\s+me", s) or _named(original)):
        return INSTRUCTION
    if re.match(
        r"^(?:our|the|my|your)\s+(?:\w+\s+)?(?:convention|rule|policy|standard|style|guideline"
        r"|preference|default)s?\s+(?:is|are)\b",
        s,
    ):
        return INSTRUCTION
    wish = re.match(
        r"^(?:i|we)(?:\s+want|\s+need|'d\s+like|\s+would\s+like|\s+expect|\s+require)\s+(?!to\b|you\b)",
        s,
    )
    if wish and _TARGET.search(s[wish.end() :]) and not _ONE_OFF.search(s):
        return INSTRUCTION
    if re.match(
        r"^(?:i|we)\s+(?:really\s+)?(?:like|love|prefer|want|appreciate|enjoy)\s+"
        + _STYLE
        + r"\s+",
        s,
    ) and _TARGET.search(s):
        return PREFERENCE
    if re.match(
        r"^(?:i|we)(?:'d|\s+would)\s+(?:much\s+)?rather\b.*\bthan\b", s
    ) and not _ONE_OFF.search(s):
        return PREFERENCE
    # "I'd rather have meetings in the afternoon", "we'd rather use pnpm": what is done for them.
    rather = re.match(
        r"^(?:i|we)(?:'d|\s+would)\s+(?:much\s+)?rather\s+(?:have|get|use|see|receive|keep"
        r"|go\s+with|stick\s+with)\s+",
        s,
    )
    if rather and _TARGET.search(s[rather.end() :]) and not _ONE_OFF.search(s):
        return PREFERENCE
    if _CONTACT.search(s) and (
        re.match(r"^(?:please\s+)?(?:don'?t|do\s+not|never|only)", s)
        or _STANDING_ADVERB.search(s)
        or re.search(r"\bany\s*time\b", s)
    ):
        if not _ONE_OFF.search(s):
            return INSTRUCTION
    if _YOU_RULE.search(s):
        if _STANDING_ADVERB.search(s) or _TARGET.search(s) or _STYLE_RE.search(s):
            if not _ONE_OFF.search(s) or _STANDING_ADVERB.search(s):
                return INSTRUCTION
    if _PREFER.search(s):
        return PREFERENCE
    if _RULE_SUBJECT.match(s) and not _ONE_OFF.search(s):
        return INSTRUCTION
    contrasted = re.search(r"(?:,\s*not|\binstead\s+of|\brather\s+than)\s+\w", s)
    if _PROJECT.match(s) and (_TARGET.search(s) or contrasted) and not _ONE_OFF.search(s):
        return INSTRUCTION
    if _LANGUAGE_REPLY.match(s):
        return INSTRUCTION
    no_in = re.match(r"^no\s+(?:\w+\s+){1,3}?(?:in|on|for|with|inside)\s+(.+)$", s)
    if no_in and _TARGET.search(no_in.group(1)):
        return INSTRUCTION
    if re.match(
        r"^(?:please\s+)?(?:stick\s+(?:to|with)|default\s+to|favou?r|standardi[sz]e\s+on)\b", s
    ):
        if not _ONE_OFF.search(s) or _STANDING_ADVERB.search(s):
            return INSTRUCTION
    if re.match(
        r"^(?:please\s+)?(?:don'?t|do\s+not|never)\s+(?:bring\s+up|mention|talk\s+about|discuss|joke\s+about"
        r"|suggest|recommend)\b",
        s,
    ) and not _ONE_OFF.search(s):
        return INSTRUCTION
    if re.match(
        r"^(?:please\s+)?remind\s+me\s+(?:about|of)\s+(?:\w+\s+)?\w+s\b", s
    ) and not _ONE_OFF.search(s):
        return INSTRUCTION
    terse = _TERSE.match(s) and len(s.split()) <= 4
    if terse and not re.search(r"\b(?:you|me|us|as|best|worst|\w+est)\b", s):
        return PREFERENCE
    adverb = _ADVERB_IMPERATIVE.match(s)
    if adverb and adverb.group(1) not in _NOT_VERB and not adverb.group(1).endswith(("ing", "ed")):
        return INSTRUCTION
    if _NEGATIVE.match(s):
        never = re.match(r"^(?:please\s+)?never\s+(\w+)", s)
        if never and (never.group(1) in _NOT_VERB or never.group(1).endswith(("ing", "ed"))):
            return None
        general = _TARGET.search(s) or _STYLE_RE.search(s) or _STANDING_ADVERB.search(s)
        if general and not _ONE_OFF.search(s):
            if not re.match(
                r"^(?:please\s+)?(?:don'?t|do\s+not)\s+(?:tell|ask|let|make)\s+me\b", s
            ):
                return INSTRUCTION
        return None
    if _IMPERATIVE.match(s):
        if re.match(
            r"^(?:please\s+)?(?:be|keep\s+(?:it|things|them|(?:the\s+|your\s+|my\s+|all\s+)?"
            r"(?:answers|responses|replies|tone|code|explanations|messages|emails|summaries"
            r"|comments|language|style|writing|functions|commits|prs)))\b",
            s,
        ):
            limited = re.search(
                r"\b(?:under|below|within|at\s+most|less\s+than|fewer\s+than|no\s+more\s+than"
                r"|to\s+(?:\d+|one|two|three|four|five|a\s+few|a\s+single))\b",
                s,
            )
            return INSTRUCTION if _STYLE_RE.search(s) or limited else None
        if _ONE_OFF.search(s) and not _STANDING_ADVERB.search(s):
            return None
        # "write a function that ...", "give me an example": one thing, asked once.
        if re.match(r"^(?:please\s+)?\w+(?:\s+(?:me|us))?\s+(?:a|an|one|some)\b", s):
            return None
        if _STANDING_ADVERB.search(s):
            return INSTRUCTION
        strong = re.search(r"\b(?:instead\s+of|rather\s+than|over)\b", s)
        if strong and re.match(r"^(?:please\s+)?(?:use|prefer|favou?r|choose|pick|go\s+with)\b", s):
            return INSTRUCTION
        if re.match(r"^(?:please\s+)?(?:prefer|favou?r)\b", s):
            return INSTRUCTION
        contrast = re.search(r"\b(?:instead\s+of|rather\s+than|over|not|never)\b", s)
        definite = re.match(
            r"^(?:please\s+)?\w+(?:\s+(?:me|us))?\s+(?:the|my|your|his|her|their|our|this|that)\b",
            s,
        )
        placed = re.search(r"\b(?:for|in|on|with|when|under|below|within|at\s+most)\b", s)
        if _TARGET.search(s) and (contrast or (placed and not definite) or _plural_object(s)):
            return INSTRUCTION
    return None


def _named(original: str) -> bool:
    """``call me X``: X is a name (capitalized in what was written), not "call me later"."""
    m = re.search(r"(?i:call\s+me)\s+([A-Z][\w.\-']*)", original)
    return m is not None


def _plural_object(s: str) -> bool:
    """The imperative's object is general (a plural or mass noun, not "the ..." or "my ...")."""
    words = s.split()
    if len(words) < 2:
        return False
    obj = words[1] if words[0] != "please" else (words[2] if len(words) > 2 else "")
    return (
        bool(obj)
        and obj not in ("the", "my", "your", "our", "his", "her", "their")
        and (bool(_TARGET.fullmatch(obj)) or obj.endswith("s"))
    )


# -- who may write standing memory ------------------------------------------------------------


def may_stand(record: Record) -> bool:
    """True when ``record`` may be standing memory: the user's own words (not an assistant's
    turn stored as the user's), or an agent's in the agent's own scope (``agent:<id>``, its own
    conventions), never quarantined, never a competing claim."""
    if record.level != "record" or trust.CONFLICT in record.flags:
        return False
    if record.speaker is not None and record.speaker.strip().lower() in _ASSISTANT_SPEAKERS:
        return record.origin == "agent" and record.user_id.startswith("agent:")
    if record.origin == "user":
        return True
    return record.origin == "agent" and record.user_id.startswith("agent:")


def classify(record: Record) -> Record:
    """``record`` as standing memory when it is one: an episodic record that may stand
    (``may_stand``) and states an instruction or preference (``detect``) becomes
    ``kind="core"``. Every write path calls this after the guard (add, update, import)."""
    if record.kind != "episodic" or not may_stand(record) or detect(record.content) is None:
        return record
    return replace(record, kind=CORE)


# -- the profile ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandingItem:
    """One standing memory in a profile.

    Attributes:
        id: the record's id.
        content: what it says.
        type: "instruction", "preference" or "note" (a core record stored as such that states
            neither).
        subjects: the attributes it sets ("length", "language", "contact", ...), when known.
        since: when it was said.
        agent_id: the agent it was given to, if one.
        replaces: ids of older standing memories on the same subject that it replaced.
    """

    id: str
    content: str
    type: str
    subjects: tuple[str, ...] = ()
    since: datetime | None = None
    agent_id: str | None = None
    replaces: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "content": self.content,
            "type": self.type,
            "subjects": list(self.subjects),
            "since": self.since.isoformat() if self.since else None,
            "agent_id": self.agent_id,
            "replaces": list(self.replaces),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StandingItem:
        """Rebuild from ``to_dict()`` output."""
        since = data.get("since")
        return cls(
            id=str(data["id"]),
            content=str(data["content"]),
            type=str(data.get("type") or NOTE),
            subjects=tuple(data.get("subjects") or ()),
            since=datetime.fromisoformat(since) if isinstance(since, str) else None,
            agent_id=data.get("agent_id"),
            replaces=tuple(data.get("replaces") or ()),
        )


@dataclass(frozen=True)
class Profile:
    """The current standing memory of a scope, oldest first: what a prompt's system part needs.

    Iterate it for the items; ``as_prompt()`` renders them compactly.
    """

    items: tuple[StandingItem, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[StandingItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def as_prompt(self) -> str:
        """The standing set as a few lines for a system prompt ("" when there is none)."""
        groups = (
            (INSTRUCTION, "Standing instructions from the user:"),
            (PREFERENCE, "The user's preferences:"),
            (NOTE, "Also keep in mind:"),
        )
        out: list[str] = []
        for kind, title in groups:
            lines = [" ".join(i.content.split()) for i in self.items if i.type == kind]
            if lines:
                out += [title, *(f"- {line}" for line in lines)]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the items and the prompt text."""
        return {"items": [i.to_dict() for i in self.items], "prompt": self.as_prompt()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild from ``to_dict()`` output."""
        return cls(tuple(StandingItem.from_dict(x) for x in data.get("items") or ()))


# The attributes an instruction or preference sets: a newer one on the same attribute replaces
# an older one, whatever the wording. Generic dimensions of how an assistant works for someone.
_OUTPUT = (
    r"(?:answers?|responses?|repl(?:y|ies)|explanations?|summar(?:y|ies)|messages?|emails?|texts?"
    r"|code|comments?|docs|documentation|descriptions?|it|them|things|writing|output|be|keep)"
)
_LANGUAGES = (
    r"(?:english|french|spanish|german|italian|portuguese|dutch|japanese|chinese|mandarin"
    r"|korean|russian|arabic|hindi|polish|swedish|greek|turkish|ukrainian)"
)
_ATTRIBUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (  # only of what the assistant writes: "long flights" is no answer length
            "length",
            r"\b(?:short|shorter|brief|briefer|concise|terse|succinct|long|longer|lengthy"
            r"|detailed|verbose|thorough|in[\s-]depth|one-liners?|\d+\s+(?:words|sentences"
            r"|lines|paragraphs|bullets)|length)\b(?=.*\b" + _OUTPUT + r"\b)"
            r"|\b" + _OUTPUT + r"\b.*\b(?:short|shorter|brief|concise|terse|succinct|long|longer"
            r"|lengthy|detailed|verbose|thorough|in[\s-]depth|\d+\s+(?:words|sentences|lines))\b",
        ),
        (  # the language spoken or written, not "Italian food"
            "language",
            r"\bin\s+(?:plain\s+|simple\s+|british\s+|american\s+)?" + _LANGUAGES + r"\b"
            r"|\b(?:speak|talk|write|answer|respond|reply)\s+(?:to\s+me\s+)?" + _LANGUAGES + r"\b"
            r"|\b(?:british|american)\s+(?:spelling|english)\b",
        ),
        ("tone", r"\b(?:formal|informal|casual|polite|blunt|professional|tone|humou?r)\b"),
        ("emoji", r"\b(?:emojis?|emoticons?)\b"),
        (  # when to reach the user ("call me Sam" is how to address them)
            "contact",
            r"\b(?:call|text|phone|ring|ping|contact|reach|disturb|bother|wake)\s+(?:me|us)\b"
            r"(?!\s+(?-i:[A-Z]))|\b(?:calls|phone\s+calls)\b",
        ),
        (
            "address",
            r"\b(?:(?-i:[Cc]all\s+me\s+[A-Z]\w*)|address\s+me|refer\s+to\s+me|pronouns"
            r"|my\s+(?:preferred\s+)?name)\b",
        ),
        ("indentation", r"\b(?:tabs|spaces|indent\w*)\b"),
        ("quotes", r"\b(?:single|double)\s+quotes\b"),
        ("package manager", r"\b(?:npm|pnpm|yarn|bun|pip|poetry|uv|conda|pipenv)\b"),
        ("test framework", r"\b(?:pytest|unittest|jest|vitest|mocha|nose)\b"),
        ("formatter", r"\b(?:black|prettier|autopep8|yapf|ruff\s+format|gofmt|rustfmt)\b"),
        ("units", r"\b(?:metric|imperial|celsius|fahrenheit|miles|kilometers|kilometres)\b"),
        ("time zone", r"\b(?:utc|time\s*zones?|local\s+time|gmt)\b"),
        ("markup", r"\b(?:markdown|plain\s+text|bullet\s+points|bullets|html)\b"),
    )
)
# Words of an instruction that say how, not what about.
_SCAFFOLD = frozenset(
    "always never please prefer preferred rather like want need use using keep make sure "
    "dont don't do not no more any time anytime only instead every each all my me i you we our "
    "your would could should must also just really much generally usually time times thing "
    "things stuff way answer answers response responses reply replies".split()
)


@functools.lru_cache(maxsize=4096)
def subjects(content: str) -> tuple[str, ...]:
    """The attributes a standing memory sets (see ``_ATTRIBUTES``), in table order (cached: the
    same few standing memories are compared on every search)."""
    return tuple(name for name, pattern in _ATTRIBUTES if pattern.search(content))


@functools.lru_cache(maxsize=4096)
def _topic(content: str) -> frozenset[str]:
    return frozenset(_text.stem(t) for t in _text.terms(content) if t.lower() not in _SCAFFOLD)


def same_subject(a: Record, b: Record, cosine: float | None) -> bool:
    """True when ``a`` and ``b`` are about the same subject: they set a common attribute; or,
    setting no attribute in common, they share a topic word and are similar (cosine at least
    ``SHARED``), or are very similar (``SAME_SUBJECT``)."""
    sa, sb = set(subjects(a.content)), set(subjects(b.content))
    if sa & sb:
        return True
    if sa and sb:
        return False
    if cosine is None:
        return bool(_topic(a.content) & _topic(b.content)) and not (sa or sb)
    if cosine >= SAME_SUBJECT:
        return True
    return cosine >= SHARED and bool(_topic(a.content) & _topic(b.content))


def _when(record: Record) -> datetime:
    """When the user last said it: when it happened, or when it was said again (a repeat merges
    into the stored record, a new version) or changed, if later."""
    said = record.occurred_at or record.created_at
    if record.version > 1 and record.updated_at is not None:
        said = max(said, record.updated_at) if said is not None else record.updated_at
    return said or _EPOCH


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def core_records(store: Store, where: Scope) -> list[Record]:
    """The standing memory of ``where`` that may stand (``may_stand``), newest first (at most
    ``MAX_CORE``). With an agent: that agent's and the user's for every agent (no agent)."""
    from remem.filters import parse

    scoped = replace(
        where,
        agent_id=None,  # an agent's own and the user's for every agent
        conditions=(*where.conditions, *parse({"kind": CORE})),
        levels=("record",),
        ids=None,
    )
    agents = (None, where.agent_id)
    generation = store.generation()
    key = (
        generation,
        scoped.user_id,
        scoped.agent_id,
        where.agent_id,
        scoped.conditions,
        scoped.session_id,
        scoped.as_of,
        scoped.include_superseded,
    )
    if generation is not None:
        with _CORE_LOCK:
            hit = _CORE.get(key)
            if hit is not None:
                _CORE.move_to_end(key)
        if hit is not None:  # nothing was written since: only expiry can have changed
            now = _time.now()
            return [r for r in hit if r.expires_at is None or r.expires_at > now]
    records: list[Record] = []
    cursor = None
    while True:
        page = store.list(scoped, limit=1000, cursor=cursor)
        records.extend(
            r
            for r in page.records
            if may_stand(r) and (where.agent_id is None or r.agent_id in agents)
        )
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    records.sort(key=lambda r: (_when(r), r.created_at or _EPOCH), reverse=True)
    records = records[:MAX_CORE]
    if generation is not None:
        with _CORE_LOCK:
            _CORE[key] = records
            while len(_CORE) > _CORE_CACHE:
                _CORE.popitem(last=False)
    return list(records)


# ``core_records`` of the last few scopes, by the store's generation (``Store.generation``: it
# moves on every write, this process's or another's), so a read-only stretch lists them once.
_CORE: OrderedDict[tuple[object, ...], list[Record]] = OrderedDict()
_CORE_CACHE = 64
_CORE_LOCK = threading.Lock()


def current(store: Store, records: Sequence[Record]) -> list[tuple[Record, list[str]]]:
    """Of ``records`` (newest first), the latest per subject, each with the ids it replaced;
    oldest first."""
    if not records:
        return []
    key = tuple((r.id, r.version) for r in records)
    with _CURRENT_LOCK:
        hit = _CURRENT.get(key)
        if hit is not None:
            _CURRENT.move_to_end(key)
            return [(r, list(replaced)) for r, replaced in hit]
    out = _current(store, records)
    with _CURRENT_LOCK:
        _CURRENT[key] = [(r, list(replaced)) for r, replaced in out]
        while len(_CURRENT) > _CURRENT_CACHE:
            _CURRENT.popitem(last=False)
    return out


# ``current`` of the last few standing sets (by their records' ids and versions: an edit is a new
# version): every search of a scope asks for the same set until one of its records changes.
_CURRENT: OrderedDict[tuple[tuple[str, int], ...], list[tuple[Record, list[str]]]] = OrderedDict()
_CURRENT_CACHE = 64
_CURRENT_LOCK = threading.Lock()


def _current(store: Store, records: Sequence[Record]) -> list[tuple[Record, list[str]]]:
    cosine = _cosines(store.vectors([r.id for r in records]), [r.id for r in records])
    kept: list[tuple[Record, list[str]]] = []
    kept_at: list[tuple[int, tuple[Record, list[str]]]] = []  # (index in records, kept entry)
    for i, record in enumerate(records):  # newest first: a record is replaced by a newer kept one
        winner = next(
            (k for j, k in kept_at if same_subject(k[0], record, cosine(j, i))),
            None,
        )
        if winner is None:
            kept.append((record, []))
            kept_at.append((i, kept[-1]))
        else:
            winner[1].append(record.id)
    kept.reverse()
    return kept


def _cosines(
    vectors: Mapping[str, Vector], ids: Sequence[str]
) -> Callable[[int, int], float | None]:
    """cosine(i, j) of ``ids[i]`` and ``ids[j]`` (None when either has no vector or a zero
    one), all pairs computed in one matrix product: ``current`` compares every standing record
    with every kept one (200 of them: 20,000 pairs)."""
    present = [k for k, i in enumerate(ids) if i in vectors]
    if not present:
        return lambda i, j: None
    matrix = np.stack([np.asarray(vectors[ids[k]], dtype=np.float32) for k in present])
    norms = np.linalg.norm(matrix, axis=1)
    ok = norms > 0
    unit = np.where(ok[:, None], matrix / np.where(ok, norms, 1.0)[:, None], 0.0)
    sims = (unit @ unit.T).tolist()
    at = {k: (n if ok[n] else None) for n, k in enumerate(present)}

    def cosine(i: int, j: int) -> float | None:
        a, b = at.get(i), at.get(j)
        return None if a is None or b is None else float(sims[a][b])

    return cosine


def profile(store: Store, where: Scope) -> Profile:
    """``Memory.profile``: the current standing set of a scope (see ``Profile``)."""
    return Profile(
        tuple(
            StandingItem(
                id=r.id,
                content=r.content,
                type=detect(r.content) or NOTE,
                subjects=subjects(r.content),
                since=r.occurred_at,
                agent_id=r.agent_id,
                replaces=tuple(replaced),
            )
            for r, replaced in current(store, core_records(store, where))
        )
    )


# -- the search stage ---------------------------------------------------------------------------

# A query asking the assistant to do something (not a question about the past).
_TASK = re.compile(
    r"^(?:(?:hey|hi|ok|okay|so|please|now|next|also|and)[,\s]+)*(?:(?:can|could|would|will)\s+you"
    r"|help\s+me|i\s+(?:need|want|'d\s+like|would\s+like)\s+(?:you\s+)?to|i'?m\s+(?:trying|going)"
    r"\s+to|let'?s|how\s+(?:\w+\s+)?(?:do|can|should|would)\s+(?:i|we|you)"
    r"|what'?s\s+the\s+best\s+way\s+to|push|commit|merge|release|ship|run|install|upgrade|publish"
    r"|rename|clean\s+up|document|remind|order|buy|pick|choose|arrange|organise"
    r"|write|implement|build|create|make|add|fix|refactor|debug|draft|plan|schedule|book|set\s+up"
    r"|setup|design|generate|explain|summari[sz]e|translate|review|rewrite|update|migrate|deploy"
    r"|configure|test|port|convert|optimi[sz]e|find|recommend|suggest|compose|reply|answer|send"
    r"|organi[sz]e|prepare|outline|code)\b",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"\b(?:code|coding|implement\w*|function|class|method|api|endpoint|login|auth\w*|bug|debug"
    r"|refactor\w*|script|test|tests|module|package|librar\w+|dependenc\w+|deploy\w*|build|compile"
    r"|repo|commit|branch|merge|pull\s+request|pr|python|typescript|javascript|rust|java|sql"
    r"|database|query|schema|migration|server|backend|frontend|component|css|html|regex|parser"
    r"|cli|docker|program\w*|app|feature|snippet|library|framework|lint\w*|type|variable)\b",
    re.IGNORECASE,
)
_CODE_RULE = _CODE
_SCHEDULE = re.compile(
    r"\b(?:call|calls|meeting|meet|appointment|schedule|book|calendar|remind\w*|time|times"
    r"|morning|evening|tomorrow|weekend|slot|reschedule|availability)\b",
    re.IGNORECASE,
)
_ANSWERS = re.compile(
    r"\b(?:answers?|responses?|repl(?:y|ies)|explanations?|explain|summar\w+|tone|emojis?"
    r"|language|english|french|spanish|german|concise|brief|short|detailed|verbose|jargon"
    r"|markdown|bullets?|format\w*|apolog\w*|disclaimers?|sources|citations?)\b",
    re.IGNORECASE,
)


def applies(record: Record, query: str) -> str | None:
    """Why a standing instruction applies to a task-like ``query`` although their words differ:
    "answers" (how to answer: any request), "code" (a coding request), "schedule" (a request
    about times and calls); None when it does not."""
    if not _TASK.search(query.strip()):
        return None
    text = record.content
    if "address" in subjects(text):
        return "answers"
    if _CODE_RULE.search(text) and not _SCHEDULE.search(text):
        return "code" if _CODE.search(query) else None
    if _CONTACT.search(text.lower()) or re.search(r"\b(?:call|meeting|schedule)\w*\b", text, re.I):
        return "schedule" if _SCHEDULE.search(query) else None
    if _ANSWERS.search(text) or subjects(text):
        return "answers"
    return None


def surface(
    store: Store,
    hits: list[Hit],
    query: str,
    query_vector: Vector,
    where: Scope,
    *,
    limit: int,
) -> list[Hit]:
    """The last stage of ``Memory.search``: the current standing memories of the scope that
    bear on ``query`` — by vector similarity (at least ``RELEVANT``), or as an instruction for
    the kind of task the query asks for (``applies``) — marked ``explain["standing"]``. One not
    already in the top ``TOP`` takes the last of those slots (the hits there move down one);
    others follow the top ``TOP``. Nothing changes for fewer than two slots or a past view."""
    if limit < 2 or where.as_of is not None or where.levels != ("record",):
        return hits
    standing = current(store, core_records(store, where))
    if not standing:
        return hits
    hits = _latest_first(hits, standing)
    vectors = store.vectors([r.id for r, _ in standing])
    q = np.asarray(query_vector, dtype=np.float32)
    chosen: list[tuple[float, Record, dict[str, Any]]] = []
    for record, replaced in standing:
        v = vectors.get(record.id)
        similarity = None
        if v is not None:
            norm = float(np.linalg.norm(v) * np.linalg.norm(q))
            similarity = float(np.dot(v, q)) / norm if norm else None
        task = bool(_TASK.search(query.strip()))
        bar = RELEVANT_TO_TASK if task else RELEVANT
        why = "similar" if similarity is not None and similarity >= bar else None
        why = why or applies(record, query)
        if why is None:
            continue
        info: dict[str, Any] = {"why": why, "similarity": round(similarity or 0.0, 4)}
        if replaced:
            info["replaces"] = replaced
        chosen.append((similarity or 0.0, record, info))
    if not chosen:
        return hits
    chosen.sort(key=lambda c: -c[0])
    info_of = {r.id: info for _, r, info in chosen}
    out = [
        replace(h, explain={**h.explain, "standing": info_of[h.record.id]})
        if h.record.id in info_of
        else h
        for h in hits
    ]
    placed = {h.record.id for h in out[:TOP]}
    missing = [(r, info) for _, r, info in chosen if r.id not in placed]
    if not missing:
        return out
    by_id = {h.record.id: h for h in out}
    moved = {r.id for r, _ in missing}
    rest = [h for h in out if h.record.id not in moved]
    slot = min(TOP - 1, len(rest), limit - 1)
    extra = [
        by_id.get(r.id)
        or Hit(r, _score_at(rest, slot), {"standing": {**info, "added": True}}, r.flags)
        for r, info in missing[: 1 + MAX_MORE]
    ]
    merged = [*rest[:slot], extra[0], *rest[slot:]]
    merged = [*merged[:TOP], *extra[1:], *merged[TOP:]]
    return merged[:limit]


def _latest_first(hits: list[Hit], standing: list[tuple[Record, list[str]]]) -> list[Hit]:
    """``hits`` with each current standing memory ranked above the older ones it replaced
    (they stay in the results, below it, ``explain["standing"]["replaced_by"]``)."""
    out = list(hits)
    for record, replaced in standing:
        at = next((i for i, h in enumerate(out) if h.record.id == record.id), None)
        if at is None or not replaced:
            continue
        older = [i for i, h in enumerate(out[:at]) if h.record.id in replaced]
        if not older:
            continue
        first = older[0]
        current_hit = out.pop(at)
        moved = replace(current_hit, score=max(current_hit.score, out[first].score))
        out.insert(first, moved)
        for i in range(first + 1, at + 1):
            h = out[i]
            if h.record.id in replaced:
                info = {**h.explain.get("standing", {}), "replaced_by": record.id}
                out[i] = replace(h, explain={**h.explain, "standing": info})
    return out


def _score_at(hits: Sequence[Hit], slot: int) -> float:
    if not hits:
        return 0.0
    return hits[min(slot, len(hits) - 1)].score


__all__ = [
    "CORE",
    "INSTRUCTION",
    "NOTE",
    "PREFERENCE",
    "Profile",
    "StandingItem",
    "classify",
    "detect",
    "may_stand",
    "profile",
    "subjects",
    "surface",
]
