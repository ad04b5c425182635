"""The reviewed list of built-in functions, checked against the catalog of the test database.

The list decides what a statement may call, not the functions' volatility labels; these tests keep it honest:
every built-in function of this PostgreSQL is reviewed, volatility is used only as a tripwire (a volatile
function can only be allowed from the section that says so), and what PostgreSQL runs behind built-in
operators and casts is reviewed as a read, so ordinary SQL is never refused for its `=`.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from tests.postgres.shop import Shop
from warden_postgres import reviewed, validator
from warden_postgres.reviewed import CANDIDATES_SQL, READ, READ_VOLATILE, REFUSE

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def volatility(shop: Shop) -> dict[str, set[str]]:
    """Built-in function name -> the volatility of each overload, on the test database."""
    conn = await asyncpg.connect(shop.admin)
    try:
        rows = await conn.fetch(CANDIDATES_SQL)
    finally:
        await conn.close()
    found: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        found[row["name"]].add(row["volatility"])
    return found


async def test_every_built_in_function_is_reviewed(volatility: dict[str, set[str]]) -> None:
    review = reviewed.load()
    missing = sorted(name for name in volatility if review.section(name) is None)
    assert not missing, f"not reviewed (see scripts/postgres_functions.py): {missing}"


async def test_a_volatile_function_is_allowed_only_where_the_review_says_so(volatility: dict[str, set[str]]) -> None:
    review = reviewed.load()
    volatile_reads = sorted(name for name in review.names(READ) if "v" in volatility.get(name, set()))
    assert not volatile_reads, f"volatile, so they belong under [read volatile] after a review: {volatile_reads}"
    mislabelled = sorted(n for n in review.names(READ_VOLATILE) if n in volatility and "v" not in volatility[n])
    assert not mislabelled, f"not volatile here, so they belong under [read]: {mislabelled}"


async def test_built_in_operators_and_casts_run_reviewed_reads(shop: Shop) -> None:
    """What `=`, `<`, `||`, `~~` ... and the built-in casts run must be reviewed as reads."""
    conn = await asyncpg.connect(shop.admin)
    try:
        rows = await conn.fetch(
            """
            SELECT DISTINCT p.proname::text FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode
            WHERE o.oid < 16384
            UNION
            SELECT DISTINCT p.proname::text FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
            WHERE c.oid < 16384
            """
        )
    finally:
        await conn.close()
    review = reviewed.load()
    unread = sorted(row[0] for row in rows if not review.runs(row[0]))
    assert not unread, f"built-in operators or casts would be refused: {unread}"


def test_functions_that_run_sql_text_are_refused_in_the_review_and_always() -> None:
    review = reviewed.load()
    for name in ("query_to_xml", "table_to_xml", "cursor_to_xml", "database_to_xml", "ts_stat", "ts_rewrite"):
        assert (review.section(name) or "").startswith(REFUSE), name
        assert validator.ALWAYS_REFUSED.match(name), name
    allowed = review.names(READ) | review.names(READ_VOLATILE)
    assert not [name for name in allowed if validator.ALWAYS_REFUSED.match(name)]


def test_the_data_file_format_is_checked() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        reviewed.parse("[read]\nabs\n[refuse: x]\nabs\n")
    with pytest.raises(ValueError, match="unknown section"):
        reviewed.parse("[allowed]\nabs\n")
    with pytest.raises(ValueError, match="before any section"):
        reviewed.parse("abs\n")
    review = reviewed.parse("# comment\n[read]\nabs\n\n[refuse: it sleeps]\npg_sleep\n")
    assert review.section("abs") == READ and review.section("pg_sleep") == "refuse: it sleeps"
    assert review.section("unknown") is None and review.runs("abs") and not review.runs("pg_sleep")


def test_the_candidate_script_finds_nothing_unreviewed(shop: Shop) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/postgres_functions.py", "--dsn", shop.admin],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "" and ", 0 not reviewed" in done.stderr
