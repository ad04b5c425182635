"""Backend down at start (R-42): the server starts, lists its tools, says "not ready", fails calls fast
with an error naming the backend, and recovers by itself once the backend is up: no restart."""

from __future__ import annotations

import pytest

from tests.resilience.mcp_http import call, list_tools, readyz, wait_until
from tests.resilience.targets import SERVERS, Target


@pytest.mark.parametrize("target", SERVERS, indirect=True)
def test_backend_down_at_start_then_recovers(target: Target) -> None:
    target.proxy.set("refuse")  # nothing listens where the backend should be
    with target.serve() as server:
        assert target.tool in list_tools(server.base)  # discovery needs no backend
        assert readyz(server.base) == 503

        answer = call(server.base, target.tool, target.arguments)
        assert answer.status == 200 and answer.is_error
        assert target.backend in answer.text and "unavailable" in answer.text, answer.text
        assert answer.request_id, "the caller gets a correlation id"
        # "Fast": bounded retries of refused connections, far from any deadline.
        assert answer.elapsed < 10, answer.elapsed

        # While down, further calls keep failing with the same clear error (the breaker opens).
        again = call(server.base, target.tool, target.arguments)
        assert again.is_error and target.backend in again.text, again.text
        assert readyz(server.base) == 503

        target.proxy.set("pass")  # the backend comes up
        wait_until(lambda: readyz(server.base) == 200, timeout=20, what="/readyz turning ready")
        recovered = call(server.base, target.tool, target.arguments)
        assert recovered.ok, recovered.text
