"""One filter masks credentials in every sink: logs, audit events, error texts."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden_core import redaction
from warden_core.redaction import RedactingFilter, redact, register_secret

SAMPLES = [
    "Authorization: Bearer abcdef0123456789abcdef",
    "token ghp_0123456789abcdefghijABCDEFGHIJklmnopqr",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-1-abcdefghijkl",
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "postgresql://app:s3cr3t-pw@db.internal:5432/prod",
    "redis://:hunter2pass@cache:6379/0",
    'password="p@ssw0rd!"',
    "client_secret: abcdef123456",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
]
SECRETS = [
    "abcdef0123456789abcdef",
    "ghp_0123456789abcdefghijABCDEFGHIJklmnopqr",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-1-abcdefghijkl",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "s3cr3t-pw",
    "hunter2pass",
    "p@ssw0rd!",
    "abcdef123456",
    "MIIEow",
]


@pytest.mark.parametrize(("text", "secret"), list(zip(SAMPLES, SECRETS, strict=True)))
def test_known_credential_shapes_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "[REDACTED]" in masked


def test_ordinary_text_is_untouched() -> None:
    text = "SELECT count(*) FROM orders WHERE status = 'paid' -- 42 rows, see https://example.com/docs"
    assert redact(text) == text


def test_registered_values_are_masked_whatever_their_shape() -> None:
    register_secret("plain-canary-774411")
    assert redact("x plain-canary-774411 y") == "x [REDACTED] y"
    register_secret("abc")  # too short to mask safely: ignored, not an error
    assert redact("abc") == "abc"


def test_log_filter_masks_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("canary-in-traceback-9a8b7c")
    logger = logging.getLogger("warden.test.redaction")
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda record: records.append(logging.Formatter().format(record))  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("connecting with %s", "postgresql://u:pw-canary-1@h/db")
        try:
            raise RuntimeError("failed with canary-in-traceback-9a8b7c")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert "pw-canary-1" not in joined and "canary-in-traceback-9a8b7c" not in joined
    assert "RuntimeError" in joined  # the traceback itself is kept, only masked


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text",
    [
        "a." * 500_000,  # a scheme-like run that never reaches ://
        "ab+c" * 250_000,
        "-----BEGIN RSA PRIVATE KEY-----x" * 30_000,  # many openings, no END
        "eyJabcdefg" * 100_000,
        "postgres://user:" + "p" * 1_000_000,
        "password=" * 110_000,
    ],
    ids=["dotted", "scheme", "pem", "jwt", "url", "keyvalue"],
)
def test_masking_a_megabyte_of_hostile_text_finishes(text: str) -> None:
    # Guarded by a timeout, not timed: every repetition is bounded, so nothing backtracks quadratically.
    assert len(redact(text)) > 0


def test_encrypted_pem_with_dashed_headers_is_masked() -> None:
    pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB\n\nMIIEow\n"
    masked = redact(f"key: {pem}-----END ENCRYPTED PRIVATE KEY----- done")
    assert masked == "key: [REDACTED] done"


# --- The needle pre-check skips patterns that cannot match; it must never change the result. ---------
FRAGMENTS = [
    "Bearer ",
    "BASIC ",
    "token ",
    "eyJ",
    "ghp_",
    "gho_",
    "github_pat_",
    "xoxb-",
    "xapp-",
    "AKIA",
    "ASIA",
    "aws_secret_access_key=",
    "SECRET_ACCESS_KEY: ",
    "postgresql://u:",
    "@h",
    "password=",
    "PASSWD:",
    "api-key=",
    "ApiKey: ",
    "auth_token=",
    "client_secret=",
    "pwd=",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "paſsword=",
    "ſecret=",
    "\u212aEY",
    "apı_key=",
    "İ",
    "ß",
]


def _every_pattern(text: str) -> str:
    for pattern, replacement, _ in redaction._PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet="aZ09_-./+= :\"'\n", max_size=40)), max_size=12))
def test_skipping_patterns_by_needle_changes_nothing(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact(text) == _every_pattern(text)
