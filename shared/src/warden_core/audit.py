"""One structured audit event per request, including refusals, failures and malformed input.

A record is opened by the outermost layer that sees the request (the HTTP front door, or the MCP
gate on stdio), filled in by the inner layers through a context variable, and written exactly once
when the outer layer finishes. Argument values are never written unless enabled; by default the
event carries their shape and a keyed digest, so equal calls can be correlated without the data.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import IO, Any

from warden_core import logfmt
from warden_core.redaction import redact

logger = logging.getLogger(__name__)


@dataclass
class AuditRecord:
    """The event for one request. Inner layers set fields; the owner writes it."""

    request_id: str
    server: str
    transport: str
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    principal: str = "anonymous"
    client_id: str | None = None
    end_user: str | None = None
    end_user_via: str | None = None
    identity_ignored: str | None = None
    session: str | None = None
    method: str | None = None
    tool: str | None = None
    arguments_shape: dict[str, str] | None = None
    arguments_digest: str | None = None
    arguments: Any = None
    decision: str = "allow"
    outcome: str = "ok"
    reason: str | None = None
    policy: str | None = None
    target: str | None = None
    result_bytes: int | None = None
    masked: dict[str, int] | None = None
    """Secret values masked in the answer, by kind (the egress filter's tally)."""
    duration_ms: float | None = None
    trace_id: str | None = None  # the request's trace (the caller's, when it sent one)
    span_id: str | None = None  # Warden's span for the request, when tracing is on
    _started: float = field(default_factory=perf_counter, repr=False)

    def deny(self, outcome: str, reason: str) -> None:
        self.decision, self.outcome, self.reason = "deny", outcome, reason

    def fail(self, outcome: str, reason: str | None = None) -> None:
        self.outcome = outcome
        if reason is not None:
            self.reason = reason
        if self.decision == "allow":
            self.decision = "error"

    def as_json(self) -> str:
        # The instance's own fields, not dataclasses.asdict: that deep-copies every value, on every call.
        event = {k: v for k, v in vars(self).items() if not k.startswith("_") and v is not None}
        event["duration_ms"] = round((perf_counter() - self._started) * 1000, 3)
        return redact(json.dumps(event, default=str, separators=(",", ":"), ensure_ascii=False))

    def as_text(self) -> str:
        """The event as one readable line, for a person watching stderr on a terminal."""
        what = " ".join(part for part in (self.method, self.tool) if part)
        result = f"{self.result_bytes} bytes, " if self.result_bytes is not None else ""
        took = round((perf_counter() - self._started) * 1000, 1)
        line = f"{self.time} AUDIT {self.server}: {what} by {self.principal}: {self.decision} {self.outcome}"
        line += f" ({result}{took:g} ms) request_id={self.request_id}"
        if self.trace_id:
            line += f" trace_id={self.trace_id}"
        if self.reason:
            line += f": {self.reason}"
        return redact(line)


_current: contextvars.ContextVar[AuditRecord | None] = contextvars.ContextVar("warden_audit", default=None)


def current() -> AuditRecord | None:
    """The record of the request being handled, if any."""
    return _current.get()


def note_target(target: str) -> None:
    """Let a handler say which backend object it touched (a table, a repo, a namespace)."""
    record = _current.get()
    if record is not None:
        record.target = target


def shape(value: Any, depth: int = 0) -> str:
    """Describe a value without revealing it: `str(12)`, `list(3)`, `int`."""
    if isinstance(value, str):
        return f"str({len(value)})"
    if isinstance(value, list | tuple):
        return f"list({len(value)})"
    if isinstance(value, dict):
        return f"object({len(value)})"
    return type(value).__name__


class AuditSinkError(RuntimeError):
    pass


class Auditor:
    """Writes records as JSON lines to stderr or a file. Thread-safe; never raises into a call."""

    def __init__(self, *, server: str, sink: str, key: bytes | None, record_arguments: bool, fail_closed: bool):
        self.server = server
        self.record_arguments = record_arguments
        self.fail_closed = fail_closed
        # Digests must be comparable across replicas only if they share a key; otherwise per process.
        self._key = key or secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._healthy = True
        self._stream: IO[str]
        self._text = False
        if sink == "stderr":
            self._stream = sys.stderr
            # stderr has one format for log records and audit events: JSON lines, or text on a terminal.
            self._text = not logfmt.wants_json(sys.stderr)
        else:
            path = Path(sink)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered append, 0600: the trail is for operators only.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._stream = os.fdopen(fd, "a", buffering=1, encoding="utf-8")

    @property
    def healthy(self) -> bool:
        return self._healthy

    def digest(self, arguments: Mapping[str, Any]) -> str:
        canonical = json.dumps(arguments, sort_keys=True, default=str, separators=(",", ":"))
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()[:32]

    def describe_arguments(self, record: AuditRecord, arguments: Mapping[str, Any] | None) -> None:
        if not isinstance(arguments, Mapping):
            return
        record.arguments_shape = {str(k): shape(v) for k, v in arguments.items()}
        record.arguments_digest = self.digest(arguments)
        if self.record_arguments:
            record.arguments = arguments

    def open(self, *, request_id: str, transport: str) -> AuditRecord:
        return AuditRecord(request_id=request_id, server=self.server, transport=transport)

    @contextmanager
    def recording(self, record: AuditRecord) -> Iterator[AuditRecord]:
        """Make `record` the current one for the enclosed work, and write it when that work ends."""
        token = _current.set(record)
        try:
            yield record
        except BaseException:
            if record.outcome == "ok":
                record.fail("internal_error")
            raise
        finally:
            _current.reset(token)
            self.write(record)

    def write(self, record: AuditRecord) -> None:
        line = record.as_text() if self._text else record.as_json()
        try:
            with self._lock:
                self._stream.write(line + "\n")
                self._stream.flush()
            self._healthy = True
        except (OSError, ValueError) as exc:
            self._healthy = False
            logger.error("audit sink write failed: %s", exc)

    def close(self) -> None:
        if self._stream is not sys.stderr:
            self._stream.close()
