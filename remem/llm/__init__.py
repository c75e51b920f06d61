"""The optional LLM. ``make_client()`` returns None when none is configured; callers fall back."""

from __future__ import annotations

import dataclasses
from typing import Any

from remem.errors import ConfigError, LLMError, LLMOutputError
from remem.llm.base import (
    Completion,
    LLMClient,
    LLMSettings,
    Usage,
    UsageMeter,
    complete_json,
    parse_json,
)


def make_client(settings: LLMSettings | None = None, **overrides: Any) -> LLMClient | None:
    """The configured LLM client, or None when no endpoint and model are set.

    Args:
        settings: ready settings; by default read from ``REMEM_LLM_*`` (see ``LLMSettings``).
        **overrides: ``LLMSettings`` fields that win over the environment.

    Returns:
        An ``OpenAICompatClient``, or None.

    Raises:
        ConfigError: a malformed or unknown setting.
    """
    if settings is None:
        settings = LLMSettings.from_env(**overrides)
    elif overrides:
        try:
            settings = dataclasses.replace(settings, **overrides)
        except TypeError as exc:
            raise ConfigError(f"unknown LLM setting: {exc}") from exc
    if not settings.configured:
        return None  # no import of httpx and the client for a store without an LLM
    from remem.llm.openai_compat import OpenAICompatClient

    return OpenAICompatClient(settings)


__all__ = [
    "Completion",
    "LLMClient",
    "LLMError",
    "LLMOutputError",
    "LLMSettings",
    "Usage",
    "UsageMeter",
    "complete_json",
    "make_client",
    "parse_json",
]
