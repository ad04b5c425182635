"""List the built-in functions of pg_catalog that warden-postgres has not reviewed yet.

    uv run python scripts/postgres_functions.py [--dsn URL]         the unreviewed candidates (exit 1 if any)
    uv run python scripts/postgres_functions.py --all [--dsn URL]   every candidate, with its section

A statement may call a built-in function only as servers/postgres/src/warden_postgres/data/reviewed_functions.txt
says, whatever its volatility label. The candidates are the functions initdb creates in pg_catalog (oid below
16384), read from the catalog of the server at --dsn (default: WARDEN_TEST_POSTGRES_DSN, else the local server).
After a PostgreSQL upgrade, run this against the new version, read what each new function does, add its name to
the right section (`read`, `read volatile`, `all schemas`, `setting`, or a `refuse: <reason>`), then run
tests/postgres/test_reviewed_functions.py. Volatility is shown to help the review, never to decide it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "servers" / "postgres" / "src"))

from warden_postgres.reviewed import CANDIDATES_SQL, load  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
KIND = {"f": "function", "a": "aggregate", "w": "window", "p": "procedure"}


async def candidates(dsn: str) -> dict[str, list[str]]:
    """Function name -> one line per overload."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch(CANDIDATES_SQL)
    finally:
        await conn.close()
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        found[row["name"]].append(
            f"{row['name']}({row['arguments']}) -> {row['returns']}: "
            f"{VOLATILITY[row['volatility']]} {KIND.get(row['kind'], row['kind'])}"
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get("WARDEN_TEST_POSTGRES_DSN", DEFAULT_DSN))
    parser.add_argument("--all", action="store_true", help="list every candidate with its section")
    args = parser.parse_args()
    found = asyncio.run(candidates(args.dsn))
    review = load()
    unreviewed = sorted(name for name in found if review.section(name) is None)
    for name in sorted(found) if args.all else unreviewed:
        section = review.section(name) or "NOT REVIEWED"
        for line in found[name]:
            print(f"[{section}] {line}")
    print(f"{len(found)} built-in function names, {len(unreviewed)} not reviewed", file=sys.stderr)
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
