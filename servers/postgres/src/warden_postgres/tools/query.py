"""Query tools: one read-only statement with typed results, and its plan."""

from __future__ import annotations

import time
from typing import Annotated, Any

import pydantic_core
from pydantic import Field

from warden_core import Access, PolicyDenied, ToolSpec, json_size, truncate_text
from warden_core.audit import note_target
from warden_postgres import validator
from warden_postgres.client import Limits
from warden_postgres.parse_guard import off_the_loop
from warden_postgres.settings import Settings
from warden_postgres.tools.common import DatabaseArg, Result, ToolContext

GROUP = "query"

_REASONS = {
    "max_rows": "stopped at the row limit; more rows exist (add WHERE/LIMIT or aggregate)",
    "max_output_bytes": "stopped at the result size limit (select fewer or narrower columns)",
    "max_value_bytes": "values larger than the value size limit came back null (see omitted_values)",
    "row_bytes": "stopped at a row too large to read (select fewer or narrower columns)",
}


class ResultColumn(Result):
    name: str
    type: str = Field(description="PostgreSQL type name.")


class OmittedValue(Result):
    row: int = Field(description="Index of the row in `rows`.")
    column: str
    bytes: int = Field(description="Size of the value that was left out.")


class QueryResult(Result):
    database: str
    columns: list[ResultColumn]
    rows: list[list[Any]] = Field(description="One array per row, values in column order, JSON-safe.")
    row_count: int
    truncated: bool
    truncation: str | None = Field(None, description="Why the result is incomplete, when truncated.")
    omitted_values: list[OmittedValue] = Field(default_factory=list)
    elapsed_ms: float


class ExplainResult(Result):
    database: str
    analyzed: bool = Field(description="Whether the statement was run to measure actual times.")
    plan: Any = Field(
        description="EXPLAIN (FORMAT JSON) output; its JSON text, cut, if it was too large; null if far too large."
    )
    truncated: bool
    truncation: str | None = Field(None, description="What happened to the plan, when truncated.")
    elapsed_ms: float


SqlArg = Annotated[
    str,
    Field(
        description="One SQL statement: SELECT (WITH ... SELECT, TABLE), VALUES, EXPLAIN without ANALYZE, or SHOW.",
        min_length=1,
        max_length=100_000,
    ),
]
ParamsArg = Annotated[
    list[Any] | None,
    Field(description="Values for $1, $2, ... in order (dates, uuids and decimals as strings).", max_length=100),
]
MaxRowsArg = Annotated[int | None, Field(description="Return at most this many rows.", ge=1, le=100_000)]
AnalyzeArg = Annotated[bool, Field(description="Run the statement to report actual times and rows.")]
VerboseArg = Annotated[bool, Field(description="Include output columns and schema-qualified names.")]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def run_query(
    ctx: ToolContext, sql: str, params: list[Any] | None, database: str | None, max_rows: int | None
) -> QueryResult:
    started = time.perf_counter()
    db = ctx.databases.get(database)
    analysis = await off_the_loop(len(sql), validator.analyze, sql, allow_analyze=ctx.settings.explain_analyze)
    limits = Limits(
        max_rows=min(max_rows or ctx.settings.max_rows, ctx.settings.max_rows),
        max_bytes=max(1024, ctx.settings.max_output_bytes - 4096),
        max_value_bytes=min(ctx.settings.max_value_bytes, ctx.settings.max_output_bytes),
    )
    note_target(db.name)
    result = await db.backend.call(
        lambda: db.run(analysis.sql, params or [], analysis=analysis, limits=limits, deadline=ctx.deadline())
    )
    return QueryResult(
        database=db.name,
        columns=[ResultColumn(name=c.name, type=c.type) for c in result.columns],
        rows=result.rows,
        row_count=len(result.rows),
        truncated=result.truncated,
        truncation="; ".join(_REASONS[r] for r in result.reasons) or None,
        omitted_values=[OmittedValue(**o) for o in result.omitted],
        elapsed_ms=_ms(started),
    )


def explain_statement(sql: str, *, analyze: bool, verbose: bool) -> validator.Analysis:
    """EXPLAIN (FORMAT JSON ...) of one validated SELECT, itself validated as a whole."""
    inner = validator.analyze(sql)
    if inner.kind != "select":
        raise validator.Rejected("pass the query itself (a SELECT or VALUES); the tool adds EXPLAIN")
    options = ["FORMAT JSON"] + (["ANALYZE"] if analyze else []) + (["VERBOSE"] if verbose else [])
    analysis = validator.analyze(f"EXPLAIN ({', '.join(options)})\n{inner.sql}", allow_analyze=analyze)
    if analysis.kind != "explain" or not validator.same_statement(analysis.tree.query, inner.tree):
        raise validator.Rejected("the statement could not be explained as written")
    return analysis


async def run_explain(
    ctx: ToolContext, sql: str, params: list[Any] | None, database: str | None, *, analyze: bool, verbose: bool
) -> ExplainResult:
    started = time.perf_counter()
    if analyze and not ctx.settings.explain_analyze:
        raise PolicyDenied(
            f"EXPLAIN ANALYZE runs the statement and is off on this server ({Settings.env_name('explain_analyze')})"
        )
    db = ctx.databases.get(database)
    analysis = await off_the_loop(len(sql), explain_statement, sql, analyze=analyze, verbose=verbose)
    budget = max(1024, ctx.settings.max_output_bytes - 1024)
    # The plan is one value in one row: any plan within max_value_bytes fits max_bytes, so a plan comes back
    # whole, cut to `budget` as text, or (measured) not at all; never silently missing.
    limits = Limits(max_rows=1, max_bytes=budget * 4 + 1024, max_value_bytes=budget * 4)
    note_target(db.name)
    result = await db.backend.call(
        lambda: db.run(analysis.sql, params or [], analysis=analysis, limits=limits, deadline=ctx.deadline())
    )
    plan: Any = result.rows[0][0] if result.rows else None
    truncation = None
    too_large = result.too_large_row or (result.omitted[0]["bytes"] if result.omitted else None)
    if too_large is not None:
        advice = "explain a smaller statement" + (", or without verbose" if verbose else "")
        plan = None
        truncation = f"the plan is {too_large:,} bytes, far more than a result may hold ({budget:,}); {advice}"
    elif (size := json_size(plan)) > budget:
        plan = truncate_text(pydantic_core.to_json(plan).decode(), budget)[0]
        truncation = f"the plan is {size:,} bytes as JSON; its first {budget:,} come as text"
    return ExplainResult(
        database=db.name,
        analyzed=analyze,
        plan=plan,
        truncated=truncation is not None,
        truncation=truncation,
        elapsed_ms=_ms(started),
    )


def specs(ctx: ToolContext) -> list[ToolSpec]:
    async def pg_query(
        sql: SqlArg, params: ParamsArg = None, database: DatabaseArg = None, max_rows: MaxRowsArg = None
    ) -> QueryResult:
        return await run_query(ctx, sql, params, database, max_rows)

    async def pg_explain(
        sql: SqlArg,
        params: ParamsArg = None,
        database: DatabaseArg = None,
        analyze: AnalyzeArg = False,
        verbose: VerboseArg = False,
    ) -> ExplainResult:
        return await run_explain(ctx, sql, params, database, analyze=analyze, verbose=verbose)

    return [
        ToolSpec(
            name="pg_query",
            title="Run a read-only query",
            description=(
                "Run one read-only SQL statement (SELECT, WITH ... SELECT, VALUES, EXPLAIN, SHOW) and get "
                "typed columns and rows as JSON. Put values in `params` as $1, $2, ... Results stop at a row "
                "and size limit (`truncated` says so): filter, aggregate or LIMIT rather than page. Writes, "
                "transaction control, SET and side-effecting functions are refused; catalog tables are readable."
            ),
            group=GROUP,
            access=Access.READ,
            handler=pg_query,
            open_world=False,
        ),
        ToolSpec(
            name="pg_explain",
            title="Explain a query",
            description=(
                "Show the plan PostgreSQL would use for one SELECT (EXPLAIN, FORMAT JSON) without running it. "
                "Pass the query itself, not EXPLAIN. analyze=true runs it for actual times, if the server allows."
            ),
            group=GROUP,
            access=Access.READ,
            handler=pg_explain,
            open_world=False,
        ),
    ]
