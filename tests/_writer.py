"""A writer process for the crash and concurrency tests (run as a script, never imported by pytest).

Every line on stdout is printed, and flushed, only after the call it reports has returned, so a
line the parent reads is a write the library acknowledged.

    python tests/_writer.py crash  DB SEED          write until killed (adds, batches, updates)

DB is an SQLite file, or a ``postgresql://`` URL for the PostgreSQL store.
    python tests/_writer.py write  DB NAME COUNT    write COUNT records for user "shared", then exit
    python tests/_writer.py update DB ID COUNT      make COUNT updates of ID (retrying on Conflict)
    python tests/_writer.py open   DB NAME          open the store and add one record
"""

from __future__ import annotations

import os
import random
import sys
import time

from remem import Conflict, Memory


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _open(db: str) -> Memory:
    if db.startswith(("postgresql://", "postgres://")):
        return Memory(store="postgres", store_url=db, embedder="hashing")
    return Memory(db, embedder="hashing")


def crash(db: str, seed: int) -> None:
    rng = random.Random(seed)
    mine: list[str] = []
    with _open(db) as mem:
        _say("READY")
        deadline = time.monotonic() + 60  # a safety net if the parent dies before killing us
        n = 0
        while time.monotonic() < deadline:
            n += 1
            roll = rng.random()
            if roll < 0.6 or not mine:
                token = f"tok{seed}x{n}"
                rec = mem.add(
                    f"note {token} about the garden. The roses by the gate need water.",
                    user_id="crash",
                    metadata={"n": n},
                    session_id=f"s{seed}",
                )
                mine.append(rec.id)
                _say(f"A {rec.id} {token}")
            elif roll < 0.9:
                size = rng.randint(2, 6)
                tag = f"b{seed}x{n}"
                items = [
                    {
                        "content": f"batch {tag} item {tag}i{k} walking the dog. It rained on the way back.",
                        "user_id": "crash",
                        "metadata": {"batch": tag, "size": size},
                    }
                    for k in range(size)
                ]
                recs = mem.add_many(items)
                mine.extend(r.id for r in recs)
                _say(f"B {tag} {size} " + ",".join(r.id for r in recs))
            else:
                target = rng.choice(mine)
                rec = mem.update(
                    target,
                    content=f"updated {target} at step {n}. Two sentences now.",
                    reason="crash",
                )
                _say(f"U {rec.id} {rec.version}")


def write(db: str, name: str, count: int) -> None:
    with Memory(db, embedder="hashing") as mem:
        done = 0
        while done < count:
            if done % 5 == 4 and count - done >= 3:
                recs = mem.add_many(
                    [
                        {"content": f"{name} batch note {done + k}", "user_id": "shared"}
                        for k in range(3)
                    ]
                )
                for r in recs:
                    _say(r.id)
                done += 3
            else:
                _say(mem.add(f"{name} note {done}", user_id="shared", agent_id=name).id)
                done += 1


def update(db: str, record_id: str, count: int) -> None:
    with Memory(db, embedder="hashing") as mem:
        done = 0
        while done < count:
            try:
                rec = mem.update(
                    record_id, content=f"edit by pid {os.getpid()} #{done}", reason="race"
                )
            except Conflict:
                _say("C")
                continue
            _say(f"U {rec.version}")
            done += 1


def open_and_add(db: str, name: str) -> None:
    with Memory(db, embedder="hashing") as mem:
        _say(mem.add(f"opened by {name}", user_id="fresh").id)


def main(argv: list[str]) -> None:
    mode, db = argv[1], argv[2]
    if mode == "crash":
        crash(db, int(argv[3]))
    elif mode == "write":
        write(db, argv[3], int(argv[4]))
    elif mode == "update":
        update(db, argv[3], int(argv[4]))
    elif mode == "open":
        open_and_add(db, argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
