"""Canary secrets planted in every credential never reach a log, an audit event, an error or an output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.core.test_http import post, rpc
from tests.support.oauth import AUDIENCE, ISSUER, local_issuer
from tests.support.processes import http_process
from tests.support.stdio import EXAMPLE, StdioProcess, request

CANARIES = {
    "WARDEN_EXAMPLE_TOKEN": "canary-backend-token-5c1f7a",
    "WARDEN_EXAMPLE_API_KEYS": "ci:canary-api-key-9e3b2d41aa",
    "WARDEN_EXAMPLE_AUDIT_KEY": "canary-audit-key-77d0e2",
    "WARDEN_EXAMPLE_RATE_LIMIT_STORAGE": "redis://:canary-redis-pass-3a9c@127.0.0.1:6379/0",
    "WARDEN_EXAMPLE_REQUEST_STATE_KEYS": "canary-request-state-key-0123456789abcdef",
}
SECRETS = [
    "canary-backend-token-5c1f7a",
    "canary-api-key-9e3b2d41aa",
    "canary-audit-key-77d0e2",
    "canary-redis-pass-3a9c",
    "canary-request-state-key-0123456789abcdef",
]
INBOUND = "canary-inbound-bearer-6b2e90d1"


def assert_clean(sink: str, where: str, extra: list[str] = ()) -> None:  # type: ignore[assignment]
    for secret in [*SECRETS, *extra]:
        assert secret not in sink, f"{secret} leaked into {where}"


def test_http_server_leaks_no_canary(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    api_key = "canary-api-key-9e3b2d41aa"
    outputs: list[str] = []
    with local_issuer() as idp:
        env = {
            **CANARIES,
            "WARDEN_EXAMPLE_LOG_LEVEL": "DEBUG",
            "WARDEN_EXAMPLE_AUDIT_SINK": str(audit),
            "WARDEN_EXAMPLE_AUDIT_ARGUMENTS": "true",
            "WARDEN_EXAMPLE_OAUTH_ISSUER": ISSUER,
            "WARDEN_EXAMPLE_OAUTH_JWKS_URL": idp.jwks_url,
            "WARDEN_EXAMPLE_PUBLIC_URL": AUDIENCE,
        }
        expired_jwt = idp.mint(scope="basic:read", exp=int(time.time()) - 600, iat=int(time.time()) - 900)
        valid_jwt = idp.mint(scope="basic:read store:read")
        with http_process([str(EXAMPLE)], env, tmp_path) as server:
            call = lambda name, args: rpc("tools/call", {"name": name, "arguments": args})  # noqa: E731
            for message, token in [
                (rpc("tools/list"), api_key),
                (call("ex_echo", {"text": "hi"}), api_key),
                (call("ex_fail", {"message": "boom"}), api_key),  # the exception text carries the token
                (call("ex_list_items", {"shelf": "main"}), valid_jwt),
                (call("ex_echo", {"text": "hi"}), INBOUND),
                (call("ex_echo", {"text": "hi"}), expired_jwt),
                (rpc("tools/list"), None),
            ]:
                response = post(server.base, message, token)
                outputs.append(f"{response.status_code} {response.headers} {response.text}")
            metrics = httpx.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {api_key}"})
            outputs.append(metrics.text)
        stderr = server.stderr
    assert "internal failure: boom" in stderr  # the failure was logged, with its traceback...
    assert_clean(stderr, "the server log", [INBOUND, expired_jwt, valid_jwt])  # ...and masked
    assert_clean(audit.read_text(), "the audit trail", [INBOUND, expired_jwt, valid_jwt])
    assert_clean("\n".join(outputs), "responses", [INBOUND])
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {"unauthenticated", "internal_error", "ok"} <= {e["outcome"] for e in events}


def test_stdio_server_leaks_no_canary() -> None:
    process = StdioProcess([str(EXAMPLE)], env={**CANARIES, "WARDEN_EXAMPLE_LOG_LEVEL": "DEBUG"})
    try:
        process.send(request(1, "tools/call", {"name": "ex_fail", "arguments": {"message": "boom"}}))
        process.send(request(2, "tools/call", {"name": "ex_list_items", "arguments": {"shelf": "main"}}))
        answers = process.answers({1, 2})
        process.close_stdin()
        assert process.wait() == 0
    finally:
        process.kill()
    assert "internal failure: boom" in process.stderr.decode()
    assert_clean(process.stderr.decode(), "the server log")
    assert_clean(b"".join(process.lines).decode(), "stdout")
    assert answers[1]["result"]["isError"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WARDEN_EXAMPLE_PORT", "canary-bad-port-41"),
        ("WARDEN_EXAMPLE_API_KEYS", "canary-bad-key-without-a-name"),
        ("WARDEN_EXAMPLE_RATE_LIMIT", "canary-bad-rate"),
        ("WARDEN_EXAMPLE_OAUTH_ISSUER", "canary-bad-issuer"),
    ],
)
def test_config_errors_do_not_echo_values(name: str, value: str) -> None:
    process = StdioProcess([str(EXAMPLE)], env={name: value})
    assert process.wait(30) == 2
    stderr = process.stderr.decode()
    assert name in stderr.splitlines()[-1] and value not in stderr
