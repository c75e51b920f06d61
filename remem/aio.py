"""``AsyncMemory``: every verb of ``Memory`` as a coroutine, made from the verb table.

    async with AsyncMemory("memory.db") as memory:
        await memory.add("I moved to Lisbon", user_id="ana")
        hits = await memory.search("where does Ana live?", user_id="ana")

Each call runs the library's own (synchronous, thread-safe) method in a worker thread, so many
tasks can share one store and the event loop never waits on SQLite or the model. Nothing is
restated: the methods, their signatures and docs come from ``remem.verbs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from remem import verbs
from remem.memory import Memory

if TYPE_CHECKING:  # the generated verbs have Memory's parameters (and return awaitables)
    _Verbs = Memory
else:
    _Verbs = object


class AsyncMemory(_Verbs):
    """``Memory`` for asyncio (and trio, through anyio).

    Args:
        path: the SQLite file, as for ``Memory``; or a ready ``Memory`` (or ``memory=``) to share.
        memory: an existing ``Memory`` (not closed by ``aclose`` unless ``owns_memory``).
        limit: how many calls run at once (worker threads); the store serializes writes anyway.
        **settings: any ``Settings`` field, as for ``Memory``.
    """

    def __init__(
        self,
        path: str | Path | Memory | None = None,
        *,
        memory: Memory | None = None,
        limit: int = 8,
        **settings: Any,
    ) -> None:
        if isinstance(path, Memory):  # AsyncMemory(Memory(...)): share it
            path, memory = None, path
        self.memory = memory if memory is not None else Memory(path, **settings)
        self._owns = memory is None
        self._limiter = anyio.CapacityLimiter(limit)

    async def aclose(self) -> None:
        """Close the store (when this object opened it)."""
        if self._owns:
            await anyio.to_thread.run_sync(self.memory.close, limiter=self._limiter)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _run(owner: AsyncMemory, verb: verbs.Verb, call: dict[str, Any]) -> Any:
    return await anyio.to_thread.run_sync(
        lambda: verbs.call(verb, owner.memory, call), limiter=owner._limiter
    )


verbs.attach(AsyncMemory, "async", _run)
