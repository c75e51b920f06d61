"""remem: long-term memory for LLM agents. Embedded, offline, fast."""

from __future__ import annotations

from remem.config import Settings
from remem.errors import (
    ConfigError,
    Conflict,
    EmbeddingError,
    InvalidInput,
    MigrationError,
    MissingDependency,
    NotFound,
    RememError,
    StoreError,
    TooLarge,
)
from remem.memory import Memory
from remem.types import HistoryEntry, Hit, Page, Record

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Conflict",
    "EmbeddingError",
    "HistoryEntry",
    "Hit",
    "InvalidInput",
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
    "__version__",
]
