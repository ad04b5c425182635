"""Per-principal, per-tool rate limits and per-principal concurrency caps.

Limits live in memory for one process, or in Redis so that every replica behind a load balancer
counts against the same budget. The `limits` library does the counting; a sliding-window counter
keeps memory flat and gives a precise time to retry.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from warden_core.errors import RateLimited

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.storage import Storage
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

logger = logging.getLogger(__name__)


def _async_storage(uri: str) -> Storage:
    """`memory://` or `redis://...` from the settings, as the library's async storage."""
    from limits.aio.storage import Storage
    from limits.storage import storage_from_string

    scheme = uri.split("://", 1)[0].removeprefix("async+")
    rest = uri.split("://", 1)[1] if "://" in uri else ""
    options = {"implementation": "redispy"} if scheme in {"redis", "rediss"} else {}
    # redis-py is already installed; the library's default async Redis client would be another dependency.
    storage = storage_from_string(f"async+{scheme}://{rest}", **options)
    assert isinstance(storage, Storage)
    return storage


class RateLimiter:
    def __init__(self, *, rate: str, storage_uri: str, namespace: str, max_inflight: int) -> None:
        self._rate = rate
        self._storage_uri = storage_uri
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        self._item: RateLimitItem | None = None
        self._namespace = namespace
        self._max_inflight = max_inflight
        self._inflight: Counter[str] = Counter()

    async def hit(self, principal: str, tool: str) -> None:
        """Count one call; raise `RateLimited` with the time to retry when over the limit."""
        try:
            limiter, item = self._open()
            if await limiter.hit(item, self._namespace, principal, tool):
                return
            stats = await limiter.get_window_stats(item, self._namespace, principal, tool)
        except RateLimited:
            raise
        except Exception as exc:
            # A shared store that is down must not take every tool down with it: fail open, loudly.
            logger.error("rate-limit store unavailable, not limiting: %s", exc)
            return
        retry_after = max(1.0, stats.reset_time - time.time())
        raise RateLimited(f"rate limit of {self._rate} for {tool} exceeded", retry_after)

    def _open(self) -> tuple[SlidingWindowCounterRateLimiter, RateLimitItem]:
        if self._limiter is None or self._item is None:
            # Imported on the first call: the counting machinery is not needed to start and list tools.
            from limits import parse
            from limits.aio.strategies import SlidingWindowCounterRateLimiter

            self._item = parse(self._rate)
            self._limiter = SlidingWindowCounterRateLimiter(_async_storage(self._storage_uri))
        return self._limiter, self._item

    @contextmanager
    def inflight(self, principal: str) -> Iterator[None]:
        """Hold one of the principal's concurrent-call slots for the enclosed call."""
        if self._inflight[principal] >= self._max_inflight:
            raise RateLimited(f"more than {self._max_inflight} concurrent calls", 1.0)
        self._inflight[principal] += 1
        try:
            yield
        finally:
            self._inflight[principal] -= 1
            if not self._inflight[principal]:
                del self._inflight[principal]
