"""What a line on stderr looks like: JSON when a machine reads it, text when a person does.

stderr carries two kinds of line, log records and audit events (when the audit sink is stderr).
They share one format, chosen once from where stderr goes:
- not a terminal (a container, a desktop client's log file, a pipe): one JSON object per line. A log
  record has `time`, `level`, `logger` and `message` (and `exception`); an audit event has its own
  fields (`request_id`, `decision`, `outcome`, ...). Both carry the request's `request_id`,
  `trace_id` and `span_id` when there are some, so logs, audit events and traces join up;
- a terminal: readable text, one line per record or event.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from warden_core import audit

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def wants_json(stream: IO[str] | None = None) -> bool:
    """JSON lines unless `stream` (stderr by default) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: a machine, then
        return True


def _request_fields() -> dict[str, str]:
    record = audit.current()
    if record is None:
        return {}
    fields = {"request_id": record.request_id}
    if record.trace_id:
        fields["trace_id"] = record.trace_id
    if record.span_id:
        fields["span_id"] = record.span_id
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per log record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_request_fields(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # the redacting filter leaves the masked traceback here
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """Warden's readable log line, naming the request it belongs to."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _request_fields()
        if not fields:
            return text
        first, newline, rest = text.partition("\n")
        tags = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{first} [{tags}]{newline}{rest}"


def formatter(stream: IO[str] | None = None) -> logging.Formatter:
    return JsonFormatter() if wants_json(stream) else TextFormatter()
