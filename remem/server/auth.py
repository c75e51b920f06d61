"""Who is calling: an API key names a tenant, and the tenant gets a ``TenantMemory``.

Without a key store the server is open: one implicit tenant that sees the ``Memory`` as it is (the
same data as the CLI), and ``remem serve`` then binds only to 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request

from remem.errors import ConfigError, Forbidden, Unauthorized
from remem.keys import KeyStore
from remem.memory import Memory
from remem.tenancy import TenantMemory

TENANT_HEADER = "x-remem-tenant"
LOOPBACK = "127.0.0.1"


class Auth:
    """Maps request headers to the Memory a request may use.

    Args:
        memory: the shared Memory.
        keys: the API keys; None runs open, on one implicit tenant.
    """

    def __init__(self, memory: Memory, keys: KeyStore | None) -> None:
        self.memory = memory
        self.keys = keys

    @property
    def required(self) -> bool:
        """True when every request needs a valid key."""
        return self.keys is not None

    def tenant(self, headers: Mapping[str, str] | None) -> str | None:
        """The caller's tenant (None when the server is open).

        Raises:
            Unauthorized: no key, or an unknown or revoked one.
            Forbidden: the ``X-Remem-Tenant`` header names another tenant than the key's.
        """
        if self.keys is None:
            return None
        headers = headers or {}
        tenant = self.keys.tenant_for(bearer(headers.get("authorization")))
        claimed = headers.get(TENANT_HEADER)
        if claimed is not None and claimed != tenant:
            raise Forbidden(f"this API key belongs to another tenant than {claimed!r}")
        return tenant

    def memory_for(self, headers: Mapping[str, str] | None) -> Memory | TenantMemory:
        """The Memory a request with these headers may use.

        Raises:
            Unauthorized: see ``tenant``.
            Forbidden: see ``tenant``.
        """
        tenant = self.tenant(headers)
        return self.memory if tenant is None else TenantMemory(self.memory, tenant)


def bearer(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected 'Authorization: Bearer <key>'")
    return token.strip()


def check_bind(host: str, *, auth_required: bool) -> None:
    """Refuse to serve an open (keyless) API anywhere but the loopback interface.

    Raises:
        ConfigError: ``host`` is not 127.0.0.1 and no API key exists.
    """
    if not auth_required and host != LOOPBACK:
        raise ConfigError(
            f"refusing to listen on {host} without API keys: anyone who can reach it could read "
            f"and delete every memory. Create a key first (remem keys create --tenant NAME) or "
            f"bind to {LOOPBACK}."
        )


def request_memory(request: Request) -> Memory | TenantMemory:
    """FastAPI dependency: the Memory of the calling tenant (see ``Auth.memory_for``)."""
    auth: Auth = request.app.state.auth
    return auth.memory_for(request.headers)
