"""The ``Embedder`` protocol and the helpers every embedder shares.

Contract: ``embed_batch(texts)`` returns a float32 matrix with one unit-length row per text, in order,
``dims`` wide. Embedders may load their model lazily, on the first call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from remem.errors import EmbeddingError
from remem.types import Vector


class Embedder(Protocol):
    """Anything that embeds a batch of texts.

    ``name`` and ``dims`` (and ``version``, when the embedder has one: what changes when the same
    name starts giving other vectors) identify the vector space; a store records them (see
    ``identity``) and refuses another embedder.
    """

    name: str
    dims: int

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        """Return a (len(texts), dims) float32 matrix of unit-length rows."""


def identity(embedder: Embedder) -> dict[str, object]:
    """What a store records about the embedder that wrote it: ``{"name", "dims", "version"}``.

    Two embedders with the same identity give the same vectors (MiniLM on ONNX Runtime and on
    torch share one); an embedder without a ``version`` attribute is version "1".
    """
    return {
        "name": str(embedder.name),
        "dims": int(embedder.dims),
        "version": str(getattr(embedder, "version", "1")),
    }


def describe(ident: dict[str, object]) -> str:
    """An identity as a person reads it: ``hashing-64 (64 dims, version 1)``."""
    return f"{ident.get('name')} ({ident.get('dims')} dims, version {ident.get('version')})"


def embed(embedder: Embedder, texts: Sequence[str], *, batch_size: int = 64) -> Vector:
    """Embed ``texts`` in batches and check the result against the contract.

    Raises:
        EmbeddingError: the embedder failed or returned the wrong shape.
    """
    if not texts:
        return np.zeros((0, embedder.dims), dtype=np.float32)
    parts = []
    for i in range(0, len(texts), batch_size):
        batch = list(texts[i : i + batch_size])
        try:
            out = np.asarray(embedder.embed_batch(batch), dtype=np.float32)
        except EmbeddingError:
            raise
        except Exception as exc:  # an adapter boundary: any model failure is an EmbeddingError
            raise EmbeddingError(f"{embedder.name} failed to embed: {exc}") from exc
        if out.shape != (len(batch), embedder.dims):
            raise EmbeddingError(
                f"{embedder.name} returned shape {out.shape}, expected {(len(batch), embedder.dims)}"
            )
        parts.append(out)
    return normalize(np.vstack(parts))


def warm(embedder: Embedder) -> None:
    """Load the embedder's model and run it once (a server is ready only after this: the first
    request then costs what every later one does, not a model load).

    Raises:
        EmbeddingError: the embedder failed.
    """
    embed(embedder, ["remem is warming up its embedder."])


def normalize(matrix: Vector) -> Vector:
    """Scale rows to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vector = (matrix / norms).astype(np.float32)
    return out
