"""The optional LLM: the ``LLMClient`` protocol, settings, token accounting, JSON output helpers.

remem works with no LLM. When one is configured (``REMEM_LLM_BASE_URL`` and ``REMEM_LLM_MODEL``),
callers in ``remem.llm.tasks`` and ``remem.answer`` use it, falling back to heuristics on failure.

A client implements one method, ``complete(messages, ...) -> Completion``, and keeps a ``usage``
accumulator. Structured output goes through ``complete_json``, which repairs the usual model slips
(code fences, prose around the object, trailing commas, ``<think>`` blocks), validates against a
pydantic model, asks again once with the validation error, and otherwise raises ``LLMOutputError``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from remem.errors import ConfigError, LLMOutputError

Message = Mapping[str, str]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Usage:
    """Token counts of one or more calls, from the response's ``usage`` field (0 when absent)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.calls + other.calls,
        )

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class UsageMeter:
    """A thread-safe running total of ``Usage``, kept on each client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self.retries = 0

    def add(self, usage: Usage) -> None:
        """Add one call's usage."""
        with self._lock:
            self._total = self._total + usage

    def count_retry(self) -> None:
        """Count one retried request (not a call: it produced no completion)."""
        with self._lock:
            self.retries += 1

    @property
    def total(self) -> Usage:
        """Everything counted so far."""
        return self._total

    def as_dict(self) -> dict[str, int]:
        """The running total plus the retry count, as a plain dict."""
        return {**self._total.as_dict(), "retries": self.retries}


@dataclass(frozen=True)
class Completion:
    """One chat completion: the text, why it stopped ("stop", "length", ...) and its token usage."""

    text: str
    finish_reason: str | None
    usage: Usage
    model: str | None = None


@runtime_checkable
class LLMClient(Protocol):
    """A chat model. ``complete`` returns one completion or raises ``LLMError``; never other errors.

    ``usage`` accumulates the token counts of every call made through the client.
    """

    usage: UsageMeter

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_mode: bool = False,
    ) -> Completion:
        """Run one chat completion."""
        ...


@dataclass(frozen=True)
class LLMSettings:
    """How to reach an OpenAI-compatible chat-completions endpoint, and how patiently.

    Attributes:
        base_url: the API root including ``/v1`` (``http://127.0.0.1:11434/v1``); None = no LLM.
        model: the model name the server knows; None = no LLM.
        api_key: sent as a bearer token when set.
        timeout: seconds for one HTTP request (connect, read, write).
        max_retries: retries after the first attempt on 429, 5xx, timeouts and connection errors.
        backoff: the first retry's delay in seconds; doubled each retry, with jitter.
        backoff_max: the largest delay between two retries.
        retry_after_max: a ``Retry-After`` longer than this ends the retries instead of waiting.
        max_tokens: the completion budget per call.
        temperature: sampling temperature (0 keeps outputs repeatable).
        json_mode: send ``response_format={"type": "json_object"}`` for structured calls.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout: float = 30.0
    max_retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    max_tokens: int = 512
    temperature: float = 0.0
    json_mode: bool = True

    @property
    def configured(self) -> bool:
        """True when both an endpoint and a model are set."""
        return bool(self.base_url and self.model)

    @classmethod
    def from_env(cls, prefix: str = "REMEM_LLM_", **overrides: Any) -> LLMSettings:
        """Build settings from ``{prefix}FIELD`` variables (``REMEM_LLM_MODEL``...), then overrides.

        Raises:
            ConfigError: an unknown setting or a malformed value.
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(prefix + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(prefix + f.name.upper(), raw, f.type)
        for name, value in overrides.items():
            if name not in known:
                raise ConfigError(
                    f"unknown LLM setting {name!r}; known: {', '.join(sorted(known))}"
                )
            if value is not None:
                values[name] = value
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        for name in ("timeout", "backoff", "backoff_max", "retry_after_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"LLM setting {name} must be a number >= 0, got {value!r}")
        for name in ("max_retries", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"LLM setting {name} must be an integer >= 0, got {value!r}")
        if self.base_url is not None and not re.match(r"https?://", self.base_url):
            raise ConfigError(
                f"LLM base_url must start with http:// or https://: {self.base_url!r}"
            )


def _coerce(var: str, raw: str, annotation: object) -> Any:
    try:
        if annotation == "int":
            return int(raw)
        if annotation == "float":
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{var} must be a number, got {raw!r}") from exc
    if annotation == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{var} must be true or false, got {raw!r}")
    return raw


# -- structured output ---------------------------------------------------------------------

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_END = re.compile(r"</think>", re.IGNORECASE)
# Possessive: backtracking the language tag or the blank after it can only move where the body
# starts, never find a closing fence the longest reading did not (it was quadratic on "```" and
# a long blank with no closing fence).
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*+\s*+\n?(.*?)```", re.DOTALL)


def parse_json(text: str) -> Any:
    """Parse the JSON value a model meant to write, repairing the common slips.

    Tries, in order: the text as it is; the inside of a Markdown code fence; the first balanced
    ``{...}`` or ``[...]``; each of those with trailing commas removed. Reasoning models'
    ``<think>`` blocks are dropped first.

    Raises:
        LLMOutputError: no JSON value could be recovered.
    """
    text = _drop_think(text).strip()
    candidates = [text]
    fence = _FENCE.search(text)
    if fence:
        candidates.append(fence.group(1).strip())
    first = _first_balanced(text)
    if first:
        candidates.append(first)
    for candidate in candidates:
        for variant in (candidate, _drop_trailing_commas(candidate)):
            try:
                return json.loads(variant)
            except json.JSONDecodeError:
                continue
    raise LLMOutputError(f"no JSON object in model output: {text[:200]!r}")


def _drop_think(text: str) -> str:
    """``_THINK.sub("", text)`` in linear time.

    The regex fails, reading to the end, at every ``<think>`` after the last ``</think>``: a reply
    repeating an unclosed tag made it quadratic. Blocks can only end at or before the last closing
    tag, so only the text up to it is searched.
    """
    cut = max((m.end() for m in _THINK_END.finditer(text)), default=0)
    return _THINK.sub("", text[:cut]) + text[cut:] if cut else text


def _first_balanced(text: str) -> str | None:
    """The first balanced JSON object or array in ``text``, respecting strings and escapes."""
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        return None
    stack: list[str] = []
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return text[start : i + 1]
    return None


def _drop_trailing_commas(text: str) -> str:
    """Remove commas directly before ``}`` or ``]`` outside of strings."""
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "}]":
            # Walk back over whitespace to a dangling comma, if any.
            j = len(out) - 1
            while j >= 0 and out[j].isspace():
                j -= 1
            if j >= 0 and out[j] == ",":
                del out[j]
        out.append(ch)
    return "".join(out)


def complete_json(
    client: LLMClient,
    messages: Sequence[Message],
    schema: type[M],
    *,
    attempts: int = 2,
    max_tokens: int | None = None,
) -> tuple[M, Usage]:
    """Ask for JSON that validates against ``schema``, repairing and re-asking when needed.

    Args:
        client: the model.
        messages: the conversation; the last message should ask for JSON of this shape.
        schema: the pydantic model the output must validate against.
        attempts: calls to make at most; after a bad answer the model is shown its error.
        max_tokens: completion budget per call (the client's default if None).

    Returns:
        The validated object and the summed usage of every call made.

    Raises:
        LLMOutputError: no attempt produced valid output (a truncated answer says so).
        LLMError: the endpoint failed.
    """
    convo = list(messages)
    usage = Usage()
    problem = "no attempt made"
    for _ in range(max(1, attempts)):
        done = client.complete(convo, max_tokens=max_tokens, json_mode=True)
        usage = usage + done.usage
        try:
            return schema.model_validate(parse_json(done.text)), usage
        except (LLMOutputError, ValidationError) as exc:
            truncated = done.finish_reason == "length"
            problem = ("output truncated at the token limit; " if truncated else "") + _brief(exc)
        convo = [
            *convo,
            {"role": "assistant", "content": done.text},
            {
                "role": "user",
                "content": (
                    f"That reply was not valid: {problem}. Reply with only the JSON object, "
                    f"matching this JSON schema: {json.dumps(schema.model_json_schema())}"
                ),
            },
        ]
    raise LLMOutputError(f"model output rejected: {problem}")


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errs = exc.errors()[:3]
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errs)
    return str(exc)
