"""How Warden talks to a backend that may be slow, flaky or down.

Every backend request runs under a deadline. Reads that fail in a retryable way are retried a
bounded number of times with jittered exponential backoff, honouring the backend's Retry-After up
to a cap. Repeated failures open a circuit breaker: calls then fail at once with a clear error
instead of piling up on a dead backend, until a trial call after the reset period succeeds.
The breaker state is what `/readyz` reports.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
from circuitbreaker import CircuitBreaker
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from warden_core.errors import RateLimited, Timeout, UpstreamUnavailable, WardenError
from warden_core.settings import CoreSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Retryable(Exception):
    """Raised by a server's client to mark a failure as transient (reset, 5xx, 429).

    `retry_after` carries the backend's Retry-After, in seconds, when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ResiliencePolicy:
    timeout: float
    attempts: int
    breaker_threshold: int
    breaker_reset: float
    retry_after_cap: float
    backoff_max: float = 4.0

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> ResiliencePolicy:
        return cls(
            timeout=settings.backend_timeout,
            attempts=settings.backend_attempts,
            breaker_threshold=settings.breaker_threshold,
            breaker_reset=settings.breaker_reset,
            retry_after_cap=settings.retry_after_cap,
        )


class Backend:
    """One backend dependency, named in every error a caller sees about it."""

    def __init__(self, name: str, policy: ResiliencePolicy | CoreSettings) -> None:
        self.name = name
        self.policy = policy if isinstance(policy, ResiliencePolicy) else ResiliencePolicy.from_settings(policy)
        # Only transient failures count towards opening the breaker: a 404 says the backend is fine.
        self._breaker = CircuitBreaker(
            failure_threshold=policy.breaker_threshold,
            recovery_timeout=policy.breaker_reset,
            expected_exception=lambda _type, exc: _counts_as_outage(exc),
            name=name,
        )

    @property
    def available(self) -> bool:
        """False while the breaker is open; it half-opens by itself after the reset period."""
        return not self._breaker.opened

    async def call(self, operation: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `operation` under the deadline, retries and breaker. Writes pass `retry=False`."""
        attempts = self.policy.attempts if retry else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            # A request that timed out is not repeated: a slow backend is not helped by twice the load.
            retry=retry_if_exception(lambda exc: isinstance(exc, Retryable)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(operation)
        except Retryable as exc:
            if exc.retry_after is not None:
                raise RateLimited(f"{self.name} is throttling requests", exc.retry_after) from None
            raise UpstreamUnavailable(f"{self.name} is unavailable: {exc}") from None
        except TimeoutError:
            raise Timeout(f"{self.name} did not answer within {self.policy.timeout:g} s") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _once(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self._breaker.opened:
            raise UpstreamUnavailable(
                f"{self.name} is unavailable after repeated failures; "
                f"next attempt in {max(1, self._breaker.open_remaining)} s"
            )
        if not self._breaker.closed:
            logger.info("circuit breaker for %s is half-open: trying the backend again", self.name)
        was_closed = self._breaker.closed
        try:
            with self._breaker, anyio.fail_after(self.policy.timeout):
                return await operation()
        except BaseException:
            if self._breaker.opened and was_closed:
                logger.warning("circuit breaker for %s opened after repeated failures", self.name)
            raise

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.retry_after_cap)
        jitter = wait_random_exponential(multiplier=0.2, max=self.policy.backoff_max)
        return float(jitter(state))


def _counts_as_outage(exc: BaseException) -> bool:
    """Transient transport trouble opens the breaker; a clear answer from the backend does not.

    Throttling (a Retryable with Retry-After) is a healthy backend asking for patience, not an outage.
    """
    if isinstance(exc, WardenError | anyio.get_cancelled_exc_class()):
        return False
    if isinstance(exc, Retryable):
        return exc.retry_after is None
    return isinstance(exc, TimeoutError | OSError | ConnectionError)
