"""The service commands: ``remem serve``, ``remem keys create|list|revoke``, ``remem mcp`` and
``remem doctor``.

``register(app)`` adds them to the main Typer app (``remem/cli.py`` calls it).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from remem.config import default_path
from remem.keys import DEFAULT_MAX_ORIGIN, KeyStore, default_keys_path, open_keys
from remem.types import ORIGINS

console = Console(stderr=True)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", envvar="REMEM_PATH", help="SQLite file (default: the user data dir)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", help="A backend name, or a postgresql:// URL for the shared Postgres store."
    ),
]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys", envvar="REMEM_KEYS_PATH", help="API keys file (default: <store dir>/keys.db)."
    ),
]
EmbedderOpt = Annotated[
    str | None,
    typer.Option("--embedder", help="Embedder name (default: minilm, or REMEM_EMBEDDER)."),
]
_ORIGINS = ", ".join(ORIGINS)


def _keys_path(keys: Path | None, db: Path | None) -> Path:
    return keys if keys is not None else default_keys_path(db or default_path())


def _store_settings(store: str | None, embedder: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if store is not None:
        if store.startswith(("postgresql://", "postgres://")):
            settings.update(store="postgres", store_url=store)
        else:
            settings["store"] = store
    if embedder is not None:
        settings["embedder"] = embedder
    return settings


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    db: DbOpt = None,
    store: StoreOpt = None,
    keys: KeysOpt = None,
    embedder: EmbedderOpt = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Larger request bodies get 413.")
    ] = 32 * 1024 * 1024,
    allow_open: Annotated[
        bool,
        typer.Option(
            "--allow-open",
            envvar="REMEM_ALLOW_OPEN",
            help="Without keys, listen and answer beyond 127.0.0.1 anyway (behind your own gate).",
        ),
    ] = False,
    log_json: Annotated[
        bool,
        typer.Option(
            "--log-json",
            envvar="REMEM_LOG_JSON",
            help="Log one JSON object per request, and every log record, as JSON lines on stderr.",
        ),
    ] = False,
) -> None:
    """Run the REST API (docs at /docs, metrics at /metrics) and MCP over HTTP (at /mcp)."""
    import uvicorn

    from remem.memory import Memory
    from remem.server.app import create_app
    from remem.server.auth import check_bind
    from remem.server.metrics import LOG_JSON_ENV, json_log_config

    logs: dict[str, Any] = {}
    if log_json:
        # The app logs each request (remem.access); uvicorn's own access lines are off.
        os.environ[LOG_JSON_ENV] = "1"
        logs = {"log_config": json_log_config(), "access_log": False}
        logging.config.dictConfig(logs["log_config"])
    else:
        os.environ.pop(LOG_JSON_ENV, None)

    def note(message: str) -> None:
        if log_json:
            logging.getLogger("remem.server").warning(message)
        else:
            console.print(message)

    keys_path = _keys_path(keys, db)
    key_store = open_keys(keys_path)
    if not allow_open:
        check_bind(host, auth_required=key_store is not None)
    if key_store is None and allow_open:
        note(
            f"no API keys in {keys_path}: OPEN API on {host} for any client that reaches it "
            f"(--allow-open); make sure your own proxy or firewall guards it"
        )
    elif key_store is None:
        note(f"no API keys in {keys_path}: open API on one implicit tenant, {host} only")
    settings = _store_settings(store, embedder)
    if workers > 1:
        # Each worker process builds its own app from the environment (uvicorn needs an import
        # string); the auth decision made here is passed down so no worker can run open.
        if key_store is not None:
            key_store.close()
        env = {
            "REMEM_KEYS_PATH": str(keys_path),
            "REMEM_REQUIRE_AUTH": "1" if key_store is not None else "0",
            "REMEM_MAX_BODY_BYTES": str(max_body_bytes),
            "REMEM_ALLOW_OPEN": "1" if allow_open else "0",
            **{f"REMEM_{name.upper()}": str(value) for name, value in settings.items()},
        }
        if db is not None:
            env["REMEM_PATH"] = str(db)
        # Share the cores instead of oversubscribing them: each worker's model runtime (ONNX
        # Runtime, or torch) gets its part.
        share = str(max(1, (os.cpu_count() or 1) // workers))
        env.setdefault("OMP_NUM_THREADS", share)
        env.setdefault("REMEM_EMBED_THREADS", os.environ.get("REMEM_EMBED_THREADS", share))
        os.environ.update(env)
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            "remem.server.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **logs,
        )
        Multiprocess(config, sockets=[_tcp_socket(host, port)]).run()
        return
    memory = Memory(db, **settings)
    app = create_app(
        memory,
        keys=key_store,
        max_body_bytes=max_body_bytes,
        owns_memory=True,
        allow_open=allow_open,
    )
    config = uvicorn.Config(app, host=host, port=port, **logs)
    uvicorn.Server(config).run(sockets=[_tcp_socket(host, port)])


def _tcp_socket(host: str, port: int) -> socket.socket:
    """A listening socket created as TCP explicitly: uvicorn's own (protocol 0) leaves asyncio
    unaware it is TCP, so TCP_NODELAY is never set and keep-alive requests wait ~40 ms."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def mcp(
    db: DbOpt = None,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Confine every call to this tenant's scopes.")
    ] = None,
    max_origin: Annotated[
        str | None,
        typer.Option(
            "--max-origin",
            help=f"The most trusted origin a tool call may claim ({_ORIGINS}); default: any.",
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print a ready entry for Claude Desktop / an IDE's mcpServers, then exit.",
        ),
    ] = False,
) -> None:
    """Serve the MCP tools over stdio (for Claude Desktop, IDEs and agent frameworks)."""
    if print_config:
        sys.stdout.write(json.dumps(_mcp_entry(db, store, embedder, tenant, max_origin), indent=2))
        sys.stdout.write("\n")
        return
    from remem.mcp import create_mcp_server
    from remem.memory import Memory
    from remem.tenancy import TenantMemory

    with Memory(db, **_store_settings(store, embedder)) as memory:
        target = memory if tenant is None else TenantMemory(memory, tenant)
        create_mcp_server(target, max_origin=max_origin).run("stdio")


def _mcp_entry(
    db: Path | None, store: str | None, embedder: str | None, tenant: str | None, origin: str | None
) -> dict[str, Any]:
    """The ``mcpServers`` entry that starts this command as it was given (absolute paths)."""
    exe = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else Path(sys.executable)
    args = ["mcp", "--db", str((db or default_path()).expanduser().resolve())]
    for flag, value in (
        ("--store", store),
        ("--embedder", embedder),
        ("--tenant", tenant),
        ("--max-origin", origin or "agent"),
    ):
        if value is not None:
            args += [flag, value]
    env = {"HF_HUB_OFFLINE": "1"}
    return {"mcpServers": {"remem": {"command": str(exe), "args": args, "env": env}}}


keys_app = typer.Typer(
    help="API keys: one tenant per key; the server requires them once one exists."
)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant the key belongs to.")],
    label: Annotated[str | None, typer.Option("--label", help="A note, e.g. who uses it.")] = None,
    max_origin: Annotated[
        str,
        typer.Option(
            "--max-origin",
            help=f"The most trusted origin its callers may claim ({_ORIGINS}); 'agent' for a "
            f"key an agent holds, so it cannot write as the user.",
        ),
    ] = DEFAULT_MAX_ORIGIN,
    keys: KeysOpt = None,
    db: DbOpt = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    store = KeyStore(_keys_path(keys, db))
    try:
        key, token = store.create(tenant, label=label, max_origin=max_origin)
    finally:
        store.close()
    sys.stdout.write(token + "\n")
    console.print(
        f"key {key.key_id} for tenant {key.tenant} (max origin {key.max_origin}): "
        f"store it now, it is not shown again"
    )


@keys_app.command("list")
def keys_list(
    keys: KeysOpt = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys (ids and tenants, never the keys themselves)."""
    path = _keys_path(keys, db)
    store = KeyStore(path) if path.exists() else None
    listing = store.list() if store is not None else []
    if store is not None:
        store.close()
    if as_json:
        rows = [
            {
                "key_id": k.key_id,
                "tenant": k.tenant,
                "label": k.label,
                "max_origin": k.max_origin,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in listing
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table()
    for col in ("key id", "tenant", "label", "max origin", "created", "status"):
        table.add_column(col)
    for k in listing:
        table.add_row(
            k.key_id,
            k.tenant,
            k.label or "",
            k.max_origin,
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by 'keys list'.")],
    keys: KeysOpt = None,
    db: DbOpt = None,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    store = KeyStore(_keys_path(keys, db))
    try:
        store.revoke(key_id)
    finally:
        store.close()
    console.print(f"revoked {key_id}")


def doctor(
    db: DbOpt = None,
    store: StoreOpt = None,
    keys: KeysOpt = None,
    embedder: EmbedderOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Check a store: integrity, index freshness, migrations, the model, settings, file modes.

    Exits 1 when any check fails.
    """
    from remem import doctor as checks
    from remem.config import Settings

    settings = Settings.from_env(**_store_settings(store, embedder))
    keys_path = _keys_path(keys, db) if settings.store == "sqlite" or keys else None
    rows = checks.run(db, keys_path=keys_path, settings=settings)
    if as_json:
        out = {
            "ok": not checks.failed(rows),
            "checks": [{"check": c, "status": s, "detail": d} for c, s, d in rows],
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        table = Table()
        for col in ("check", "status", "detail"):
            table.add_column(col)
        style = {checks.OK: "green", checks.WARN: "yellow", checks.FAIL: "bold red"}
        for check, status, detail in rows:
            table.add_row(check, f"[{style[status]}]{status}[/]", detail)
        Console().print(table)
    if checks.failed(rows):
        raise typer.Exit(1)


def reindex(
    embedder: Annotated[
        str, typer.Option("--embedder", help="The new embedder's name (minilm, fast, hashing).")
    ],
    dims: Annotated[
        int | None,
        typer.Option(
            "--dims", min=1, help="The new embedder's width (default: REMEM_DIMS or 384)."
        ),
    ] = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Rows embedded per transaction.")
    ] = 256,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
) -> None:
    """Re-embed a store in place with another embedder, then record it as the store's.

    Resumable: progress is kept in the store, so a run that is killed goes on from where it stopped
    when started again. Until it finishes, the store stays the old embedder's (searches and writes
    with it go on as before; the new embedder is refused); the new vectors replace the old ones in
    one transaction at the end. Afterwards open the store with the new embedder (and --dims).
    """
    from remem import reindex as re_embed
    from remem.config import Settings
    from remem.embed.base import describe
    from remem.parts import make_embedder

    options = _store_settings(store, embedder)
    if dims is not None:
        options["dims"] = dims
    settings = Settings.from_env(**options)

    def report(done: int, total: int) -> None:
        if not quiet:
            sys.stdout.write(f"embedded {done}/{total}\n")
            sys.stdout.flush()

    out = re_embed.reindex(settings, db, make_embedder(settings), batch=batch, progress=report)
    if not out.changed:
        console.print(f"the store already records {describe(out.after)}; nothing to do")
        return
    was = "no record" if out.before is None else describe(out.before)
    how = "resumed, " if out.resumed else ""
    console.print(
        f"re-embedded {out.rows} rows ({how}{out.embedded} embedded in this run): "
        f"{was} -> {describe(out.after)}"
    )


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``mcp``, ``doctor``, ``reindex`` and the ``keys`` group to the main CLI app."""
    app.command()(serve)
    app.command()(mcp)
    app.command()(doctor)
    app.command()(reindex)
    app.add_typer(keys_app, name="keys")
