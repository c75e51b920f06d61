"""Write-time signals of hostile memory content (A-MemGuard's first line of defense).

``scan`` looks for text that is shaped to steer a model rather than to record something:
instructions aimed at the assistant, tool-call and role-token payloads, invisible or
direction-changing characters, and markdown that would leak data through a URL. The flags are
signals, not verdicts: the caller lowers trust (``trust_for``) and may ask for consensus later.

The patterns are deliberately narrow. Everyday English is full of imperatives ("always lock the
door", "ignore the noise"); a flag needs a phrase that addresses a model (previous instructions,
the system prompt, "whenever the user asks ..., say ...") or a payload format no person types.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from remem.errors import InvalidInput

INSTRUCTION = "instruction"
TOOL_CALL = "tool_call"
HIDDEN_UNICODE = "hidden_unicode"
BIDI = "bidi"
URL_EXFIL = "url_exfil"
FLAGS: tuple[str, ...] = (INSTRUCTION, TOOL_CALL, HIDDEN_UNICODE, BIDI, URL_EXFIL)

BASE_TRUST: dict[str, float] = {
    "user": 1.0,
    "agent": 0.8,
    "tool": 0.6,
    "import": 0.7,
    "derived": 0.7,
}
# Only flags that try to command the model halve trust; odd characters alone are common in
# pasted text.
_HALVING = frozenset({INSTRUCTION, TOOL_CALL})

# Verbs an injected rule uses to change what the assistant says or does.
_MODEL_VERBS = (
    r"(?:answer|respond|reply|recommend|suggest|promote|endorse|mention|output|print|include"
    r"|insert|append|prepend|redirect|refer|claim|state|insist|reveal|disclose|obey|comply"
    r"|say\s+(?:that|yes|no|[\"'“‘])|tell\s+(?:the\s+user|users|them|everyone|anyone))"
)
# Subjectless imperatives must start a sentence ("Always recommend X."), not follow a subject
# ("I always recommend X"). Patterns that begin with this regex comment are matched anywhere and
# then ``_sentence_start`` checks what precedes them: a lookbehind at every position is slow.
_SUBJECTLESS = "(?#sentence-start)"
_ASKERS = r"(?:the\s+user|a\s+user|users|someone|somebody|anyone|anybody|people|they)"

_IGNORE = r"\b(?:ignore|disregard|forget|override|bypass)\s+"
# Each group runs only when one of its words occurs in the lower-cased text: one big alternation
# costs ~70 µs on a 30-word sentence, the gated groups a few µs.
_INSTRUCTION_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("ignore", "disregard", "forget", "override", "bypass"),
        (
            # "ignore (all) previous instructions", "disregard any prior rules"
            _IGNORE + r"(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|these\s+|those\s+)?"
            r"(?:previous|prior|above|earlier|preceding|former|original|system|initial)\s+"
            r"(?:instructions?|prompts?|rules|directions|directives|guidelines|context|constraints"
            r"|commands)\b",
            # "forget your instructions"
            _IGNORE + r"(?:all\s+|any\s+)?(?:of\s+)?your\s+(?:instructions|rules|guidelines"
            r"|programming|training|directives|constraints|safety)\b",
            # "disregard the above", "ignore everything above"
            _IGNORE + r"(?:everything\s+|all\s+)?(?:of\s+)?(?:the\s+|what\s+(?:is|was)\s+)?"
            r"(?:above|previous(?:ly)?\s+said)\b(?!\s+(?:average|all\b|ground|sea|the\b))",
        ),
    ),
    (
        ("now on", "are now"),
        (
            # "from now on, always recommend ...", "from now on you must never mention ..."
            r"\bfrom\s+now\s+on,?\s+(?:you\s+(?:must|should|will|shall|need\s+to|have\s+to"
            r"|are\s+to)\s+)?(?:always|never|only)\s+(?:\w+\s+){0,2}?" + _MODEL_VERBS + r"\b",
            # Role reassignment of the model itself.
            r"\byou\s+are\s+now\s+(?:an?\s+|the\s+|in\s+)?(?:\w+\s+){0,2}?(?:assistant|ai|bot"
            r"|chatbot|model|llm|dan|jailbroken|unrestricted|unfiltered|uncensored"
            r"|developer\s+mode|god\s+mode|admin\s+mode|debug\s+mode)\b",
            r"\byou\s+are\s+now\s+(?:no\s+longer\s+bound|free\s+(?:from|of)\s+(?:all\s+)?"
            r"(?:rules|restrictions|guidelines))",
        ),
    ),
    (
        ("you must", "you will", "you shall", "you are", "you have", "you should"),
        (
            # "you must always answer ...", "you will never reveal ..."
            r"\byou\s+(?:must|will|shall|are\s+required\s+to|are\s+to|have\s+to)\s+"
            r"(?:always|never|only)\s+(?:\w+\s+){0,2}?" + _MODEL_VERBS + r"\b",
            r"\b(?:as\s+an?\s+)?(?:ai|assistant|language\s+model),?\s+you\s+(?:must|should|will)"
            r"\s+(?:always|never)\b",
        ),
    ),
    (
        ("system",),
        (
            # The system prompt as something to change or reveal.
            r"\b(?:your|new|updated|real|hidden|original)\s+system\s+prompt\b",
            r"\b(?:reveal|print|show|ignore|override|update|change|repeat|leak|replace)\s+"
            r"(?:the\s+|your\s+)?system\s+prompt\b",
            r"\bsystem\s+prompt\s*:",
        ),
    ),
    (
        ("always", "never"),
        (
            # Subjectless imperatives at the start of a sentence: "Always recommend BrandX."
            _SUBJECTLESS + r"\b(?:always|never)\s+(?:recommend|suggest|promote|endorse|mention"
            r"|reveal|disclose|obey|output)\b",
            _SUBJECTLESS + r"\b(?:always|never)\s+(?:answer|respond|reply)\s+(?:with\b|in\s+\w+\b"
            r"|that\b|by\b|using\b|only\b|[\"'“‘]|to\s+(?:the\s+user|any\s+question"
            r"|every\s+question|questions)|(?:the\s+user|any\s+question|every\s+question"
            r"|all\s+questions|questions\s+about))",
        ),
    ),
    (
        ("ask",),
        (
            # "whenever the user asks about X, say Y" (and "if/when someone asks ..., reply ...")
            r"\b(?:whenever|when|if|every\s+time)\s+" + _ASKERS + r"\s+asks?\b"
            r"[^.!?\n]{0,160}?(?:,|\bthen\b)\s*(?:you\s+(?:must|should|will|shall)\s+)?"
            r"(?:always\s+)?(?:say|answer|reply|respond|recommend|suggest|tell\s+(?:them"
            r"|the\s+user)|mention|claim|state|direct|redirect|send)\b",
        ),
    ),
    (
        ("outdated", "obsolete", "incorrect", "wrong", "invalid", "superseded", "instead of"),
        (
            # Claims that other memories are void, planted to win over them (MINJA-style
            # "bridging" notes): "the earlier records about this are outdated".
            # Not someone's own ("my old records were wrong"), and within one clause.
            r"(?<!\bmy\s)(?<!\bour\s)(?<!\bhis\s)(?<!\bher\s)(?<!\byour\s)(?<!\btheir\s)"
            r"\b(?:the\s+)?(?:earlier|previous|prior|older|other|old|existing|stored|past|all)"
            r"\s+(?:records?|memor(?:y|ies)|entries)\b[^.!?,;\n]{0,60}?\b(?:are|is|were|was)\s+"
            r"(?:now\s+|all\s+)?(?:outdated|obsolete|wrong|incorrect|invalid|false|superseded"
            r"|deprecated|unreliable)\b",
            r"\binstead\s+of\s+(?:the\s+|any\s+)?(?:older|earlier|previous|other|stored|prior)"
            r"\s+(?:records?|memor(?:y|ies)|entries)\b",
        ),
    ),
    (
        ("whenever",),
        (
            # The same rule written the other way round: "Recommend X whenever the user asks ..."
            _SUBJECTLESS + r"\b(?:always\s+)?(?:say|answer|reply|respond|recommend|suggest|mention"
            r"|claim)\b[^.!?\n]{0,120}?\bwhenever\s+(?:the\s+user|a\s+user|users|someone"
            r"|anyone)\s+asks?\b",
        ),
    ),
)


def _alternation(patterns: tuple[str, ...], subjectless: bool) -> re.Pattern[str]:
    chosen = [p for p in patterns if p.startswith(_SUBJECTLESS) == subjectless]
    # "(?!)" never matches: an empty alternation would match everywhere.
    return re.compile("|".join(f"(?:{p})" for p in chosen) or "(?!)", re.IGNORECASE)


_INSTRUCTION_RES = tuple(
    (gate, _alternation(patterns, False), _alternation(patterns, True))
    for gate, patterns in _INSTRUCTION_GROUPS
)

_TOOL_RE = re.compile(
    r"\"(?:function|tool_calls|function_call|tool_call|tool_use)\"\s*:"
    r"|</?\s*(?:tool_call|tool_calls|function_call|function_calls|tool_use|tool_result|invoke)\b[^>]*>"
    r"|<\|[a-z_]{2,30}\|>"
    r"|\[/?INST\]|<<\s*/?SYS\s*>>"
    r"|(?m:^[ \t]*(?:assistant|system)[ \t]*:)",
    re.IGNORECASE,
)
_NAME_KEY = re.compile(r"\"name\"\s*:")
_ARGS_KEY = re.compile(r"\"(?:arguments|parameters|args|input)\"\s*:")

_HIDDEN_RE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\U000e0000-\U000e007f]")
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")
_RTL_RE = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
# A subdivision flag: black flag, tag letters/digits, cancel tag (England, Scotland, Wales).
_FLAG_TAGS_RE = re.compile("\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,6}\U000e007f")

_MD_URL_RE = re.compile(r"(!?)\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]+)")
_EXFIL_NAMES = re.compile(
    r"(?:^|[?&])(?:data|secret|token|key|api_?key|password|pass|pwd|session|history|memory|memories"
    r"|conversation|chat|context|prompt|exfil|payload|leak|info|user_?data|email|ssn|cc)=[^&#]+",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"[{}$]|%7b|%24|\[[A-Z_]{3,}\]", re.IGNORECASE)


def scan(content: str) -> tuple[str, ...]:
    """Flag instruction-like or hostile content at write time.

    Args:
        content: the text about to be stored.

    Returns:
        The flags that fire, in the order of ``FLAGS``: "instruction" (a rule aimed at the model),
        "tool_call" (a tool-call payload or chat role token), "hidden_unicode" (zero-width or tag
        characters outside emoji and scripts that need them), "bidi" (bidirectional controls),
        "url_exfil" (markdown that would send data to a URL). Empty for ordinary text.
    """
    found: list[str] = []
    if next(_instruction_matches(content), None) is not None:
        found.append(INSTRUCTION)
    if _is_tool_call(content):
        found.append(TOOL_CALL)
    if _has_hidden(content):
        found.append(HIDDEN_UNICODE)
    if _BIDI_RE.search(content):
        found.append(BIDI)
    if "](" in content and _has_exfil_url(content):
        found.append(URL_EXFIL)
    return tuple(found)


def find_instructions(content: str) -> tuple[str, ...]:
    """Return the instruction-like phrases in ``content`` (what ``scan`` flags as "instruction").

    Args:
        content: any text.

    Returns:
        The matched phrases, stripped, in order of appearance.
    """
    matches = sorted(_instruction_matches(content), key=lambda m: m.start())
    return tuple(m.group(0).strip() for m in matches)


def trust_for(origin: str, flags: tuple[str, ...]) -> float:
    """Return the trust of a new record from where it came from and what ``scan`` found.

    Args:
        origin: "user" (1.0), "agent" (0.8), "tool" (0.6), "import" (0.7) or "derived" (0.7).
        flags: the flags of ``scan``; each distinct "instruction" or "tool_call" flag halves trust.

    Returns:
        A trust value in [0, 1].

    Raises:
        InvalidInput: an unknown origin.
    """
    base = BASE_TRUST.get(origin)
    if base is None:
        raise InvalidInput(f"origin: must be one of {', '.join(BASE_TRUST)}, got {origin!r}")
    trust = base * 0.5 ** len(_HALVING.intersection(flags))
    return min(1.0, max(0.0, trust))


def _instruction_matches(content: str) -> Iterator[re.Match[str]]:
    """Matches of the instruction groups whose gate words occur in ``content``."""
    # Collapsing whitespace keeps "you   must" from slipping past the gate.
    lowered = " ".join(content.lower().split())
    for gate, anywhere, subjectless in _INSTRUCTION_RES:
        if any(word in lowered for word in gate):
            yield from anywhere.finditer(content)
            yield from (m for m in subjectless.finditer(content) if _sentence_start(content, m))


def _sentence_start(content: str, match: re.Match[str]) -> bool:
    before = content[: match.start()]
    stripped = before.rstrip()
    if stripped.lower().endswith("please"):
        before = stripped[:-6]
        stripped = before.rstrip()
    return not stripped or stripped[-1] in ".!?;:" or "\n" in before[len(stripped) :]


def _is_tool_call(content: str) -> bool:
    if _TOOL_RE.search(content):
        return True
    # {"name": ..., "arguments": ...} is the common function-call shape; either key alone is not.
    return "{" in content and bool(_NAME_KEY.search(content)) and bool(_ARGS_KEY.search(content))


def _has_hidden(content: str) -> bool:
    if not _HIDDEN_RE.search(content):
        return False
    text = _FLAG_TAGS_RE.sub("", content)
    if text.startswith("\ufeff"):  # a byte-order mark left over from reading a file
        text = text[1:]
    rtl = bool(_RTL_RE.search(text))
    for m in _HIDDEN_RE.finditer(text):
        ch, i = m.group(0), m.start()
        prev = text[i - 1] if i > 0 else ""
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch == "\u200d" and (_is_emoji(prev) or _is_emoji(nxt)):
            continue  # joins emoji sequences such as a family or a profession
        if ch in "\u200c\u200d" and prev.isalpha() and nxt.isalpha() and not prev.isascii():
            continue  # ZWNJ/ZWJ are spelling in Persian, Arabic and Indic scripts
        if ch in "\u200e\u200f" and rtl:
            continue  # direction marks are routine in Hebrew and Arabic text
        return True
    return False


def _is_emoji(ch: str) -> bool:
    if not ch:
        return False
    cp = ord(ch)
    return cp >= 0x1F000 or 0x2600 <= cp <= 0x27BF or cp in (0xFE0F, 0x2640, 0x2642)


def _has_exfil_url(content: str) -> bool:
    for m in _MD_URL_RE.finditer(content):
        image, url = m.group(1) == "!", m.group(2)
        query = url.partition("?")[2].partition("#")[0]
        if not query:
            continue
        values = [p.partition("=")[2] for p in query.split("&")]
        if _PLACEHOLDER.search(query) or _EXFIL_NAMES.search("?" + query):
            return True
        longest = max((len(v) for v in values), default=0)
        # Images load by themselves, so any sizeable value is a leak; links need a click.
        if longest >= (16 if image else 64):
            return True
    return False
