"""Layer 2 on its own: tool text only travels the extended protocol, which carries exactly one statement.

The control experiment shows the simple protocol running the second statement of `SELECT 1; DROP ...`
(the reference server's bug); the same text through `prepare` is refused by PostgreSQL itself, outside
any transaction. Then every multi-statement attack goes through the executor with validation bypassed,
as the table owner, and the database does not change. A static check proves no server code hands
non-constant text to `execute()` or the COPY helpers.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.postgres.corpus import ATTACKS
from tests.postgres.layers import attempt, database
from tests.postgres.shop import Shop, snapshot
from warden_core import InvalidArgument, WardenServer

pytestmark = pytest.mark.anyio

SOURCE = Path(__file__).resolve().parents[2] / "servers" / "postgres" / "src" / "warden_postgres"


def _statements(sql: str) -> int:
    from pglast import parse_sql

    try:
        return len(parse_sql(sql))
    except Exception:
        return 0


MULTI = [sql for _, sql in ATTACKS if "{" not in sql and _statements(sql) > 1]


async def test_control_the_simple_protocol_runs_the_second_statement(shop: Shop) -> None:
    table = f"layer2_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(shop.owner)
    try:
        await conn.execute(f"CREATE TABLE {table} (x int)")
        await conn.execute(f"SELECT 1; DROP TABLE {table}")  # simple protocol: both statements run
        assert await conn.fetchval("SELECT to_regclass($1)", table) is None

        await conn.execute(f"CREATE TABLE {table} (x int)")
        with pytest.raises(asyncpg.PostgresSyntaxError, match="cannot insert multiple commands"):
            await conn.prepare(f"SELECT 1; DROP TABLE {table}")  # extended protocol, no transaction at all
        assert await conn.fetchval("SELECT to_regclass($1)::text", table) == table
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


async def test_the_executor_refuses_every_multi_statement_attack(owner_server: WardenServer, shop: Shop) -> None:
    assert len(MULTI) >= 15
    db = database(owner_server)
    before = await snapshot(shop)
    for sql in MULTI:
        outcome = await attempt(db, sql)
        assert isinstance(outcome, InvalidArgument), sql
        assert "cannot insert multiple commands" in outcome.message, sql
        assert await snapshot(shop) == before, sql


def _constant_strings(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr):
            raise AssertionError(f"line {node.lineno}: module-level SQL must not be an f-string")
    return names


SETTINGS_TEXT = {"session_start_sql"}
"""Builders of server-authored text whose only input is the server's settings (tested below)."""

CONSTANT_TEXT = {"lookups_sql"}
"""Builders, taking no arguments, of server-authored text made of the module's constants alone (tested below)."""


def _settings_attributes(tree: ast.Module) -> set[str]:
    """`self.x` attributes that are only ever assigned the result of a SETTINGS_TEXT builder."""
    built: set[str] = set()
    other: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        else:
            continue
        value = node.value
        for target in targets:
            if isinstance(target, ast.Attribute):
                from_builder = (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id in SETTINGS_TEXT
                    and [ast.unparse(arg) for arg in value.args] == ["settings"]
                )
                (built if from_builder else other).add(target.attr)
    return built - other


def test_no_server_code_sends_text_through_the_simple_protocol() -> None:
    """`execute()` and the COPY helpers only get string constants or text built from the settings (R-21)."""
    risky = {"execute", "executemany", "copy_from_query", "copy_from_table", "copy_to_table", "copy_records_to_table"}
    calls = 0
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        constants = _constant_strings(tree)
        built = _settings_attributes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in risky:
                calls += 1
                first = node.args[0] if node.args else None
                literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
                constant = isinstance(first, ast.Name) and first.id in constants
                from_settings = (
                    isinstance(first, ast.Attribute)
                    and isinstance(first.value, ast.Name)
                    and first.value.id == "self"
                    and first.attr in built
                )
                # The session start: built by start_message, whose text is tested below.
                start = (
                    isinstance(first, ast.Call)
                    and isinstance(first.func, ast.Name)
                    and first.func.id == "start_message"
                    and isinstance(first.args[0], ast.Attribute)
                    and first.args[0].attr in built
                )
                built_from_constants = (
                    isinstance(first, ast.Call)
                    and isinstance(first.func, ast.Name)
                    and first.func.id in CONSTANT_TEXT
                    and not first.args
                    and not first.keywords
                )
                assert literal or constant or from_settings or start or built_from_constants, (
                    f"{path.name}:{node.lineno} passes non-constant text to {node.func.attr}()"
                )
                assert len(node.args) == 1, f"{path.name}:{node.lineno}: simple-protocol text takes no arguments"
                assert node.func.attr == "execute", f"{path.name}:{node.lineno} uses {node.func.attr}()"
    assert calls >= 3  # the session start, its end and the pool's fallback DISCARD ALL: the server's own text


@pytest.mark.parametrize(
    "schemas",
    [("public",), ("sales", "it's"), ("back\\slash", 'quo"te'), ("a'); DROP TABLE customers; --",)],
)
def test_the_session_start_text_is_one_begin_and_one_select_of_literals(schemas: tuple[str, ...]) -> None:
    """The settings-built text: BEGIN and a SELECT of set_config calls whose arguments are all literals."""
    from pglast import ast as pg
    from pglast import parse_sql

    from tests.postgres.conftest import settings_for
    from warden_postgres.client import local_settings, session_start_sql

    settings = settings_for("postgresql://x@127.0.0.1/db", schemas=schemas)
    statements = parse_sql(session_start_sql(settings))
    assert len(statements) == 2
    begin, select = statements[0].stmt, statements[1].stmt
    assert isinstance(begin, pg.TransactionStmt)
    assert isinstance(select, pg.SelectStmt)
    assert select.fromClause is None and select.whereClause is None
    pinned = {}
    for target in select.targetList:
        call = target.val
        assert isinstance(call, pg.FuncCall)
        assert [part.sval for part in call.funcname] == ["pg_catalog", "set_config"]
        name, value, local = call.args
        assert isinstance(local, pg.A_Const) and local.val.boolval
        pinned[name.val.sval] = value.val.sval
    assert pinned == local_settings(settings)


@pytest.mark.parametrize(
    ("role", "application"),
    [
        ("analyst", "warden-postgres/1f2e/apikey/ci"),
        ('we"ird', "warden-postgres/7/oauth/o'brien"),
        ("x", "warden-postgres/9/a\\'); SELECT pg_terminate_backend(1); --"),
    ],
)
def test_the_request_and_role_parts_are_a_set_config_of_a_literal_and_one_set_role(role: str, application: str) -> None:
    """The start names the MCP request (application_name, one more literal argument of its SELECT) and, with
    ROLE_MAP, adds exactly SET LOCAL ROLE <the role>: whatever the texts hold, they stay a literal and a name."""
    from pglast import ast as pg
    from pglast import parse_sql

    from tests.postgres.conftest import settings_for
    from warden_postgres.client import session_start_sql, start_message

    plain = session_start_sql(settings_for("postgresql://x@127.0.0.1/db"))
    begin, select, set_role = (raw.stmt for raw in parse_sql(start_message(plain, role, application, None)))
    assert isinstance(begin, pg.TransactionStmt) and isinstance(select, pg.SelectStmt)
    assert select.fromClause is None
    pinned = {target.val.args[0].val.sval: target.val.args[1].val.sval for target in select.targetList}
    assert pinned["application_name"] == application
    assert isinstance(set_role, pg.VariableSetStmt) and set_role.name == "role" and set_role.is_local
    assert [arg.val.sval for arg in set_role.args] == [role]


@pytest.mark.parametrize("functions", [(), ("public.f",), ("it's.f*",), ("a.b'); DROP TABLE customers; --",)])
def test_the_checked_session_start_adds_only_prepares_and_one_select(functions: tuple[str, ...]) -> None:
    """Sessions that run tool SQL start with the same text, then the plan check's: two PREPAREs of the catalog
    lookups and one SELECT (the type-hook scan that switches the tree notices on). The settings reach it only
    as the string constants of ALLOWED_FUNCTIONS' LIKE patterns, whatever quotes they hold."""
    from pglast import ast as pg
    from pglast import parse_sql

    from tests.postgres.conftest import settings_for
    from warden_postgres import plan_check
    from warden_postgres.client import session_start_sql

    settings = settings_for("postgresql://x@127.0.0.1/db", allowed_functions=functions)
    plain, checked = session_start_sql(settings), session_start_sql(settings, check_plans=True)
    assert checked.startswith(plain + "; ")
    statements = [raw.stmt for raw in parse_sql(checked[len(plain) + 2 :])]
    assert [type(s).__name__ for s in statements] == ["PrepareStmt", "PrepareStmt", "SelectStmt"]
    assert [s.name for s in statements[:2]] == [plan_check.CALLS_STATEMENT, plan_check.RELATIONS_STATEMENT]
    constants: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, pg.ParamRef):
            raise AssertionError("the hook scan takes no parameters")
        if isinstance(node, pg.A_Const) and isinstance(node.val, pg.String):
            constants.append(node.val.sval)
        if isinstance(node, pg.Node):
            for attr in type(node).__slots__:
                collect(getattr(node, attr, None))
        elif isinstance(node, tuple | list):
            for item in node:
                collect(item)

    collect(statements[2])
    assert all(pattern in constants for pattern in plan_check.like_patterns(settings.function_allowlist))


def test_the_lookups_prepared_later_are_two_prepares_between_switching_the_tree_notice_off_and_on() -> None:
    """A checked session that started without the catalog lookups prepares them with this text: the tree notice
    off, the two PREPAREs the full start has, the notice back on; constants only, no parameters."""
    from pglast import ast as pg
    from pglast import parse_sql

    from tests.postgres.conftest import settings_for
    from warden_postgres import plan_check
    from warden_postgres.client import session_start_sql

    statements = [raw.stmt for raw in parse_sql(plan_check.lookups_sql())]
    assert [type(s).__name__ for s in statements] == ["SelectStmt", "PrepareStmt", "PrepareStmt", "SelectStmt"]
    settings = settings_for("postgresql://x@127.0.0.1/db")
    full = session_start_sql(settings, check_plans=True)
    prepares = [raw.stmt for raw in parse_sql(full[len(session_start_sql(settings)) + 2 :])][:2]
    assert statements[1:3] == prepares
    for switch, value in ((statements[0], "off"), (statements[3], "on")):
        (target,) = switch.targetList
        call = target.val
        assert isinstance(call, pg.FuncCall) and [n.sval for n in call.funcname] == ["pg_catalog", "set_config"]
        assert [a.val.sval if isinstance(a.val, pg.String) else a.val.boolval for a in call.args] == [
            "debug_print_rewritten",
            value,
            True,
        ]
        assert switch.fromClause is None
