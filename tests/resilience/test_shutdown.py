"""Graceful shutdown (R-43): SIGTERM with 50 calls in flight. Each gets an answer or a clean error, the
process exits 0 within the drain deadline, and the pool is closed: no PostgreSQL session is left.

The calls are held in flight by the fault proxy (`hold`, or latency), so nothing here sleeps for effect."""

from __future__ import annotations

import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.resilience.conftest import Database
from tests.resilience.mcp_http import Answer, call, metric, wait_until
from tests.resilience.targets import Target
from tests.resilience.test_postgres_restart import warden_backends
from tests.support.stdio import StdioProcess, request

CALLS = 50
POOL = 10  # the read-only role's CONNECTION LIMIT: 10 calls run, 40 wait for a connection


def inflight(base: str) -> float | None:
    return metric(base, "warden_inflight_requests")


@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_sigterm_over_http_lets_50_calls_finish_then_exits_zero_with_the_pool_closed(
    target: Target, database: Database
) -> None:
    drain = 15.0
    # Deadlines longer than the hold: the calls wait, they do not fail.
    with target.serve(pool_size=POOL, drain_seconds=drain, backend_timeout=20, connect_timeout=20) as server:
        target.proxy.set("hold")  # the database's answers wait in the proxy: every call stays in flight
        with ThreadPoolExecutor(CALLS) as pool:
            futures = [pool.submit(call, server.base, target.tool, target.arguments, id=i) for i in range(CALLS)]
            wait_until(lambda: inflight(server.base) == CALLS, timeout=30, what="50 calls in flight")
            server.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            target.proxy.set("pass")  # the database answers again, during the drain
            answers = [future.result() for future in futures]
        assert server.proc.wait(drain + 5) == 0
        assert time.monotonic() - signalled < drain
    assert all(answer.ok for answer in answers), Counter(a.text[:80] for a in answers if not a.ok)
    assert [answer.id for answer in answers] == list(range(CALLS))
    assert not warden_backends(database.shop.admin), "the pool was not closed"


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_calls_still_running_at_the_drain_deadline_get_a_clean_error(target: Target) -> None:
    drain = 3.0
    with target.serve(drain_seconds=drain, backend_timeout=30, call_timeout=60) as server:
        target.proxy.set("latency", seconds=20)  # far longer than the drain deadline
        answers: list[Answer] = []
        with ThreadPoolExecutor(CALLS) as pool:
            futures = [pool.submit(call, server.base, target.tool, target.arguments, id=i) for i in range(CALLS)]
            wait_until(lambda: inflight(server.base) == CALLS, timeout=30, what="50 calls in flight")
            server.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            answers = [future.result() for future in futures]
        assert server.proc.wait(drain + 5) == 0
        assert time.monotonic() - signalled < drain + 1
    for answer in answers:
        # A JSON-RPC answer the client can read, saying why: not a 500, not a dropped connection.
        assert answer.status == 200 and answer.result is not None, (answer.status, answer.raw[:200])
        assert answer.result.get("isError") and "shutting down" in answer.text, answer.text


@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_sigterm_over_stdio_answers_all_50_calls_then_exits_zero(target: Target, database: Database) -> None:
    drain = 15.0
    process = StdioProcess(
        ["-m", "warden_postgres"],
        env=target.env(pool_size=POOL, drain_seconds=drain, backend_timeout=20, connect_timeout=20),
    )
    try:
        target.proxy.set("hold")
        for i in range(CALLS):
            process.send(request(i, "tools/call", {"name": target.tool, "arguments": target.arguments}))
        # Requests are read in order: once a later tools/list is answered, all 50 calls are under way
        # (waiting on the database, whose answers the proxy holds).
        process.send(request(CALLS + 100, "tools/list"))
        process.answers({CALLS + 100})
        process.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        target.proxy.set("pass")
        late = CALLS + 1
        process.send(request(late, "tools/call", {"name": target.tool, "arguments": target.arguments}))
        answers = process.answers(set(range(CALLS)) | {late}, timeout=drain + 5)
        assert process.wait(drain + 5) == 0
        assert time.monotonic() - signalled < drain
    finally:
        process.kill()
    for i in range(CALLS):
        assert not answers[i]["result"].get("isError"), answers[i]
    refused = answers[late]["result"]
    assert refused["isError"] and "shutting down" in refused["content"][0]["text"]
    assert not warden_backends(database.shop.admin), "the pool was not closed"


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_stdio_calls_still_running_at_the_drain_deadline_get_a_clean_error(target: Target) -> None:
    drain = 3.0
    env = target.env(drain_seconds=drain, backend_timeout=30, call_timeout=60)
    process = StdioProcess(["-m", "warden_github"], env=env)
    try:
        target.proxy.set("latency", seconds=20)
        for i in range(CALLS):
            process.send(request(i, "tools/call", {"name": target.tool, "arguments": target.arguments}))
        wait_until(lambda: target.proxy.open >= 1, timeout=20, what="calls reaching GitHub")
        process.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answers = process.answers(set(range(CALLS)), timeout=drain + 5)
        assert process.wait(drain + 5) == 0
        assert time.monotonic() - signalled < drain + 1
    finally:
        process.kill()
    for answer in answers.values():
        result = answer.get("result")
        assert result is not None and result["isError"], answer
        assert "shutting down" in result["content"][0]["text"], answer
