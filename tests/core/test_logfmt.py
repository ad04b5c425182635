"""One format on stderr: JSON lines for machines, text for a person at a terminal; both name the request."""

from __future__ import annotations

import io
import json
import logging

from warden_core import logfmt
from warden_core.audit import AuditRecord, _current


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("warden_core.test", logging.WARNING, __file__, 1, message, None, None)


def test_a_pipe_gets_json_lines_naming_the_request_and_trace() -> None:
    formatter = logfmt.formatter(io.StringIO())
    audit = AuditRecord(request_id="r7", server="warden-test", transport="stdio", trace_id="ab" * 16)
    token = _current.set(audit)
    try:
        line = json.loads(formatter.format(record("backend slow")))
    finally:
        _current.reset(token)
    assert line["level"] == "WARNING" and line["logger"] == "warden_core.test" and line["message"] == "backend slow"
    assert line["request_id"] == "r7" and line["trace_id"] == "ab" * 16
    assert "request_id" not in json.loads(formatter.format(record("outside a request")))


def test_a_terminal_gets_text_for_logs_and_audit_events() -> None:
    formatter = logfmt.formatter(Terminal())
    assert not logfmt.wants_json(Terminal())
    assert formatter.format(record("hello")).endswith("WARNING warden_core.test: hello")
    event = AuditRecord(request_id="r8", server="warden-test", transport="stdio", method="tools/call", tool="t")
    event.fail("timeout", "t did not finish within 60 s")
    text = event.as_text()
    assert "AUDIT warden-test: tools/call t by anonymous: error timeout" in text
    assert "request_id=r8" in text and text.endswith(": t did not finish within 60 s")
