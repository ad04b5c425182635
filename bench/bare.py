"""The floor the SDK sets: a bare `MCPServer` with one echo tool and one query tool, and nothing else.

    python bench/bare.py                                    stdio
    python bench/bare.py --transport http --port 8200      streamable HTTP on 127.0.0.1

No auth, no audit, no policy, no limits. With BENCH_POSTGRES_DSN set, a second tool, `pg_query`,
runs its SQL through an asyncpg pool created on first use (as warden-postgres creates its own),
so the two can be compared call for call. Logging is at WARNING, so the floor does not pay for access logs either.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare", log_level="WARNING")
_pools: list[Any] = []  # the one pool, once made


@server.tool()
async def echo(text: str) -> str:
    """Echo the text back."""
    return text


async def pg_query(sql: str) -> list[dict[str, Any]]:
    """Run one SQL statement and return its rows."""
    if not _pools:
        import asyncpg

        _pools.append(await asyncpg.create_pool(os.environ["BENCH_POSTGRES_DSN"], min_size=1, max_size=4))
    return [dict(row) for row in await _pools[0].fetch(sql)]


if "BENCH_POSTGRES_DSN" in os.environ:  # without a database, the floor is one echo tool and nothing else
    server.tool()(pg_query)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    if args.transport == "http":
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run()


if __name__ == "__main__":
    main()
