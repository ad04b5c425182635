"""Catalog tools: schemas, tables and views, and one table in detail. Only allowlisted schemas show."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from warden_core import Access, Budget, NotFound, ToolSpec, strip_invisible
from warden_core.audit import note_target
from warden_postgres.tools.common import SCHEMAS, DatabaseArg, Result, SchemaArg, TableArg, ToolContext

GROUP = "catalog"

# --- Results. -------------------------------------------------------------------------------------


class SchemaInfo(Result):
    name: str
    tables: int = Field(description="Tables, views and materialized views in the schema.")
    comment: str | None = None


class SchemaList(Result):
    database: str = Field(description="The database these schemas belong to.")
    databases: list[str] = Field(description="Every database this server can query; pass one as `database`.")
    schemas: list[SchemaInfo]
    truncated: bool


class TableInfo(Result):
    name: str
    kind: str = Field(description="table, partitioned table, view, materialized view or foreign table.")
    row_estimate: int | None = Field(None, description="Planner estimate (null if never analyzed).")
    readable: bool = Field(description="Whether the server's role may SELECT from it.")
    comment: str | None = None


class TableList(Result):
    database: str
    schema_name: str = Field(alias="schema")
    tables: list[TableInfo]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page.")
    truncated: bool

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ColumnInfo(Result):
    name: str
    type: str
    nullable: bool
    default: str | None = None
    identity: str | None = Field(None, description="'always' or 'by default' for identity columns.")
    generated: str | None = Field(None, description="The expression of a generated column.")
    comment: str | None = None


class ForeignKey(Result):
    name: str
    columns: list[str]
    references: str | None = Field(description="schema.table referenced (null if outside the schema allowlist).")
    referenced_columns: list[str]
    on_update: str
    on_delete: str


class IndexInfo(Result):
    name: str
    definition: str
    unique: bool
    primary: bool


class ConstraintInfo(Result):
    name: str
    type: str = Field(description="check, unique, exclusion or not null.")
    definition: str


class TableDescription(Result):
    database: str
    schema_name: str = Field(alias="schema")
    name: str
    kind: str
    row_estimate: int | None = None
    comment: str | None = None
    columns: list[ColumnInfo]
    primary_key: list[str] | None = None
    foreign_keys: list[ForeignKey]
    indexes: list[IndexInfo]
    constraints: list[ConstraintInfo]
    view_definition: str | None = None
    truncated: bool

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


# --- Catalog SQL (the server's own, constant; bound arguments only). ----------------------------

SCHEMAS_SQL = """
SELECT n.nspname AS name, pg_catalog.obj_description(n.oid, 'pg_namespace') AS comment,
  (SELECT count(*) FROM pg_catalog.pg_class c
   WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition) AS tables
FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
ORDER BY n.nspname
LIMIT 5000
"""

TABLES_SQL = """
SELECT c.relname AS name,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS kind,
  CASE WHEN c.reltuples >= 0 AND c.relkind IN ('r', 'm', 'f') THEN c.reltuples::int8 END AS row_estimate,
  pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
  pg_catalog.obj_description(c.oid, 'pg_class') AS comment
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND c.relname > $2
ORDER BY c.relname
LIMIT $3
"""

COMPLETE_TABLES_SQL = """
SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND pg_catalog.starts_with(c.relname, $2)
ORDER BY c.relname
LIMIT 101
"""

RELATION_SQL = """
SELECT c.oid::int8 AS oid,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS kind,
  CASE WHEN c.reltuples >= 0 AND c.relkind IN ('r', 'm', 'f') THEN c.reltuples::int8 END AS row_estimate,
  pg_catalog.obj_description(c.oid, 'pg_class') AS comment,
  CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END AS definition
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

COLUMNS_SQL = """
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
  CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END AS "default",
  CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
  CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END AS generated,
  pg_catalog.col_description(a.attrelid, a.attnum) AS comment
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

CONSTRAINTS_SQL = """
SELECT k.conname AS name, k.contype::text AS type, pg_catalog.pg_get_constraintdef(k.oid, true) AS definition,
  ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(num, i)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num ORDER BY u.i) AS columns,
  fn.nspname AS ref_schema, fc.relname AS ref_table,
  ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(num, i)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num ORDER BY u.i) AS ref_columns,
  k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = k.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
ORDER BY k.contype, k.conname
"""

INDEXES_SQL = """
SELECT ic.relname AS name, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
  i.indisunique AS "unique", i.indisprimary AS "primary"
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
ORDER BY ic.relname
"""

_FK_ACTIONS = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
_CONSTRAINT_TYPES = {"c": "check", "u": "unique", "x": "exclusion", "n": "not null", "t": "trigger"}


def _text(value: str | None) -> str | None:
    return None if value is None else strip_invisible(value)


# --- Operations (shared by the tools, the resource template and completion). --------------------


async def list_schemas(ctx: ToolContext, database: str | None) -> SchemaList:
    db = ctx.databases.get(database)
    rows = await db.backend.call(lambda: db.fetch(SCHEMAS_SQL, deadline=ctx.deadline()))
    budget = Budget(ctx.settings.max_output_bytes - 1024)
    schemas: list[SchemaInfo] = []
    for row in rows:
        if not ctx.schemas.allows(row["name"]):
            continue
        info = SchemaInfo(name=strip_invisible(row["name"]), tables=row["tables"], comment=_text(row["comment"]))
        if not budget.admit(info.model_dump()):
            break
        schemas.append(info)
    note_target(f"{db.name}")
    return SchemaList(database=db.name, databases=ctx.databases.names, schemas=schemas, truncated=budget.truncated)


async def list_tables(
    ctx: ToolContext, database: str | None, schema: str, cursor: str | None = None, limit: int = 200
) -> TableList:
    db = ctx.databases.get(database)
    ctx.schemas.require(schema, "schema")
    rows = await db.backend.call(lambda: db.fetch(TABLES_SQL, schema, cursor or "", limit + 1, deadline=ctx.deadline()))
    budget = Budget(ctx.settings.max_output_bytes - 1024)
    tables: list[TableInfo] = []
    next_cursor = None
    for row in rows[:limit]:
        info = TableInfo(
            name=strip_invisible(row["name"]),
            kind=row["kind"],
            row_estimate=row["row_estimate"],
            readable=row["readable"],
            comment=_text(row["comment"]),
        )
        if not budget.admit(info.model_dump()):
            next_cursor = tables[-1].name if tables else None
            break
        tables.append(info)
    else:
        if len(rows) > limit:
            next_cursor = rows[limit - 1]["name"]
    note_target(f"{db.name}:{schema}")
    return TableList(
        database=db.name, schema_name=schema, tables=tables, next_cursor=next_cursor, truncated=next_cursor is not None
    )


async def complete_tables(ctx: ToolContext, database: str | None, schema: str, prefix: str) -> list[str]:
    db = ctx.databases.get(database)
    ctx.schemas.require(schema, "schema")
    rows = await db.backend.call(lambda: db.fetch(COMPLETE_TABLES_SQL, schema, prefix, deadline=ctx.deadline()))
    return [strip_invisible(row[0]) for row in rows]


async def describe_table(ctx: ToolContext, database: str | None, schema: str, table: str) -> TableDescription:
    db = ctx.databases.get(database)
    ctx.schemas.require(schema, "schema")

    async def read() -> list[list[Any]]:
        deadline = ctx.deadline()
        async with db.session(deadline) as conn:
            from warden_postgres import errors

            try:
                return [
                    list(await conn.fetch(sql, schema, table, timeout=deadline.remaining()))
                    for sql in (RELATION_SQL, COLUMNS_SQL, CONSTRAINTS_SQL, INDEXES_SQL)
                ]
            except BaseException as exc:
                raise errors.translate(exc, db.name) from None

    relation, columns, constraints, indexes = await db.backend.call(read)
    if not relation:
        raise NotFound(f"no table or view {schema}.{table} in database {db.name!r} (names are case-sensitive)")
    note_target(f"{db.name}:{schema}.{table}")
    head = relation[0]
    budget = Budget(ctx.settings.max_output_bytes - 2048)

    def admitted(items: list[Any]) -> list[Any]:
        kept = []
        for item in items:
            if not budget.admit(item.model_dump()):
                break
            kept.append(item)
        return kept

    column_infos = admitted(
        [
            ColumnInfo(
                name=strip_invisible(c["name"]),
                type=c["type"],
                nullable=c["nullable"],
                default=_text(c["default"]),
                identity=c["identity"],
                generated=_text(c["generated"]),
                comment=_text(c["comment"]),
            )
            for c in columns
        ]
    )
    primary_key = next((list(k["columns"]) for k in constraints if k["type"] == "p"), None)
    foreign_keys = admitted(
        [
            ForeignKey(
                name=strip_invisible(k["name"]),
                columns=list(k["columns"]),
                references=f"{k['ref_schema']}.{k['ref_table']}" if ctx.schemas.allows(k["ref_schema"]) else None,
                referenced_columns=list(k["ref_columns"]) if ctx.schemas.allows(k["ref_schema"]) else [],
                on_update=_FK_ACTIONS.get(k["on_update"], k["on_update"]),
                on_delete=_FK_ACTIONS.get(k["on_delete"], k["on_delete"]),
            )
            for k in constraints
            if k["type"] == "f"
        ]
    )
    index_infos = admitted(
        [
            IndexInfo(
                name=strip_invisible(i["name"]),
                definition=strip_invisible(i["definition"]),
                unique=i["unique"],
                primary=i["primary"],
            )
            for i in indexes
        ]
    )
    constraint_infos = admitted(
        [
            ConstraintInfo(
                name=strip_invisible(k["name"]),
                type=_CONSTRAINT_TYPES.get(k["type"], k["type"]),
                definition=strip_invisible(k["definition"]),
            )
            for k in constraints
            if k["type"] not in {"p", "f"}
        ]
    )
    definition = head["definition"]
    if definition is not None:
        definition = budget.take_text(strip_invisible(definition))
    return TableDescription(
        database=db.name,
        schema_name=schema,
        name=table,
        kind=head["kind"],
        row_estimate=head["row_estimate"],
        comment=_text(head["comment"]),
        columns=column_infos,
        primary_key=primary_key,
        foreign_keys=foreign_keys,
        indexes=index_infos,
        constraints=constraint_infos,
        view_definition=definition,
        truncated=budget.truncated,
    )


# --- Tools. ---------------------------------------------------------------------------------------

CursorArg = Annotated[str | None, Field(description="next_cursor from the previous page.", max_length=63)]
LimitArg = Annotated[int, Field(description="Most tables per page.", ge=1, le=1000)]


def specs(ctx: ToolContext) -> list[ToolSpec]:
    async def pg_list_schemas(database: DatabaseArg = None) -> SchemaList:
        return await list_schemas(ctx, database)

    async def pg_list_tables(
        schema: SchemaArg, database: DatabaseArg = None, cursor: CursorArg = None, limit: LimitArg = 200
    ) -> TableList:
        return await list_tables(ctx, database, schema, cursor, limit)

    async def pg_describe_table(schema: SchemaArg, table: TableArg, database: DatabaseArg = None) -> TableDescription:
        return await describe_table(ctx, database, schema, table)

    return [
        ToolSpec(
            name="pg_list_schemas",
            title="List schemas",
            description=(
                "List the schemas you may query, with table counts and comments, plus the names of all "
                "configured databases. Start here when exploring a database."
            ),
            group=GROUP,
            access=Access.READ,
            handler=pg_list_schemas,
            open_world=False,
        ),
        ToolSpec(
            name="pg_list_tables",
            title="List tables",
            description=(
                "List the tables, views and materialized views of one schema with estimated row counts, "
                "whether you may read them, and comments. Paginated: pass next_cursor back as cursor."
            ),
            group=GROUP,
            access=Access.READ,
            handler=pg_list_tables,
            open_world=False,
            resource_args={"schema": SCHEMAS},
        ),
        ToolSpec(
            name="pg_describe_table",
            title="Describe table",
            description=(
                "Describe one table or view: columns (type, nullability, default, comment), primary key, "
                "foreign keys, indexes, constraints and comment. Use it before writing a query."
            ),
            group=GROUP,
            access=Access.READ,
            handler=pg_describe_table,
            open_world=False,
            resource_args={"schema": SCHEMAS},
        ),
    ]
