"""Backends: deadlines, bounded retries honouring Retry-After, and a circuit breaker that recovers."""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import time
from typing import Any

import anyio
import pytest

from warden_core.errors import NotFound, RateLimited, Timeout, UpstreamUnavailable
from warden_core.resilience import Backend, ResiliencePolicy, Retryable, connection_failure

pytestmark = pytest.mark.anyio


def backend(**overrides: float) -> Backend:
    policy = dict(timeout=0.5, attempts=3, breaker_threshold=3, breaker_reset=0.3, retry_after_cap=0.2)
    policy.update(overrides)
    return Backend("the store", ResiliencePolicy(backoff_max=0.01, **policy))  # type: ignore[arg-type]


async def test_transient_failures_are_retried_then_succeed() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Retryable("connection reset")
        return "ok"

    assert await backend().call(flaky) == "ok"
    assert calls == 3


async def test_retries_are_bounded_and_end_in_a_clear_error() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise Retryable("connection refused")

    with pytest.raises(UpstreamUnavailable, match="the store is unavailable: connection refused"):
        await backend(breaker_threshold=100).call(down)
    assert calls == 3


async def test_writes_are_not_retried() -> None:
    calls = 0

    async def write() -> None:
        nonlocal calls
        calls += 1
        raise Retryable("reset mid-write")

    with pytest.raises(UpstreamUnavailable):
        await backend().call(write, retry=False)
    assert calls == 1


async def test_retry_after_is_honoured_up_to_the_cap_then_reported() -> None:
    waits: list[float] = []
    last = time.monotonic()

    async def throttled() -> None:
        nonlocal last
        now = time.monotonic()
        waits.append(now - last)
        last = now
        raise Retryable("429", retry_after=60)

    with pytest.raises(RateLimited, match="the store is throttling requests; retry after 60 s"):
        await backend(breaker_threshold=100).call(throttled)
    # Two waits between three attempts, each capped at 0.2 s instead of the 60 s asked for.
    assert len(waits) == 3
    assert all(0.15 <= w < 1.0 for w in waits[1:])


async def test_deadline_per_attempt() -> None:
    async def hang() -> None:
        await anyio.sleep(10)

    with pytest.raises(Timeout, match=r"did not answer within 0\.1 s"):
        await backend(timeout=0.1, attempts=1).call(hang)


async def test_clear_backend_answers_do_not_open_the_breaker() -> None:
    b = backend()

    async def missing() -> None:
        raise NotFound("no such thing")

    for _ in range(10):
        with pytest.raises(NotFound):
            await b.call(missing)
    assert b.available


async def test_breaker_opens_answers_fast_and_half_opens_to_recover() -> None:
    b = backend(attempts=1)
    healthy = False
    calls = 0

    async def op() -> str:
        nonlocal calls
        calls += 1
        if not healthy:
            raise Retryable("connection reset")
        return "ok"

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await b.call(op)
    assert not b.available
    before = calls
    with pytest.raises(UpstreamUnavailable, match="unavailable after repeated failures"):
        await b.call(op)
    assert calls == before  # open: refused without touching the backend
    await anyio.sleep(0.35)
    healthy = True
    assert await b.call(op) == "ok"  # half-open trial succeeds and closes the breaker
    assert b.available


async def test_throttling_does_not_open_the_breaker() -> None:
    b = backend(attempts=1, breaker_threshold=2)

    async def throttled() -> None:
        raise Retryable("429 Too Many Requests", retry_after=5)

    for _ in range(5):
        with pytest.raises(RateLimited):
            await b.call(throttled)
    assert b.available


async def test_a_timed_out_request_is_not_repeated() -> None:
    calls = 0

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep(10)

    with pytest.raises(Timeout):
        await backend(timeout=0.1, attempts=3).call(slow)
    assert calls == 1


async def test_a_cancelled_call_leaves_an_open_breaker_open() -> None:
    """A call its caller abandoned says nothing about the backend: it must not close the breaker."""
    b = backend(attempts=1, breaker_reset=30)
    started = anyio.Event()

    async def hang() -> None:
        started.set()
        await anyio.sleep(10)

    async def down() -> None:
        raise Retryable("connection reset")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(b.call, hang)  # in flight while the backend goes down
        await started.wait()
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable):
                await b.call(down)
        assert not b.available
        tasks.cancel_scope.cancel()  # the caller of the hanging call gives up
    assert not b.available


async def test_a_call_that_ran_out_of_its_own_time_is_not_proof_of_health() -> None:
    b = backend(attempts=1)

    async def down() -> None:
        raise Retryable("connection reset")

    async def slow_query() -> None:
        raise Timeout("the statement ran out of time")

    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await b.call(down)
    with pytest.raises(Timeout):
        await b.call(slow_query)  # neither a failure nor a success
    with pytest.raises(UpstreamUnavailable):
        await b.call(down)  # the third outage in a row opens the breaker
    assert not b.available


async def test_half_open_lets_one_trial_through_at_a_time() -> None:
    b = backend(attempts=1, breaker_reset=0.2)
    calls = 0
    release = anyio.Event()

    async def op() -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise Retryable("connection reset")
        await release.wait()
        return "ok"

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await b.call(op)
    await anyio.sleep(0.25)  # half-open now
    results: list[str] = []

    async def trial() -> None:
        results.append(await b.call(op))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(trial)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(UpstreamUnavailable, match="after repeated failures"):
            await b.call(op)  # refused at once while the trial is under way
        assert calls == 4
        release.set()
    assert results == ["ok"] and b.available


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            ConnectionResetError(104, "Connection reset by peer"),
            r"the store is unavailable: the connection was reset \(the service may be restarting\); try again",
        ),
        (
            AttributeError("'NoneType' object has no attribute 'get'"),
            r"the store failed unexpectedly \(AttributeError\)",
        ),
    ],
    ids=["os-error", "unexpected"],
)
async def test_anything_a_client_lets_through_still_names_the_backend(failure: Exception, expected: str) -> None:
    async def broken() -> None:
        raise failure

    with pytest.raises(UpstreamUnavailable, match=expected) as caught:
        await backend(attempts=1).call(broken)
    assert str(failure) not in caught.value.message  # driver details stay in the log


async def test_a_client_timeout_reports_the_time_actually_waited() -> None:
    async def connect_timeout() -> None:
        await anyio.sleep(0.1)
        raise TimeoutError("connect timed out")

    with pytest.raises(Timeout, match=r"the store did not answer within 0\.1 s"):
        await backend(timeout=5, attempts=1).call(connect_timeout)


def _next_attempt(error: UpstreamUnavailable) -> float:
    found = re.search(r"next attempt in ([\d.]+) s", error.message)
    assert found, error.message
    return float(found.group(1))


async def test_the_wait_between_trials_starts_short_and_grows_up_to_the_reset_setting() -> None:
    policy = ResiliencePolicy(0.5, 1, 2, breaker_reset=0.4, retry_after_cap=0.1, breaker_first_wait=0.2)
    b = Backend("the store", policy)
    healthy = False

    async def op() -> str:
        if not healthy:
            raise Retryable("connection refused")
        return "ok"

    async def refused() -> float:
        with pytest.raises(UpstreamUnavailable, match="after repeated failures") as caught:
            await b.call(op)
        return _next_attempt(caught.value)

    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="connection refused"):
            await b.call(op)
    waits = [await refused()]
    for _ in range(3):  # each failed trial waits longer, up to the reset setting
        await anyio.sleep(waits[-1] + 0.02)
        with pytest.raises(UpstreamUnavailable, match="connection refused"):
            await b.call(op)  # the trial reaches the backend, which is still down
        waits.append(await refused())
    assert waits == [0.2, 0.3, 0.4, 0.4]  # 0.2, 0.28 (said as 0.3), then the cap

    await anyio.sleep(0.42)
    healthy = True
    assert await b.call(op) == "ok"  # the trial succeeds: closed
    healthy = False
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="connection refused"):
            await b.call(op)
    assert await refused() == 0.2  # the next outage starts with a short wait again


async def test_failures_of_calls_admitted_before_the_breaker_opened_do_not_push_the_trial_back() -> None:
    b = Backend("the store", ResiliencePolicy(5, 1, 2, breaker_reset=30, retry_after_cap=0.1, breaker_first_wait=0.3))
    release = anyio.Event()

    async def straggler() -> None:
        await release.wait()
        raise Retryable("connection reset")

    async def down() -> None:
        raise Retryable("connection refused")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: _swallow(b.call(straggler)))
        await anyio.wait_all_tasks_blocked()
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await b.call(down)
        assert not b.available
        await anyio.sleep(0.2)
        release.set()  # the straggler fails now, with the breaker open
    await anyio.sleep(0.12)
    assert b.available  # half-open on time: 0.3 s after it opened, not after the straggler


async def _swallow(call: Any) -> None:
    with contextlib.suppress(UpstreamUnavailable):
        await call


async def test_an_open_breaker_says_when_a_trial_is_under_way() -> None:
    b = backend(attempts=1, breaker_reset=0.1)
    release = anyio.Event()
    calls = 0

    async def op() -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise Retryable("connection reset")
        await release.wait()
        return "ok"

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await b.call(op)
    await anyio.sleep(0.12)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(b.call, op)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(UpstreamUnavailable, match="a trial request is checking it now"):
            await b.call(op)
        release.set()


def _wrapped(inner: BaseException) -> Exception:
    """`inner` the way SDKs hand it on: as the argument of one wrapper, the cause of another."""
    try:
        try:
            raise OSError("Connection aborted.", inner)
        except OSError as aborted:
            raise RuntimeError("request failed") from aborted
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "the connection was refused"),
        (ConnectionResetError(104, "Connection reset by peer"), "the connection was reset"),
        (http.client.RemoteDisconnected("Remote end closed connection"), "closed before the answer came"),
        (BrokenPipeError(32, "Broken pipe"), "closed before the answer came"),
        (socket.gaierror(-2, "Name or service not known"), "the host name does not resolve"),
        (TimeoutError("timed out"), "the connection timed out"),
    ],
)
def test_lost_and_refused_connections_are_told_apart_through_the_sdks_wrappers(
    inner: BaseException, expected: str
) -> None:
    assert expected in (connection_failure(_wrapped(inner)) or "")


def test_a_failure_that_is_not_about_a_connection_is_not_described_as_one() -> None:
    assert connection_failure(ValueError("bad json")) is None
