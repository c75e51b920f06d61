"""remem: long-term memory for LLM agents. Embedded, offline, fast."""

from __future__ import annotations

from remem.aio import AsyncMemory
from remem.answer import Answer
from remem.config import Settings
from remem.errors import (
    ConfigError,
    Conflict,
    EmbeddingError,
    Forbidden,
    InvalidInput,
    LLMError,
    LLMOutputError,
    MigrationError,
    MissingDependency,
    NotFound,
    RememError,
    StoreError,
    TooLarge,
    Unauthorized,
)
from remem.memory import Memory
from remem.types import HistoryEntry, Hit, Link, Page, Record

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "AsyncMemory",
    "ConfigError",
    "Conflict",
    "EmbeddingError",
    "Forbidden",
    "HistoryEntry",
    "Hit",
    "InvalidInput",
    "LLMError",
    "LLMOutputError",
    "Link",
    "Memory",
    "MigrationError",
    "MissingDependency",
    "NotFound",
    "Page",
    "Record",
    "RememError",
    "Settings",
    "StoreError",
    "TooLarge",
    "Unauthorized",
    "__version__",
]
