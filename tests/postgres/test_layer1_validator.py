"""Layer 1 on its own: the parse-tree policy and the plan check refuse every attack without executing anything.

Both halves are called directly: `analyze` and `precheck` on the text, then the plan check on the tree that
PostgreSQL's Parse returns, inside the server's checked session start. No statement is bound or executed, so
each refusal here is layer 1's alone. It connects as the table owner, so the verdict never leans on the role's
lack of privileges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.postgres.conftest import settings_for
from tests.postgres.corpus import ATTACKS, LEGIT
from tests.postgres.shop import Shop
from warden_core import Allowlist, InvalidArgument
from warden_postgres import plan_check, reviewed, validator
from warden_postgres.client import END_SQL, search_path_value, session_start_sql
from warden_postgres.parse_guard import MAX_DEPTH
from warden_postgres.validator import Name, Rejected, Rules

pytestmark = pytest.mark.anyio


def policy(*schemas: str, functions: tuple[str, ...] = ()) -> Rules:
    return Rules(
        schemas=Allowlist("WARDEN_POSTGRES_SCHEMAS", schemas or ("public",)),
        functions=Allowlist("WARDEN_POSTGRES_ALLOWED_FUNCTIONS", functions),
        review=reviewed.load(),
    )


def fill(sql: str, shop: Shop) -> str:
    return (
        sql.replace("{owner}", shop.owner_role)
        .replace("{readonly}", shop.readonly_role)
        .replace("{canary}", "/tmp/warden-canary-never")
        .replace("{database}", shop.database)
    )


@pytest.fixture
async def catalog(shop: Shop) -> AsyncIterator[asyncpg.Connection]:
    # As the server connects: no statement cache, since each session ends with DEALLOCATE ALL.
    conn = await asyncpg.connect(
        shop.owner, statement_cache_size=0, server_settings={"search_path": search_path_value(("public",))}
    )
    try:
        yield conn
    finally:
        await conn.close()


async def verdict(
    conn: asyncpg.Connection, sql: str, rules: Rules | None = None, *, precheck: bool = True
) -> validator.Analysis:
    """Layer 1 in full: the parse-tree walk and name checks, then the plan check of PostgreSQL's tree.

    Runs in the server's own checked session (its start message, then its end message), and only Parses.
    `precheck=False` leaves the name checks out, to show the plan check holding on its own.
    """
    rules = rules or policy()
    analysis = validator.analyze(sql)
    if precheck:
        validator.precheck(analysis, rules)
    settings = settings_for(
        "postgresql://x@127.0.0.1/db", schemas=rules.schemas.patterns, allowed_functions=rules.functions.patterns
    )
    started = await conn.execute(session_start_sql(settings, check_plans=True))
    try:
        await plan_check.check(conn, started, analysis, rules=rules, known=plan_check.Facts(), seconds=lambda: 10.0)
    finally:
        await conn.execute(END_SQL)
    return analysis


@pytest.mark.parametrize(("kind", "sql"), ATTACKS, ids=[f"{k}:{s[:50]}" for k, s in ATTACKS])
async def test_the_validator_alone_refuses_every_attack(
    catalog: asyncpg.Connection, shop: Shop, kind: str, sql: str
) -> None:
    with pytest.raises(Rejected) as refused:
        await verdict(catalog, fill(sql, shop))
    assert refused.value.message.startswith("refused: ")


@pytest.mark.parametrize("sql", LEGIT, ids=[s[:60] for s in LEGIT])
async def test_legit_analytics_sql_passes(catalog: asyncpg.Connection, sql: str) -> None:
    await verdict(catalog, sql)


async def test_functions_are_found_in_every_position() -> None:
    sql = """
        WITH c AS (SELECT f_cte() AS x)
        SELECT f_target(a.x), (SELECT f_sub()), CASE WHEN f_case() THEN 1 END, COALESCE(f_coalesce(), 1),
               count(*) FILTER (WHERE f_filter()), row_number() OVER (ORDER BY f_window())
        FROM c AS a, f_from() AS f, LATERAL f_lateral(a.x) AS l, ROWS FROM (f_rowsfrom()) AS r
        JOIN t ON f_join()
        WHERE f_where() AND EXISTS (SELECT 1 FROM f_exists())
        GROUP BY f_group() HAVING f_having() ORDER BY f_order() LIMIT f_limit() OFFSET f_offset()
    """
    found = {function.name for function in validator.analyze(sql).functions}
    expected = {
        "f_cte",
        "f_target",
        "f_sub",
        "f_case",
        "f_coalesce",
        "f_filter",
        "f_window",
        "f_from",
        "f_lateral",
        "f_rowsfrom",
        "f_join",
        "f_where",
        "f_exists",
        "f_group",
        "f_having",
        "f_order",
        "f_limit",
        "f_offset",
        "count",
        "row_number",
    }
    assert found == expected


def test_the_parser_decodes_identifiers_before_the_policy_sees_them() -> None:
    assert validator.analyze('SELECT U&"s\\0065tval"(1)').functions == {Name(None, "setval")}
    assert validator.analyze("SELECT PG_CATALOG.SetVal(1)").functions == {Name("pg_catalog", "setval")}
    assert validator.analyze('SELECT "SETVAL"(1)').functions == {Name(None, "SETVAL")}  # a different function
    assert validator.analyze("SELECT/**/1 FROM/*x*/ Public.Orders").relations == {Name("public", "orders")}


def test_cte_names_are_scoped_like_postgresql_scopes_them() -> None:
    assert validator.analyze("WITH x AS (SELECT 1) SELECT * FROM x").relations == set()
    # A CTE of a subquery does not hide a table of the same name outside it.
    assert validator.analyze("SELECT * FROM (WITH x AS (SELECT 1) SELECT 1) s, x").relations == {Name(None, "x")}
    # A plain WITH item cannot see itself or later items; a recursive one can.
    assert validator.analyze("WITH x AS (SELECT * FROM x) SELECT 1").relations == {Name(None, "x")}
    assert validator.analyze("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT 1").relations == {Name(None, "b")}
    assert validator.analyze("WITH RECURSIVE x AS (SELECT 1 UNION SELECT 1 FROM x) SELECT 1").relations == set()
    # A qualified name is never a CTE.
    assert validator.analyze("WITH t AS (SELECT 1) SELECT * FROM public.t").relations == {Name("public", "t")}


@pytest.mark.parametrize(
    ("option", "refused"),
    [
        ("ANALYZE", True),
        ("ANALYZE true", True),
        ("ANALYZE on", True),
        ("ANALYZE 1", True),
        ("ANALYZE false", False),
        ("ANALYZE off", False),
        ("ANALYZE 0", False),
        ("VERBOSE, COSTS off", False),
        ("FORMAT JSON", False),
    ],
)
def test_explain_analyze_is_read_the_way_postgresql_reads_it(option: str, refused: bool) -> None:
    sql = f"EXPLAIN ({option}) SELECT 1"
    if refused:
        with pytest.raises(Rejected, match="EXPLAIN ANALYZE"):
            validator.analyze(sql)
        assert validator.analyze(sql, allow_analyze=True).analyze
    else:
        assert not validator.analyze(sql).analyze


def test_syntax_errors_are_invalid_arguments_not_policy_decisions() -> None:
    with pytest.raises(InvalidArgument, match="syntax error"):
        validator.analyze("SELEC 1")


async def test_unqualified_names_resolve_on_the_pinned_search_path(catalog: asyncpg.Connection) -> None:
    # The session start pins search_path to the allowlisted schemas, whatever the connection had.
    await catalog.execute("SET search_path = public, internal")
    with pytest.raises(asyncpg.UndefinedTableError):  # PostgreSQL's own Parse does not find it
        await verdict(catalog, "SELECT * FROM staff_notes")
    # With `internal` allowlisted it resolves there.
    await verdict(catalog, "SELECT * FROM staff_notes", policy("public", "internal"))
    # What PostgreSQL resolved is what the allowlist judges, however the statement reached it.
    with pytest.raises(Rejected, match="'internal' is not allowed by this server's policy"):
        await verdict(catalog, "SELECT * FROM notes_view", policy("public"))


async def test_schema_allowlist_patterns(catalog: asyncpg.Connection) -> None:
    await verdict(catalog, "SELECT * FROM internal.staff_notes", policy("public", "int*"))
    with pytest.raises(Rejected, match="'internal' is not allowed"):
        await verdict(catalog, "SELECT * FROM internal.staff_notes", policy("public", "intern"))


def test_only_listed_settings_can_be_shown() -> None:
    assert validator.analyze("SHOW search_path").kind == "show"
    for name in ("data_directory", "ALL", "hba_file", "ssl_key_file", "primary_conninfo"):
        with pytest.raises(Rejected):
            validator.analyze(f"SHOW {name}")


# --- Lexical mutation: a rejection never turns into an acceptance. ---------------------------------


def _tokens(sql: str) -> list[Any]:
    from pglast.parser import scan

    return [token for token in scan(sql) if token.name not in {"C_COMMENT", "SQL_COMMENT"}]


_FILLERS = [" ", "\n", "\t", "/**/", "/* x */", "/* ; DROP TABLE customers; */", "-- ;\n", "  \n  "]


@st.composite
def mutations(draw: st.DrawFn, sql: str) -> str:
    """The same statement with comments and whitespace between tokens and keywords in other cases."""
    tokens = _tokens(sql)
    out: list[str] = []
    last = 0
    for token in tokens:
        out.append(sql[last : token.start])
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(_FILLERS)))
        text = sql[token.start : token.end + 1]
        if token.kind != "NO_KEYWORD" or (token.name == "IDENT" and not text.startswith('"')):
            text = "".join(draw(st.sampled_from([c.lower(), c.upper()])) if c.isalpha() else c for c in text)
        out.append(text)
        last = token.end + 1
    out.append(sql[last:])
    return "".join(out)


def _mutable(sql: str) -> bool:
    try:
        return bool(_tokens(sql))
    except Exception:
        return False


_MUTABLE_ATTACKS = [sql for _, sql in ATTACKS if _mutable(sql) and "{" not in sql]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated=st.sampled_from(_MUTABLE_ATTACKS).flatmap(mutations))
async def test_mutated_attacks_stay_refused(catalog: asyncpg.Connection, mutated: str) -> None:
    with pytest.raises((Rejected, InvalidArgument)):
        await verdict(catalog, mutated)


_MUTABLE_LEGIT = [sql for sql in LEGIT if _mutable(sql)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(_MUTABLE_LEGIT).flatmap(lambda sql: st.tuples(st.just(sql), mutations(sql))))
async def test_mutated_legit_queries_stay_accepted(catalog: asyncpg.Connection, case: tuple[str, str]) -> None:
    sql, mutated = case
    original, changed = validator.analyze(sql), await verdict(catalog, mutated)
    assert validator.same_statement(original.tree, changed.tree)


def test_deep_nesting_is_walked_without_exhausting_recursion() -> None:
    levels = MAX_DEPTH - 10  # the parse guard refuses deeper statements (tests/postgres/test_parse_guard.py)
    deep = "SELECT " + " + ".join(["1"] * levels) + ", " + " ".join(["NOT"] * levels) + " pg_sleep(1) IS NULL"
    analysis = validator.analyze(deep)
    assert Name(None, "pg_sleep") in analysis.functions  # found at the bottom of a 990-deep tree


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT * FROM hypopg_create_index('CREATE INDEX ON t (a)')", "hypopg_create_index"),
        ("SELECT public.hypopg_reset()", "hypopg_reset"),
        ("SELECT extensions.hypopg_hide_index(1)", "hypopg_hide_index"),
        ("SELECT pg_stat_statements_reset()", "pg_stat_statements_reset"),
        ("SELECT query FROM public.pg_stat_statements(true)", "pg_stat_statements"),
    ],
)
def test_functions_only_the_server_calls_are_refused_even_when_every_function_is_listed(sql: str, name: str) -> None:
    """hypopg's and pg_stat_statements' functions: the dba tools' fixed statements call them, tool SQL never."""
    with pytest.raises(Rejected, match="only the server's own statements call it"):
        validator.precheck(validator.analyze(sql), policy("*", functions=("*",)))
    known = plan_check.Function(20000, "public", name, False)
    assert "only the server's own statements" in (plan_check.function_refusal(known, policy(functions=("*",))) or "")
