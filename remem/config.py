"""``Settings``: every knob in one place. Precedence: explicit arguments, then ``REMEM_*``, then defaults.

``Settings`` is nested: ``storage``, ``embedding``, ``retrieval`` (with its ``Weights``), ``write``
(organizing and the guard) and ``llm``, each a frozen dataclass holding its defaults. Every knob
also has one flat name (``vector_weight``, ``store_url``): the keyword arguments of ``Memory`` and
``Settings.from_env``, the ``REMEM_<FLAT NAME>`` variables and ``remem bench --set``, and a
read-only attribute (``settings.vector_weight`` is ``settings.retrieval.weights.vector``). The
flat names are declared once, on ``Settings``, with the path each maps to.
"""

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
class StoreSettings:
    """Where memories are kept, and how much one write may hold.

    Attributes:
        backend: backend name ("sqlite", "postgres") or "module:Class" (flat: ``store``).
        url: a PostgreSQL URL for the postgres backend (flat: ``store_url``).
        options: backend-specific options, keyed by backend name.
        max_content_bytes: the largest content accepted (UTF-8 bytes).
        max_metadata_bytes: the largest metadata accepted (as JSON).
        max_batch: the most items one ``add_many`` accepts.
        default_ttl: seconds after which new memories expire (None: never).
    """

    backend: str = "sqlite"
    url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    max_content_bytes: int = 64 * 1024
    max_metadata_bytes: int = 64 * 1024
    max_batch: int = 10_000
    default_ttl: int | None = None


@dataclass(frozen=True)
class EmbedderSettings:
    """The embedder.

    Attributes:
        name: embedder name ("minilm", "hashing") or "module:Class" (flat: ``embedder``).
        model: model name or local path for sentence-transformers embedders (flat:
            ``embed_model``).
        dims: embedding width.
        batch_size: texts per embedding call (the model sorts each call by length, so larger
            calls pad less; flat: ``embed_batch_size``).
    """

    name: str = "minilm"
    model: str = "all-MiniLM-L6-v2"
    dims: int = 384
    batch_size: int = 512


@dataclass(frozen=True)
class Weights:
    """How much each component adds to a turn's fused score (0 turns it off); the retrieval
    weights of ``Settings`` (flat: ``<name>_weight``, and ``router``) and of
    ``remem.retrieve.hierarchy.search``.

    Attributes:
        vector: the vector run's weight in turn-level fusion (BM25's is 1).
        fact: the fact-unit run's weight in turn-level fusion (turns ranked by their best fact;
            see ``remem.organize.facts``).
        line: added to the fact run's weight for a long turn (``hierarchy.LONG_TURN``
            characters or more): there its best line is better evidence than the whole turn.
        session: session units' score (routed).
        lift: the summed score of a session's best turns.
        neighbor: the better of a turn's two neighbours' scores.
        link: a linked strong turn's score times the link weight.
        speaker: the turn's speaker is named in the query.
        time: the turn falls in the time window the query names.
        substance: scaled by how many content words the turn has (capped; a turn that says more
            is likelier to hold what is asked than an acknowledgement).
        reply: the turn answers a strong turn that is a question (the next turn of its
            session), times that question's score.
        answer: the turn holds an answer of the kind the query asks for (a number for "how
            much", a day or time for "which day", a name for "who"; ``remem.retrieve.answertype``).
        asks: taken away from a turn that is itself a question (it asks, it does not tell).
        diverse: taken away, below the first five hits, from a turn whose session already has a
            better-ranked turn (an answer spread over sessions; ``remem.retrieve.multihop``).
        router: scale session weights by peakedness (MemGAS).
        newer: for a question in the present tense, a record newer than a better-ranked one of
            the same subject ranks above it (``remem.retrieve.updates``).
        protect: the record both BM25 and vector (turn or fact) rank first is never passed by
            one that neither retriever ranks first, whatever the additions (except its reply).
    """

    vector: float = 0.7
    fact: float = 0.5
    line: float = 1.0
    session: float = 0.5
    lift: float = 0.25
    neighbor: float = 0.2
    link: float = 0.1
    speaker: float = 0.3
    time: float = 0.3
    substance: float = 0.3
    reply: float = 0.4
    answer: float = 0.3
    asks: float = 0.3
    diverse: float = 0.1
    router: bool = True
    newer: bool = True
    protect: bool = True


@dataclass(frozen=True)
class RetrievalSettings:
    """How search ranks.

    Attributes:
        candidates: how many candidates each retriever contributes before fusion.
        rrf_k: the reciprocal-rank-fusion constant (small: the head of each ranking counts most).
        weights: what each retrieval component adds.
    """

    candidates: int = 100
    rrf_k: int = 5
    weights: Weights = field(default_factory=Weights)


@dataclass(frozen=True)
class WriteSettings:
    """What every write does besides storing.

    Attributes:
        organize: link, consolidate and build session units on every write.
        guard: flag and quarantine instruction-like writes; review hits for consensus.
        trust_order: origin classes from most to least trusted ("user>agent>tool,import,derived"):
            a write merges into, supersedes or corrects a record only when its class is at
            least the record's (see ``remem.guard.trust``).
    """

    organize: bool = True
    guard: bool = True
    trust_order: str = "user>agent>tool,import,derived"


@dataclass(frozen=True)
class LLMOptions:
    """An optional OpenAI-compatible chat endpoint, and what remem uses it for.

    Attributes:
        base_url, model, api_key: the endpoint (flat: ``llm_base_url``, ``llm_model``,
            ``llm_api_key``). Without one, every LLM use falls back to heuristics.
        enrich: with an LLM, extract facts and session summaries from new memories in the
            background (``remem.llm.enrich``); adds never wait for it (flat: ``llm_enrich``).
        notes: with an LLM, also write richer notes (keywords, tags, a one-line context) and
            evolve neighbouring notes (A-MEM); see ``docs/llm.md`` (flat: ``llm_notes``).
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    enrich: bool = True
    notes: bool = True


_GROUPS = ("storage", "embedding", "retrieval", "write", "llm")


def _flat(*path: str) -> Any:
    """A flat name's field: the value at ``path`` in the groups, set by ``Settings.__init__``."""
    return field(init=False, repr=False, compare=False, metadata={"path": path})


@dataclass(frozen=True, init=False)
class Settings:
    """remem's configuration: nested groups, each knob also under one flat name.

    Takes the groups and/or flat names (``Settings(vector_weight=0.5)``); flat names win over
    the group they belong to. See the groups for what each knob does.

    Attributes:
        storage: the store and write limits (``StoreSettings``).
        embedding: the embedder (``EmbedderSettings``).
        retrieval: candidates, fusion and the component ``Weights`` (``RetrievalSettings``).
        write: organizing, the guard and the trust order (``WriteSettings``).
        llm: the optional chat endpoint and its uses (``LLMOptions``).
    """

    storage: StoreSettings
    embedding: EmbedderSettings
    retrieval: RetrievalSettings
    write: WriteSettings
    llm: LLMOptions

    # The flat names, each with the nested path it reads (and that Settings(...) and replace()
    # set): filled in from the groups, never set on their own.
    store: str = _flat("storage", "backend")
    store_url: str | None = _flat("storage", "url")
    options: Mapping[str, Any] = _flat("storage", "options")
    max_content_bytes: int = _flat("storage", "max_content_bytes")
    max_metadata_bytes: int = _flat("storage", "max_metadata_bytes")
    max_batch: int = _flat("storage", "max_batch")
    default_ttl: int | None = _flat("storage", "default_ttl")
    embedder: str = _flat("embedding", "name")
    embed_model: str = _flat("embedding", "model")
    dims: int = _flat("embedding", "dims")
    embed_batch_size: int = _flat("embedding", "batch_size")
    candidates: int = _flat("retrieval", "candidates")
    rrf_k: int = _flat("retrieval", "rrf_k")
    vector_weight: float = _flat("retrieval", "weights", "vector")
    fact_weight: float = _flat("retrieval", "weights", "fact")
    line_weight: float = _flat("retrieval", "weights", "line")
    substance_weight: float = _flat("retrieval", "weights", "substance")
    session_weight: float = _flat("retrieval", "weights", "session")
    lift_weight: float = _flat("retrieval", "weights", "lift")
    neighbor_weight: float = _flat("retrieval", "weights", "neighbor")
    link_weight: float = _flat("retrieval", "weights", "link")
    speaker_weight: float = _flat("retrieval", "weights", "speaker")
    time_weight: float = _flat("retrieval", "weights", "time")
    reply_weight: float = _flat("retrieval", "weights", "reply")
    answer_weight: float = _flat("retrieval", "weights", "answer")
    asks_weight: float = _flat("retrieval", "weights", "asks")
    diverse_weight: float = _flat("retrieval", "weights", "diverse")
    router: bool = _flat("retrieval", "weights", "router")
    newer: bool = _flat("retrieval", "weights", "newer")
    protect: bool = _flat("retrieval", "weights", "protect")
    organize: bool = _flat("write", "organize")
    guard: bool = _flat("write", "guard")
    trust_order: str = _flat("write", "trust_order")
    llm_base_url: str | None = _flat("llm", "base_url")
    llm_model: str | None = _flat("llm", "model")
    llm_api_key: str | None = _flat("llm", "api_key")
    llm_enrich: bool = _flat("llm", "enrich")
    llm_notes: bool = _flat("llm", "notes")

    def __init__(
        self,
        *,
        storage: StoreSettings | None = None,
        embedding: EmbedderSettings | None = None,
        retrieval: RetrievalSettings | None = None,
        write: WriteSettings | None = None,
        llm: LLMOptions | None = None,
        **flat: Any,
    ) -> None:
        groups: dict[str, Any] = {
            "storage": storage or StoreSettings(),
            "embedding": embedding or EmbedderSettings(),
            "retrieval": retrieval or RetrievalSettings(),
            "write": write or WriteSettings(),
            "llm": llm or LLMOptions(),
        }
        for name, value in flat.items():
            if name not in FLAT:
                raise TypeError(f"Settings got an unexpected keyword argument {name!r}")
            group, *path = FLAT[name]
            groups[group] = _set(groups[group], path, value)
        for group, value in groups.items():
            object.__setattr__(self, group, value)
        for name, steps in FLAT.items():
            found: Any = self
            for step in steps:
                found = getattr(found, step)
            object.__setattr__(self, name, found)

    @classmethod
    def from_env(cls, prefix: str = "REMEM_", **overrides: Any) -> Settings:
        """Build settings from ``{prefix}FLAT_NAME`` environment variables, then ``overrides``
        (flat names, or whole groups).

        Raises:
            ConfigError: an unknown setting or a value of the wrong type.
        """
        env: dict[str, Any] = {}
        for name, path in FLAT.items():
            raw = os.environ.get(prefix + name.upper())
            if raw is not None and name != "options":
                env[name] = _coerce(name, raw, _annotation(path))
        groups: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in FLAT and name not in _GROUPS:
                known = ", ".join(sorted(FLAT))
                raise ConfigError(f"unknown setting {name!r}; known: {known}")
            if value is not None:
                (groups if name in _GROUPS else values)[name] = value
        # Explicit arguments win over the environment: a whole group given replaces its
        # variables, then the flat names given are set.
        settings = cls(**env).replace(**groups).replace(**values)
        settings._check()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` (flat names, or whole groups) applied."""
        groups = {group: getattr(self, group) for group in _GROUPS}
        return type(self)(**{**groups, **changes})

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name."""
        return {name: getattr(self, name) for name in FLAT}

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
            "line_weight",
            "substance_weight",
            "session_weight",
            "lift_weight",
            "neighbor_weight",
            "link_weight",
            "speaker_weight",
            "time_weight",
            "reply_weight",
            "answer_weight",
            "asks_weight",
            "diverse_weight",
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


FLAT: dict[str, tuple[str, ...]] = {
    f.name: f.metadata["path"] for f in fields(Settings) if "path" in f.metadata
}
"""Every flat setting name -> its nested path (group, field[, field])."""


def _set(node: Any, path: list[str], value: Any) -> Any:
    """``node`` (a frozen dataclass) with the value at ``path`` replaced."""
    head, *rest = path
    new = value if not rest else _set(getattr(node, head), rest, value)
    return dataclasses.replace(node, **{head: new})


def _annotation(path: tuple[str, ...]) -> object:
    """The annotation of the field at ``path`` (a string: this module postpones annotations)."""
    cls: Any = {
        "storage": StoreSettings,
        "embedding": EmbedderSettings,
        "retrieval": RetrievalSettings,
        "write": WriteSettings,
        "llm": LLMOptions,
    }[path[0]]
    for name in path[1:-1]:
        cls = {"weights": Weights}[name]
    return {f.name: f.type for f in fields(cls)}[path[-1]]


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
