"""``remem serve`` is ready only once its embedder is loaded and warm: the app's startup runs the
embedder before any request is served, so ``/readyz`` never answers from a cold worker."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from remem import Memory
from remem.embed.hashing import HashingEmbedder
from remem.server.app import create_app, serve_in_thread
from remem.types import Vector


class Counting(HashingEmbedder):
    """The hashing embedder, counting its calls and what the server had served by then."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[int] = []
        self.served = 0

    def embed_batch(self, texts: Sequence[str]) -> Vector:
        self.calls.append(self.served)
        return super().embed_batch(texts)


def test_the_embedder_is_warm_before_the_first_request(tmp_path: Path) -> None:
    embedder = Counting()
    with Memory(tmp_path / "m.db", embedder=embedder) as memory:
        app = create_app(memory)
        assert embedder.calls == []  # building the app loads nothing
        with serve_in_thread(app) as url:
            assert embedder.calls == [0]  # warmed at startup, before any request
            embedder.served += 1
            ready = httpx.get(url + "/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}
            assert embedder.calls == [0]  # readiness itself embeds nothing
