"""Layer 7: database failures become the core's error family, with PostgreSQL's own words and SQLSTATE.

A caller sees the server message, its hint, and the SQLSTATE. Never the DSN, the host, the
password, or the driver's view of the socket: connection failures are described in a few words
of our own. The core masks known secrets in every error text on top of this.
"""

from __future__ import annotations

from typing import Any

from warden_core import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolicyDenied,
    Timeout,
    UpstreamUnavailable,
    WardenError,
)
from warden_core.resilience import Retryable, connection_failure
from warden_postgres import wire

_MAX_MESSAGE = 600

# SQLSTATEs of a database that is there but cannot take us right now: worth another try.
_TRANSIENT = frozenset({"53300", "53400", "40001", "40P01", "55006"})
# The server ended our session: an administrator (or a fast shutdown, as in a restart) or a crash.
_SHUTDOWN = frozenset({"57P01", "57P02"})

LOST = "the connection was lost mid-call (the database server closed it: it may be restarting)"
STARTING = "the database server is starting up and does not accept connections yet"


def _capped(value: object) -> str:
    """At most _MAX_MESSAGE characters of `value`, cut before anything else looks at it."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _pg_text(exc: Any) -> str:
    """`message (HINT: hint) [SQLSTATE xxxxx]`, bounded.

    The server's text can be as large as a value it quotes (`invalid input syntax ...: "<200 MB>"`); the wire
    reader already cuts it to a few KiB, and each part is cut again here before it is joined or matched.
    """
    message = _capped(getattr(exc, "message", None) or (exc.args[0] if exc.args else type(exc).__name__))
    hint = getattr(exc, "hint", None)
    text = message + (f" (hint: {_capped(hint)})" if hint else "")
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return f"{text} [SQLSTATE {_capped(exc.sqlstate)}]"


def _socket_reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no server socket at that path"
    return connection_failure(exc) or "the connection failed"


def translate(exc: BaseException, database: str, *, connecting: bool = False) -> BaseException:
    """The exception to raise instead of `exc` (a `WardenError`, or `Retryable` for transient trouble)."""
    import asyncpg

    if isinstance(exc, WardenError | Retryable):
        return exc
    if isinstance(exc.__cause__, wire.TooLarge):  # the wire reader closed the connection (see wire.py)
        return InvalidArgument(f"database {database!r}: {exc.__cause__}. Select fewer or narrower columns")
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        text = _pg_text(exc)
        if state in _SHUTDOWN or state.startswith("08"):
            return Retryable(LOST)
        if state == "57P03":
            return Retryable(STARTING)
        if state in _TRANSIENT:
            return Retryable(text)
        if state in {"57014"}:
            return Timeout(f"database {database!r} cancelled the statement: {text}")
        if state == "55P03":
            return Timeout(f"database {database!r}: lock wait timed out: {text}")
        if state.startswith("28"):
            return UpstreamUnavailable(f"cannot log in to database {database!r}: {text}")
        if state == "3D000":
            return UpstreamUnavailable(f"database {database!r} does not exist on its server: {text}")
        if state == "25006":
            return PolicyDenied(f"the read-only transaction refused a write: {text}")
        if state == "42501":
            return PermissionDenied(f"the database role lacks a privilege: {text}")
        if state in {"42P01", "42883", "3F000"}:
            return NotFound(text)
        return InvalidArgument(text)
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return UpstreamUnavailable(f"database {database!r}: its connection settings are invalid")
    if isinstance(exc, asyncpg.InternalClientError):
        # The driver's protocol state after the server went away mid-operation (a restart, say).
        return Retryable(LOST)
    if isinstance(exc, asyncpg.InterfaceError):
        text = _capped(exc)
        if "argument" in text:
            return InvalidArgument(text)
        return Retryable(LOST)
    if isinstance(exc, TimeoutError):
        if connecting:
            return Retryable("connecting timed out")
        return Timeout(f"database {database!r} did not answer in time; the statement was cancelled")
    if isinstance(exc, OSError):
        return Retryable(f"cannot connect: {_socket_reason(exc)}")
    return exc
