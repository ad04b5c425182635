"""How Warden talks to a backend that may be slow, flaky or down.

Every backend request runs under a deadline. Reads that fail in a retryable way are retried a
bounded number of times with jittered exponential backoff, honouring the backend's Retry-After up
to a cap. Repeated failures open a circuit breaker: calls then fail at once with a clear error
instead of piling up on a dead backend. The breaker half-opens after a short wait (1 s) and lets
one trial call through; each failed trial makes the next wait longer (it doubles every two failed
trials), up to `breaker_reset`, and a successful one closes the breaker. So a backend that restarts
in seconds is used again a second or two after it is back (trials come 1, 2.4, 4.4, 7.2, 11.2 s
after the breaker opened), and a long outage is tried every `breaker_reset` seconds. Whatever reaches the backend
through `call` can be the trial: a caller's call, or the server's readiness probe (`/readyz`).
The breaker state is what `/readyz` reports.

Each attempt ends in one of three ways for the breaker:
- an outage (connection refused or reset, no answer in time, a 5xx): counts towards opening it;
- an answer (data, or a clear refusal such as a 404 or a throttle): the backend is there, so the
  failure count starts again and a half-open breaker closes;
- nothing learnt: the call was cancelled (its caller gave up, the server is stopping), or it ran out
  of its own time budget (`Timeout`), or something unexpected broke on our side. Such an ending
  neither opens nor closes the breaker: an abandoned call says nothing about the backend.

While half-open, one trial call at a time reaches the backend; the others fail fast until it ends.
"""

from __future__ import annotations

import enum
import errno
import logging
import math
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import anyio
from circuitbreaker import STATE_HALF_OPEN, STATE_OPEN, CircuitBreaker

from warden_core.errors import RateLimited, Timeout, UpstreamUnavailable, WardenError
from warden_core.settings import CoreSettings

if TYPE_CHECKING:
    from tenacity import RetryCallState

logger = logging.getLogger(__name__)

T = TypeVar("T")


AGAIN = "try again in a few seconds"
"""What a caller can do about a backend that failed in a transient way."""

_LOST = "the connection was closed before the answer came (the service may be restarting)"


def connection_failure(exc: BaseException) -> str | None:
    """What went wrong with a connection, in words a caller can act on; None when `exc` is not about one.

    SDKs wrap the socket error that says what happened (requests wraps urllib3's, which wraps
    http.client's), so the exception's causes, contexts, arguments and `reason` are searched too.
    """
    import http.client

    seen: list[BaseException] = []
    pending: list[object] = [exc]
    while pending and len(seen) < 16:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or any(item is known for known in seen):
            continue
        seen.append(item)
        kwargs = getattr(item, "kwargs", None)  # botocore keeps the wrapped error there
        wrapped = kwargs.get("error") if isinstance(kwargs, dict) else None
        pending += [item.__cause__, item.__context__, getattr(item, "reason", None), wrapped, *item.args]
    for found in seen:
        if isinstance(found, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(found, ssl.SSLError):
            return "the TLS handshake failed"
        if getattr(found, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "no route to the host"
        if isinstance(found, ConnectionRefusedError) or getattr(found, "errno", None) == errno.ECONNREFUSED:
            return "the connection was refused (nothing listens there: the service is down or restarting)"
        # Before resets: http.client's RemoteDisconnected is a ConnectionResetError too.
        if isinstance(found, http.client.RemoteDisconnected | http.client.IncompleteRead | BrokenPipeError):
            return _LOST
        if isinstance(found, ConnectionResetError) or getattr(found, "errno", None) == errno.ECONNRESET:
            return "the connection was reset (the service may be restarting)"
        if isinstance(found, ConnectionAbortedError | EOFError):
            return _LOST
    for found in seen:
        if isinstance(found, TimeoutError):
            return "the connection timed out"
    return None


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
    breaker_reset: float  # the longest wait between trials while the breaker is open
    retry_after_cap: float
    backoff_max: float = 4.0
    breaker_first_wait: float = 1.0  # the wait before the first trial; it grows after each failed one

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> ResiliencePolicy:
        return cls(
            timeout=settings.backend_timeout,
            attempts=settings.backend_attempts,
            breaker_threshold=settings.breaker_threshold,
            breaker_reset=settings.breaker_reset,
            retry_after_cap=settings.retry_after_cap,
        )


GROWTH = math.sqrt(2)
"""How much longer an open breaker waits after each failed trial: twice as long every two trials."""


class _Breaker(CircuitBreaker):  # type: ignore[misc]  # the library is untyped
    """`circuitbreaker`'s breaker, with a wait before the next trial that grows while trials fail.

    The library's recovery timeout is the wait: it starts at `first`, grows by `GROWTH` after each
    failed trial (up to `longest`), and starts again at `first` once the breaker closes. A gentle
    growth keeps the wait in force a few seconds into an outage short, so a backend that is back
    after a restart is tried again soon. Two more departures:
    - an attempt that taught nothing leaves the state alone (the library closes the breaker on every
      exit that is not a failure, cancellation included: a call abandoned by its caller would close
      a breaker that other calls had just opened);
    - a failure while the breaker is open came from an attempt admitted before it opened: the
      breaker already knows, so it neither restarts the wait nor counts as a failed trial.
    """

    def __init__(self, *, first: float, longest: float, **kwargs: object) -> None:
        super().__init__(recovery_timeout=first, **kwargs)
        self._first, self._longest = first, max(first, longest)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc is not None and _verdict(exc) is _Verdict.NOTHING:
            return False  # never swallows the exception
        failed = exc_type is not None and self.is_failure(exc_type, exc)
        state = self.state
        if failed and state == STATE_OPEN:
            return False
        super().__exit__(exc_type, exc, tb)
        if not failed:
            self._recovery_timeout = self._first
        elif state == STATE_HALF_OPEN:
            self._recovery_timeout = min(self._longest, self._recovery_timeout * GROWTH)
        return False

    @property
    def wait(self) -> float:
        """Seconds until the next trial may start (0 once half-open)."""
        return max(0.0, float(self._opened + self._recovery_timeout) - time.monotonic())


class Backend:
    """One backend dependency, named in every error a caller sees about it."""

    def __init__(self, name: str, policy: ResiliencePolicy | CoreSettings) -> None:
        self.name = name
        self.policy = policy if isinstance(policy, ResiliencePolicy) else ResiliencePolicy.from_settings(policy)
        # Only transient failures count towards opening the breaker: a 404 says the backend is fine.
        self._breaker = _Breaker(
            first=min(self.policy.breaker_first_wait, self.policy.breaker_reset),
            longest=self.policy.breaker_reset,
            failure_threshold=self.policy.breaker_threshold,
            expected_exception=lambda _type, exc: _verdict(exc) is _Verdict.OUTAGE,
            name=name,
        )
        self._trial = False  # a half-open breaker's trial call is under way

    @property
    def available(self) -> bool:
        """False while the breaker is open; it half-opens by itself when the next trial is due."""
        return not self._breaker.opened

    async def call(self, operation: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `operation` under the deadline, retries and breaker. Writes pass `retry=False`."""
        # Imported on the first call: retrying is not needed to start and list tools.
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        attempts = self.policy.attempts if retry else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            # A request that timed out is not repeated: a slow backend is not helped by twice the load.
            retry=retry_if_exception(lambda exc: isinstance(exc, Retryable)),
            reraise=True,
        )
        started = time.monotonic()
        try:
            async for attempt in retrying:
                with attempt:
                    started = time.monotonic()
                    return await self._once(operation)
        except WardenError:
            raise
        except Retryable as exc:
            if exc.retry_after is not None:
                raise RateLimited(f"{self.name} is throttling requests", exc.retry_after) from None
            raise UpstreamUnavailable(f"{self.name} is unavailable: {exc}; {AGAIN}") from None
        except TimeoutError:
            # This module's deadline, or the client's own (a connect or read timeout, often shorter).
            waited = min(self.policy.timeout, time.monotonic() - started)
            raise Timeout(f"{self.name} did not answer within {round(waited, 1):g} s") from None
        except (OSError, ConnectionError) as exc:
            logger.info("%s: connection failed (%s)", self.name, type(exc).__name__)
            reason = connection_failure(exc) or "the connection failed"
            raise UpstreamUnavailable(f"{self.name} is unavailable: {reason}; {AGAIN}") from None
        except Exception as exc:
            # The client let through something it did not expect, such as a driver in an impossible
            # state after the connection broke, or an answer cut short that the SDK could not parse.
            # The caller still learns which backend failed; the details stay in the server log.
            logger.warning("%s: unexpected failure", self.name, exc_info=exc)
            raise UpstreamUnavailable(
                f"{self.name} failed unexpectedly ({type(exc).__name__}); the details are in the server log"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _once(self, operation: Callable[[], Awaitable[T]]) -> T:
        state = self._breaker.state
        if state == STATE_OPEN:
            raise UpstreamUnavailable(
                f"{self.name} is unavailable after repeated failures; next attempt in {_seconds(self._breaker.wait)}"
            )
        if state == STATE_HALF_OPEN and self._trial:
            raise UpstreamUnavailable(
                f"{self.name} is unavailable after repeated failures; a trial request is checking it now, "
                "retry in a moment"
            )
        trial = state == STATE_HALF_OPEN
        if trial:
            logger.info("circuit breaker for %s is half-open: trying the backend again", self.name)
            self._trial = True
        try:
            with self._breaker, anyio.fail_after(self.policy.timeout):
                result = await operation()
        except BaseException:
            if self._breaker.opened and trial:
                logger.info("%s: the trial failed; next trial in %s", self.name, _seconds(self._breaker.wait))
            elif self._breaker.opened:
                logger.warning("circuit breaker for %s opened after repeated failures", self.name)
            raise
        finally:
            if trial:
                self._trial = False
        if trial and self._breaker.closed:
            logger.info("circuit breaker for %s closed: the backend answers again", self.name)
        return result

    def _wait(self, state: RetryCallState) -> float:
        from tenacity import wait_random_exponential

        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.retry_after_cap)
        jitter = wait_random_exponential(multiplier=0.2, max=self.policy.backoff_max)
        return float(jitter(state))


def _seconds(wait: float) -> str:
    """A wait as a caller reads it: tenths below 10 s (`0.4 s`), whole seconds, rounded up, above."""
    if wait < 10:
        return f"{max(0.1, math.ceil(wait * 10) / 10):g} s"
    return f"{math.ceil(wait)} s"


class _Verdict(enum.Enum):
    OUTAGE = "outage"  # counts towards opening the breaker
    ANSWER = "answer"  # the backend is there: start counting again
    NOTHING = "nothing"  # leaves the breaker as it is


def _verdict(exc: BaseException) -> _Verdict:
    """What an attempt that raised `exc` says about the backend.

    Throttling (a Retryable with Retry-After) is a healthy backend asking for patience, not an outage.
    A `Timeout` is the call's own budget running out (a slow query, say): not proof of an outage, and
    certainly not proof of health. Raw `TimeoutError`s come from the transport or this module's own
    deadline: the backend did not answer.
    """
    if isinstance(exc, anyio.get_cancelled_exc_class() | Timeout):
        return _Verdict.NOTHING
    if isinstance(exc, Retryable):
        return _Verdict.OUTAGE if exc.retry_after is None else _Verdict.ANSWER
    if isinstance(exc, TimeoutError | OSError | ConnectionError):
        return _Verdict.OUTAGE
    if isinstance(exc, WardenError):
        return _Verdict.ANSWER
    return _Verdict.NOTHING
