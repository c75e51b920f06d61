"""Numbered schema migrations: each backend registers its own ``mNNN_*`` functions.

A migration is applied once, in order, when the store opens, and recorded in ``_remem_migrations``.
Never edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = Callable[[Any], None]


class Migrations:
    """An ordered set of migrations for one backend."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.steps: list[tuple[str, Migration]] = []

    def __call__(self, fn: Migration) -> Migration:
        """Register ``fn`` (decorator); its name orders it and records it."""
        if any(name == fn.__name__ for name, _ in self.steps):
            raise ValueError(f"duplicate migration {fn.__name__}")
        self.steps.append((fn.__name__, fn))
        self.steps.sort(key=lambda step: step[0])
        return fn

    def pending(self, applied: set[str]) -> list[tuple[str, Migration]]:
        """Steps not yet in ``applied``, in order."""
        return [(name, fn) for name, fn in self.steps if name not in applied]
