"""Who is calling: an API key names a tenant, and the tenant gets a ``TenantMemory``.

Without a key store the server is open: one implicit tenant that sees the ``Memory`` as it is (the
same data as the CLI), answering loopback clients only (see ``remem.server.app``), and
``remem serve`` then binds only to 127.0.0.1.

A key also bounds the origin its caller may claim (``max_origin``); without keys that bound is
"user", the top class: the local owner may write as anyone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from remem.errors import ConfigError, Forbidden, Unauthorized
from remem.guard import trust
from remem.keys import DEFAULT_MAX_ORIGIN, KeyStore
from remem.memory import Memory
from remem.tenancy import TenantMemory

TENANT_HEADER = "x-remem-tenant"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Caller:
    """Who a request is: the Memory it may use, its tenant, and the origin it may claim at most.

    Attributes:
        memory: the shared Memory (open mode) or the tenant's ``TenantMemory``.
        tenant: the key's tenant; None when the server is open.
        max_origin: the most trusted origin the caller may claim ("user" without keys).
    """

    memory: Memory | TenantMemory
    tenant: str | None
    max_origin: str = DEFAULT_MAX_ORIGIN

    def check_origin(self, origin: str) -> None:
        """Refuse a write that claims a more trusted origin than this caller's key allows.

        Raises:
            Forbidden: ``origin`` ranks above ``max_origin``.
        """
        trust.check_claim(origin, self.max_origin, trust_order(self.memory))

    def cap_origin(self, origin: str) -> str:
        """``origin``, lowered to ``max_origin`` when it ranks above it."""
        return trust.cap(origin, self.max_origin, trust_order(self.memory))

    @property
    def limited(self) -> bool:
        """True when the caller may not claim every origin (its key has a lower max_origin)."""
        order = trust_order(self.memory)
        return trust.rank(self.max_origin, order) < trust.rank(DEFAULT_MAX_ORIGIN, order)


def trust_order(memory: Memory | TenantMemory) -> str:
    """The ``trust_order`` setting of a Memory (the default order where there is none)."""
    base: Any = memory.memory if isinstance(memory, TenantMemory) else memory
    order = getattr(getattr(base, "settings", None), "trust_order", None)
    return order if isinstance(order, str) and order else trust.DEFAULT_ORDER


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
        return self.caller(headers).tenant

    def caller(self, headers: Mapping[str, str] | None) -> Caller:
        """The caller of a request with these headers: its Memory, tenant and origin limit.

        Raises:
            Unauthorized: no key, or an unknown or revoked one.
            Forbidden: the ``X-Remem-Tenant`` header names another tenant than the key's.
        """
        if self.keys is None:
            return Caller(self.memory, None)
        headers = headers or {}
        key = self.keys.key_for(bearer(headers.get("authorization")))
        claimed = headers.get(TENANT_HEADER)
        if claimed is not None and claimed != key.tenant:
            raise Forbidden(f"this API key belongs to another tenant than {claimed!r}")
        return Caller(TenantMemory(self.memory, key.tenant), key.tenant, key.max_origin)

    def memory_for(self, headers: Mapping[str, str] | None) -> Memory | TenantMemory:
        """The Memory a request with these headers may use.

        Raises:
            Unauthorized: see ``tenant``.
            Forbidden: see ``tenant``.
        """
        return self.caller(headers).memory


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


def is_loopback(address: Any) -> bool:
    """True for an ASGI ``(host, port)`` whose host is a loopback address (127/8, ::1, and
    IPv4-mapped 127/8); False for anything else, names and None included."""
    if not isinstance(address, list | tuple) or not address or not isinstance(address[0], str):
        return False
    try:
        ip = ipaddress.ip_address(address[0].strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def request_memory(request: Request) -> Memory | TenantMemory:
    """FastAPI dependency: the Memory of the calling tenant (see ``Auth.memory_for``)."""
    auth: Auth = request.app.state.auth
    return auth.memory_for(request.headers)


def request_caller(request: Request) -> Caller:
    """FastAPI dependency: the calling tenant's Memory and origin limit (see ``Auth.caller``)."""
    auth: Auth = request.app.state.auth
    return auth.caller(request.headers)
