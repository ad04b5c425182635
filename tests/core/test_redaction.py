"""Logs, audit events and error texts are masked by the same detector as answers, in every sink."""

from __future__ import annotations

import io
import logging

import pytest

from tests.core.example_server import ExampleSettings, build_server
from warden_core.redaction import RedactingFilter, redact, register_secret

SAMPLES = [
    ("Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef", "token"),
    ("token ghp_0123456789abcdefghijABCDEFGHIJklmnopqr", "ghp_0123456789abcdefghijABCDEFGHIJklmnopqr", "github-token"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx", "slack-token"),
    ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws-secret-key"),
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "c2lnbmF0dXJl", "jwt"),
    ("postgresql://app:s3cr3t-pw@db.internal:5432/prod", "s3cr3t-pw", "url-password"),
    ('password="p@ssw0rd!"', "p@ssw0rd!", "password"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow", "private-key"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), SAMPLES)
def test_known_credential_shapes_are_masked_with_their_kind(text: str, secret: str, kind: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert f"[masked: {kind}]" in masked  # logs get the full marker, whatever the secret's length


def test_ordinary_text_is_untouched() -> None:
    text = "SELECT count(*) FROM orders WHERE status = 'paid' -- 42 rows, see https://example.com/docs"
    assert redact(text) == text


def test_registered_values_are_masked_whatever_their_shape() -> None:
    register_secret("plain-canary-774411")
    assert redact("x plain-canary-774411 y") == "x [masked: server-credential] y"
    register_secret("abc")  # too short to mask safely: ignored, not an error
    assert redact("abc") == "abc"


def test_log_filter_masks_messages_arguments_and_tracebacks() -> None:
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


def test_a_program_embedding_a_server_logs_masked_text_through_its_own_handlers() -> None:
    """No CLI, no `configure_logging`: the embedding program's handler, added after the build, sees masked text."""
    build_server(ExampleSettings.load(token="embedded-canary-token-5d2e"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # plain handler, no filter: the embedding program's own
    logger = logging.getLogger("warden.test.embedded")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("backend said: %s", "bad credential embedded-canary-token-5d2e, key ghp_" + "a1" * 18)
        try:
            raise ValueError("token=embedded-canary-token-5d2e")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "embedded-canary-token-5d2e" not in written and "ghp_a1a1" not in written
    assert "[masked: server-credential]" in written and "ValueError" in written


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
        'password="' + "a" * 1_000_000,  # a quote that never closes
        "pwd=abcd\n" * 120_000,  # a candidate on every line
    ],
    ids=["dotted", "scheme", "pem", "jwt", "url", "keyvalue", "quote", "dense"],
)
def test_masking_a_megabyte_of_hostile_text_finishes(text: str) -> None:
    # Guarded by a timeout, not timed: RE2 is linear, and a text packed with candidates is masked
    # piece by piece once its budget of close looks is spent. (`make bench` reports the times.)
    assert len(redact(text)) > 0


def test_encrypted_pem_with_dashed_headers_is_masked() -> None:
    pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB\n\nMIIEow\n"
    masked = redact(f"key: {pem}-----END ENCRYPTED PRIVATE KEY----- done")
    assert "MIIEow" not in masked and "AES-128" not in masked
    assert masked.startswith("key: [masked: private-key]") and masked.endswith(" done")
