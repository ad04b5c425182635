"""Backends: deadlines, bounded retries honouring Retry-After, and a circuit breaker that recovers."""

from __future__ import annotations

import time

import anyio
import pytest

from warden_core.errors import NotFound, RateLimited, Timeout, UpstreamUnavailable
from warden_core.resilience import Backend, ResiliencePolicy, Retryable

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
