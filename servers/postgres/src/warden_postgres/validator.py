"""Layer 1: the statement policy, decided on PostgreSQL's own parse tree, never on keywords.

`analyze` parses the text with pglast (libpg_query, PostgreSQL's parser) and walks the WHOLE tree:
- exactly one statement, of an allowed type: SELECT (without INTO or locking clauses), VALUES,
  EXPLAIN without ANALYZE over such a SELECT, or SHOW of a setting on a short list;
- no other statement anywhere in the tree (a data-modifying CTE is an INSERT/UPDATE/DELETE/MERGE
  node inside the SELECT);
- every function reference (target list, FROM items, WHERE, LATERAL, CTEs, subqueries, ORDER BY,
  window and aggregate clauses ...), every operator, every cast target and every relation is
  collected, with CTE names scoped the way PostgreSQL scopes them.

`check` then resolves what was collected against the catalogs of the target database, inside the
server's read-only transaction and with the server's pinned search_path, so names resolve exactly
as PostgreSQL will resolve them:
- functions: every overload the name can reach must be non-volatile or on a short reviewed list,
  and no reached function (or function called by its default arguments or aggregate support
  functions) may be on the denylist; unknown functions are refused;
- operators and cast targets: the functions behind them obey the same rule (user-defined
  operators, casts, type input functions, domain constraints);
- relations: must exist, must not be a catalog holding secrets, and must live in an allowlisted
  schema (pg_catalog and information_schema stay readable for catalog queries).

Comments, casing, quoted and U&"" identifiers and schema qualification are handled by the parser
itself: `U&"s\\0065tval"` is the function `setval` by the time the walk sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warden_core import InvalidArgument, PolicyDenied
from warden_postgres import parse_guard

if TYPE_CHECKING:
    import asyncpg

# --- Reviewed lists. ----------------------------------------------------------------------------

VOLATILE_ALLOWED = frozenset(
    {
        # Volatile only because the answer changes between calls; no side effect.
        "random",
        "random_normal",
        "gen_random_uuid",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "pg_relation_size",
        "pg_table_size",
        "pg_indexes_size",
        "pg_total_relation_size",
        "pg_database_size",
        "pg_tablespace_size",
        "pg_partition_tree",
        "pg_partition_ancestors",
        "pg_is_in_recovery",
    }
)
"""Volatile pg_catalog functions that are still harmless. Only the pg_catalog versions qualify."""

_DENIED_FUNCTIONS = re.compile(
    r"""^(?:
        pg_sleep.* | pg_(?:try_)?advisory.* | set_config | setseed
      | txid_current.* | pg_current_xact_id.* | nextval | setval | currval | lastval
      | pg_notify | pg_cancel_backend | pg_terminate_backend | pg_reload_conf | pg_rotate_logfile.*
      | pg_switch_wal | pg_promote | pg_create_.* | pg_drop_replication_slot | pg_copy_.*_slot
      | pg_replication_.* | pg_logical_.* | pg_wal_replay_.* | pg_backup_.* | pg_start_backup | pg_stop_backup
      | pg_export_snapshot | pg_import_system_collations | pg_log_backend_memory_contexts
      | pg_stat_reset.* | pg_stat_statements_reset | pg_stat_clear_snapshot | pg_stat_force_next_flush
      | pg_read_.* | pg_ls_.* | pg_stat_file | pg_file_.* | pg_logdir_ls | pg_current_logfile
      | pg_show_all_file_settings | pg_hba_file_rules | pg_ident_file_mappings | pg_nextoid
      | pg_stop_making_pinned_objects | pg_extension_config_dump | binary_upgrade_.*
      | gin_clean_pending_list | brin_summarize_.* | brin_desummarize_range
      | lo_.* | loread | lowrite | dblink.*
      | (?:query|cursor|table|schema|database)_to_xml.* | ts_stat | ts_rewrite
    )$""",
    re.VERBOSE,
)
"""Functions refused whatever their volatility label and schema: they sign, sleep, signal, lock,
touch files, write outside the transaction, or run SQL text that would escape this policy."""

DENIED_RELATIONS = frozenset(
    {
        "pg_authid",
        "pg_shadow",
        "pg_user_mapping",
        "pg_user_mappings",
        "pg_hba_file_rules",
        "pg_ident_file_mappings",
        "pg_file_settings",
        "pg_statistic",
        "pg_statistic_ext_data",
        "pg_largeobject",
        "pg_subscription",
        "pg_config",
        "pg_db_role_setting",
    }
)
"""pg_catalog relations holding secrets (password hashes, FDW credentials, server files, sampled data)."""

CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})

SAFE_SETTINGS = frozenset(
    {
        "application_name",
        "block_size",
        "bytea_output",
        "client_encoding",
        "datestyle",
        "default_statistics_target",
        "default_transaction_isolation",
        "default_transaction_read_only",
        "effective_cache_size",
        "extra_float_digits",
        "idle_in_transaction_session_timeout",
        "integer_datetimes",
        "intervalstyle",
        "is_superuser",
        "jit",
        "lc_collate",
        "lc_ctype",
        "lc_messages",
        "lc_monetary",
        "lc_numeric",
        "lc_time",
        "lock_timeout",
        "maintenance_work_mem",
        "max_connections",
        "max_identifier_length",
        "max_parallel_workers_per_gather",
        "random_page_cost",
        "search_path",
        "seq_page_cost",
        "server_encoding",
        "server_version",
        "server_version_num",
        "shared_buffers",
        "standard_conforming_strings",
        "statement_timeout",
        "timezone",
        "transaction_isolation",
        "transaction_read_only",
        "work_mem",
    }
)

EXPLAIN_OPTIONS = frozenset(
    {
        "format",
        "verbose",
        "costs",
        "settings",
        "buffers",
        "wal",
        "timing",
        "summary",
        "generic_plan",
        "memory",
        "serialize",
        "analyze",
    }
)

_BETWEEN = frozenset({"AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM", "AEXPR_NOT_BETWEEN_SYM"})
_NODE_FUNC = re.compile(r":(?:funcid|opfuncid) (\d+)")
_NODE_OP = re.compile(r":opno (\d+)")


class Rejected(PolicyDenied):
    """The statement breaks the read-only policy. Nothing was executed."""

    def __init__(self, message: str) -> None:
        super().__init__(f"refused: {message}")


# --- What the walk collects. ------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """A possibly schema-qualified name, exactly as the parser resolved its spelling."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def __lt__(self, other: Name) -> bool:
        return (self.schema or "", self.name) < (other.schema or "", other.name)

    @property
    def regname(self) -> str:
        """Quoted for to_regclass/to_regtype, so PostgreSQL parses it back to the same name."""
        parts = [self.schema, self.name] if self.schema else [self.name]
        return ".".join(quote_ident(part) for part in parts)


@dataclass(frozen=True)
class TypeRef:
    name: Name
    array: bool

    @property
    def regname(self) -> str:
        return self.name.regname + ("[]" if self.array else "")


@dataclass
class Analysis:
    """A statement that passed the parse-tree checks, with everything the catalog check needs."""

    sql: str
    kind: str  # "select" | "explain" | "show"
    tree: Any
    analyze: bool = False
    functions: set[Name] = field(default_factory=set)
    operators: set[Name] = field(default_factory=set)
    types: set[TypeRef] = field(default_factory=set)
    relations: set[Name] = field(default_factory=set)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _names(nodes: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(getattr(node, "sval", "") for node in nodes or ())


def _qualified(parts: tuple[str, ...], what: str) -> Name:
    if len(parts) == 1:
        return Name(None, parts[0])
    if len(parts) == 2:
        return Name(parts[0], parts[1])
    raise Rejected(f"{what} {'.'.join(parts)!r}: cross-database references are not allowed")


def _describe(node: Any) -> str:
    name = type(node).__name__
    words = {
        "TransactionStmt": "transaction control (BEGIN, COMMIT, ROLLBACK ...)",
        "VariableSetStmt": "SET / RESET",
        "CopyStmt": "COPY",
        "VacuumStmt": "VACUUM / ANALYZE",
        "ExplainStmt": "a nested EXPLAIN",
        "DeclareCursorStmt": "DECLARE CURSOR",
        "ExecuteStmt": "EXECUTE",
        "PrepareStmt": "PREPARE",
        "DoStmt": "DO",
        "CallStmt": "CALL",
        "NotifyStmt": "NOTIFY",
        "ListenStmt": "LISTEN",
        "LockStmt": "LOCK",
        "CheckPointStmt": "CHECKPOINT",
        "LoadStmt": "LOAD",
        "AlterSystemStmt": "ALTER SYSTEM",
        "CreateTableAsStmt": "CREATE TABLE AS / SELECT INTO",
        "DiscardStmt": "DISCARD",
    }
    if name in words:
        return words[name]
    stem = name.removesuffix("Stmt")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", stem).upper()


def _truthy(arg: Any) -> bool:
    """The value of an EXPLAIN boolean option as PostgreSQL reads it (absent means true)."""
    if arg is None:
        return True
    for attr in ("boolval", "ival"):
        if hasattr(arg, attr):
            return bool(getattr(arg, attr))
    text = str(getattr(arg, "sval", "")).lower()
    return text not in {"false", "off", "0", "no", "of", "fals", "fal", "fa", "f", "n"}


class _Walker:
    """Collects every function, operator, cast target and relation; refuses nested statements.

    Iterative (an explicit stack), so a deeply nested expression cannot exhaust Python's recursion.
    """

    def __init__(self, analysis: Analysis) -> None:
        from pglast import ast

        self.ast = ast
        self.analysis = analysis

    def visit(self, root: Any, scope: frozenset[str]) -> None:
        stack: list[tuple[Any, frozenset[str]]] = [(root, scope)]
        while stack:
            node, scope = stack.pop()
            if isinstance(node, list | tuple):
                stack.extend((item, scope) for item in node)
            elif isinstance(node, self.ast.Node):
                self._node(node, scope, stack)

    def _node(self, node: Any, scope: frozenset[str], stack: list[tuple[Any, frozenset[str]]]) -> None:
        ast = self.ast
        kind = type(node).__name__
        skip = ""
        if kind.endswith("Stmt") and not isinstance(node, ast.SelectStmt):
            if kind in {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"}:
                raise Rejected(f"data-modifying statements ({_describe(node)}) are not allowed, not even in WITH")
            raise Rejected(f"{_describe(node)} is not allowed inside a query")
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                raise Rejected("SELECT ... INTO creates a table; run the SELECT alone")
            if node.lockingClause:
                raise Rejected("FOR UPDATE / FOR SHARE take row locks; remove the locking clause")
            if node.withClause is not None:
                scope = self._with(node.withClause, scope, stack)
                skip = "withClause"
        elif isinstance(node, ast.RangeVar):
            self._relation(node, scope)
        elif isinstance(node, ast.FuncCall):
            self.analysis.functions.add(_qualified(_names(node.funcname), "function"))
        elif isinstance(node, ast.A_Expr):
            if node.kind.name not in _BETWEEN and node.name:
                self.analysis.operators.add(_qualified(_names(node.name), "operator"))
        elif isinstance(node, ast.SubLink):
            if node.operName:
                self.analysis.operators.add(_qualified(_names(node.operName), "operator"))
        elif isinstance(node, ast.SortBy):
            if node.useOp:
                self.analysis.operators.add(_qualified(_names(node.useOp), "operator"))
        elif isinstance(node, ast.TypeName):
            # Casts, typed literals, column definition lists, RETURNING clauses: any value coerced to
            # this type may run its cast, input function or domain constraints.
            self.analysis.types.add(TypeRef(_qualified(_names(node.names), "type"), bool(node.arrayBounds)))
        for attr in type(node).__slots__:
            if attr not in {skip, "location"}:
                stack.append((getattr(node, attr, None), scope))

    def _with(self, clause: Any, scope: frozenset[str], stack: list[tuple[Any, frozenset[str]]]) -> frozenset[str]:
        """CTE names as PostgreSQL scopes them: a plain WITH item sees only the items before it.

        A data-modifying CTE is an INSERT/UPDATE/DELETE/MERGE node: refused when its node is visited.
        """
        names = [cte.ctename for cte in clause.ctes]
        for index, cte in enumerate(clause.ctes):
            stack.append((cte, scope | frozenset(names if clause.recursive else names[:index])))
        return scope | frozenset(names)

    def _relation(self, node: Any, scope: frozenset[str]) -> None:
        if node.catalogname:
            raise Rejected(
                f"relation {node.catalogname}.{node.schemaname}.{node.relname}: "
                "cross-database references are not allowed"
            )
        if node.schemaname is None and node.relname in scope:
            return  # a CTE of an enclosing WITH, not a table
        self.analysis.relations.add(Name(node.schemaname, node.relname))


def analyze(sql: str, *, allow_analyze: bool = False) -> Analysis:
    """Parse and walk `sql`. Raises `Rejected` (policy) or `InvalidArgument` (syntax). Pure: no I/O."""
    from pglast import ast
    from pglast.parser import ParseError

    try:
        statements = parse_guard.parse(sql)
    except ParseError as exc:
        raise InvalidArgument(f"syntax error: {exc.args[0] if exc.args else exc}") from None
    except RecursionError:
        raise Rejected("the statement is nested too deeply to check") from None
    if len(statements) != 1:
        raise Rejected(f"send exactly one SQL statement (found {len(statements)})")
    raw = statements[0]
    start = raw.stmt_location or 0
    text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
    stmt = raw.stmt
    if isinstance(stmt, ast.SelectStmt):
        analysis = Analysis(sql=text, kind="select", tree=stmt)
        _Walker(analysis).visit(stmt, frozenset())
    elif isinstance(stmt, ast.ExplainStmt):
        analysis = Analysis(sql=text, kind="explain", tree=stmt)
        for option in stmt.options or ():
            name = option.defname.lower()
            if name not in EXPLAIN_OPTIONS:
                raise Rejected(f"EXPLAIN option {name!r} is not allowed")
            if name == "analyze" and _truthy(option.arg):
                analysis.analyze = True
        if analysis.analyze and not allow_analyze:
            raise Rejected(
                "EXPLAIN ANALYZE runs the statement; it is off on this server (WARDEN_POSTGRES_EXPLAIN_ANALYZE)"
            )
        if not isinstance(stmt.query, ast.SelectStmt):
            raise Rejected(f"EXPLAIN of {_describe(stmt.query)} is not allowed; EXPLAIN a SELECT")
        _Walker(analysis).visit(stmt.query, frozenset())
    elif isinstance(stmt, ast.VariableShowStmt):
        if (stmt.name or "").lower() not in SAFE_SETTINGS:
            raise Rejected(f"SHOW {stmt.name} is not on this server's list of readable settings")
        analysis = Analysis(sql=text, kind="show", tree=stmt)
    else:
        raise Rejected(f"{_describe(stmt)} is not allowed; only SELECT, VALUES, EXPLAIN and SHOW are")
    return analysis


def same_statement(left: Any, right: Any) -> bool:
    """Whether two parse trees are the same statement (locations ignored). Unsure means no."""
    try:
        return bool(left == right)
    except RecursionError:
        return False


# --- The catalog check. ---------------------------------------------------------------------------

_RELATIONS_SQL = """
SELECT r.i::int AS i, n.nspname, c.relname
FROM unnest($1::text[]) WITH ORDINALITY AS r(name, i)
LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(r.name)
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
"""

_FUNCTIONS_SQL = """
SELECT n.nspname, p.proname, p.provolatile::text AS volatile,
       CASE WHEN p.pronargdefaults > 0 THEN p.proargdefaults::text END AS defaults,
       CASE WHEN p.prokind = 'a' THEN ARRAY(
           SELECT f::oid::int8 FROM pg_catalog.pg_aggregate a,
               unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn,
                            a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]) AS f
           WHERE a.aggfnoid = p.oid AND f::oid <> 0) END AS support
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = ANY($1::text[]) AND n.nspname = ANY($2::text[])
"""

_OPERATORS_SQL = """
SELECT n.nspname, o.oprname, o.oprcode::oid::int8 AS func
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
WHERE o.oprname = ANY($1::text[]) AND n.nspname = ANY($2::text[]) AND o.oprcode::oid <> 0
"""

_TYPES_SQL = """
WITH RECURSIVE t(oid) AS (
    SELECT pg_catalog.to_regtype(name)::oid FROM unnest($1::text[]) AS name
    UNION
    SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype ELSE y.typelem END
    FROM pg_catalog.pg_type y JOIN t ON y.oid = t.oid
    WHERE y.typtype = 'd' OR (y.typelem <> 0 AND y.typlen = -1)
)
SELECT 'cast' AS via, c.castfunc::int8 AS func, NULL::text AS tree
FROM pg_catalog.pg_cast c WHERE c.casttarget IN (SELECT oid FROM t) AND c.castfunc <> 0
UNION ALL
SELECT 'input', y.typinput::oid::int8, NULL FROM pg_catalog.pg_type y WHERE y.oid IN (SELECT oid FROM t)
UNION ALL
SELECT 'domain constraint', NULL, k.conbin::text FROM pg_catalog.pg_constraint k
WHERE k.contypid IN (SELECT oid FROM t) AND k.conbin IS NOT NULL
"""

_OPNO_SQL = "SELECT oprcode::oid::int8 FROM pg_catalog.pg_operator WHERE oid = ANY($1::oid[]) AND oprcode::oid <> 0"

_BY_OID_SQL = """
SELECT p.oid::int8 AS oid, n.nspname, p.proname, p.provolatile::text AS volatile
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.oid = ANY($1::oid[])
"""


@dataclass(frozen=True)
class CatalogPolicy:
    """What the catalog check needs from the settings."""

    search_path: tuple[str, ...]
    allows_schema: Callable[[str], bool]
    schema_setting: str


def _function_verdict(schema: str, name: str, volatile: str) -> str | None:
    """Why a resolved function is refused, or None."""
    if _DENIED_FUNCTIONS.match(name):
        return f"function {schema}.{name} is not allowed (it has effects outside a read-only query)"
    if volatile == "v" and not (schema == "pg_catalog" and name in VOLATILE_ALLOWED):
        return f"function {schema}.{name} is volatile (it may change state); only stable and immutable functions run"
    return None


def _schema_verdict(schema: str, policy: CatalogPolicy) -> str | None:
    if schema.startswith(("pg_toast", "pg_temp")):
        return f"schema {schema} cannot be read"
    if schema not in CATALOG_SCHEMAS and not policy.allows_schema(schema):
        return f"schema {schema!r} is not allowed by this server's policy ({policy.schema_setting})"
    return None


class _CatalogCheck:
    """One resolution of an analysis against a database's catalogs (see `check`)."""

    def __init__(self, conn: asyncpg.Connection, policy: CatalogPolicy, seconds: float) -> None:
        self.conn = conn
        self.policy = policy
        self.seconds = seconds
        self.searched = ["pg_catalog", *policy.search_path]
        self.dependents: set[int] = set()  # functions reached through operators, casts, defaults, aggregates
        self.opnos: set[int] = set()

    def _trees(self, text: str | None) -> None:
        """Function and operator oids inside a stored expression (pg_node_tree text)."""
        if text:
            self.dependents.update(int(oid) for oid in _NODE_FUNC.findall(text))
            self.opnos.update(int(oid) for oid in _NODE_OP.findall(text))

    async def relations(self, relations: set[Name]) -> None:
        for relation in relations:
            verdict = _schema_verdict(relation.schema, self.policy) if relation.schema else None
            if verdict:
                raise Rejected(verdict)  # decided without the catalog: the schema is named
        ordered = sorted(relations)
        rows = await self.conn.fetch(_RELATIONS_SQL, [r.regname for r in ordered], timeout=self.seconds)
        for row in rows:
            schema, name = row["nspname"], row["relname"]
            if schema is None:
                raise Rejected(f'relation "{ordered[row["i"] - 1]}" does not exist (or is not on the search path)')
            if schema == "pg_catalog" and name in DENIED_RELATIONS:
                raise Rejected(f"pg_catalog.{name} holds secrets and cannot be read")
            verdict = _schema_verdict(schema, self.policy)
            if verdict:
                raise Rejected(verdict)

    async def functions(self, functions: set[Name]) -> None:
        for function in functions:
            if function.schema is not None and function.schema.startswith("pg_temp"):
                raise Rejected(f"function {function}: temporary functions cannot be called")
            if _DENIED_FUNCTIONS.match(function.name):
                raise Rejected(f"function {function} is not allowed (it has effects outside a read-only query)")
        names = sorted({f.name for f in functions})
        schemas = sorted({f.schema for f in functions if f.schema} | set(self.searched))
        rows = await self.conn.fetch(_FUNCTIONS_SQL, names, schemas, timeout=self.seconds)
        for function in sorted(functions):
            reach = [function.schema] if function.schema else self.searched
            candidates = [r for r in rows if r["proname"] == function.name and r["nspname"] in reach]
            if not candidates:
                raise Rejected(f"function {function} does not exist (or is not on the search path)")
            for row in candidates:  # every overload the name can reach
                verdict = _function_verdict(row["nspname"], row["proname"], row["volatile"])
                if verdict:
                    raise Rejected(verdict)
                self._trees(row["defaults"])
                self.dependents.update(row["support"] or ())

    async def operators(self, operators: set[Name]) -> None:
        names = sorted({o.name for o in operators})
        schemas = sorted({o.schema for o in operators if o.schema} | set(self.searched))
        rows = await self.conn.fetch(_OPERATORS_SQL, names, schemas, timeout=self.seconds)
        for operator in operators:
            reach = [operator.schema] if operator.schema else self.searched
            self.dependents.update(r["func"] for r in rows if r["oprname"] == operator.name and r["nspname"] in reach)

    async def types(self, types: set[TypeRef]) -> None:
        rows = await self.conn.fetch(_TYPES_SQL, sorted(t.regname for t in types), timeout=self.seconds)
        for row in rows:
            if row["func"] is not None:
                self.dependents.add(row["func"])
            self._trees(row["tree"])

    async def reached(self) -> None:
        if self.opnos:
            rows = await self.conn.fetch(_OPNO_SQL, sorted(self.opnos), timeout=self.seconds)
            self.dependents.update(row[0] for row in rows)
        if not self.dependents:
            return
        rows = await self.conn.fetch(_BY_OID_SQL, sorted(self.dependents), timeout=self.seconds)
        for row in rows:
            verdict = _function_verdict(row["nspname"], row["proname"], row["volatile"])
            if verdict:
                raise Rejected(f"{verdict} (called through an operator, cast, default argument or aggregate)")


async def check(conn: asyncpg.Connection, analysis: Analysis, policy: CatalogPolicy, *, seconds: float) -> None:
    """Resolve the analysis against the database's catalogs. Raises `Rejected`; nothing is executed.

    Runs inside the caller's transaction, on the pinned search_path: every name resolves exactly as
    PostgreSQL will resolve it when the statement runs in the same transaction.
    """
    run = _CatalogCheck(conn, policy, seconds)
    if analysis.relations:
        await run.relations(analysis.relations)
    if analysis.functions:
        await run.functions(analysis.functions)
    if analysis.operators:
        await run.operators(analysis.operators)
    if analysis.types:
        await run.types(analysis.types)
    await run.reached()
