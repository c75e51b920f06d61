"""A memory's parts (settings, store, embedder) and how they are made and used to embed.

``Memory`` owns one of each and hands them to the verb modules (``remem.write``,
``remem.lifecycle``, ``remem.portability``, ``remem.read``): functions over ``Parts``, so each
verb can be tested without a ``Memory``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from remem import _registry
from remem.config import Settings, default_path
from remem.embed.base import Embedder, embed
from remem.errors import ConfigError
from remem.organize import facts
from remem.store.base import Store
from remem.types import Record, Vector

if TYPE_CHECKING:
    from remem.llm.base import LLMClient

# A record's sentences with their vectors (see organize.facts), in order.
Pieces = list[tuple[str, Vector]]


@dataclass(frozen=True)
class Parts:
    """What every verb works with: the settings, the store and the embedder."""

    settings: Settings
    store: Store
    embedder: Embedder

    def embed(self, texts: list[str]) -> Vector:
        """``texts`` embedded in batches of ``embed_batch_size``."""
        return embed(self.embedder, texts, batch_size=self.settings.embed_batch_size)

    def embed_records(self, records: list[Record]) -> tuple[Vector, list[Pieces]]:
        """Each record's vector (its sentences' pooled vectors, see ``organize.facts``) and its
        sentences with their vectors, all embedded in one batch."""
        split = [facts.sentences(r.content) for r in records]
        texts = [
            t
            for r, parts in zip(records, split, strict=True)
            for t in facts.embed_texts(parts, r.speaker)
        ]
        flat = self.embed(texts)
        pooled = np.zeros((len(records), self.embedder.dims), dtype=np.float32)
        pieces: list[Pieces] = []
        start = 0
        for i, parts in enumerate(split):
            block = flat[start : start + len(parts)]
            start += len(parts)
            pooled[i] = facts.pool(block) if len(parts) > 1 else block[0]
            pieces.append(list(zip(parts, block, strict=True)))
        return pooled, pieces

    def embed_record(self, record: Record) -> Vector:
        """One record's vector (as ``embed_records``)."""
        vectors, _ = self.embed_records([record])
        vector: Vector = vectors[0]
        return vector


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name.

    Raises:
        ConfigError: an unknown embedder.
    """
    cls = _registry.resolve("embedder", settings.embedder)
    if settings.embedder == "hashing":
        return cls(dims=settings.dims)  # type: ignore[no-any-return]
    if settings.embedder in _MODEL_EMBEDDERS:
        return cls(settings.embed_model, dims=settings.dims)  # type: ignore[no-any-return]
    return cls()  # type: ignore[no-any-return]


# The embedders built from a model (``embed_model``) at a width (``dims``).
_MODEL_EMBEDDERS = (
    "minilm",
    "minilm-onnx",
    "minilm-int8",
    "minilm-torch",
    "sentence-transformers",
    "fast",
    "static-minilm",
)


def open_store(settings: Settings, path: str | Path | None) -> Store:
    """The store the settings name, at ``path`` (default ``default_path()``) for SQLite.

    Raises:
        ConfigError: an unknown backend, or a path that is not one.
        StoreError: the store cannot be opened.
    """
    if path is not None and not isinstance(path, str | os.PathLike):
        raise ConfigError(f"path: expected a file name or ':memory:', got {type(path).__name__}")
    s = settings
    cls = _registry.resolve("store", s.store)
    if s.store in ("postgres", "postgresql"):
        return cls(s.store_url, dims=s.dims, **s.options.get("postgres", {}))  # type: ignore[no-any-return]
    return cls(path if path is not None else default_path(), dims=s.dims)  # type: ignore[no-any-return]


def make_llm(settings: Settings) -> LLMClient | None:
    """The LLM client the ``llm_*`` settings (then ``REMEM_LLM_*``) describe, or None."""
    from remem.llm import make_client

    overrides = {
        k: v
        for k, v in (
            ("base_url", settings.llm_base_url),
            ("model", settings.llm_model),
            ("api_key", settings.llm_api_key),
        )
        if v is not None
    }
    return make_client(None, **overrides)


_F = TypeVar("_F", bound=Callable[..., Any])


def given(arguments: dict[str, Any]) -> dict[str, Any]:
    """A method's ``locals()`` at its first line: its arguments, without ``self``."""
    return {k: v for k, v in arguments.items() if k != "self"}


def documented_by(verb: Callable[..., Any]) -> Callable[[_F], _F]:
    """Give the method ``verb``'s docstring (indented as a method's): it is documented once,
    where it is implemented."""

    def documented(method: _F) -> _F:
        method.__doc__ = (verb.__doc__ or "").replace("\n    ", "\n        ")
        return method

    return documented
