"""Layer 1, first half: the statement policy, decided on PostgreSQL's own parse tree, never on keywords.

`analyze` parses the text with pglast (libpg_query, PostgreSQL's parser) and walks the WHOLE tree:
- exactly one statement, of an allowed type: SELECT (without INTO or locking clauses), VALUES,
  EXPLAIN without ANALYZE over such a SELECT, or SHOW of a setting on a short list;
- no other statement anywhere in the tree (a data-modifying CTE is an INSERT/UPDATE/DELETE/MERGE
  node inside the SELECT);
- every function reference (target list, FROM items, WHERE, LATERAL, CTEs, subqueries, ORDER BY,
  window and aggregate clauses ...), every operator, every cast target and every relation is
  collected, with CTE names scoped the way PostgreSQL scopes them.

`precheck` then refuses, from those names alone and without asking the database, what is refused
whatever the names resolve to: relations and functions named in a schema outside the allowlist,
catalogs holding secrets, functions that run SQL text or reach other databases, and built-in
functions the review refuses.

Names are not what runs, though: an operator, a cast or a view decides that inside PostgreSQL. The
exact decision is the second half of layer 1 (`plan_check`), on the query tree PostgreSQL itself
analyzed. This module also holds the policy data both halves share.

Comments, casing, quoted and U&"" identifiers and schema qualification are handled by the parser
itself: `U&"s\\0065tval"` is the function `setval` by the time the walk sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from warden_core import Allowlist, InvalidArgument, PolicyDenied
from warden_postgres import parse_guard
from warden_postgres.reviewed import REFUSE, Review

# --- Policy data. -------------------------------------------------------------------------------

ALWAYS_REFUSED_NAMES = (
    r"dblink.*",
    r"postgres_fdw_.*",
    r"crosstab.*",
    r"connectby.*",
    r"xpath_table",
    r"(?:query|cursor|table|schema|database)_to_xml.*",
    r"ts_stat",
    r"ts_rewrite",
    r"pg_file_.*",  # adminpack: writes and removes the server's files
    r"pg_logdir_ls",
)
ALWAYS_REFUSED = re.compile("^(?:" + "|".join(ALWAYS_REFUSED_NAMES) + ")$")
"""Functions refused in every schema, even when WARDEN_POSTGRES_ALLOWED_FUNCTIONS lists them: they run SQL text
(which no check of this statement has seen), reach another database, or touch the server's files."""

DENIED_RELATIONS = frozenset(
    {
        ("pg_catalog", "pg_authid"),
        ("pg_catalog", "pg_shadow"),
        ("pg_catalog", "pg_user_mapping"),
        ("pg_catalog", "pg_user_mappings"),
        ("pg_catalog", "pg_hba_file_rules"),
        ("pg_catalog", "pg_ident_file_mappings"),
        ("pg_catalog", "pg_file_settings"),
        ("pg_catalog", "pg_settings"),
        ("pg_catalog", "pg_statistic"),
        ("pg_catalog", "pg_statistic_ext_data"),
        ("pg_catalog", "pg_largeobject"),
        ("pg_catalog", "pg_subscription"),
        ("pg_catalog", "pg_config"),
        ("pg_catalog", "pg_db_role_setting"),
        ("information_schema", "user_mapping_options"),
        ("information_schema", "_pg_user_mappings"),
    }
)
"""Catalogs holding secrets: password hashes, FDW credentials, server files, every setting (custom ones such
as `app.secret` included), sampled rows. PostgreSQL's own views that read them internally and show only what
is safe (pg_roles over pg_authid) stay readable, except for the columns below."""

SECRET_COLUMNS = {
    ("pg_catalog", "pg_roles"): frozenset({"rolconfig"}),
    ("pg_catalog", "pg_user"): frozenset({"useconfig"}),
}
"""Columns of readable catalogs that hold secrets: role and database settings (`ALTER ROLE ... SET app.key`)."""

OTHER_SCHEMA_COLUMNS = {
    ("pg_catalog", "pg_stats"): frozenset(
        {
            "most_common_vals",
            "histogram_bounds",
            "most_common_elems",
            "range_length_histogram",
            "range_bounds_histogram",
        }
    ),
    ("pg_catalog", "pg_stats_ext"): frozenset({"most_common_vals"}),
    ("pg_catalog", "pg_stats_ext_exprs"): frozenset(
        {"expr", "most_common_vals", "histogram_bounds", "most_common_elems"}
    ),
    ("pg_catalog", "pg_proc"): frozenset({"prosrc", "probin", "prosqlbody"}),
    ("pg_catalog", "pg_rewrite"): frozenset({"ev_qual", "ev_action"}),
    ("pg_catalog", "pg_policy"): frozenset({"polqual", "polwithcheck"}),
    ("pg_catalog", "pg_policies"): frozenset({"qual", "with_check"}),
    ("pg_catalog", "pg_views"): frozenset({"definition"}),
    ("pg_catalog", "pg_matviews"): frozenset({"definition"}),
    ("pg_catalog", "pg_rules"): frozenset({"definition"}),
    ("pg_catalog", "pg_sequences"): frozenset({"last_value"}),
    ("information_schema", "views"): frozenset({"view_definition"}),
    ("information_schema", "routines"): frozenset({"routine_definition"}),
}
"""Columns that show values sampled from, or definitions of, objects in every schema (most-common values of
tables, function bodies, view definitions): readable only when the schema allowlist admits every schema, since
a row of another schema cannot be told apart before the statement runs."""

NEVER = "it runs SQL text, reaches another database or touches the server's files"

SERVER_ONLY_NAMES = (
    r"hypopg.*",  # hypopg_create_index parses and plans SQL text; the rest change or list the session's state
    r"pg_stat_statements.*",  # every session's SQL, of every database; _reset clears the server's statistics
)
SERVER_ONLY = re.compile("^(?:" + "|".join(SERVER_ONLY_NAMES) + ")$")
"""Extension functions that only the server's own fixed statements call (the dba tools), never a statement a
caller wrote, whatever WARDEN_POSTGRES_ALLOWED_FUNCTIONS lists: they change the session's or the server's state,
run SQL text, or show the SQL of sessions and databases the caller's statement could not see."""

SERVER_ONLY_REASON = (
    "only the server's own statements call it (pg_top_queries, pg_index_advice): it changes session or server "
    "state, runs SQL text, or shows every session's SQL"
)

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

MAX_NODES = 25_000
"""Most syntax nodes of a checked statement. PostgreSQL's tree of it, which the plan check reads (and the server
log receives), grows with it: 25,000 nodes make a few megabytes."""

MAX_RELATION_REFERENCES = 32
"""Most relation references of a checked statement: each view is expanded in PostgreSQL's tree (the largest view
of information_schema adds half a megabyte), so this bounds the tree too."""

_BETWEEN = frozenset({"AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM", "AEXPR_NOT_BETWEEN_SYM"})


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


@dataclass(frozen=True)
class TypeRef:
    name: Name
    array: bool


@dataclass
class Analysis:
    """A statement that passed the parse-tree checks, with the names it uses."""

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
        self.nodes = 0
        self.references = 0

    def visit(self, root: Any, scope: frozenset[str]) -> None:
        stack: list[tuple[Any, frozenset[str]]] = [(root, scope)]
        while stack:
            node, scope = stack.pop()
            if isinstance(node, list | tuple):
                stack.extend((item, scope) for item in node)
            elif isinstance(node, self.ast.Node):
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    raise Rejected(f"the statement has over {MAX_NODES} syntax nodes; it is too large to check")
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
        elif isinstance(node, ast.RangeTableFunc):
            raise Rejected("XMLTABLE evaluates XPath, which cannot be interrupted once it runs; it is not allowed")
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
        self.references += 1
        if self.references > MAX_RELATION_REFERENCES:
            raise Rejected(
                f"the statement reads relations more than {MAX_RELATION_REFERENCES} times; it is too large to check "
                "(name a relation once in a WITH and refer to that)"
            )
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


def explained_sql(analysis: Analysis) -> str:
    """The SELECT inside an EXPLAIN, as text that parses back to exactly that SELECT.

    EXPLAIN's own Parse analyzes its query but does not rewrite it (views stay unexpanded), so the plan
    check looks at this text's Parse too.
    """
    from pglast import parse_sql
    from pglast.stream import RawStream

    query = analysis.tree.query
    parsed: Any = ()
    try:
        text = RawStream()(query)
        parsed = parse_sql(text)
    except Exception:  # a deparser limitation: refused below
        text = ""
    if len(parsed) != 1 or not same_statement(parsed[0].stmt, query):
        raise Rejected("this EXPLAIN cannot be checked as written; pass the SELECT to pg_explain instead")
    return text


# --- Name checks that need no database. ------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """What both halves of layer 1 need from the settings."""

    schemas: Allowlist  # WARDEN_POSTGRES_SCHEMAS
    functions: Allowlist  # WARDEN_POSTGRES_ALLOWED_FUNCTIONS, matched against "schema.name"
    review: Review
    check_relation: Callable[[str, str], None] | None = None  # the policy file, asked per table read

    @property
    def every_schema(self) -> bool:
        return self.schemas.unrestricted

    def schema_verdict(self, schema: str) -> str | None:
        """Why a relation in this schema cannot be read, or None."""
        if schema.startswith(("pg_toast", "pg_temp")):
            return f"schema {schema} cannot be read"
        if schema not in CATALOG_SCHEMAS and not self.schemas.allows(schema):
            return f"schema {schema!r} is not allowed by this server's policy ({self.schemas.setting})"
        return None

    def listed(self, schema: str, name: str) -> bool:
        return self.functions.allows(f"{schema}.{name}")


def precheck(analysis: Analysis, rules: Rules) -> None:
    """Refuse what the names alone condemn, wherever they resolve. Raises `Rejected`. Pure: no I/O.

    The plan check decides exactly; this is the part of layer 1 that holds without a database.
    """
    for relation in sorted(analysis.relations):
        schema = relation.schema or "pg_catalog"  # unqualified: pg_catalog is searched first
        if (schema, relation.name) in DENIED_RELATIONS:
            raise Rejected(f"{schema}.{relation.name} holds secrets and cannot be read")
        if relation.schema is not None and (verdict := rules.schema_verdict(relation.schema)):
            raise Rejected(verdict)
    for function in sorted(analysis.functions):
        if ALWAYS_REFUSED.match(function.name):
            raise Rejected(f"function {function} is never allowed: {NEVER}")
        if SERVER_ONLY.match(function.name):
            raise Rejected(f"function {function} is refused: {SERVER_ONLY_REASON}")
        if function.schema is not None and function.schema.startswith("pg_temp"):
            raise Rejected(f"function {function}: temporary functions cannot be called")
        if function.schema in {None, "pg_catalog"}:
            section = rules.review.section(function.name) or ""
            if section.startswith(REFUSE):
                raise Rejected(f"function {function.name} is refused ({section.removeprefix(REFUSE)})")
        elif function.schema not in CATALOG_SCHEMAS and not rules.listed(function.schema, function.name):
            raise Rejected(f"function {function} is not allowed by this server's policy ({rules.functions.setting})")
