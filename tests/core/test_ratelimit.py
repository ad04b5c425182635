"""Rate limits per principal and tool, in memory and shared through Redis."""

from __future__ import annotations

import os
import uuid

import pytest

from warden_core.errors import RateLimited
from warden_core.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio

REDIS = os.environ.get("WARDEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_limit_per_principal_and_tool() -> None:
    limiter = RateLimiter(rate="3/minute", storage_uri="memory://", namespace="t", max_inflight=4)
    for _ in range(3):
        await limiter.hit("alice", "tool_a")
    with pytest.raises(RateLimited, match=r"retry after \d+ s") as caught:
        await limiter.hit("alice", "tool_a")
    assert 1 <= caught.value.retry_after <= 60
    await limiter.hit("bob", "tool_a")  # another principal is unaffected
    await limiter.hit("alice", "tool_b")  # and so is another tool


async def test_concurrency_cap_per_principal() -> None:
    limiter = RateLimiter(rate="100/second", storage_uri="memory://", namespace="t", max_inflight=2)
    with limiter.inflight("alice"), limiter.inflight("alice"):
        with pytest.raises(RateLimited, match="more than 2 concurrent calls"), limiter.inflight("alice"):
            pass
        with limiter.inflight("bob"):
            pass
    with limiter.inflight("alice"):  # slots are released
        pass


async def test_replicas_share_a_redis_budget() -> None:
    namespace = f"warden-test-{uuid.uuid4().hex[:8]}"
    replicas = [RateLimiter(rate="4/minute", storage_uri=REDIS, namespace=namespace, max_inflight=4) for _ in range(2)]
    for i in range(4):
        await replicas[i % 2].hit("alice", "tool")
    for replica in replicas:
        with pytest.raises(RateLimited):
            await replica.hit("alice", "tool")


async def test_an_unreachable_store_fails_open() -> None:
    limiter = RateLimiter(rate="1/minute", storage_uri="redis://127.0.0.1:1/0", namespace="t", max_inflight=4)
    await limiter.hit("alice", "tool")
    await limiter.hit("alice", "tool")
