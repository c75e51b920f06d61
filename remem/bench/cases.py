"""``remem bench cases``: do cases and lessons make an agent better at tasks it can only learn
from experience? A simulated tool environment, offline and deterministic (seeded).

Three families of tasks, each with its own tools and a hidden rule the agent is never told:

- deploy: ``deploy`` fails unless ``build`` and ``migrate`` ran before; ``rollback`` always fails;
- report: ``render`` needs ``query_db``, ``send`` needs ``render``; ``fetch_cache`` is a trap;
- upgrade: ``upgrade`` needs ``backup`` and ``stop``, ``start`` needs ``upgrade`` (order matters).

A task succeeds when its family's goal step runs; a step whose precondition is unmet (or a trap)
fails the episode there ("error: <tool> could not run": which precondition is not said); a
sequence that runs without reaching the goal is "partial". Two agents of one team take turns and
share one team scope (``team_id``). Three policies:

- off: a random sequence of 2 to 4 distinct tools of the family (no memory);
- cases: imitate the best similar (similarity >= 0.5) success (``Memory.cases``), else a random
  sequence without the step the most similar failure failed at;
- lessons: follow a confident "seq" lesson (``Memory.lessons``), else as cases, then leave out
  the "avoid" steps and put each "pre" lesson's step before the step it guards; half the time,
  probe one "avoid" step instead: last, after every step not known to fail (a step that keeps
  failing may only lack a precondition; a trap fails again and its lesson grows surer).

``scale`` measures what ``cases`` and ``lessons`` cost as one team scope grows (10k episodes by
default): the episodes come from the same three families, with more fillers and a qualifier
(``scale_work``), so no two tasks need be the same text; each is run in the environment with the
family's solution (a third of the time) or a random sequence, so the scope holds successes,
failures and partial runs, of four agents.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remem.episodes import SIMILAR, Case, Lesson, load_episodes

CONDITIONS = ("off", "cases", "lessons")
CONFIDENT = 0.6  # the confidence a lesson needs before the policy follows it
PROBE = 0.5  # how often the lessons policy probes a step its lessons say to avoid
TEAM, USER, AGENTS = "ops", "bench", ("agent-a", "agent-b")


@dataclass(frozen=True)
class Family:
    """A family of tasks: a template with its fillers, the tools, the goal and the hidden rules."""

    name: str
    template: str
    fills: tuple[tuple[str, ...], tuple[str, ...]]
    tools: tuple[str, ...]
    goal: str
    requires: Mapping[str, tuple[str, ...]]
    traps: tuple[str, ...] = ()


FAMILIES = (
    Family(
        "deploy",
        "deploy the {} service to {}",
        (("billing", "search", "auth", "payments", "mail", "chat"), ("production", "staging")),
        ("build", "migrate", "deploy", "notify", "rollback"),
        "deploy",
        {"deploy": ("build", "migrate")},
        ("rollback",),
    ),
    Family(
        "report",
        "send the {} report to the {} team",
        (
            ("weekly sales", "monthly churn", "quarterly revenue", "daily traffic"),
            ("finance", "board"),
        ),
        ("query_db", "fetch_cache", "render", "send", "archive"),
        "send",
        {"render": ("query_db",), "send": ("render",)},
        ("fetch_cache",),
    ),
    Family(
        "upgrade",
        "upgrade the {} database on {}",
        (("orders", "users", "inventory", "logs"), ("the primary", "the replica")),
        ("backup", "stop", "upgrade", "start", "verify"),
        "start",
        {"upgrade": ("backup", "stop"), "start": ("upgrade",)},
    ),
)


def execute(family: Family, plan: Sequence[str]) -> tuple[list[dict[str, Any]], str]:
    """Run ``plan`` in the environment: the steps taken (up to a failure) and the outcome."""
    done: set[str] = set()
    steps: list[dict[str, Any]] = []
    for tool in plan:
        ok = tool not in family.traps and all(r in done for r in family.requires.get(tool, ()))
        obs = "ok" if ok else f"error: {tool} could not run"
        steps.append({"action": f"run {tool}", "tool": tool, "observation": obs})
        if not ok:
            return steps, "failure"
        done.add(tool)
    return steps, "success" if family.goal in done else "partial"


def random_plan(family: Family, rng: random.Random, exclude: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """A random sequence of 2 to 4 distinct tools of the family, none of ``exclude``."""
    tools = [t for t in family.tools if t not in exclude] or list(family.tools)
    return rng.sample(tools, min(len(tools), rng.randint(2, 4)))


def _from_cases(found: Sequence[Case]) -> tuple[list[str] | None, str | None]:
    """The best similar success's steps, and the step the most similar failure failed at."""
    found = [c for c in found if c.explain.get("similarity", 0) >= SIMILAR]
    success = next((c for c in found if c.episode.outcome == "success"), None)
    failure = next((c for c in found if c.episode.outcome == "failure" and c.episode.steps), None)
    plan = list(success.episode.signature) if success is not None else None
    return plan, failure.episode.signature[-1] if failure is not None else None


def plan_cases(family: Family, found: Sequence[Case], rng: random.Random) -> list[str]:
    """Imitate the best similar success; else random, avoiding the last failure's failing step."""
    plan, failed_at = _from_cases(found)
    return plan or random_plan(family, rng, {failed_at} if failed_at else set())


def plan_lessons(
    family: Family, found: Sequence[Case], taught: Sequence[Lesson], rng: random.Random
) -> list[str]:
    """Follow a confident sequence lesson; else as ``plan_cases``, repaired by the avoid and
    precondition lessons."""
    sure = [x for x in taught if x.confidence >= CONFIDENT]
    seq = next((x for x in sure if x.kind == "seq"), None)
    if seq is not None:
        return list(seq.pattern)
    plan, failed_at = _from_cases(found)
    if plan:
        return plan
    avoid = {x.pattern[0] for x in sure if x.kind == "avoid"}
    before: dict[str, list[str]] = {}
    for x in sure:
        if x.kind == "pre" and x.pattern[0] not in avoid:
            before.setdefault(x.pattern[1], []).append(x.pattern[0])
    skip = avoid | ({failed_at} if failed_at and failed_at not in before else set())
    out: list[str] = []

    def put(tool: str, depth: int = 0) -> None:
        for y in before.get(tool, []) if depth < 4 else []:
            put(y, depth + 1)
        if tool not in out:
            out.append(tool)

    if avoid and rng.random() < PROBE:
        # Probe a step that keeps failing: last, after every other step not known to fail (it
        # may need one of them); a trap fails again and its lesson grows more confident.
        for tool in rng.sample(sorted(set(family.tools) - avoid), len(set(family.tools) - avoid)):
            put(tool)
        return [*out[:5], rng.choice(sorted(avoid))]
    for tool in random_plan(family, rng, skip):
        put(tool)
    return out[:6]


def tasks(n: int, seed: int) -> list[tuple[Family, str]]:
    """``n`` tasks, each of a random family with random fillers (the same for every condition)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fam = rng.choice(FAMILIES)
        out.append((fam, fam.template.format(*(rng.choice(f) for f in fam.fills))))
    return out


def run_condition(
    condition: str,
    memory: Any,
    work: Sequence[tuple[Family, str]],
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """One condition over the tasks: each episode's success, and the time spent in memory."""
    rng = random.Random(seed + 1)
    wins: list[int] = []
    spent, steps_taken = 0.0, 0
    for i, (family, task) in enumerate(work):
        agent = AGENTS[i % len(AGENTS)]
        t0 = time.perf_counter()
        if condition == "off":
            plan = random_plan(family, rng)
        else:
            found = memory.cases(task, user_id=USER, team_id=TEAM)
            if condition == "cases":
                plan = plan_cases(family, found, rng)
            else:
                taught = memory.lessons(task, k=10, user_id=USER, team_id=TEAM)
                plan = plan_lessons(family, found, taught, rng)
        spent += time.perf_counter() - t0
        steps, outcome = execute(family, plan)
        if condition != "off":
            t0 = time.perf_counter()
            reward = {"success": 1.0, "partial": 0.0, "failure": -1.0}[outcome]
            memory.add_episode(
                task, steps, outcome, reward=reward, user_id=USER, agent_id=agent, team_id=TEAM
            )
            spent += time.perf_counter() - t0
        steps_taken += len(steps)
        wins.append(int(outcome == "success"))
        if progress is not None:
            progress(1)
    fifth = max(1, len(wins) // 5)
    curve = [
        sum(wins[j : j + fifth]) / len(wins[j : j + fifth]) for j in range(0, 5 * fifth, fifth)
    ]
    return {
        "condition": condition,
        "episodes": len(wins),
        "success": round(sum(wins) / max(1, len(wins)), 4),
        "curve": [round(x, 4) for x in curve if x == x],
        "last_fifth": round(curve[-1], 4),
        "ms_per_step": round(1000 * spent / max(1, steps_taken), 3),
        "ms_per_episode": round(1000 * spent / max(1, len(wins)), 3),
        "wins": wins,
    }


def run(
    make_memory: Callable[[], Any],
    *,
    episodes: int = 200,
    seed: int = 0,
    conditions: Sequence[str] = CONDITIONS,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every condition over the same ``episodes`` tasks, each on a fresh memory."""
    work = tasks(episodes, seed)
    out = []
    for condition in conditions:
        memory = make_memory()
        try:
            out.append(run_condition(condition, memory, work, seed=seed, progress=progress))
        finally:
            memory.close()
    return out


def chart(results: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> Path:
    """A PNG of the learning curves (success per fifth of the episodes) and a running mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for r in results:
        curve = r["curve"]
        name = {"lessons": "cases + lessons", "off": "memory off"}.get(
            r["condition"], r["condition"]
        )
        left.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
        wins, window = r["wins"], max(5, len(r["wins"]) // 10)
        mean = [
            sum(wins[max(0, i - window + 1) : i + 1]) / min(i + 1, window) for i in range(len(wins))
        ]
        right.plot(range(1, len(wins) + 1), mean, label=name)
    left.set(xlabel="fifth of the episodes", ylabel="success rate", ylim=(0, 1.05))
    right.set(xlabel="episode", ylabel="success (running mean)", ylim=(0, 1.05))
    left.legend()
    right.legend()
    fig.suptitle(title or "remem bench cases: memory off / cases / cases + lessons")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- scale: what cases and lessons cost in a big scope ------------------------------------------

SOLUTIONS = {
    "deploy": ("build", "migrate", "deploy"),
    "report": ("query_db", "render", "send"),
    "upgrade": ("backup", "stop", "upgrade", "start"),
}
MORE_FILLS = {
    "deploy": (
        ("billing", "search", "auth", "payments", "mail", "chat", "ledger", "gateway", "pricing",
         "profile", "checkout", "catalog", "notifications", "analytics", "export", "import"),
        ("production", "staging", "the eu cluster", "the us cluster", "canary", "the test rig"),
    ),
    "report": (
        ("weekly sales", "monthly churn", "quarterly revenue", "daily traffic", "yearly hiring",
         "weekly incident", "monthly cost", "daily signup", "quarterly support", "weekly uptime"),
        ("finance", "board", "sales", "support", "platform", "marketing", "legal"),
    ),
    "upgrade": (
        ("orders", "users", "inventory", "logs", "sessions", "invoices", "events", "metrics",
         "audit", "search index"),
        ("the primary", "the replica", "the standby", "the analytics node", "the backup host"),
    ),
}  # fmt: skip
QUALIFIERS = (
    "", "", "", "before the release", "after the outage", "for the new region",
    "during the maintenance window", "for the audit", "as requested in ticket {}",
    "before friday", "for customer {}", "again after the failed attempt",
)  # fmt: skip
SCALE_AGENTS = ("agent-a", "agent-b", "agent-c", "agent-d")


def scale_task(family: Family, rng: random.Random) -> str:
    """A task of ``family`` with the larger fillers and a qualifier (some carry a number)."""
    fills = MORE_FILLS.get(family.name, family.fills)
    text = family.template.format(*(rng.choice(f) for f in fills))
    extra = rng.choice(QUALIFIERS).format(rng.randint(100, 9999))
    return f"{text} {extra}".strip()


def scale_work(n: int, seed: int, *, start: int = 0) -> list[dict[str, Any]]:
    """``add_episode`` arguments of episodes ``start`` .. ``start + n - 1`` of the grown scope:
    a task of a random family, run with its solution (one time in three) or a random plan."""
    rng = random.Random(f"{seed}:{start}")
    out = []
    for i in range(start, start + n):
        family = rng.choice(FAMILIES)
        task = scale_task(family, rng)
        plan = list(SOLUTIONS[family.name]) if rng.random() < 1 / 3 else random_plan(family, rng)
        steps, outcome = execute(family, plan)
        reward = {"success": 1.0, "partial": 0.0, "failure": -1.0}[outcome]
        out.append(
            {"task": task, "steps": steps, "outcome": outcome, "reward": reward}
            | {"user_id": USER, "team_id": TEAM, "agent_id": SCALE_AGENTS[i % len(SCALE_AGENTS)]}
        )
    return out


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def scale(
    memory: Any,
    *,
    sizes: Sequence[int] = (10_000,),
    seed: int = 0,
    learned: int = 200,
    queries: int = 100,
    runs: int = 3,
    batch: int = 250,
    organize_growth: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Grow one team scope of ``memory`` to each of ``sizes`` episodes and time the verbs there.

    The scope grows with ``load_episodes`` (``batch`` episodes per ``add_many``, lessons not
    updated; with ``organize`` off unless ``organize_growth``: no duplicate merging, links, fact
    or session units, none of which recall uses, and the write path's duplicate check is slow in
    a big scope), except the last ``learned`` episodes before each size, which go through
    ``add_episode`` with the memory's own settings (lessons updated, as an agent would; timed). Then ``queries`` new tasks
    (not among the stored ones; new ones each run, so each ``cases`` call embeds its task) are
    asked of ``cases`` (k=5), then of ``lessons`` (k=10: the task's vector is cached by then, as
    when an agent asks both), ``runs`` times; each figure is the median over the runs of that
    run's percentile.

    Returns:
        One row per size: episodes, records in the scope, lessons, the time to grow,
        add_episode p50/p95, cases p50/p95, lessons p50/p95 (ms), mean cases found.
    """
    rows, have, records = [], 0, 0
    # New tasks for every run (a query's vector is cached once embedded: a repeated query would
    # time the cache, not the embedding a new task costs).
    asked_by_run = []
    for run in range(runs):
        families = random.Random(f"{seed}:queries:{run}").choices(FAMILIES, k=queries)
        asked_by_run.append(
            [scale_task(f, random.Random(f"{seed}:q{run}:{i}")) for i, f in enumerate(families)]
        )
    for size in sorted(sizes):
        started = time.perf_counter()
        bulk_end = max(have, size - learned)
        own = memory.settings
        if not organize_growth:
            memory.settings = own.replace(organize=False)
        try:
            while have < bulk_end:
                n = min(batch, bulk_end - have)
                work = scale_work(n, seed, start=have)
                load_episodes(memory, work)
                records += sum(1 + 2 * len(w["steps"]) for w in work)
                have += n
                if progress is not None:
                    progress(n)
        finally:
            memory.settings = own
        adds = []
        for given in scale_work(size - have, seed, start=have):
            t0 = time.perf_counter()
            memory.add_episode(**given)
            adds.append(1000 * (time.perf_counter() - t0))
            records += 1 + 2 * len(given["steps"])
            have += 1
            if progress is not None:
                progress(1)
        grow_s = time.perf_counter() - started
        per_run: dict[str, list[float]] = {"cases50": [], "cases95": [], "less50": [], "less95": []}
        found: list[int] = []
        for asked in asked_by_run:
            c, ls = [], []
            for q in asked:
                t0 = time.perf_counter()
                found.append(len(memory.cases(q, user_id=USER, team_id=TEAM)))
                c.append(1000 * (time.perf_counter() - t0))
            for q in asked:
                t0 = time.perf_counter()
                memory.lessons(q, k=10, user_id=USER, team_id=TEAM)
                ls.append(1000 * (time.perf_counter() - t0))
            per_run["cases50"].append(_pct(c, 0.5))
            per_run["cases95"].append(_pct(c, 0.95))
            per_run["less50"].append(_pct(ls, 0.5))
            per_run["less95"].append(_pct(ls, 0.95))
        n_lessons = len(memory.lessons(asked_by_run[0][0], k=100, user_id=USER, team_id=TEAM))
        rows.append(
            {
                "episodes": have,
                "records": records,
                "lessons_near_first_query": n_lessons,
                "grow_s": round(grow_s, 1),
                "add_episode_p50_ms": round(_pct(adds, 0.5), 2) if adds else None,
                "add_episode_p95_ms": round(_pct(adds, 0.95), 2) if adds else None,
                "cases_p50_ms": round(statistics.median(per_run["cases50"]), 2),
                "cases_p95_ms": round(statistics.median(per_run["cases95"]), 2),
                "lessons_p50_ms": round(statistics.median(per_run["less50"]), 2),
                "lessons_p95_ms": round(statistics.median(per_run["less95"]), 2),
                "cases_found": round(sum(found) / max(1, len(found)), 2),
                "runs": runs,
                "queries": queries,
            }
        )
    return rows
