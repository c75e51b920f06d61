"""Origin classes: who may override whom, and what a caller may claim.

A memory's origin puts it in a trust class. By default ``user > agent > tool = import = derived``:
a user's statement outranks what an agent concluded, which outranks what a tool returned, an
import brought in, or remem derived. Consolidation (merge, supersede, correct) lets a newer write
change an older record only when the newer one's class is at least the older one's; otherwise the
newer write is kept as a competing claim (see ``remem.organize.writer``).

The order is a setting (``trust_order``): classes from most to least trusted, separated by ">",
origins of one class by ",": ``"user>agent>tool,import,derived"``.
"""

from __future__ import annotations

from functools import lru_cache

from remem.errors import ConfigError, Forbidden
from remem.guard.signals import BASE_TRUST
from remem.types import ORIGINS

DEFAULT_ORDER = "user>agent>tool,import,derived"
# The flag and link relation of a competing claim: a lower-trust write that would have changed
# (superseded, corrected) a more trusted record. Both are kept; the claim ranks below.
CONFLICT = "conflicts_with"


@lru_cache(maxsize=32)
def ranks(order: str = DEFAULT_ORDER) -> dict[str, int]:
    """Each origin's class rank under ``order`` (higher is more trusted).

    Raises:
        ConfigError: ``order`` names an unknown origin, repeats one, or leaves one out.
    """
    classes = [[o.strip() for o in part.split(",") if o.strip()] for part in order.split(">")]
    out: dict[str, int] = {}
    for position, members in enumerate(classes):
        for origin in members:
            if origin not in ORIGINS:
                raise ConfigError(f"trust_order: unknown origin {origin!r}")
            if origin in out:
                raise ConfigError(f"trust_order: origin {origin!r} appears twice")
            out[origin] = len(classes) - position
    missing = [o for o in ORIGINS if o not in out]
    if missing:
        raise ConfigError(f"trust_order: every origin needs a class; missing {missing}")
    return out


def rank(origin: str, order: str = DEFAULT_ORDER) -> int:
    """The class rank of ``origin`` (unknown origins rank lowest)."""
    return ranks(order).get(origin, 0)


def may_override(
    new_origin: str,
    new_trust: float,
    old_origin: str,
    old_trust: float,
    order: str = DEFAULT_ORDER,
) -> bool:
    """True when a newer write may supersede, correct or merge into an older record: its class is
    higher, or the same class and not lowered by the guard's flags below the older one's trust
    (origins of one class may start at different trust: only a flagged write loses here)."""
    new_rank, old_rank = rank(new_origin, order), rank(old_origin, order)
    if new_rank != old_rank:
        return new_rank > old_rank
    base = BASE_TRUST.get(new_origin, new_trust)
    return new_trust + 1e-9 >= min(old_trust, base)


def check_claim(origin: str, max_origin: str | None, order: str = DEFAULT_ORDER) -> None:
    """Refuse an ``origin`` above what the caller may claim (``max_origin``; None: anything).

    Raises:
        Forbidden: the caller may not claim this origin.
    """
    if max_origin is not None and rank(origin, order) > rank(max_origin, order):
        raise Forbidden(f"origin {origin!r} is above what this caller may claim ({max_origin!r})")


def cap(origin: str, max_origin: str | None, order: str = DEFAULT_ORDER) -> str:
    """``origin``, or ``max_origin`` when the origin ranks above it (imports are lowered, not
    refused: a file may hold records of many origins)."""
    if max_origin is not None and rank(origin, order) > rank(max_origin, order):
        return max_origin
    return origin


# The origin a chat role gives what it says (``remem.messages``: a message of this role has this
# origin at most). As a plain speaker name only the tool roles lower an origin (``by_speaker``).
ROLE_ORIGINS = {
    "user": "user",
    "human": "user",
    "assistant": "agent",
    "ai": "agent",
    "system": "agent",
    "developer": "agent",
    "tool": "tool",
    "function": "tool",
}


def by_speaker(origin: str, speaker: str | None, order: str = DEFAULT_ORDER) -> str:
    """``origin``, lowered to a tool's when ``speaker`` names the tool role ("tool",
    "function"): ``add(output, speaker="tool")`` is a tool's write, as the same text in a
    ``{"role": "tool"}`` message is. Other speakers — a person's name, "assistant" (an app may
    store a chat's assistant turns as the user's record of it; they rank as they did) — change
    nothing."""
    role = ROLE_ORIGINS.get(speaker.strip().casefold()) if speaker else None
    return cap(origin, role, order) if role == "tool" else origin
