"""Principals for tests: whom an in-memory client calls as, and principals of each kind to call as."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from warden_core import identity
from warden_core.auth import ALL_SCOPES, Principal
from warden_core.identity import EndUser


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Open in-memory clients inside this block to have their calls made as `principal` (not the local user)."""
    token = identity.enter(principal)
    try:
        yield principal
    finally:
        identity.leave(token)


def api_key(name: str, groups: Iterable[str] = ()) -> Principal:
    return Principal(id=f"apikey/{name}", kind="api_key", scopes=ALL_SCOPES, client_id=name, groups=frozenset(groups))


def end_user(
    user: str, groups: Iterable[str] = (), *, gateway: str = "contextforge", email: str | None = None
) -> Principal:
    """`user`, named by the trusted gateway whose API key is `gateway`."""
    return Principal(
        id=f"apikey/{gateway}",
        kind="api_key",
        scopes=ALL_SCOPES,
        client_id=gateway,
        end_user=EndUser(id=user, email=email, groups=frozenset(groups)),
    )
