"""The parse guard: no statement text crashes the process, and too deep a statement gets a clear refusal.

Anything that could crash runs in a child process (`tests/postgres/fuzz_parser.py`), so a segfault fails the
test instead of killing pytest. The child gets a 1 MiB main-thread stack, an eighth of the usual: the guard must
not depend on the stack of the thread that calls it. The control proves the harness sees a crash.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.shop import Shop
from warden_core import InvalidArgument
from warden_core.testing import connect
from warden_postgres import parse_guard, validator
from warden_postgres.parse_guard import MAX_DEPTH, TooComplex

ROOT = Path(__file__).resolve().parents[2]
CRASHED_THE_SERVER = "SELECT " + "+".join(["1"] * 25_000)
"""50 KB, under the tool's size limit: this segfaulted warden-postgres inside pglast.parse_sql."""


def small_stack() -> None:
    resource.setrlimit(resource.RLIMIT_STACK, (1024 * 1024, resource.getrlimit(resource.RLIMIT_STACK)[1]))


def child(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-m", "tests.postgres.fuzz_parser", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=small_stack,
        check=False,
    )


def test_control_unguarded_pglast_crashes_the_process(tmp_path: Path) -> None:
    """Why the guard exists, and proof that the harness sees a crash."""
    sql = tmp_path / "deep.sql"
    sql.write_text(CRASHED_THE_SERVER)
    outcome = child("raw", str(sql))
    assert outcome.returncode == -signal.SIGSEGV, outcome.stderr[-2000:]


def test_fuzzed_statements_never_crash_the_validator() -> None:
    outcome = child("fuzz", "--examples", "120")
    assert outcome.returncode == 0, f"exit {outcome.returncode}\n{outcome.stderr[-4000:]}"


def test_the_statement_that_crashed_the_server_is_refused_clearly(tmp_path: Path) -> None:
    sql = tmp_path / "deep.sql"
    sql.write_text(CRASHED_THE_SERVER)
    outcome = child("check", str(sql))
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert outcome.stdout == (
        "TooComplex: refused: the statement is nested too deeply or chains too many operators to check "
        f"(more than {MAX_DEPTH:,} levels); simplify it\n"
    )


def test_the_depth_limit_is_exact() -> None:
    """`SELECT 1+...+1` with n terms is n + 4 nodes deep (RawStmt, SelectStmt, ResTarget, n - 1 A_Expr, A_Const,
    Integer)."""
    deepest_allowed = "SELECT " + "+".join(["1"] * (MAX_DEPTH - 4))
    assert validator.analyze(deepest_allowed).kind == "select"
    with pytest.raises(TooComplex):
        validator.analyze(deepest_allowed + "+1")


@pytest.mark.parametrize(
    "build",
    [
        lambda n: " UNION ALL ".join(["SELECT 1"] * n),
        lambda n: "SELECT " + "abs(" * n + "1" + ")" * n,
        lambda n: "SELECT 1" + "::int" * n,
        lambda n: "SELECT 1 FROM t" + " JOIN t ON true" * n,
    ],
    ids=["union", "calls", "casts", "joins"],
)
def test_every_shape_of_depth_counts(build: Callable[[int], str]) -> None:
    # The guard itself: the validator also refuses statements with too many nodes or relation references.
    assert len(parse_guard.parse(build(MAX_DEPTH // 2))) == 1
    with pytest.raises(TooComplex):
        validator.analyze(build(MAX_DEPTH + 1))


def test_depth_counts_nested_nodes() -> None:
    from pglast import parse_sql

    # RawStmt > SelectStmt > ResTarget > A_Expr > A_Expr > A_Const > Integer
    assert parse_guard.depth(parse_sql("SELECT 1 + 2 + 3")) == 7
    assert parse_guard.depth(parse_sql("SELECT 1, 2, 3, 4")) == 5  # siblings, not levels


def test_too_many_ctes_are_refused() -> None:
    """The validator scopes CTE names at a cost that grows with the square of their number (575 MiB for 5,000)."""
    ctes = ", ".join(f"a{i} AS (SELECT {i})" for i in range(parse_guard.MAX_CTES))
    assert validator.analyze(f"WITH {ctes} SELECT 1").kind == "select"
    with pytest.raises(TooComplex, match="has 501 common table expressions; at most 500 can be checked"):
        validator.analyze(f"WITH {ctes}, one_more AS (SELECT 0) SELECT 1")
    nested = f"WITH {ctes} SELECT * FROM (WITH inner_one AS (SELECT 0) SELECT 1) AS s"
    with pytest.raises(TooComplex, match="has 501 common table"):
        validator.analyze(nested)


def test_oversized_text_is_refused_before_parsing() -> None:
    with pytest.raises(TooComplex, match="at most 1,048,576 can be checked"):
        parse_guard.parse("SELECT '" + "x" * parse_guard.MAX_SQL_BYTES + "'")


def test_long_flat_statements_are_not_deep() -> None:
    """Wide is fine: an IN list of 20,000 values or a 2,000-branch CASE is a shallow tree."""
    listed = "SELECT 1 WHERE 1 IN (" + ", ".join(str(n) for n in range(20_000)) + ")"
    branches = "SELECT CASE " + " ".join(f"WHEN x = {n} THEN {n}" for n in range(2_000)) + " END FROM t"
    ored = "SELECT 1 FROM t WHERE " + " OR ".join(f"x = {n}" for n in range(5_000))
    for sql in (listed, branches, ored):
        # The guard itself (the validator's own node bound refuses the biggest of these as too large to check).
        assert parse_guard.depth(parse_guard.parse(sql)) < 20


def test_syntax_errors_are_still_syntax_errors() -> None:
    with pytest.raises(InvalidArgument, match="syntax error"):
        validator.analyze("SELEC 1")
    with pytest.raises(InvalidArgument, match="memory exhausted"):  # the grammar's own cap on right nesting
        validator.analyze("SELECT " + "(" * 20_000 + "1" + ")" * 20_000)


@pytest.mark.anyio
async def test_through_the_tool_the_refusal_is_an_answer_and_an_audit_line(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process, so with a statement deep enough to be refused but not to crash an unguarded parser; the
    statement that crashed the server goes to a real server process in test_availability.py."""
    too_deep = "SELECT " + "+".join(["1"] * 2 * MAX_DEPTH)
    async with running(settings_for(shop.readonly)) as server, connect(server) as client:
        refused = await client.call_tool("pg_query", {"sql": too_deep})
        still = await client.call_tool("pg_query", {"sql": "SELECT 1 AS one"})
    assert refused.is_error and "nested too deeply" in refused.content[0].text
    assert still.structured_content["rows"] == [[1]]
    audit = capsys.readouterr().err
    assert '"outcome":"policy_denied"' in audit and "nested too deeply" in audit
