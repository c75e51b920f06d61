"""``Settings``: every knob in one place. Precedence: explicit arguments, then ``REMEM_*``, then defaults."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from remem.errors import ConfigError


def default_path() -> Path:
    """The default store file: ``$XDG_DATA_HOME/remem/memory.db`` (``~/.local/share`` if unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "remem" / "memory.db"


@dataclass(frozen=True)
class Settings:
    """remem's configuration.

    Attributes:
        store: backend name ("sqlite", "postgres") or "module:Class".
        store_url: a PostgreSQL URL for the postgres backend.
        embedder: embedder name ("minilm", "hashing") or "module:Class".
        embed_model: model name or local path for sentence-transformers embedders.
        dims: embedding width.
        embed_batch_size: texts per embedding call (the model sorts each call by length, so larger
            calls pad less).
        max_content_bytes: the largest content accepted (UTF-8 bytes).
        max_metadata_bytes: the largest metadata accepted (as JSON).
        max_batch: the most items one ``add_many`` accepts.
        candidates: how many candidates each retriever contributes before fusion.
        rrf_k: the reciprocal-rank-fusion constant (small: the head of each ranking counts most).
        vector_weight: the vector retriever's weight in fusion (BM25's is 1).
        fact_weight: the fact-unit retriever's weight in fusion (turns ranked by their best
            sentence; see ``remem.organize.facts``).
        substance_weight: how much a turn's substance (content words, capped) adds.
        session_weight, lift_weight, neighbor_weight, link_weight, speaker_weight, time_weight:
            what each retrieval component adds (see ``remem.retrieve.hierarchy.Weights``); 0
            turns one off.
        router: weight session units by how peaked their scores are (MemGAS).
        organize: link, consolidate and build session units on every write.
        guard: flag and quarantine instruction-like writes; review hits for consensus.
        trust_order: origin classes from most to least trusted ("user>agent>tool,import,derived"):
            a write merges into, supersedes or corrects a record only when its class is at
            least the record's (see ``remem.guard.trust``).
        llm_base_url, llm_model, llm_api_key: an OpenAI-compatible chat endpoint (optional;
            ``REMEM_LLM_*``). Without one, every LLM use falls back to heuristics.
        llm_enrich: with an LLM, extract facts and session summaries from new memories in the
            background (``remem.llm.enrich``); adds never wait for it.
        llm_notes: with an LLM, also write richer notes (keywords, tags, a one-line context) and
            evolve neighbouring notes (A-MEM); see ``docs/llm.md``.
        default_ttl: seconds after which new memories expire (None: never).
        options: backend-specific options, keyed by backend name.
    """

    store: str = "sqlite"
    store_url: str | None = None
    embedder: str = "minilm"
    embed_model: str = "all-MiniLM-L6-v2"
    dims: int = 384
    embed_batch_size: int = 512
    max_content_bytes: int = 64 * 1024
    max_metadata_bytes: int = 64 * 1024
    max_batch: int = 10_000
    candidates: int = 100
    rrf_k: int = 5
    vector_weight: float = 0.7
    fact_weight: float = 0.5
    substance_weight: float = 0.3
    session_weight: float = 0.5
    lift_weight: float = 0.25
    neighbor_weight: float = 0.2
    link_weight: float = 0.1
    speaker_weight: float = 0.3
    time_weight: float = 0.3
    router: bool = True
    organize: bool = True
    guard: bool = True
    trust_order: str = "user>agent>tool,import,derived"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_enrich: bool = True
    llm_notes: bool = True
    default_ttl: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, prefix: str = "REMEM_", **overrides: Any) -> Settings:
        """Build settings from ``{prefix}FIELD`` environment variables, then ``overrides``.

        Raises:
            ConfigError: an unknown setting or a value of the wrong type.
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(prefix + f.name.upper())
            if raw is not None and f.name != "options":
                values[f.name] = _coerce(f.name, raw, f.type)
        for name, value in overrides.items():
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
            if value is not None:
                values[name] = value
        settings = cls(**values)
        settings._check()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def _check(self) -> None:
        for name in (
            "dims",
            "embed_batch_size",
            "max_content_bytes",
            "max_metadata_bytes",
            "max_batch",
            "candidates",
            "rrf_k",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"setting {name} must be a positive integer, got {value!r}")
        for name in (
            "vector_weight",
            "fact_weight",
            "substance_weight",
            "session_weight",
            "lift_weight",
            "neighbor_weight",
            "link_weight",
            "speaker_weight",
            "time_weight",
        ):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not 0 <= value <= 10
            ):
                raise ConfigError(f"setting {name} must be a number in [0, 10], got {value!r}")
        if not isinstance(self.trust_order, str):
            raise ConfigError(f"setting trust_order must be a string, got {self.trust_order!r}")
        from remem.guard.trust import ranks

        ranks(self.trust_order)  # raises ConfigError on an unknown or missing origin
        ttl = self.default_ttl
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
            raise ConfigError(
                f"setting default_ttl must be a positive number of seconds, got {ttl!r}"
            )


def _coerce(name: str, raw: str, annotation: object) -> Any:
    if annotation == "float":
        try:
            return float(raw)
        except ValueError as exc:
            raise ConfigError(f"REMEM_{name.upper()} must be a number, got {raw!r}") from exc
    if annotation == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"REMEM_{name.upper()} must be true or false, got {raw!r}")
    if annotation == "str | None":
        return raw or None
    if annotation in ("int", "int | None"):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"REMEM_{name.upper()} must be an integer, got {raw!r}") from exc
    return raw
