"""How warden-postgres is traced: asyncpg's maintained instrumentation, each statement reduced to its shape.

The instrumentation records every statement the driver sends (`db.statement`, or `db.query.text`
with the newer conventions). A span carries its shape only: PostgreSQL's own normalization (the
one pg_stat_statements uses, through libpg_query) replaces every literal with `$n`, and comments,
which may hold anything, are dropped. Tool SQL, the server's catalog queries and the session start
(whose `application_name` names the caller) all go out this way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from warden_core.tracing import Instrumentation

_COMMENTS = frozenset({"C_COMMENT", "SQL_COMMENT"})
_SPACE = re.compile(r"\s+")
_CACHED_UP_TO = 4096  # the cursor of one call fetches many chunks of the same statement: shape it once


def statement_shape(sql: str) -> str:
    """`sql` with literals as `$n`, no comments, whitespace collapsed; its first keyword if it does not parse."""
    if len(sql) <= _CACHED_UP_TO:
        return _cached_shape(sql)
    return _shape(sql)


@functools.lru_cache(maxsize=256)
def _cached_shape(sql: str) -> str:
    return _shape(sql)


def _shape(sql: str) -> str:
    from pglast import parser

    try:
        normalized = parser.normalize(sql)
        tokens = parser.scan(normalized)
    except parser.ParseError:
        words = [sql[t.start : t.end + 1] for t in _scan(sql) if t.kind != "NO_KEYWORD"]
        return f"{words[0].upper()} …" if words else "…"
    kept, start = [], 0
    for token in tokens:  # offsets count characters, ends included
        if token.name in _COMMENTS:
            kept.append(normalized[start : token.start])
            start = token.end + 1
    kept.append(normalized[start:])
    return _SPACE.sub(" ", "".join(kept)).strip()


def _scan(sql: str) -> list[Any]:
    from pglast import parser

    try:
        return list(parser.scan(sql))
    except parser.ParseError:
        return []


def span_name(name: str, attributes: Mapping[str, Any]) -> str:
    """The instrumentation names a span after the statement's first word, which may be anything: use its keyword.

    The statement attribute is already a shape when this runs; the keyword is read from it the way the
    server's lexer reads it (comments skipped), and only a keyword is used.
    """
    statement = attributes.get("db.statement") or attributes.get("db.query.text")
    if not isinstance(statement, str):
        return name
    tokens = [t for t in _scan(statement) if t.name not in _COMMENTS]
    first = tokens[0] if tokens else None
    keyword = statement[first.start : first.end + 1] if first is not None and first.kind != "NO_KEYWORD" else "…"
    return ("CURSOR: " if name.startswith("CURSOR: ") else "") + keyword


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    return [AsyncPGInstrumentor()]  # bound parameters are never captured (capture_parameters stays off)


TRACING = Instrumentation(
    instrumentors=_instrumentors,
    clean={"db.statement": statement_shape, "db.query.text": statement_shape},
    span_name=span_name,
)
