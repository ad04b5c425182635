"""Logging to stderr, masked. stdout belongs to the protocol in stdio mode, so nothing logs there.

Must run before `MCPServer()` is constructed: the SDK calls `logging.basicConfig()`, which does
nothing once the root logger has a handler.
"""

from __future__ import annotations

import logging
import sys

from warden_core.redaction import RedactingFilter

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that install their own handlers would bypass the filter; route them through root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mcp"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Per-request access lines duplicate the audit trail.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
