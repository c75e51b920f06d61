"""API keys per tenant, kept hashed in a small SQLite file next to the store.

A key looks like ``rmk_<key id>_<secret>``. Only ``sha256(key)`` is stored: the secret is 32 random
bytes, so a fast hash is enough (there is nothing to brute-force), and the plain key is shown once,
when it is created. The key id is public: ``keys list`` and ``keys revoke`` use it.

Each key also bounds the origin its caller may claim for what it writes (``max_origin``, see
``remem.guard.trust``): a key made for an agent with ``max_origin="agent"`` cannot store memories
as if the user had said them. The file is private to its owner (0600, see ``remem._fs``).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from remem._fs import private_sqlite
from remem.errors import InvalidInput, NotFound, StoreError, Unauthorized
from remem.types import ORIGINS

_PREFIX = "rmk"
# Keys made before max_origin existed (NULL in the column) and new keys by default: no limit.
DEFAULT_MAX_ORIGIN = "user"
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    hash TEXT NOT NULL,
    label TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""
# Added after the first release: files made before it gain the column when opened.
_MAX_ORIGIN_COLUMN = "ALTER TABLE api_keys ADD COLUMN max_origin TEXT"
_COLUMNS = "key_id, tenant, created_at, label, revoked_at, max_origin"


@dataclass(frozen=True)
class ApiKey:
    """One key as listed: never the secret, only its public id, tenant and origin limit.

    ``max_origin`` is the most trusted origin a caller with this key may claim for a write
    ("user": any).
    """

    key_id: str
    tenant: str
    created_at: datetime
    label: str | None = None
    revoked_at: datetime | None = None
    max_origin: str = DEFAULT_MAX_ORIGIN

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None


def check_tenant(tenant: object) -> str:
    """Return ``tenant`` if it is a valid tenant name.

    Tenant names never contain "/", so ``f"{tenant}/{user_id}"`` is unambiguous.

    Raises:
        InvalidInput: not 1-64 characters of letters, digits, "_", "." or "-".
    """
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise InvalidInput(
            f"tenant: 1 to 64 letters, digits, '_', '.' or '-' (starting with a letter or digit), "
            f"got {tenant!r}"
        )
    return tenant


def check_origin(origin: object, *, field: str = "max_origin") -> str:
    """Return ``origin`` if it is one of the origins (``remem.types.ORIGINS``).

    Raises:
        InvalidInput: anything else.
    """
    if not isinstance(origin, str) or origin not in ORIGINS:
        raise InvalidInput(f"{field}: expected one of {list(ORIGINS)}, got {origin!r}")
    return origin


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore:
    """The API keys of one server, in a SQLite file.

    Args:
        path: the keys file (created 0600 if missing, in 0700 folders; tightened if loose).

    Raises:
        StoreError: the file cannot be opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        # One connection shared by the server's worker threads, serialized by a lock.
        self._lock = threading.Lock()
        try:
            private_sqlite(self.path)
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(api_keys)")}
            if "max_origin" not in columns:
                try:
                    self._conn.execute(_MAX_ORIGIN_COLUMN)
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the keys file {self.path}: {exc}") from exc

    def create(
        self, tenant: str, *, label: str | None = None, max_origin: str = DEFAULT_MAX_ORIGIN
    ) -> tuple[ApiKey, str]:
        """Make a new key for ``tenant``.

        Args:
            tenant: the tenant the key belongs to.
            label: a note, e.g. who uses it.
            max_origin: the most trusted origin its callers may claim ("user": any; "agent"
                for a key given to an agent, so it cannot write as the user).

        Returns:
            The key's listing and the plain key (shown once; only its hash is kept).

        Raises:
            InvalidInput: a bad tenant name or origin.
        """
        check_tenant(tenant)
        check_origin(max_origin)
        key_id = secrets.token_hex(6)
        token = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        self._execute(
            "INSERT INTO api_keys (key_id, tenant, hash, label, created_at, max_origin)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, tenant, _digest(token), label, now.isoformat(), max_origin),
        )
        key = ApiKey(
            key_id=key_id, tenant=tenant, created_at=now, label=label, max_origin=max_origin
        )
        return key, token

    def list(self, *, include_revoked: bool = True) -> builtins.list[ApiKey]:
        """Every key, oldest first."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM api_keys"
            + ("" if include_revoked else " WHERE revoked_at IS NULL")
            + " ORDER BY created_at, key_id",
            (),
        )
        return [_key(r) for r in rows]

    def has_active(self) -> bool:
        """True when at least one key is not revoked (the server then requires keys)."""
        return bool(self._query("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1", ()))

    def revoke(self, key_id: str) -> None:
        """Revoke a key by its id; requests with it fail with 401 from then on.

        Raises:
            NotFound: no active key has that id.
        """
        with self._lock:
            try:
                cur = self._conn.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                    (datetime.now(UTC).isoformat(), key_id),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"keys file {self.path}: {exc}") from exc
        if cur.rowcount == 0:
            raise NotFound(f"no active key {key_id!r}")

    def tenant_for(self, token: str | None) -> str:
        """The tenant of an active key.

        Raises:
            Unauthorized: no key, a malformed, unknown or revoked one.
        """
        return self.key_for(token).tenant

    def key_for(self, token: str | None) -> ApiKey:
        """The listing of an active key (its tenant and ``max_origin``).

        Raises:
            Unauthorized: no key, a malformed, unknown or revoked one.
        """
        if not token:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise Unauthorized("invalid API key")
        rows = self._query(
            f"SELECT hash, {_COLUMNS} FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
            (parts[1],),
        )
        # Constant-time comparison, so response timing does not reveal how much of a guess matched.
        if not rows or not hmac.compare_digest(str(rows[0][0]), _digest(token)):
            raise Unauthorized("invalid API key")
        return _key(rows[0][1:])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def _execute(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, args)
            except sqlite3.Error as exc:
                raise StoreError(f"keys file {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[object, ...]) -> builtins.list[tuple[str | None, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"keys file {self.path}: {exc}") from exc


def _key(row: tuple[str | None, ...]) -> ApiKey:
    key_id, tenant, created_at, label, revoked_at, max_origin = row
    return ApiKey(
        key_id=str(key_id),
        tenant=str(tenant),
        created_at=datetime.fromisoformat(str(created_at)),
        label=label,
        revoked_at=datetime.fromisoformat(revoked_at) if revoked_at else None,
        max_origin=max_origin or DEFAULT_MAX_ORIGIN,
    )


def default_keys_path(store_path: str | Path) -> Path:
    """The keys file that goes with a store file: ``<store dir>/keys.db``."""
    return Path(store_path).expanduser().parent / "keys.db"


def open_keys(path: str | Path, *, require: bool = False) -> KeyStore | None:
    """The key store a server should use: None (open, keyless) when no active key exists.

    Args:
        path: the keys file; it is not created when missing and not ``require``.
        require: keys on even with no active key (every request then gets 401).
    """
    if not require and not Path(path).expanduser().exists():
        return None
    keys = KeyStore(path)
    if require or keys.has_active():
        return keys
    keys.close()
    return None
