"""``remem bench …``: the benchmarks, each a thin shell over ``remem.bench`` (imported lazily)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from remem.errors import InvalidInput

console = Console()
DATA = Path("../shared/data/locomo/locomo_dev.json")
DataOpt = Annotated[Path, typer.Option("--data", help="LoCoMo JSON file.")]
OutOpt = Annotated[Path | None, typer.Option("--json", help="Also write the results here.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="A setting for the Memory under test, e.g. session_weight=0."),
]


def _settings(pairs: list[str] | None) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are JSON when they parse (0, 0.5, false), else text."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--set takes key=value, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def locomo(
    data: DataOpt = DATA,
    embedder: Annotated[str, typer.Option("--embedder")] = "minilm",
    settings: SetOpt = None,
    out: OutOpt = None,
    qa: Annotated[
        bool,
        typer.Option("--qa", help="Answer and score the questions (REMEM_LLM_*, else extractive)."),
    ] = False,
    judge: Annotated[
        bool, typer.Option("--judge", help="With --qa: the LLM grades answers.")
    ] = False,
    enrich: Annotated[
        bool,
        typer.Option("--enrich", help="With --qa: enrich each conversation with the LLM first."),
    ] = False,
    max_questions: Annotated[
        int | None, typer.Option("--max-questions", help="With --qa: questions per conversation.")
    ] = None,
) -> None:
    """Retrieval quality (Recall@k, NDCG@10), search latency, ingest rate and peak memory;
    with --qa, answer quality (token F1, BLEU-1, LLM judge), tokens and latency per question."""
    from remem.bench import locomo as bench
    from remem.memory import Memory

    if qa:
        _qa(data, embedder, judge=judge, enrich=enrich, max_questions=max_questions, out=out)
        return
    overrides = _settings(settings)
    samples = bench.load(data)
    total_q = sum(len(bench.questions(s)) for s in samples)
    total_t = sum(1 for s in samples for _ in bench.turns(s))
    with Progress(console=console) as progress:
        tasks = {
            "ingest": progress.add_task("ingest turns", total=total_t),
            "search": progress.add_task("questions", total=total_q),
        }
        result = bench.run(
            data,
            memory_factory=lambda p: Memory(p, **{"embedder": embedder, **overrides}),
            progress=lambda phase, n: progress.advance(tasks[phase], n),
        )
    summary = bench.summarize(result)
    table = Table(title=f"LoCoMo retrieval ({summary['questions']} questions)")
    metrics = list(summary["overall"])
    table.add_column("category")
    table.add_column("n", justify="right")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_row(
        "overall", str(summary["questions"]), *[f"{summary['overall'][x]:.3f}" for x in metrics]
    )
    for name, row in summary["per_category"].items():
        table.add_row(name, str(row["n"]), *[f"{row[x]:.3f}" for x in metrics])
    console.print(table)
    console.print(
        f"search p50 {summary['search_ms']['p50']} ms, p95 {summary['search_ms']['p95']} ms · "
        f"ingest {summary['ingest_turns_per_s']} turns/s ({summary['turns']} turns) · "
        f"peak RSS {summary['peak_rss_mb']} MB"
    )
    if out is not None:
        out.write_text(
            json.dumps(
                {"settings": overrides, "summary": summary, "per_question": result.per_question},
                indent=1,
            )
        )


def _qa(
    data: Path,
    embedder: str,
    *,
    judge: bool,
    enrich: bool,
    max_questions: int | None,
    out: Path | None,
) -> None:
    from remem.bench import locomo as bench
    from remem.bench import qa as qa_bench

    samples = bench.load(data)
    with Progress(console=console) as progress:
        tasks = {
            "ingest": progress.add_task(
                "ingest turns", total=sum(1 for s in samples for _ in bench.turns(s))
            ),
            "answer": progress.add_task(
                "questions", total=sum(len(qa_bench.qa_items(s)[:max_questions]) for s in samples)
            ),
        }
        summary = qa_bench.main_qa(
            data,
            judge=judge,
            out=out,
            embedder=embedder,
            enrich=enrich,
            max_questions=max_questions,
            progress=lambda phase, n: progress.advance(tasks[phase], n),
            # markup off: rich would eat "[temporal]" and the like.
            echo=lambda line: console.print(line, markup=False, highlight=False),
        )
    for line in qa_bench.summary_lines(summary):
        console.print(line, markup=False, highlight=False)


def guard(
    data: DataOpt = DATA,
    targets: Annotated[
        int, typer.Option("--targets", help="Questions attacked per conversation and attack.")
    ] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    embedder: Annotated[str, typer.Option("--embedder")] = "minilm",
    corpus_only: Annotated[
        bool,
        typer.Option("--corpus-only", help="Only the shipped corpora, not the LoCoMo attacks."),
    ] = False,
    out: OutOpt = None,
) -> None:
    """Memory-guard figures: the shipped attack corpus per family (share defended: quarantined,
    or ranked below the trusted memory / out of the top 5; "scan": what the write-time scanner
    alone quarantines), benign false positives (technical and conversational),
    flags on LoCoMo turns, and poisoned-memory attacks on LoCoMo (top-5 reach and benign
    Recall@10, guard off and on)."""
    from remem.bench import guard as bench
    from remem.memory import Memory

    attacks = bench.load_cases(bench.ATTACKS_FILE)
    with Progress(console=console) as progress:
        task = progress.add_task("attack corpus", total=len(attacks))
        corpus = bench.corpus(
            lambda p: Memory(p, embedder=embedder, guard=True),
            attacks,
            progress=lambda n: progress.advance(task, n),
        )
    table = Table(title=f"Attack corpus ({len(attacks)} cases, guard on, {embedder})")
    table.add_column("family", no_wrap=True)
    for col in ("cases", "quarantined", "below", "defended", "share", "scan"):
        table.add_column(col, justify="right")
    rows = [*corpus["families"].items(), ("all", corpus["all"])]
    for name, fam in rows:
        table.add_row(
            name,
            str(fam["total"]),
            str(fam["quarantined"]),
            str(fam["ranked_below"]),
            str(fam["defended"]),
            f"{fam['share']:.1%}",
            str(fam["scanner"]),
        )
    console.print(table)
    benign = bench.false_positives(bench.load_cases(bench.BENIGN_FILE))
    fp = Table(title="Benign corpus: items the scanner would quarantine")
    for col in ("kind", "items", "quarantined", "rate", "any flag"):
        fp.add_column(col, justify="left" if col == "kind" else "right")
    for kind, row in benign.items():
        fp.add_row(
            kind, str(row["items"]), str(row["flagged"]), f"{row['rate']:.2%}", str(row["any_flag"])
        )
    console.print(fp)
    results: dict[str, Any] = {"corpus": corpus, "benign": benign}
    if data.exists():
        turns = bench.locomo_flags(data)
        results["locomo_flags"] = turns
        console.print(
            f"LoCoMo turns the scanner would quarantine: {turns['flagged']} of {turns['turns']}"
            f" (any flag: {turns['any_flag']})"
        )
    if not corpus_only:
        results["locomo"] = _guard_locomo(data, targets, seed, embedder)
    if out is not None:
        out.write_text(json.dumps(results, indent=1))


def _guard_locomo(data: Path, targets: int, seed: int, embedder: str) -> list[dict[str, Any]]:
    from remem.bench import guard as bench
    from remem.memory import Memory

    results = []
    for on in (False, True):
        with Progress(console=console) as progress:
            task = progress.add_task(f"guard {'on' if on else 'off'}", total=None)
            results.append(
                bench.run(
                    data,
                    guard=on,
                    memory_factory=lambda p, g: Memory(p, embedder=embedder, guard=g),
                    targets_per_conversation=targets,
                    seed=seed,
                    progress=lambda n, t=task: progress.advance(t, n),  # type: ignore[misc]
                )
            )
    table = Table(
        title="Memory poisoning: share of target queries with a poisoned record in the top 5"
    )
    for col in ("guard", *bench.ATTACKS, "all", "benign Recall@10"):
        table.add_column(col, justify="right")
    for r in results:
        rates = r["poisoned_top5"]
        table.add_row(
            "on" if r["guard"] else "off",
            *[f"{rates[a]:.3f}" for a in (*bench.ATTACKS, "all")],
            f"{r['benign_recall@10']:.4f}",
        )
    console.print(table)
    off, on_ = results
    if off["poisoned_top5"]["all"]:
        cut = 1 - on_["poisoned_top5"]["all"] / off["poisoned_top5"]["all"]
        console.print(f"the guard cuts poisoned top-5 retrieval by {cut:.1%}")
    return results


def serve(
    store: Annotated[
        str | None,
        typer.Option("--store", help="SQLite file, postgresql:// URL, or 'postgres' (embedded)."),
    ] = None,
    memories: Annotated[int, typer.Option("--memories")] = 10_000,
    clients: Annotated[int, typer.Option("--clients")] = 16,
    workers: Annotated[int, typer.Option("--workers")] = 2,
    duration: Annotated[float, typer.Option("--duration", help="Seconds of searching.")] = 20.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    embedder: Annotated[str, typer.Option("--embedder")] = "minilm",
    out: OutOpt = None,
) -> None:
    """The REST service under concurrent searches: load rate, throughput, p50/p95/p99 latency."""
    from remem.bench import serve as bench

    result = bench.run(
        store,
        memories=memories,
        clients=clients,
        workers=workers,
        duration_s=duration,
        seed=seed,
        embedder=embedder,
        progress=lambda line: console.print(line, markup=False, highlight=False),
    )
    table = Table(title=f"remem serve ({result['backend']}, {workers} workers, {clients} clients)")
    columns = (
        "memories",
        "load_s",
        "load_per_s",
        "throughput_rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "errors",
    )
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(*[str(result.get(c)) for c in columns])
    console.print(table)
    if out is not None:
        out.write_text(json.dumps(result, indent=1))


def pathological(
    embedder: Annotated[str, typer.Option("--embedder")] = "hashing",
    runs: Annotated[int, typer.Option("--runs", help="Fresh builds; figures are medians.")] = 3,
    repeats: Annotated[int, typer.Option("--repeats", help="Times each query is asked.")] = 5,
    limit: Annotated[int, typer.Option("--limit", help="Hits per search.")] = 30,
    out: OutOpt = None,
) -> None:
    """Search p50/p95 over a normal scope vs the same scope plus four pathological memories
    (a 60 KB unbroken token, base64, minified JSON, a source file), and the ratio (target <= 2)."""
    from remem.bench import pathological as bench
    from remem.memory import Memory

    with Progress(console=console) as progress:
        task = progress.add_task("runs", total=runs)
        result = bench.run(
            lambda p: Memory(p, embedder=embedder),
            runs=runs,
            repeats=repeats,
            limit=limit,
            progress=lambda n: progress.advance(task, n),
        )
    table = Table(
        title=f"Search with pathological memories ({embedder}, {result['searches']} searches"
        f" per scope, limit {limit}, median of {runs} runs)"
    )
    for col in ("scope", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "scope" else "right")
    for scope in ("normal", "pathological"):
        table.add_row(scope, f"{result[scope]['p50']:.2f}", f"{result[scope]['p95']:.2f}")
    table.add_row("ratio", f"{result['ratio']['p50']:.2f}x", f"{result['ratio']['p95']:.2f}x")
    console.print(table)
    first = result["first"]
    console.print(
        "first (untimed) pass, p50 / max ms: "
        + ", ".join(f"{s} {first[s]['p50']:.2f} / {first[s]['max']:.2f}" for s in first)
        + " (each stored text's one-time work: the guard's review, the postings)"
    )
    if out is not None:
        out.write_text(json.dumps(result, indent=1))


def scale(
    data: DataOpt = DATA,
    sizes: Annotated[
        str, typer.Option("--sizes", help="Scope sizes, comma-separated (1M: 1000000).")
    ] = "1000,10000,100000",
    store: Annotated[
        str,
        typer.Option("--store", help="'sqlite', 'postgres' (embedded) or a postgresql:// URL."),
    ] = "sqlite",
    embedder: Annotated[str, typer.Option("--embedder")] = "hashing",
    probes: Annotated[int, typer.Option("--probes", help="Adds and searches timed per size.")] = 30,
    out: OutOpt = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write a latency-against-size PNG here.")
    ] = None,
    include: Annotated[
        list[Path] | None,
        typer.Option("--include", help="Earlier --json results to draw on the chart too."),
    ] = None,
    recall: Annotated[
        bool,
        typer.Option("--ann-recall", help="Only measure HNSW recall@10 against exact at --sizes."),
    ] = False,
    recall_db: Annotated[
        Path | None,
        typer.Option(
            "--recall-db",
            help="With --ann-recall: measure on this SQLite store's vectors (the scope's user).",
        ),
    ] = None,
) -> None:
    """One scope grown to each size: add and search p50/p95, ingest rate, RSS, disk per memory."""
    from remem.bench import scale as bench

    try:
        wanted = [int(x) for x in sizes.split(",") if x.strip()]
    except ValueError as exc:
        raise InvalidInput(f"--sizes takes comma-separated integers, got {sizes!r}") from exc
    if recall_db is not None and not recall:
        raise InvalidInput("--recall-db goes with --ann-recall")
    if recall and recall_db is not None:
        if not recall_db.exists():
            raise InvalidInput(f"--recall-db: no such file {recall_db}")
        try:
            found = bench.ann_recall_store(
                recall_db, data, embedder=embedder, progress=console.print
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        if out is not None:
            out.write_text(json.dumps(found, indent=1))
        return
    if recall:
        found = bench.ann_recall(data, sizes=wanted, embedder=embedder, progress=console.print)
        if out is not None:
            out.write_text(json.dumps(found, indent=1))
        return
    rows = bench.run(
        data,
        sizes=wanted,
        store=store,
        embedder=embedder,
        probes=probes,
        progress=lambda line: console.print(line, markup=False, highlight=False),
    )
    table = Table(title=f"remem bench scale ({rows[0]['store'] if rows else store}, {embedder})")
    table.add_column("memories")
    for row in rows:
        table.add_column(str(row["size"]), justify="right")
    for key in [k for k in (rows[0] if rows else {}) if k not in ("store", "embedder", "size")]:
        table.add_row(key, *[str(r[key]) for r in rows])
    console.print(table)
    if out is not None:
        out.write_text(json.dumps(rows, indent=1))
    if chart is not None:
        earlier = [r for f in include or [] for r in json.loads(f.read_text())]
        console.print(f"chart: {bench.chart(earlier + rows, chart)}")


def cases(
    episodes: Annotated[
        int, typer.Option("--episodes", "-n", help="Episodes per condition.")
    ] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    embedder: Annotated[
        str, typer.Option("--embedder", help="minilm (the default model) or hashing (quick).")
    ] = "minilm",
    out: OutOpt = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write the learning curves (PNG) here.")
    ] = Path("docs/procedural-curves.png"),
    scale: Annotated[
        list[int] | None,
        typer.Option(
            "--scale",
            help="Instead: grow one team scope to this many episodes (repeatable) and time "
            "cases and lessons there.",
        ),
    ] = None,
    queries: Annotated[int, typer.Option("--queries", help="With --scale: tasks asked.")] = 100,
    learned: Annotated[
        int, typer.Option("--learned", help="With --scale: episodes added one by one per size.")
    ] = 200,
) -> None:
    """Learning from experience (remem.bench.cases): success per condition (memory off, cases,
    cases + lessons) in a simulated tool environment, the curve per fifth, memory ms per step.
    With --scale: cases and lessons p50/p95 (ms, median of 3 runs) in a scope of that size."""
    from remem.bench import cases as bench
    from remem.memory import Memory

    if scale:
        if min(scale) < 1 or queries < 1 or learned < 0:
            raise InvalidInput("--scale and --queries must be positive, --learned not negative")
        _cases_scale(bench, Memory, scale, seed, embedder, queries, learned, out)
        return
    with Progress(console=console) as progress:
        task = progress.add_task("episodes", total=3 * episodes)
        rows = bench.run(
            lambda: Memory(":memory:", embedder=embedder),
            episodes=episodes,
            seed=seed,
            progress=lambda n: progress.advance(task, n),
        )
    table = Table(title=f"remem bench cases ({episodes} episodes, seed {seed}, {embedder})")
    for col in ("condition", "success", "per fifth", "last fifth", "ms/step", "ms/episode"):
        table.add_column(col, justify="left" if col == "condition" else "right")
    for r in rows:
        curve = " ".join(f"{x:.2f}" for x in r["curve"])
        table.add_row(
            r["condition"], f"{r['success']:.3f}", curve, f"{r['last_fifth']:.2f}",
            f"{r['ms_per_step']:.2f}", f"{r['ms_per_episode']:.2f}",
        )  # fmt: skip
    console.print(table)
    if out is not None:
        out.write_text(json.dumps(rows, indent=1))
    if chart is not None:
        console.print(f"chart: {bench.chart(rows, chart, title=f'remem bench cases ({embedder})')}")


def _cases_scale(
    bench: Any,
    memory_cls: Any,
    sizes: list[int],
    seed: int,
    embedder: str,
    queries: int,
    learned: int,
    out: Path | None,
) -> None:
    """``remem bench cases --scale``: one SQLite file in a temporary folder, grown to each size."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="remem-cases-") as tmp:
        memory = memory_cls(Path(tmp) / "cases.db", embedder=embedder)
        try:
            with Progress(console=console) as progress:
                task = progress.add_task("episodes", total=max(sizes))
                rows = bench.scale(
                    memory, sizes=sizes, seed=seed, learned=learned, queries=queries,
                    progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
        finally:
            memory.close()
    table = Table(title=f"remem bench cases --scale (seed {seed}, {embedder}, {queries} queries)")
    cols = ("episodes", "records", "add_episode p50/p95", "cases p50/p95", "lessons p50/p95")
    for col in cols:
        table.add_column(col, justify="right")
    for r in rows:
        add = (
            "-" if r["add_episode_p50_ms"] is None
            else f"{r['add_episode_p50_ms']:.1f} / {r['add_episode_p95_ms']:.1f}"
        )  # fmt: skip
        table.add_row(
            str(r["episodes"]), str(r["records"]), add,
            f"{r['cases_p50_ms']:.2f} / {r['cases_p95_ms']:.2f}",
            f"{r['lessons_p50_ms']:.2f} / {r['lessons_p95_ms']:.2f}",
        )  # fmt: skip
    console.print(table)
    console.print("ms; cases and lessons: the median of 3 runs' percentiles")
    if out is not None:
        out.write_text(json.dumps(rows, indent=1))


def register(bench_app: typer.Typer) -> None:
    """Add the benchmark commands to ``remem bench``."""
    bench_app.command("locomo")(locomo)
    bench_app.command("guard")(guard)
    bench_app.command("serve")(serve)
    bench_app.command("pathological")(pathological)
    bench_app.command("scale")(scale)
    bench_app.command("cases")(cases)
