"""A deterministic, offline embedder for tests: hashed word and character-trigram features.

A test double, never a default: it knows no meaning, only shared words and spellings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from remem.embed.base import normalize
from remem.types import Vector

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Feature hashing into ``dims`` buckets; the same text always gives the same vector."""

    def __init__(self, dims: int = 256) -> None:
        self.name = f"hashing-{dims}"
        self.dims = dims

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        """See ``Embedder.embed_batch``."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in _features(text):
                digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8)
                h = int.from_bytes(digest.digest(), "little")
                out[row, h % self.dims] += 1.0 if (h >> 63) & 1 else -1.0
        return normalize(out)


def _features(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    return words + grams
