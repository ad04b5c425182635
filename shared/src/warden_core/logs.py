"""Logging to stderr, masked. stdout belongs to the protocol in stdio mode, so nothing logs there.

Lines are JSON when stderr is not a terminal and text on one, like the audit events that may
share stderr (see `logfmt`). Python's warnings are logged too, in the same format.

Must run before `MCPServer()` is constructed: the SDK calls `logging.basicConfig()`, which does
nothing once the root logger has a handler. Masking itself does not depend on this: building a
`WardenServer` installs it for every record of the process (`redaction.install`).
"""

from __future__ import annotations

import logging
import sys

from warden_core import redaction
from warden_core.logfmt import formatter


def configure_logging(level: str = "INFO") -> None:
    redaction.install()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that install their own handlers would write elsewhere, in another format; route them through root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mcp"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)
    # Per-request access lines duplicate the audit trail.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
