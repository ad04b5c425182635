"""Layer 5 on its own: row, byte and value caps applied while streaming, with flat memory.

These statements are valid read-only SQL, so layer 1 lets them through; only the caps stand between
them and the server's memory. Peak Python allocations (tracemalloc) and RSS growth are bounded, and
the figures are printed for the report. Timings are printed, never asserted.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import psutil
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import report
from tests.postgres.shop import Shop
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

MB = 1024 * 1024


@pytest.fixture
async def server(shop: Shop) -> AsyncIterator[WardenServer]:
    async with running(settings_for(shop.readonly)) as built:
        async with connect(built) as client:
            await client.call_tool("pg_query", {"sql": "SELECT 1"})  # warm: pool, role check, parser
        yield built


async def measured(server: WardenServer, arguments: dict[str, Any]) -> tuple[dict[str, Any], float, float, float]:
    """The structured result, wall seconds, tracemalloc peak (MiB) and RSS growth (MiB) of one call."""
    gc.collect()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    tracemalloc.start()
    try:
        async with connect(server) as client:
            started = time.perf_counter()
            result = await client.call_tool("pg_query", arguments)
            wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = (process.memory_info().rss - rss_before) / MB
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content, wall, peak / MB, growth


async def test_a_hundred_million_rows_come_back_capped_and_flagged(server: WardenServer) -> None:
    result, wall, peak, growth = await measured(server, {"sql": "SELECT * FROM generate_series(1, 100000000)"})
    report(f"generate_series(1, 1e8): {wall:.3f} s, tracemalloc peak {peak:.1f} MiB, RSS growth {growth:.1f} MiB")
    assert result["row_count"] == 1000
    assert result["rows"][:3] == [[1], [2], [3]]
    assert result["truncated"] is True
    assert "row limit" in result["truncation"]
    assert peak < 32
    assert growth < 64


async def test_a_huge_single_value_never_reaches_the_process(server: WardenServer) -> None:
    size = 64 * MB
    result, wall, peak, growth = await measured(server, {"sql": f"SELECT 'ok' AS small, repeat('x', {size}) AS huge"})
    report(f"one {size // MB} MiB value: {wall:.3f} s, tracemalloc peak {peak:.1f} MiB, RSS growth {growth:.1f} MiB")
    assert result["rows"] == [["ok", None]]
    assert result["omitted_values"] == [{"row": 0, "column": "huge", "bytes": size}]
    assert result["truncated"] is True
    assert peak < 16
    assert growth < 48


async def test_wide_rows_stop_at_the_byte_budget(server: WardenServer) -> None:
    sql = "SELECT n, repeat(md5(n::text), 300) AS wide FROM generate_series(1, 1000000) AS n"
    result, wall, peak, growth = await measured(server, {"sql": sql})
    report(f"wide rows: {result['row_count']} rows in {wall:.3f} s, peak {peak:.1f} MiB, RSS growth {growth:.1f} MiB")
    assert 0 < result["row_count"] < 1000
    assert result["truncated"] is True
    assert "size limit" in result["truncation"]
    assert len(str(result["rows"])) < server.settings.max_output_bytes
    assert peak < 32


async def test_the_caller_can_ask_for_fewer_rows_but_not_more(shop: Shop) -> None:
    async with running(settings_for(shop.readonly, max_rows=10)) as server, connect(server) as client:
        fewer = await client.call_tool("pg_query", {"sql": "SELECT generate_series(1, 100)", "max_rows": 3})
        more = await client.call_tool("pg_query", {"sql": "SELECT generate_series(1, 100)", "max_rows": 50})
        exact = await client.call_tool("pg_query", {"sql": "SELECT generate_series(1, 10)"})
    assert fewer.structured_content["rows"] == [[1], [2], [3]] and fewer.structured_content["truncated"]
    assert more.structured_content["row_count"] == 10 and more.structured_content["truncated"]
    assert exact.structured_content["row_count"] == 10 and not exact.structured_content["truncated"]
