"""5xx and 429 storms (R-42): bounded retries with jitter, Retry-After honoured up to the cap, then a
clear error. The fault proxy answers every request itself and times each one, so the attempts and
the pauses between them are measured where the backend would see them."""

from __future__ import annotations

import itertools

import pytest

from tests.resilience.mcp_http import call, wait_until
from tests.resilience.targets import Target

HTTP_BACKENDS = ("github", "slack", "kubernetes", "aws")
ATTEMPTS = 3  # BACKEND_ATTEMPTS's default
CAP = 1.0  # RETRY_AFTER_CAP, set short by the test that is about it


def gaps(target: Target) -> list[float]:
    times = [answered.at for answered in target.proxy.answered]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.parametrize("target", HTTP_BACKENDS, indirect=True)
def test_5xx_storm_is_retried_a_bounded_number_of_times_with_jitter(target: Target) -> None:
    with target.serve(breaker_threshold=100) as server:  # the breaker is another test's subject
        pauses: list[float] = []
        for i in range(2):
            target.proxy.respond(*target.outage)
            answer = call(server.base, target.tool, target.arguments, id=i)
            assert answer.is_error and target.backend in answer.text, answer.text
            assert "unavailable" in answer.text, answer.text
            # Bounded: the first request plus at most ATTEMPTS - 1 retries, never a loop.
            assert 2 <= len(target.proxy.answered) <= ATTEMPTS, [a.request_line for a in target.proxy.answered]
            pauses += gaps(target)
        # Jittered backoff: the pauses between retries are not one fixed interval.
        assert len({round(pause, 2) for pause in pauses}) > 1, pauses
        target.proxy.set("pass")
        assert call(server.base, target.tool, target.arguments).ok


@pytest.mark.parametrize("target", ["github", "slack", "kubernetes"], indirect=True)
def test_429_storm_honours_retry_after_up_to_the_cap_then_says_when_to_retry(target: Target) -> None:
    status, headers, body = target.throttle
    with target.serve(retry_after_cap=CAP) as server:  # this test is about the cap
        # Retry-After within the cap: waited out before each retry (or reported at once), never hammered.
        target.proxy.respond(status, headers | {"Retry-After": "1"}, body)
        answer = call(server.base, target.tool, target.arguments)
        assert answer.is_error and "retry after 1 s" in answer.text, answer.text
        assert 1 <= len(target.proxy.answered) <= ATTEMPTS
        assert all(pause >= 0.9 for pause in gaps(target)), gaps(target)

        # Retry-After far above the cap: no request waits more than the cap, and the caller is told
        # the backend's own figure.
        target.proxy.respond(status, headers | {"Retry-After": "600"}, body)
        answer = call(server.base, target.tool, target.arguments)
        assert answer.is_error and "retry after 600 s" in answer.text, answer.text
        assert len(target.proxy.answered) <= ATTEMPTS
        assert all(pause < CAP + 2 for pause in gaps(target)), gaps(target)
        assert answer.elapsed < ATTEMPTS * (CAP + 2), answer.elapsed  # ends in seconds, not ten minutes

        # Throttling is a healthy backend asking for patience: the breaker stays closed.
        target.proxy.set("pass")
        wait_until(lambda: call(server.base, target.tool, target.arguments).ok, timeout=10, what="recovery")


@pytest.mark.parametrize("target", ["aws"], indirect=True)
def test_aws_throttling_storm_is_retried_then_reported(target: Target) -> None:
    """AWS sends no Retry-After; botocore's own jittered retries (bounded by the same setting) apply."""
    status, headers, body = target.throttle
    # botocore waits between its retries inside one backend attempt: give it room (production: 20 s).
    with target.serve(backend_timeout=10, read_timeout=2) as server:
        assert call(server.base, target.tool, target.arguments).ok  # identity looked up before the storm
        target.proxy.respond(status, headers, body)
        answer = call(server.base, target.tool, target.arguments)
        assert answer.is_error and "AWS" in answer.text and "retry after" in answer.text, answer.text
        assert 2 <= len(target.proxy.answered) <= ATTEMPTS
        target.proxy.set("pass")
        assert call(server.base, target.tool, target.arguments).ok
