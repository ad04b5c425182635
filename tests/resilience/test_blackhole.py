"""A backend that stops answering mid-session (R-42): calls end at their deadline, the breaker opens
after repeated failures and answers fast while open, then half-opens and the server recovers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.resilience.mcp_http import Answer, call, metric, readyz, wait_until
from tests.resilience.targets import SERVERS, Target

THRESHOLD = 5  # BREAKER_THRESHOLD's default
# This test is about BACKEND_TIMEOUT: a short one makes a blackholed call end in seconds, not 20 s.
# The SDKs' own connect and read timeouts must fit inside it too, or a dead pooled connection
# outlives the fault in an abandoned worker thread.
TIMEOUT = 1.5
DEADLINES = {
    "postgres": {"backend_timeout": TIMEOUT, "connect_timeout": 1},
    "aws": {"backend_timeout": TIMEOUT, "connect_timeout": 1, "read_timeout": 1.5},
}


def backend_available(base: str, target: Target) -> float | None:
    return metric(base, f'warden_backend_available{{backend="{target.backend}"}}')


@pytest.mark.parametrize("target", SERVERS, indirect=True)
def test_blackholed_backend_ends_calls_at_the_deadline_and_trips_the_breaker(target: Target) -> None:
    with target.serve(**DEADLINES.get(target.name, {"backend_timeout": TIMEOUT})) as server:
        warm = call(server.base, target.tool, target.arguments)
        assert warm.ok, warm.text  # pooled connections now exist: the blackhole catches them mid-use

        target.proxy.set("blackhole")
        with ThreadPoolExecutor(4) as pool:
            stuck = list(pool.map(lambda i: call(server.base, target.tool, target.arguments, id=i), range(4)))
        for answer in stuck:
            assert answer.status == 200 and answer.is_error, answer.raw
            assert target.backend in answer.text, answer.text
            # Each call ends by its deadline (plus scheduling slack), never hangs.
            assert answer.elapsed < target.deadline(TIMEOUT) + 5, (answer.elapsed, answer.text)
        assert any("did not answer" in a.text or "within" in a.text for a in stuck), [a.text for a in stuck]

        # Repeated failures open the breaker; then calls are refused without waiting on the backend.
        refused: Answer | None = None
        for i in range(THRESHOLD + 2):
            answer = call(server.base, target.tool, target.arguments, id=100 + i)
            assert answer.is_error and target.backend in answer.text, answer.text
            if "after repeated failures" in answer.text:
                refused = answer
                break
        assert refused is not None, "the breaker never opened"
        assert refused.elapsed < TIMEOUT, "an open breaker answers without waiting for the backend"
        # Not ready while the backend does not answer: the breaker is open, or its trial (the
        # readiness probe itself, once the breaker half-opens) fails.
        assert readyz(server.base) == 503
        assert backend_available(server.base, target) == 0

        # The backend answers again: a trial call (or the readiness probe) closes the breaker.
        target.proxy.set("pass")
        wait_until(lambda: call(server.base, target.tool, target.arguments).ok, timeout=20, what="recovery")
        assert readyz(server.base) == 200
        assert backend_available(server.base, target) == 1


@pytest.mark.parametrize("target", ["postgres", "github"], indirect=True)
def test_a_latency_spike_within_the_deadline_slows_calls_but_they_succeed(target: Target) -> None:
    with target.serve(backend_timeout=10) as server:
        assert call(server.base, target.tool, target.arguments).ok
        target.proxy.set("latency", seconds=0.05)  # every chunk, each way: PostgreSQL pays it per round trip
        with ThreadPoolExecutor(4) as pool:
            slow = list(pool.map(lambda i: call(server.base, target.tool, target.arguments, id=i), range(4)))
        assert all(answer.ok for answer in slow), [answer.text for answer in slow]
        assert backend_available(server.base, target) == 1  # slow is not down: the breaker stays closed
        target.proxy.set("pass")
        assert call(server.base, target.tool, target.arguments).ok
