"""One filter that masks credentials wherever text leaves the process: logs, audit events, error texts.

Two layers: the exact values of every secret setting (registered when settings load), and the
shapes of well-known credentials for secrets Warden never saw (a token inside a backend error).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "[REDACTED]"

# Every repetition is bounded: these run on every log line and error text, and an unbounded
# repeat before a literal that never comes backtracks quadratically on long input.
# Each pattern comes with the lowercase needles every match must contain: a pattern whose needles
# are all absent cannot match, and is skipped (most lines hold no credential-like text at all).
_PATTERNS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1 {MASK}", ("bearer", "basic", "token")),
    # JWTs (header.payload.signature, both base64url JSON objects).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,8192}\.eyJ[A-Za-z0-9_-]{5,8192}\.[A-Za-z0-9_-]{0,8192}"), MASK, ("eyj",)),
    # GitHub tokens: classic, OAuth, user-to-server, server-to-server, refresh, fine-grained.
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), MASK, ("github_pat_",)),
    # Slack tokens (bot, user, app-level, configuration, browser session).
    (re.compile(r"\bxox[abposrce]-[A-Za-z0-9-]{8,}"), MASK, ("xox",)),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), MASK, ("xapp-",)),
    # AWS access key ids, and secret keys where they are labelled.
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), MASK, ("akia", "asia", "aroa", "aida")),
    (
        re.compile(r"(?i)(aws_?secret_?access_?key|secret_?access_?key)([\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{30,}"),
        rf"\1\2{MASK}",
        ("secret",),
    ),
    # Passwords inside connection URLs: scheme://user:password@host.
    (re.compile(r"\b([a-z][a-z0-9+.-]{0,30}://[^:/@\s]{0,256}):[^@\s/]{1,512}@"), rf"\1:{MASK}@", ("://",)),
    # key=value or "key": "value" pairs whose key says secret.
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)"
            r"([\"']?\s*[:=]\s*[\"']?)(?![\"']?\[REDACTED\])[^\s\"',;&}]+"
        ),
        rf"\1\2{MASK}",
        ("pass", "pwd", "secret", "api", "token"),
    ),
    # Private keys.
    # A PEM body never holds five dashes in a row, so each BEGIN scans no further than the next marker.
    (
        re.compile(
            r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----(?:[^-]|-(?!----)){0,16384}-----END [A-Z ]{0,40}PRIVATE KEY-----"
        ),
        MASK,
        ("-----begin",),
    ),
)

# Shorter values would mask ordinary words; such secrets are still caught by shape above.
_MIN_KNOWN_LENGTH = 6


class _KnownSecrets:
    """The exact secret values loaded from settings, compiled into one alternation, longest first."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self.pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            ordered = sorted(self._values, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(v) for v in ordered))


_known = _KnownSecrets()


def register_secret(value: str | None) -> None:
    """Mask this exact value from now on, wherever it appears."""
    if value and len(value) >= _MIN_KNOWN_LENGTH:
        _known.add(value)


def _fold(text: str) -> str:
    """Lowercase as `(?i)` matching sees it: casefold, plus the dotless i that re also equates with `i`."""
    return text.casefold().replace("\u0131", "i")


def redact(text: str) -> str:
    """Return `text` with every known secret value and credential shape masked."""
    if not text:
        return text
    known = _known.pattern
    if known is not None:
        text = known.sub(MASK, text)
    lowered = _fold(text)
    for pattern, replacement, needles in _PATTERNS:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
            lowered = _fold(text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: renders each record once, masks it, and freezes the masked text.

    Installed on handlers, not loggers, so records from every library (the SDK, uvicorn, drivers)
    pass through it, including exception tracebacks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
