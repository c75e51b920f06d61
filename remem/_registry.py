"""Lazy name -> "module:Class" maps for each backend kind, plus entry-point plugins.

An unknown name is tried as "module:Class". Third parties register through the entry-point groups
``remem.stores`` and ``remem.embedders``; plugins load only when ``REMEM_LOAD_PLUGINS`` names them.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Any

from remem.errors import ConfigError

STORES = {
    "sqlite": "remem.store.sqlite:SQLiteStore",
    "postgres": "remem.store.postgres:PostgresStore",
    "postgresql": "remem.store.postgres:PostgresStore",
}
# "minilm" runs on ONNX Runtime when it is installed, else on torch: the vectors are the same.
# "fast" is a static embedder distilled from MiniLM: other vectors, so a store needs re-embedding.
EMBEDDERS = {
    "minilm": "remem.embed.onnx:auto",
    "minilm-onnx": "remem.embed.onnx:OnnxEmbedder",
    "minilm-int8": "remem.embed.onnx:int8",
    "minilm-torch": "remem.embed.sentence_transformers:SentenceTransformerEmbedder",
    "sentence-transformers": "remem.embed.sentence_transformers:SentenceTransformerEmbedder",
    "fast": "remem.embed.static:StaticEmbedder",
    "static-minilm": "remem.embed.static:StaticEmbedder",
    "hashing": "remem.embed.hashing:HashingEmbedder",
}
_GROUPS = {"store": ("remem.stores", STORES), "embedder": ("remem.embedders", EMBEDDERS)}


def resolve(kind: str, name: str) -> Any:
    """Return the class registered as ``name`` for ``kind`` ("store" or "embedder").

    Raises:
        ConfigError: the name is unknown or its module cannot be imported.
    """
    group, table = _GROUPS[kind]
    target = table.get(name) or _plugins(group).get(name) or (name if ":" in name else None)
    if target is None:
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {kind} {name!r} from {module_name}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"{module_name} has no {attr!r} (for {kind} {name!r})") from exc


def _plugins(group: str) -> dict[str, str]:
    wanted = {p.strip() for p in os.environ.get("REMEM_LOAD_PLUGINS", "").split(",") if p.strip()}
    if not wanted:
        return {}
    return {ep.name: ep.value for ep in entry_points(group=group) if ep.name in wanted}
