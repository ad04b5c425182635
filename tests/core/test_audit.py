"""Every request leaves exactly one audit event, whatever happened to it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.core.example_server import ExampleSettings, build_server
from tests.core.test_http import API_KEY, post, rpc
from tests.support.live_http import serve_http
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


def read_events(path: Path, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """The audit file's events, once `count` of them are there (records land as each request ends)."""
    deadline = time.monotonic() + timeout
    while True:
        events = [json.loads(line) for line in path.read_text().splitlines() if line]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


def test_mixed_http_calls_produce_exactly_one_event_each(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    settings = ExampleSettings.load(
        api_keys=(f"ci:{API_KEY}",),
        token="store-token-audit",
        broken=True,
        backend_attempts=1,
        breaker_threshold=100,
        rate_limit="2/minute",
        audit_sink=str(audit),
    )
    call = lambda name, args: rpc("tools/call", {"name": name, "arguments": args})  # noqa: E731
    expected: list[tuple[str, str]] = []  # (request id, outcome)
    with serve_http(build_server(settings)) as base:

        def send(message: dict[str, Any], outcome: str, token: str | None = API_KEY, **headers: str) -> None:
            response = post(base, message, token, **headers)
            expected.append((response.headers["x-request-id"], outcome))

        send(rpc("tools/list"), "ok")
        send(call("ex_echo", {"text": "a"}), "ok")
        send(call("ex_echo", {"text": "b"}), "ok")
        send(call("ex_echo", {"text": "c"}), "rate_limited")
        send(call("ex_echo", {"text": "a", "extra": 1}), "invalid_arguments")
        send(call("ex_list_items", {"shelf": "other"}), "policy_denied")
        send(call("ex_list_items", {"shelf": "main"}), "upstream_unavailable")
        send(call("ex_fail", {"message": "x"}), "internal_error")
        send(call("ex_nope", {}), "unknown_tool")
        send(call("ex_echo", {"text": "a"}), "unauthenticated", token=None)
        send(call("ex_echo", {"text": "a"}), "unauthenticated", token="wrong-key-0000000000")
        send(rpc("tools/list"), "bad_origin", Origin="http://evil.example")
        send(call("ex_echo", {"text": "x" * 2_000_000}), "body_too_large")
        response = httpx.post(
            f"{base}/mcp",
            content=b"{not json",
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        expected.append((response.headers["x-request-id"], "malformed"))

        events = read_events(audit, len(expected))
    assert len(events) == len(expected), [e["outcome"] for e in events]
    by_id = {event["request_id"]: event for event in events}
    assert len(by_id) == len(events), "request ids are unique"
    for request_id, outcome in expected:
        event = by_id[request_id]
        assert event["outcome"] == outcome, event
        assert event["server"] == "warden-example" and event["transport"] == "http"
        assert event["decision"] == ("allow" if outcome == "ok" else event["decision"])
        assert "duration_ms" in event and "time" in event


async def test_in_memory_events_carry_the_json_rpc_id_and_no_argument_values(tmp_path: Path, era: str) -> None:
    audit = tmp_path / "audit.jsonl"
    server = build_server(ExampleSettings.load(audit_sink=str(audit)))
    async with connect(server, era) as client:
        await client.call_tool("ex_echo", {"text": "private words"})
    events = read_events(audit, 2)
    call = next(e for e in events if e["method"] == "tools/call")
    assert call["tool"] == "ex_echo" and call["principal"] == "local" and call["transport"] == "memory"
    assert call["arguments_shape"] == {"text": "str(13)"}
    assert len(call["arguments_digest"]) == 32
    assert "private words" not in audit.read_text()


async def test_argument_values_are_recorded_only_when_enabled_and_then_masked(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = build_server(ExampleSettings.load(audit_sink=str(audit), audit_arguments=True))
    async with connect(server) as client:
        await client.call_tool("ex_echo", {"text": "my token is ghp_0123456789abcdefghijABCDEFGHIJklmnopqr"})
    text = audit.read_text()
    assert "my token is [masked: github-token]" in text and "ghp_0123456789" not in text


async def test_equal_arguments_have_equal_digests_under_a_shared_key(tmp_path: Path) -> None:
    digests = []
    for replica in ("a", "b"):
        audit = tmp_path / f"{replica}.jsonl"
        server = build_server(ExampleSettings.load(audit_sink=str(audit), audit_key="shared-audit-key-0123456789"))
        async with connect(server) as client:
            await client.call_tool("ex_echo", {"text": "same"})
        digests.append(next(e for e in read_events(audit, 2) if e["method"] == "tools/call")["arguments_digest"])
    assert digests[0] == digests[1]


async def test_calls_are_refused_while_the_audit_sink_is_broken(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = build_server(ExampleSettings.load(audit_sink=str(audit)))
    server.auditor._stream.close()  # the disk goes away under the server
    async with connect(server) as client:
        await client.call_tool("ex_echo", {"text": "first"})  # this write fails and marks the sink unhealthy
        refused = await client.call_tool("ex_echo", {"text": "second"})
    assert refused.is_error
    assert "audit trail cannot be written" in refused.content[0].text  # type: ignore[union-attr]
