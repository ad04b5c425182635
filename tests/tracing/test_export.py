"""One trace from the agent to the backend, exported over OTLP/HTTP to a real receiver, for every server.

Each server runs as a real process with only the standard OTEL_* variables set. The client sends its
own trace context; the receiver must then hold, in the client's trace: the server span of the
tools/call (parented by the client's span, carrying Warden's attributes), at least one backend span
below it from the backend SDK's instrumentation, the service name, and nowhere a secret, a URL query
or a SQL literal. The spans arrive when the server stops: shutdown flushes them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.resilience.mcp_http import PROTOCOL, Answer, post, rpc, wait_until
from tests.resilience.targets import AWS_ENV, Target
from tests.support.stdio import StdioProcess
from tests.tracing.otlp import Receiver, Span, receiving

LITERAL = "literal-canary-7c1f"  # a SQL literal: its value must never reach a span
QUERY = {"sql": f"SELECT count(*) AS n FROM customers WHERE full_name <> '{LITERAL}'"}


def secrets_of(target: Target, request: pytest.FixtureRequest) -> list[str]:
    """The credentials the server holds for its backend."""
    if target.name == "github":
        return [request.getfixturevalue("github_api").token]
    if target.name == "slack":
        from tests.slack.fake_slack import BOT_TOKEN

        return [BOT_TOKEN]
    if target.name == "kubernetes":
        from tests.kubernetes.fake_kube import DEFAULT_TOKEN

        return [DEFAULT_TOKEN]
    if target.name == "aws":
        return [AWS_ENV["AWS_SECRET_ACCESS_KEY"], AWS_ENV["AWS_ACCESS_KEY_ID"]]
    return []


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@contextmanager
def over_http(target: Target) -> Iterator[Any]:
    with target.serve() as server:

        def send(message: dict[str, Any], header: str | None = None) -> Answer:
            headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": PROTOCOL}
            headers |= {"Mcp-Method": message["method"], "Mcp-Name": message["params"]["name"]}
            if header:
                headers["traceparent"] = header
            response = httpx.post(f"{server.base}/mcp", json=message, headers=headers, timeout=60)
            body = response.text
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                body = [line[5:] for line in body.splitlines() if line.startswith("data:")][-1]
            return Answer(status=response.status_code, elapsed=0, result=json.loads(body).get("result"), raw=body)

        yield send
    assert server.proc.returncode == 0


@contextmanager
def over_stdio(target: Target) -> Iterator[Any]:
    process = StdioProcess(["-m", f"warden_{target.name}"], env=target.env())
    try:

        def send(message: dict[str, Any], header: str | None = None) -> Answer:
            assert header is None, "stdio has no headers"
            process.send(message)
            found = process.answers({message["id"]})[message["id"]]
            return Answer(status=200, elapsed=0, result=found.get("result"), raw=str(found))

        yield send
        process.close_stdin()
        assert process.wait(30) == 0
    finally:
        process.kill()


def exported(target: Target, otlp: Receiver, transport: str, *, in_header: bool = False) -> tuple[str, str, list[Span]]:
    """Make one call carrying a fresh client trace context; return that context and the trace the receiver got."""
    target.extra_env.update(otlp.env())
    trace_id, parent, header = traceparent()
    arguments = QUERY if target.name == "postgres" else target.arguments
    message = rpc("tools/call", {"name": target.tool, "arguments": arguments}, id=7)
    if not in_header:
        message["params"]["_meta"]["traceparent"] = header
    with (over_http if transport == "http" else over_stdio)(target) as send:
        answer = send(message, header if in_header else None)
        assert answer.ok, answer.raw
    # The server has stopped: what it had queued was flushed on the way out.
    wait_until(lambda: any(s.kind == "SERVER" for s in otlp.trace(trace_id)), timeout=20, what="the server span")
    return trace_id, parent, otlp.trace(trace_id)


def below(span: Span, trace: list[Span]) -> list[Span]:
    children = [s for s in trace if s.parent_id == span.span_id]
    return children + [d for child in children for d in below(child, trace)]


def check_trace(target: Target, trace: list[Span], parent: str, forbidden: list[str]) -> Span:
    (call,) = [s for s in trace if s.name == f"tools/call {target.tool}"]
    assert call.kind == "SERVER" and call.parent_id == parent, call  # parented by the client's span
    assert call.resource["service.name"] == f"warden-{target.name}"
    assert call.attributes["warden.tool"] == target.tool
    assert call.attributes["warden.decision"] == "allow" and call.attributes["warden.outcome"] == "ok"
    assert call.attributes["warden.principal"] and call.attributes["warden.result_bytes"] > 0
    backend = [s for s in below(call, trace) if s.kind == "CLIENT"]
    assert backend, f"no backend span below the server span: {[(s.name, s.kind) for s in trace]}"
    assert {s.resource["service.name"] for s in trace} == {f"warden-{target.name}"}
    if target.name == "aws":
        # The account check (STS), then the call itself: one span per AWS operation.
        operations = {(s.attributes.get("rpc.service"), s.attributes.get("rpc.method")) for s in backend}
        assert operations == {("STS", "GetCallerIdentity"), ("S3", "ListBuckets")}, operations
    elif target.name != "postgres":
        # The API route is there, as a URL without credentials or query (the Kubernetes list has `?limit=`).
        urls = [s.attributes.get("url.full") or s.attributes.get("http.url") for s in backend]
        assert all(url and url.startswith("http://127.0.0.1:") for url in urls), urls
    for span in trace:
        for text in span.texts():
            for secret in forbidden:
                assert secret not in text, (span.name, text)
        for key in ("url.full", "http.url", "http.target"):
            url = span.attributes.get(key)
            assert url is None or ("?" not in url and "@" not in url), (span.name, key, url)
    return call


SERVERS = ["postgres", "github", "kubernetes", "slack", "aws"]


@pytest.mark.parametrize("target", SERVERS, indirect=True)
def test_one_trace_from_the_client_to_the_backend_over_http(target: Target, request: pytest.FixtureRequest) -> None:
    with receiving() as otlp:
        trace_id, parent, trace = exported(target, otlp, "http")
    call = check_trace(target, trace, parent, [LITERAL, *secrets_of(target, request)])
    # The audit event names the same trace and span, so the log line and the trace can be joined.
    (event,) = [e for e in target.audit_events() if e.get("method") == "tools/call"]
    assert (event["trace_id"], event["span_id"]) == (trace_id, call.span_id)
    if target.name == "postgres":
        statements = [s.attributes.get("db.statement", "") for s in trace if s.kind == "CLIENT"]
        assert any("full_name <> $1" in statement for statement in statements), statements  # the shape


@pytest.mark.parametrize("target", ["postgres", "slack"], indirect=True)
def test_one_trace_over_stdio(target: Target, request: pytest.FixtureRequest) -> None:
    with receiving() as otlp:
        _, parent, trace = exported(target, otlp, "stdio")
    check_trace(target, trace, parent, [LITERAL, *secrets_of(target, request)])


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_the_http_traceparent_header_parents_the_server_span(target: Target, request: pytest.FixtureRequest) -> None:
    with receiving() as otlp:
        _, parent, trace = exported(target, otlp, "http", in_header=True)
    check_trace(target, trace, parent, secrets_of(target, request))


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_no_otel_variables_no_tracing(target: Target) -> None:
    """Off by default: nothing is exported, and the SDK is not even loaded."""
    with receiving() as otlp, target.serve() as server:
        trace_id, _, header = traceparent()
        message = rpc("tools/call", {"name": target.tool, "arguments": target.arguments}, id=1)
        message["params"]["_meta"]["traceparent"] = header
        assert post(server.base, message).ok
    assert otlp.requests == 0
    (event,) = [e for e in target.audit_events() if e.get("method") == "tools/call"]
    assert event["trace_id"] == trace_id and "span_id" not in event  # the caller's trace, even so
    assert "tracing on" not in server.stderr
