"""remem's exceptions, one tree rooted at ``RememError``.

    RememError
    ├── ConfigError
    │   └── EmbedderMismatch
    ├── MissingDependency (also ImportError)
    ├── StoreError
    │   └── MigrationError
    ├── NotFound (also KeyError)
    ├── Conflict
    ├── EmbeddingError
    ├── LLMError
    │   └── LLMOutputError
    ├── Unauthorized
    ├── Forbidden
    └── InvalidInput (also ValueError)
        └── TooLarge

Driver errors (``sqlite3.Error``, ``psycopg.Error``) are mapped once, at the backend boundary.
"""

from __future__ import annotations


class RememError(Exception):
    """Base class of every error remem raises on purpose."""

    def __str__(self) -> str:
        # KeyError's str() wraps the message in quotes; keep messages readable everywhere.
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(RememError):
    """A setting is missing, unknown or malformed."""


class EmbedderMismatch(ConfigError):
    """The store was written by another embedder than the one this process uses (its vectors
    would be compared with query vectors of another space). ``stored`` and ``given`` are the two
    identities (name, dims, version); the message names both and the fix."""

    def __init__(self, message: str, *, stored: dict[str, object], given: dict[str, object]):
        super().__init__(message)
        self.stored, self.given = stored, given


class MissingDependency(RememError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class StoreError(RememError):
    """The storage backend failed (I/O, driver error, corrupted file)."""


class MigrationError(StoreError):
    """A schema migration could not be applied."""


class NotFound(RememError, KeyError):
    """No record with that id exists in the caller's scope."""


class Conflict(RememError):
    """The request conflicts with the current state (for example, a duplicate id on import)."""


class EmbeddingError(RememError):
    """The embedder failed to produce vectors."""


class InvalidInput(RememError, ValueError):
    """The caller passed something remem cannot accept; the message says what and why."""


class TooLarge(InvalidInput):
    """Content or a batch is over the configured size limit."""


class LLMError(RememError):
    """The LLM call failed: unreachable, timed out, refused, or retries exhausted."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMOutputError(LLMError):
    """The model answered, but its output does not fit the requested schema, even after repair."""


class Unauthorized(RememError):
    """A request carries no API key, or one that is unknown or revoked."""


class Forbidden(RememError):
    """The request addresses a tenant other than the one its API key belongs to."""


# The HTTP status of each error over REST (the server maps errors to it, the client back).
HTTP_STATUS: dict[type[RememError], int] = {
    TooLarge: 413,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    StoreError: 503,
    EmbeddingError: 503,
    LLMError: 502,
}


def every_error() -> dict[str, type[RememError]]:
    """Every remem error type, by name (what an error body's ``"error"`` names)."""
    out: dict[str, type[RememError]] = {}
    pending: list[type[RememError]] = [RememError]
    while pending:
        cls = pending.pop()
        out[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return out
