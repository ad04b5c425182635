"""Layer 6: what the database role itself could do, checked when a database is first used.

The first line of defence is the credential: a dedicated role that can only SELECT. This module
asks the database what the configured role can really do and names every problem: superuser (also
through membership of a superuser role) or other role attributes, membership of the file, program
and signal roles, ownership of objects (directly or through role membership), CREATE on the database
or a schema, write privileges on any table or sequence, and EXECUTE on dblink or server-side file
functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

RISKY_ROLES = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_write_all_data",
    "pg_read_all_data",
    "pg_checkpoint",
    "pg_maintain",
    "pg_create_subscription",
)

RISKY_FUNCTIONS = ("lo_import", "lo_export", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file")

ROLE_SQL = """
WITH user_schemas AS (
  SELECT n.oid, n.nspname, n.nspowner FROM pg_catalog.pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
), user_relations AS (
  SELECT c.oid, c.relkind, c.relowner, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_catalog.pg_class c JOIN user_schemas n ON n.oid = c.relnamespace
)
SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
  ARRAY(SELECT g.rolname FROM pg_catalog.pg_roles g
        WHERE g.rolsuper AND g.oid <> r.oid AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')
        ORDER BY 1 LIMIT 10) AS superuser_roles,
  (SELECT pg_catalog.pg_has_role(r.oid, d.datdba, 'USAGE') FROM pg_catalog.pg_database d
     WHERE d.datname = pg_catalog.current_database()) AS owns_database,
  pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'CREATE') AS create_database,
  ARRAY(SELECT g.rolname FROM pg_catalog.pg_roles g
        WHERE g.rolname = ANY($1::text[]) AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')
        ORDER BY 1) AS risky_roles,
  ARRAY(SELECT n.nspname FROM user_schemas n
        WHERE pg_catalog.pg_has_role(r.oid, n.nspowner, 'USAGE')
           OR pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')
        ORDER BY 1 LIMIT 10) AS create_schemas,
  ARRAY(SELECT u.name FROM user_relations u
        WHERE u.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND pg_catalog.pg_has_role(r.oid, u.relowner, 'USAGE')
        ORDER BY 1 LIMIT 10) AS owned_relations,
  ARRAY(SELECT u.name FROM user_relations u
        WHERE CASE WHEN u.relkind IN ('r', 'p', 'v', 'm', 'f')
                   THEN pg_catalog.has_table_privilege(r.oid, u.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER') END
        ORDER BY 1 LIMIT 10) AS writable_tables,
  ARRAY(SELECT u.name FROM user_relations u
        WHERE CASE WHEN u.relkind = 'S' THEN pg_catalog.has_sequence_privilege(r.oid, u.oid, 'UPDATE') END
        ORDER BY 1 LIMIT 10) AS writable_sequences,
  ARRAY(SELECT DISTINCT p.proname FROM pg_catalog.pg_proc p
        WHERE (p.proname LIKE 'dblink%' OR p.proname = ANY($2::text[]))
          AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')
        ORDER BY 1) AS risky_functions
FROM pg_catalog.pg_roles r WHERE r.rolname = current_user
"""


@dataclass(frozen=True)
class RoleReport:
    """What is wrong with the role, in words an operator can act on. Empty problems: least privilege."""

    role: str
    problems: tuple[str, ...] = field(default_factory=tuple)
    superuser: str = ""
    """How the role is, or can become, a superuser ("" when it cannot): refused unless the operator insists."""

    @property
    def ok(self) -> bool:
        return not self.problems


async def inspect(conn: asyncpg.Connection, *, seconds: float) -> RoleReport:
    """Ask the database what the connected role can do. Runs only catalog reads."""
    row = await conn.fetchrow(ROLE_SQL, list(RISKY_ROLES), list(RISKY_FUNCTIONS), timeout=seconds)
    if row is None:  # pragma: no cover - current_user always has a pg_roles row
        return RoleReport(role="?", problems=("the connected role is not in pg_roles",))
    problems: list[str] = []
    attributes = [
        ("rolsuper", "is a superuser"),
        ("rolcreaterole", "can create roles (CREATEROLE)"),
        ("rolcreatedb", "can create databases (CREATEDB)"),
        ("rolreplication", "has REPLICATION"),
        ("rolbypassrls", "bypasses row-level security (BYPASSRLS)"),
        ("owns_database", "owns the database"),
        ("create_database", "has CREATE on the database"),
    ]
    problems += [text for column, text in attributes if row[column]]
    superuser = "is a superuser" if row["rolsuper"] else ""
    if row["superuser_roles"]:
        membership = f"can become a superuser as a member of {', '.join(row['superuser_roles'])}"
        problems.append(membership)
        superuser = superuser or membership
    listed = [
        ("risky_roles", "is a member of"),
        ("create_schemas", "owns or can CREATE in schemas"),
        ("owned_relations", "owns (directly or through membership)"),
        ("writable_tables", "can write to"),
        ("writable_sequences", "can advance or set sequences"),
        ("risky_functions", "can EXECUTE"),
    ]
    for column, text in listed:
        if row[column]:
            problems.append(f"{text} {', '.join(row[column])}")
    return RoleReport(role=row["rolname"], problems=tuple(problems), superuser=superuser)
