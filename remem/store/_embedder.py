"""The embedder a store records (shared by both backends): the check and its error.

A store keeps the identity (``remem.embed.base.identity``: name, dims, version) of the embedder
that wrote its vectors under the key ``"embedder"`` of its meta table, and the target of a reindex
in progress under ``"reindex"``. A process binds its embedder when it opens the store: a store
without a record adopts it; a store with another one refuses it (``EmbedderMismatch``), and so do
its later searches and writes if a reindex swapped the vectors while it was running.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from remem.embed.base import describe
from remem.errors import EmbedderMismatch

KEY = "embedder"
REINDEX = "reindex"


def dump(ident: Mapping[str, Any]) -> str:
    """An identity as the meta table stores it (canonical JSON: equal identities, equal text)."""
    return json.dumps(
        {"name": str(ident["name"]), "dims": int(ident["dims"]), "version": str(ident["version"])},
        sort_keys=True,
    )


def load(text: str | None) -> dict[str, Any] | None:
    """The identity stored as ``text`` (None stays None)."""
    return None if text is None else dict(json.loads(text))


def width_mismatch(
    stored: Mapping[str, Any], dims: int, *, reindex: Mapping[str, Any] | None
) -> EmbedderMismatch:
    """The error for a process asking for ``dims``-wide vectors of a store with another width
    (raised when the store opens, before the process's embedder is known to it)."""
    given = {"name": f"an embedder of {dims} dims", "dims": dims, "version": "?"}
    msg = (
        f"this store's vectors were written by embedder {describe(dict(stored))}; this process "
        f"asks for {dims} dims. Open it with the embedder that wrote it (--embedder / "
        f"REMEM_EMBEDDER and REMEM_DIMS), or re-embed it once with the new one: remem reindex "
        f"--embedder <name> [--dims N] (with the same --db or --store)"
    )
    if reindex is not None:
        msg += f"; a reindex to {describe(dict(reindex))} is in progress: run it again to finish"
    return EmbedderMismatch(msg, stored=dict(stored), given=given)


def mismatch(
    stored: Mapping[str, Any], given: Mapping[str, Any], *, reindex: Mapping[str, Any] | None
) -> EmbedderMismatch:
    """The error for a process whose embedder (``given``) is not the store's (``stored``)."""
    msg = (
        f"this store's vectors were written by embedder {describe(dict(stored))}; this process "
        f"embeds with {describe(dict(given))}. Open it with the embedder that wrote it "
        f"(--embedder / REMEM_EMBEDDER and REMEM_DIMS), or re-embed it once with the new one: "
        f"remem reindex --embedder <name> [--dims N] (with the same --db or --store)"
    )
    if reindex is not None:
        msg += f"; a reindex to {describe(dict(reindex))} is in progress: run it again to finish"
    return EmbedderMismatch(msg, stored=dict(stored), given=dict(given))


def check(bound: Mapping[str, Any] | None, meta: Callable[[str], str | None]) -> None:
    """Raise ``EmbedderMismatch`` when the store's recorded embedder (read with ``meta``, the
    backend's meta-table lookup) is no longer the ``bound`` one (None: nothing bound yet)."""
    if bound is None:
        return
    stored = meta(KEY)
    if stored is not None and stored != dump(bound):
        raise mismatch(load(stored) or {}, bound, reindex=load(meta(REINDEX)))
