"""Hypothesis fuzzing of the validator, meant to run in a child process: a segfault there fails a test, not pytest.

    python -m tests.postgres.fuzz_parser fuzz [--examples N]   # generated statements through validator.analyze
    python -m tests.postgres.fuzz_parser check SQL-FILE         # validator.analyze; prints its verdict
    python -m tests.postgres.fuzz_parser raw SQL-FILE           # pglast.parse_sql alone, unguarded (the control)

Statements stack the shapes that make parse trees deep (right-nested parentheses, subqueries, prefix operators,
ARRAY[...], CASE; left-growing chains of operators, casts, COLLATE, IS NULL, ->, UNION, JOIN), thousands of
levels each, mixed with huge literals and random text. Every statement must come back as an `Analysis` or as one
of Warden's errors, an accepted one must be at most MAX_DEPTH deep, and the later steps that parse or walk the
same text again (the measuring wrapper, the deparser of the streaming rewrite) must not crash on it either.
Exit status: 0 when every example held, 1 on a wrong answer; a crash shows as death by signal.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

Shape = Callable[[str, int], str]

RIGHT: dict[str, Shape] = {
    "parens": lambda inner, k: "(" * k + inner + ")" * k,
    "subquery": lambda inner, k: "(SELECT " * k + inner + ")" * k,
    "array": lambda inner, k: "ARRAY[" + "[" * k + inner + "]" * k + "]",
    "unary": lambda inner, k: "+-" * (k // 2) + "(" + inner + ")",
    "not": lambda inner, k: "NOT " * k + "(" + inner + ") IS NULL",
    "case": lambda inner, k: "CASE WHEN true THEN " * k + inner + " END" * k,
    "call": lambda inner, k: "abs(" * k + inner + ")" * k,
    "exists": lambda inner, k: "EXISTS (SELECT " * k + inner + ")" * k,
}
LEFT: dict[str, Shape] = {
    "plus": lambda inner, k: "(" + inner + ")" + "+1" * k,
    "concat": lambda inner, k: "(" + inner + ")" + "||'a'" * k,
    "cast": lambda inner, k: "(" + inner + ")" + "::int" * k,
    "collate": lambda inner, k: "(" + inner + ")" + ' COLLATE "C"' * k,
    "is_null": lambda inner, k: "(" + inner + ")" + " IS NULL" * k,
    "arrow": lambda inner, k: "(" + inner + ")" + "->'a'" * k,
    "at_zone": lambda inner, k: "(" + inner + ")" + " AT TIME ZONE 'UTC'" * k,
}
STATEMENTS: dict[str, Shape] = {
    "select": lambda expr, k: f"SELECT {expr}",
    "union": lambda expr, k: " UNION ALL ".join([f"SELECT {expr}"] + ["SELECT 1"] * k),
    "join": lambda expr, k: f"SELECT {expr} FROM t" + " JOIN t ON true" * k,
    "where": lambda expr, k: f"SELECT 1 FROM t WHERE {expr} AND x = 1" + " OR x = 1" * k,
    "explain": lambda expr, k: f"EXPLAIN SELECT {expr}",
    "values": lambda expr, k: "VALUES " + ", ".join([f"({expr})"] * max(1, k // 1000)),
}

leaves = st.one_of(
    st.sampled_from(["1", "x", "t.x", "'a'", "NULL", "true", "$1", "now()"]),
    st.integers(1, 600_000).map(lambda n: "'" + "x" * n + "'"),  # a huge literal
    st.text(max_size=40).map(lambda s: "'" + s.replace("'", "''").replace("\x00", "") + "'"),
)
depths = st.integers(1, 12_000)
layers = st.lists(st.tuples(st.sampled_from(sorted(RIGHT | LEFT)), depths), min_size=1, max_size=4)
statements = st.one_of(
    st.tuples(leaves, layers, st.sampled_from(sorted(STATEMENTS)), st.integers(0, 9_000)).map(
        lambda parts: build(*parts)
    ),
    st.text(max_size=2_000),  # anything at all
)


def build(leaf: str, stack: list[tuple[str, int]], statement: str, count: int) -> str:
    expr = leaf
    for shape, k in stack:
        expr = (RIGHT | LEFT)[shape](expr, k)
    return STATEMENTS[statement](expr, count)


WORST_KNOWN = [
    "SELECT " + "+".join(["1"] * 25_000),  # the statement that crashed the server
    "SELECT " + "+-" * 5_000 + "1",
    "SELECT " + "(SELECT " * 3_300 + "1" + ")" * 3_300,
    " UNION ".join(["SELECT 1"] * 8_000),
    "SELECT 1 FROM t" + " JOIN t ON true" * 12_000,
    "SELECT " + "(" * 5_000 + "+".join(["1"] * 20_000) + ")" * 5_000,
]


def check(sql: str) -> None:
    from warden_core import WardenError
    from warden_postgres import parse_guard, validator
    from warden_postgres.client import Column, measuring_wrapper

    try:
        analysis = validator.analyze(sql)
    except WardenError:
        return
    assert parse_guard.depth(analysis.tree) <= parse_guard.MAX_DEPTH, "an accepted tree is deeper than MAX_DEPTH"
    if analysis.kind == "select":
        with contextlib.suppress(WardenError):
            measuring_wrapper(analysis, [Column("c", "text")], 100)
    from pglast.stream import RawStream

    with contextlib.suppress(RecursionError):
        RawStream()(analysis.tree)  # what the streaming rewrite does with an accepted tree


def fuzz(examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(statements)
    def run(sql: str) -> None:
        sys.stderr.write(f"statement of {len(sql)} characters: {sql[:60]!r}...\n")
        check(sql)

    for sql in WORST_KNOWN:
        run = example(sql)(run)
    run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fuzz", "check", "raw"])
    parser.add_argument("sql_file", nargs="?")
    parser.add_argument("--examples", type=int, default=100)
    args = parser.parse_args()
    if args.mode == "raw":
        from pglast import parse_sql

        parse_sql(Path(args.sql_file).read_text())
        return
    if args.mode == "check":
        from warden_core import WardenError
        from warden_postgres import validator

        try:
            print(validator.analyze(Path(args.sql_file).read_text()).kind)  # noqa: T201  # the child's answer
        except WardenError as exc:
            print(f"{type(exc).__name__}: {exc.message}")  # noqa: T201
        return
    fuzz(args.examples)


if __name__ == "__main__":
    main()
