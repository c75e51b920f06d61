"""AsyncMemory and AsyncClient: every verb as a coroutine (from the verb table), under real
concurrency — many tasks on one store, and over HTTP against a real server on 127.0.0.1."""

from __future__ import annotations

import inspect
from pathlib import Path

import anyio
import pytest

from remem import ConfigError, Memory, NotFound, verbs
from remem.aio import AsyncMemory
from remem.client import AsyncClient
from remem.server.app import create_app, serve_in_thread

TASKS = 40


def test_every_verb_is_a_coroutine_with_the_tables_signature() -> None:
    for cls in (AsyncMemory, AsyncClient):
        for verb in verbs.VERBS:
            if (
                cls is AsyncClient
                and not verb.generated("client")
                and verb.name
                not in (
                    "add_many",
                    "export",
                    "import_",
                )
            ):
                continue
            method = getattr(cls, verb.name)
            assert inspect.iscoroutinefunction(method), (cls.__name__, verb.name)
            want = [p.name for p in verbs.signature(verb).parameters.values()]
            assert list(inspect.signature(method).parameters) == want, (cls.__name__, verb.name)


def test_many_tasks_share_one_store(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncMemory(tmp_path / "m.db", embedder="hashing") as memory:
            added: list[str] = []

            async def writer(i: int) -> None:
                rec = await memory.add(f"task {i} likes tea number {i}", user_id=f"u{i % 4}")
                added.append(rec.id)
                hits = await memory.search(f"tea number {i}", user_id=f"u{i % 4}")
                assert hits and all(h.record.user_id == f"u{i % 4}" for h in hits)

            async with anyio.create_task_group() as tg:
                for i in range(TASKS):
                    tg.start_soon(writer, i)
            assert len(set(added)) == TASKS
            listed = [r for u in range(4) for r in await memory.list(user_id=f"u{u}")]
            assert {r.id for r in listed} == set(added)
            one = await memory.get(added[0])
            changed = await memory.update(one.id, content="task 0 now likes coffee")
            assert changed.version == 2
            assert [e.op for e in await memory.history(one.id)] == ["add", "update"]
            await memory.delete(one.id)
            with pytest.raises(NotFound):
                await memory.get(one.id)
            others = sorted({f"u{u}" for u in range(4)} - {one.user_id})
            assert await memory.forget(user_id=others[0]) == TASKS // 4
            export = tmp_path / "e.jsonl"
            assert await memory.export(export, user_id=others[1]) == TASKS // 4
            assert await memory.export(export, user_id=one.user_id) == TASKS // 4 - 1

    anyio.run(main)


def test_async_client_against_a_real_server(tmp_path: Path) -> None:
    with (
        Memory(tmp_path / "m.db", embedder="hashing") as mem,
        serve_in_thread(create_app(mem, mcp=False)) as url,
    ):

        async def main() -> None:
            async with AsyncClient(url) as client:
                results = []

                async def writer(i: int) -> None:
                    results.append(await client.add(f"note {i} about piano", user_id="ana"))

                async with anyio.create_task_group() as tg:
                    for i in range(TASKS):
                        tg.start_soon(writer, i)
                assert len({r.id for r in results}) == TASKS
                hits = await client.search("piano", user_id="ana", limit=5)
                assert len(hits) == 5 and all(h.record.user_id == "ana" for h in hits)
                page = await client.list(user_id="ana", limit=1000)
                assert len(page) == TASKS
                with pytest.raises(NotFound):
                    await client.get("0" * 32)
                batch = await client.add_many(
                    [{"content": "a", "user_id": "bo"}, {"content": "b", "user_id": "bo"}]
                )
                assert [r.content for r in batch] == ["a", "b"]
                path = tmp_path / "bo.jsonl"
                assert await client.export(path, user_id="bo") == 2
                assert await client.forget(user_id="bo") == 2
                assert await client.import_(path) == 2
                assert (await client.answer("piano", user_id="ana")).citations

        anyio.run(main)


def test_async_memory_shares_a_ready_memory(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder="hashing") as mem:

        async def main() -> None:
            shared = AsyncMemory(mem)
            rec = await shared.add("shared", user_id="u")
            assert mem.get(rec.id).content == "shared"
            await shared.aclose()  # does not close a Memory it did not open
            assert mem.get(rec.id).content == "shared"

        anyio.run(main)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("m.db")) == []
    with pytest.raises(ConfigError):
        Memory(object(), embedder="hashing")  # type: ignore[arg-type]
