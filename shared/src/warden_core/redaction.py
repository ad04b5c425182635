"""Masking for text that leaves the process outside an answer: log lines, audit events, error texts.

The detector is the one the egress filter uses for answers (`warden_core.detector`), with every kind
on: the exact values of every secret setting (registered when settings load) and the operator's
extra values, plus the shapes of well-known credentials for secrets Warden never saw (a token
inside a backend error).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from warden_core.detector import REGISTRY


def register_secret(value: str | None) -> None:
    """Mask this exact value from now on, wherever it appears: logs, errors, audit events and answers."""
    REGISTRY.add_value(value)


def redact(text: str) -> str:
    """Return `text` with every known secret value and credential shape masked."""
    if not text:
        return text
    return REGISTRY.detector().mask(text, fit=False)[0]


def _mask_record(record: logging.LogRecord) -> None:
    """Render the record once, mask it, and freeze the masked text (tracebacks and stacks included)."""
    if getattr(record, "_warden_masked", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging would report it later; keep the raw parts, masked
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._warden_masked = True


class RedactingFilter(logging.Filter):
    """A handler filter that masks each record (for handlers set up by hand)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        return True


PAYLOAD_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.auth")
"""SDK loggers that dump whole backend bodies or signed requests at DEBUG, where one secret can be split
over several JSON fields (a key over CloudWatch Logs events, one per line) and cannot be put back
together and masked: they are held at INFO. Other SDKs' debug logs (PyGithub, the Kubernetes client,
slack_sdk) carry each text whole in one field, and stay available, masked."""

_install_lock = threading.Lock()
_installed: list[bool] = []  # one element once installed


def install() -> None:
    """Mask every log record this process creates, whichever handler later writes it.

    Done with the record factory rather than a handler filter, so handlers added later (by a program
    that embeds a server, by a library) are covered too. It only changes records' text, never where
    they go: in stdio mode nothing is written to stdout because of it. The SDKs' payload loggers are
    held at INFO (`PAYLOAD_LOGGERS`). Idempotent.
    """
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _mask_record(record)
            return record

        logging.setLogRecordFactory(masked_record)
        for name in PAYLOAD_LOGGERS:
            payloads = logging.getLogger(name)
            payloads.setLevel(max(payloads.level, logging.INFO))
        _installed.append(True)
