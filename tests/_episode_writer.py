"""An episode writer for tests/test_crash_episodes.py (run as a script, never imported by pytest).

    python tests/_episode_writer.py DB SEED     record episodes until killed

Each line on stdout is printed, and flushed, only after ``add_episode`` has returned, so a line
the parent reads is an episode the library acknowledged:

    E <episode id> <task record id> <steps> <scope> <task>
"""

from __future__ import annotations

import random
import sys
import time

from remem import Memory

SERVICES = ("billing", "search", "auth", "mail")
TOOLS = ("build", "migrate", "deploy", "notify", "rollback")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(db: str, seed: int) -> None:
    rng = random.Random(seed)
    with Memory(db, embedder="hashing") as mem:
        _say("READY")
        deadline = time.monotonic() + 60  # a safety net if the parent dies before killing us
        n = 0
        while time.monotonic() < deadline:
            n += 1
            task = f"deploy the {rng.choice(SERVICES)} service run{seed}x{n}"
            tools = rng.sample(TOOLS, rng.randint(1, 4))
            steps = [
                {"action": f"run {t}", "tool": t, "args": {"n": n}, "observation": f"{t}: ok"}
                for t in tools
            ]
            outcome = rng.choice(("success", "failure", "partial"))
            team = "ops" if rng.random() < 0.5 else None
            ep = mem.add_episode(
                task, steps, outcome, user_id="crash", team_id=team, agent_id=f"a{n % 2}"
            )
            scope = "team:ops" if team else "crash"
            _say(f"E {ep.id} {ep.record_id} {len(steps)} {scope} {task}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
