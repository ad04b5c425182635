"""The plan check (layer 1, second half) in detail: reading PostgreSQL's query tree, and what it decides.

Reading: the notice's line breaks are undone exactly or the statement is refused; names in the statement
cannot pass for fields of the tree. Deciding, through the real tool: operators, negators and implicit casts
resolve to the function PostgreSQL chose; listed functions run; partitions, views and statistics of other
schemas stay out; type hooks that could run while PostgreSQL parses make the database refuse every statement
until they are reviewed; and a session without the tree refuses rather than guesses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.postgres.conftest import running, settings_for
from tests.postgres.shop import Shop, run_sql
from warden_core import WardenServer
from warden_core.testing import connect
from warden_postgres import plan_check
from warden_postgres.plan_check import Unverifiable
from warden_postgres.validator import Rejected

pytestmark = pytest.mark.anyio

# --- Reading the notice. -----------------------------------------------------------------------------


def format_node_dump(dump: str) -> str:
    """PostgreSQL's format_node_dump (src/backend/nodes/print.c), line for line, for ASCII text."""
    width, out, i, line = 78, [], 0, ""
    while True:
        line = dump[i : i + width]
        i += len(line)
        if i >= len(dump):
            break
        if dump[i] == " ":
            i += 1  # ok to break at adjacent space
        else:
            k = next((k for k in range(len(line) - 1, 0, -1) if line[k] == " "), 0)
            if k > 0:  # back up; will reprint all after space
                i -= len(line) - k - 1
                line = line[:k]
        out.append(line + "\n")
    if line:
        out.append(line + "\n")
    return "".join(out)


def out_token(text: str) -> str:
    """PostgreSQL's outToken: a name as the dump prints it."""
    if not text:
        return "<>"
    escaped = "".join("\\" + c if c in " \n\t(){}\\" else c for c in text)
    return ("\\" + escaped) if text[0] in '<"0123456789' else escaped


names = st.text(alphabet="ab:(){} \\", min_size=1, max_size=70)


@given(st.lists(st.one_of(st.sampled_from([":funcid", "{QUERY", "}", "(", ")", "1255"]), names.map(out_token))))
def test_line_breaks_are_undone_exactly_or_refused(words: list[str]) -> None:
    # A dump ends with the `)` of its list of queries: never with a name, whose last escaped space a break at
    # the very end would take for the separator it drops.
    dump = " ".join([*words, ")"])
    try:
        assert plan_check.unwrap(format_node_dump(dump)) == dump
    except Unverifiable:
        # Refused only when a line holds one token of the full width: nothing to tell where the cut fell.
        lines = format_node_dump(dump).split("\n")[:-2]
        assert any(" " not in line[1:] and len(line) == 78 for line in lines)


def test_names_cannot_pass_for_fields() -> None:
    dump = '{QUERY :resname :funcid :relid 1255 :colnames ("\\:funcid\\ 12" "x") :targetList ({FUNCEXPR :funcid 870})}'
    tree = plan_check.parse_tree(dump)
    assert tree.get("resname") == ":funcid" and tree.get("relid") == "1255"
    assert tree.get("targetList")[0].number("funcid") == 870
    for broken in ("{QUERY :a 1 2}", "{QUERY :a (1}", "{QUERY :a 1", "{QUERY 1}", "{QUERY :a 1}}", "a\\"):
        with pytest.raises(Unverifiable):
            plan_check.parse_tree(broken)


def test_text_constants_are_read_from_their_bytes() -> None:
    # 'app.x' as a Const with a 4-byte varlena header (length 9 << 2), as PostgreSQL prints it.
    const = plan_check.parse_tree(
        "{CONST :consttype 25 :constlen -1 :constbyval false :constisnull false :location 7 "
        ":constvalue 9 [ 36 0 0 0 97 112 112 46 120 ]}"
    )
    assert plan_check.text_constant(const) == "app.x"
    assert plan_check.text_constant(plan_check.parse_tree("{CONST :consttype 25 :constvalue <>}")) is None


# --- Through the server. -------------------------------------------------------------------------------


async def refusal(server: WardenServer, sql: str) -> str:
    async with connect(server) as client:
        result = await client.call_tool("pg_query", {"sql": sql})
    assert result.is_error, f"{sql!r} was accepted: {result.structured_content}"
    return str(result.content[0].text)


async def rows(server: WardenServer, sql: str) -> list[list[Any]]:
    async with connect(server) as client:
        result = await client.call_tool("pg_query", {"sql": sql})
    assert not result.is_error, f"{sql!r}: {result.content[0].text}"
    return list(result.structured_content["rows"])


@pytest.fixture
async def reader(shop: Shop) -> AsyncIterator[WardenServer]:
    async with running(settings_for(shop.readonly)) as server:
        yield server


async def test_an_operator_is_judged_by_the_function_postgresql_chose(reader: WardenServer) -> None:
    for sql in ("SELECT 1::lockint IN (SELECT 2::lockint)", "SELECT CASE 1::lockint WHEN 2::lockint THEN 1 END"):
        text = await refusal(reader, sql)
        assert "public.lockint_cmp" in text and "operator =(lockint,lockint)" in text
    # `=` on the shop's own columns resolves to pg_catalog's, whatever `=` the search path also holds.
    assert await rows(reader, "SELECT count(*) FROM customers WHERE country = 'GB' AND email <> ''") == [[2]]


async def test_a_negator_counts_as_what_the_operator_runs(shop: Shop) -> None:
    """The planner turns NOT (a = b) into a <> b: an operator runs only if its negator's function may run too."""
    sql = "SELECT count(*) FROM (VALUES (1::lockint), (2::lockint)) AS v(x) WHERE NOT (x = 1::lockint)"
    async with running(settings_for(shop.readonly, allowed_functions=["public.lockint_cmp"])) as server:
        text = await refusal(server, sql)
        assert "public.lockint_ne" in text and "operator =(lockint,lockint)" in text
    both = ["public.lockint_cmp", "public.lockint_ne"]
    async with running(settings_for(shop.readonly, allowed_functions=both)) as server:
        assert await rows(server, sql) == [[1]]


async def test_an_implicit_cast_of_an_argument_is_a_call_like_any_other(shop: Shop) -> None:
    async with running(settings_for(shop.readonly, allowed_functions=["public.unbox"])) as server:
        assert "public.box_it" in await refusal(server, "SELECT unbox('x'::text)")
        assert await rows(server, "SELECT unbox(ROW('x')::boxed)") == [["x"]]


async def test_functions_that_are_not_built_in_run_only_when_listed(shop: Shop) -> None:
    async with running(settings_for(shop.readonly)) as server:
        text = await refusal(server, "SELECT traps.harmless(21)")
        assert "WARDEN_POSTGRES_ALLOWED_FUNCTIONS" in text
    async with running(settings_for(shop.readonly, allowed_functions=["traps.harm*"])) as server:
        assert await rows(server, "SELECT traps.harmless(21)") == [[42]]
        # Listing does not lift the schema allowlist for relations, nor what runs inside.
        assert "internal.get_secret" in await refusal(server, "SELECT * FROM innocent_view")


async def test_partitions_and_children_in_other_schemas_are_refused_through_their_parent(reader: WardenServer) -> None:
    assert "internal.events_secret" in await refusal(reader, "SELECT count(*) FROM events")
    assert "internal.child_t" in await refusal(reader, "SELECT count(*) FROM parent_t")
    assert await rows(reader, "SELECT count(*) FROM ONLY parent_t") == [[1]]
    assert await rows(reader, "SELECT note FROM events_public") == [["public row"]]


async def test_values_and_definitions_of_every_schema_need_every_schema(shop: Shop) -> None:
    queries = [
        "SELECT most_common_vals::text FROM pg_stats WHERE schemaname = 'internal' AND attname = 'author'",
        "SELECT prosrc FROM pg_proc WHERE proname = 'get_secret'",
        "SELECT pg_get_functiondef('internal.get_secret'::regproc)",
    ]
    async with running(settings_for(shop.readonly)) as server:
        for sql in queries:
            assert "WARDEN_POSTGRES_SCHEMAS" in await refusal(server, sql)
    async with running(settings_for(shop.readonly, schemas=["*"])) as server:
        assert await rows(server, queries[0]) == [["{ops}"]]
        assert "canary-function-body" in (await rows(server, queries[1]))[0][0]
        assert "canary-function-body" in (await rows(server, queries[2]))[0][0]


async def test_current_setting_reads_only_listed_settings(reader: WardenServer) -> None:
    assert await rows(reader, "SELECT current_setting('search_path')") == [['"public", pg_temp']]
    for sql in ("SELECT current_setting('app.secret')", "SELECT current_setting(lower('APP.SECRET'), true)"):
        assert "custom settings" in await refusal(reader, sql)


async def test_a_large_object_the_role_may_read_is_read(reader: WardenServer) -> None:
    found = await rows(reader, "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata")
    assert found == [["a large object the role may read"]]
    for sql in ("SELECT lo_export(oid, '/tmp/x') FROM pg_largeobject_metadata", "SELECT lo_unlink(1)"):
        assert "refused" in await refusal(reader, sql)


@pytest.mark.parametrize(
    ("hook", "drop"),
    [
        (
            "CREATE DOMAIN traps.locking_int AS int CHECK (traps.locks(VALUE));"
            "CREATE TYPE traps.locking_pair AS (a traps.locking_int)",
            "DROP TYPE traps.locking_pair; DROP DOMAIN traps.locking_int",
        ),
        (
            "CREATE FUNCTION traps.diff(float8, float8) RETURNS float8 LANGUAGE plpgsql IMMUTABLE "
            "AS 'BEGIN PERFORM pg_advisory_lock(94); RETURN $1 - $2; END';"
            "CREATE TYPE traps.locking_range AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = traps.diff)",
            "DROP TYPE traps.locking_range; DROP FUNCTION traps.diff(float8, float8)",
        ),
    ],
    ids=["domain check", "range subtype_diff"],
)
async def test_type_hooks_that_run_before_any_check_keep_the_database_refused(shop: Shop, hook: str, drop: str) -> None:
    """An array or composite literal runs domain_in while PostgreSQL parses, before a tree exists to check."""
    await run_sql(shop.owner, hook)
    watcher = await asyncpg.connect(shop.admin)
    try:
        async with running(settings_for(shop.readonly)) as server:
            for sql in ("SELECT 1", "SELECT '{5}'::traps.locking_int[]", "SELECT '(5)'::traps.locking_pair"):
                text = await refusal(server, sql)
                assert "type hooks" in text and ("traps.locks" in text or "traps.diff" in text), text
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (94, 5)"
        assert await watcher.fetchval(held) == 0  # nothing was parsed, so nothing ran
        listed = ["traps.locks", "traps.diff"]
        async with running(settings_for(shop.readonly, allowed_functions=listed)) as server:
            assert await rows(server, "SELECT 1") == [[1]]
    finally:
        await run_sql(shop.owner, drop)
        await watcher.close()


async def test_without_the_tree_nothing_is_decided(shop: Shop) -> None:
    """A session whose start did not switch the notices on gives no tree: refused, never guessed."""
    conn = await asyncpg.connect(shop.readonly, statement_cache_size=0)
    try:
        async with conn.transaction(readonly=True):
            check = plan_check.PlanCheck(conn, _default_rules(), plan_check.Facts(), seconds=lambda: 10.0)
            with pytest.raises(Unverifiable, match="no query tree"):
                await check.prepare("SELECT 1")
    finally:
        await conn.close()


async def test_a_name_too_long_to_read_back_is_refused(reader: WardenServer) -> None:
    """63 parentheses print as 126 characters with no space: the notice's line break cannot be placed."""
    text = await refusal(reader, 'SELECT 1 AS "' + "(" * 63 + '"')
    assert "could not be checked" in text
    assert await rows(reader, 'SELECT 1 AS "pg_sleep(10)"') == [[1]]


def _default_rules() -> Any:
    from warden_core import Allowlist
    from warden_postgres import reviewed
    from warden_postgres.validator import Rules

    return Rules(
        schemas=Allowlist("WARDEN_POSTGRES_SCHEMAS", ("public",)),
        functions=Allowlist("WARDEN_POSTGRES_ALLOWED_FUNCTIONS", ()),
        review=reviewed.load(),
    )


def test_rejections_name_the_setting_or_the_review() -> None:
    function = plan_check.Function(99999, "public", "f", streams=False)
    assert "WARDEN_POSTGRES_ALLOWED_FUNCTIONS" in (plan_check.function_refusal(function, _default_rules()) or "")
    sleeping = plan_check.Function(2626, "pg_catalog", "pg_sleep", streams=False)
    assert "refused (acts outside the statement" in (plan_check.function_refusal(sleeping, _default_rules()) or "")
    unknown = plan_check.Function(1, "pg_catalog", "brand_new_in_pg99", streams=False)
    assert "has not been reviewed" in (plan_check.function_refusal(unknown, _default_rules()) or "")
    assert issubclass(Unverifiable, Rejected)


def test_statements_too_large_to_check_are_refused_before_the_database_sees_them() -> None:
    """PostgreSQL's tree grows with the statement and with every view it reads: both are bounded first."""
    from warden_postgres import validator

    validator.analyze("SELECT 1 FROM " + ", ".join(f"customers c{i}" for i in range(validator.MAX_RELATION_REFERENCES)))
    with pytest.raises(Rejected, match="too large to check"):
        validator.analyze("SELECT 1 FROM " + ", ".join(f"pg_stats s{i}" for i in range(33)))
    with pytest.raises(Rejected, match="too large to check"):
        validator.analyze("SELECT ARRAY[" + ", ".join(["1"] * 30_000) + "]")


async def test_a_large_tree_is_read_off_the_event_loop(reader: WardenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """information_schema.element_types expands to over half a megabyte of tree: read in a worker thread."""
    import anyio.to_thread

    offloaded: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
        offloaded.append(function)
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    assert await rows(reader, "SELECT 1") == [[1]]
    assert not offloaded
    found = await rows(reader, "SELECT count(*) >= 0 FROM information_schema.element_types")
    assert found == [[True]] and offloaded
