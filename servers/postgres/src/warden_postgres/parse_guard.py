"""Parsing that no statement text can crash: a stack sized from the text, then a bound on the tree's depth.

pglast builds its Python tree with a recursive C function, one C frame per tree level, so a deep enough
statement overflows the C stack and kills the process; Python's recursion limit never sees it.
`SELECT 1+1+...+1` with 25,000 terms (50 KB) needs about 8.4 MiB and segfaults a thread with 8 MiB.

How deep a tree can get is bounded by its text, in two ways (measured with pglast 8.8 / libpg_query 17):
- nesting that opens to the right (parentheses, subqueries, prefix operators, NOT, ARRAY[[...]], CASE in CASE)
  keeps its pending levels on the grammar's own stack, which the parser caps at 10,000 entries: deeper text
  is a syntax error ("memory exhausted"), never a deep tree;
- chains that grow to the left (a + b + c, UNION, JOIN, ::casts, COLLATE, IS NULL, AT TIME ZONE, ->) are not
  capped by the parser, but every level costs at least two bytes of text.
Over all these shapes the tree builder needed at most 356 bytes of stack per byte of SQL (`+-+-...1`: one
byte, one level). So `parse` gives the parser a thread of its own with STACK_PER_BYTE (three times that) for
every byte of text, whatever stack the caller has; a statement whose worst case fits in INLINE_STACK (a
text of up to 1 KiB) is parsed on the caller's thread: CPython's threads on Linux have 8 MiB.

The finished tree is then measured without recursion, and a statement deeper than MAX_DEPTH is refused.
PostgreSQL itself gives up a few thousand levels down (max_stack_depth), and everything that later parses
the same text again (the measuring wrapper, the streaming rewrite) inherits a small, known depth: MAX_DEPTH
levels need well under 2 MiB of stack on any thread. The same walk counts common table expressions: the
validator scopes each CTE name with a set of the names before it, which costs the square of their number
(5,000 CTEs in 104 KB took 575 MiB and 12 s), so more than MAX_CTES are refused too.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from warden_core import PolicyDenied

T = TypeVar("T")

MAX_DEPTH = 1000
"""Deepest parse tree checked, in nested nodes. Real queries stay far below 100."""

MAX_CTES = 500
"""Most common table expressions in one statement (500 cost the validator about 6 MiB)."""

MAX_SQL_BYTES = 1024 * 1024
"""Longest text parsed (UTF-8 bytes). Tool input is at most 100,000 characters; the measuring wrapper adds
its own text around it."""

STACK_PER_BYTE = 1024
"""C stack the tree builder may need per byte of text: three times the worst measured (356 bytes)."""

INLINE_STACK = 1024 * 1024
"""A statement whose worst case needs no more stack than this is parsed on the caller's thread (a new thread
costs about 0.25 ms, more than parsing a short statement)."""

OFF_LOOP_CHARS = 4096
"""Checks of longer text run in a worker thread (`off_the_loop`): parsing costs about a millisecond per one or
two thousand characters, and a 100,000-character statement would stall every other call for a second or more."""

_THREAD_STACK_FLOOR = 16 * 1024 * 1024
"""Smallest stack given to a parser thread. `threading.stack_size` is process-wide, so a thread that another
task starts at the same moment gets this size too: it must never be less than the platform's default."""

_STACK_SETTING = threading.Lock()


class TooComplex(PolicyDenied):
    """The statement is too large or too deep to check safely. Nothing was executed."""

    def __init__(self, message: str) -> None:
        super().__init__(f"refused: {message}")


async def off_the_loop(chars: int, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`check(*args, **kwargs)`, in a worker thread when the text it parses (about `chars` characters) is long."""
    if chars <= OFF_LOOP_CHARS:
        return check(*args, **kwargs)
    return await anyio.to_thread.run_sync(functools.partial(check, *args, **kwargs))


def parse(sql: str) -> tuple[Any, ...]:
    """`pglast.parse_sql(sql)`, bounded. Raises `TooComplex`, or pglast's `ParseError` for bad syntax."""
    from pglast import parse_sql

    size = len(sql.encode())
    if size > MAX_SQL_BYTES:
        raise TooComplex(f"the statement is {size:,} bytes; at most {MAX_SQL_BYTES:,} can be checked")
    needed = size * STACK_PER_BYTE
    statements: tuple[Any, ...] = parse_sql(sql) if needed <= INLINE_STACK else _on_own_stack(parse_sql, sql, needed)
    deepest, ctes = measure(statements, stop_after=MAX_DEPTH)
    if deepest > MAX_DEPTH:
        raise TooComplex(
            f"the statement is nested too deeply or chains too many operators to check "
            f"(more than {MAX_DEPTH:,} levels); simplify it"
        )
    if ctes > MAX_CTES:
        raise TooComplex(f"the statement has {ctes:,} common table expressions; at most {MAX_CTES:,} can be checked")
    return statements


def depth(tree: Any) -> int:
    """How many nodes deep `tree` goes (lists do not count)."""
    return measure(tree)[0]


def measure(tree: Any, *, stop_after: int | None = None) -> tuple[int, int]:
    """How many nodes deep `tree` goes (lists do not count), and how many CTEs it has; walked without recursion.

    Stops once deeper than `stop_after`: the depth is then some number greater than it.
    """
    from pglast import ast

    deepest = ctes = 0
    stack: list[tuple[Any, int]] = [(tree, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend((item, level) for item in node)
        elif isinstance(node, ast.Node):
            level += 1
            if isinstance(node, ast.CommonTableExpr):
                ctes += 1
            if level > deepest:
                deepest = level
                if stop_after is not None and deepest > stop_after:
                    break
            for attr in type(node).__slots__:  # type: ignore[attr-defined]  # pglast's stubs omit it
                value = getattr(node, attr, None)
                if isinstance(value, ast.Node | list | tuple):
                    stack.append((value, level))
    return deepest, ctes


def _on_own_stack(parse_sql: Any, sql: str, needed: int) -> tuple[Any, ...]:
    """Run the parser on a new thread with at least `needed` bytes of stack, and wait for it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["statements"] = parse_sql(sql)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    size = max(_THREAD_STACK_FLOOR, needed + 1024 * 1024)  # a MiB more for the thread's own Python frames
    size += -size % (64 * 1024)  # some platforms want a multiple of the page size
    thread = threading.Thread(target=run, name="warden-postgres-parse", daemon=True)
    with _STACK_SETTING:
        previous = threading.stack_size(size)
        try:
            thread.start()
        except RuntimeError:  # no memory for the stack: refuse rather than risk the process
            raise TooComplex("the statement is too large to check on this server right now; simplify it") from None
        finally:
            threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["statements"]  # type: ignore[no-any-return]
