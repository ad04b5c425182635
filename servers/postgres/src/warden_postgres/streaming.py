"""Layer 5 helper: let set-returning functions in FROM stream instead of materializing.

PostgreSQL runs a set-returning function in FROM (`SELECT * FROM generate_series(1, 1e8)`) to the
end and stores every row in a tuplestore before the first row comes out, so a row cap alone
cannot stop it early: 10^8 rows cost ~10 s of server time and gigabytes of temporary files. The
same function in a select list streams (ProjectSet), so

    FROM f(args) [AS a[(c)]]   becomes   FROM LATERAL (SELECT f(args) AS c) AS a

which PostgreSQL defines to return the same rows under the same names when `f` returns a scalar
type (base, domain, enum, range): the column is named after the column alias, else the table
alias, else the function. Only such functions qualify (the plan check says which function each
FROM item of that name resolved to, and every one must qualify), and only without ORDINALITY,
ROWS FROM or a column definition list.

The rewritten tree is deparsed and parsed back; unless the round trip yields exactly the intended
tree, and the new text references exactly the same functions, operators, types and relations,
the original text runs unchanged. Nothing about the security decision depends on this step: the
rewritten text goes through the plan check like any other before it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warden_postgres import validator
from warden_postgres.validator import Analysis, Name


def _candidates(tree: Any) -> list[Any]:
    """RangeFunction nodes of the simple form `f(args) [AS a[(c)]]`, anywhere in the tree."""
    from pglast import ast

    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple):
            for item in node:
                walk(item)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.RangeFunction) and _simple(node):
            found.append(node)
        for attr in type(node).__slots__:
            if attr != "location":
                walk(getattr(node, attr, None))

    walk(tree)
    return found


def _simple(node: Any) -> bool:
    from pglast import ast

    if node.ordinality or node.is_rowsfrom or len(node.functions or ()) != 1:
        return False
    call, coldefs = node.functions[0]
    if coldefs or not isinstance(call, ast.FuncCall):
        return False
    if call.agg_order or call.agg_filter or call.over or call.agg_star or call.agg_distinct:
        return False
    colnames = node.alias.colnames if node.alias is not None else None
    return not colnames or len(colnames) == 1


def _function_name(call: Any) -> Name:
    parts = tuple(part.sval for part in call.funcname)
    return Name(parts[0], parts[1]) if len(parts) == 2 else Name(None, parts[-1])


def rewrite(analysis: Analysis, streams: Callable[[Name], bool]) -> Analysis:
    """`analysis`, or a streaming equivalent of it. Never raises for a statement that cannot be rewritten.

    `streams(name)`: whether the statement's FROM items calling `name` all resolved to set-returning
    functions of a scalar type (the plan check knows, from PostgreSQL's own tree).
    """
    try:
        return _rewrite(analysis, streams)
    except RecursionError:  # too deep to rewrite safely: run it as written
        return analysis


def _rewrite(analysis: Analysis, streams: Callable[[Name], bool]) -> Analysis:
    from pglast import ast, parse_sql
    from pglast.stream import RawStream

    if analysis.kind != "select" or not analysis.functions:
        return analysis  # no function call anywhere, so none in FROM: spare the parse
    tree: Any = parse_sql(analysis.sql)[0].stmt  # a private copy to rewrite
    candidates = _candidates(tree)
    if not candidates:
        return analysis
    eligible = {id(node) for node in candidates if streams(_function_name(node.functions[0][0]))}
    if not eligible:
        return analysis

    def replace(node: Any) -> Any:
        if isinstance(node, list | tuple):
            return type(node)(replace(item) for item in node)
        if not isinstance(node, ast.Node):
            return node
        if id(node) in eligible:
            function: Any = node
            call = function.functions[0][0]
            alias = function.alias.aliasname if function.alias is not None else call.funcname[-1].sval
            colnames = function.alias.colnames if function.alias is not None else None
            column = colnames[0].sval if colnames else alias
            # Built from parsed templates, so the nodes have exactly the parser's shape.
            template: Any = parse_sql("SELECT * FROM LATERAL (SELECT NULL AS c) AS a")[0].stmt
            item = template.fromClause[0]
            target = item.subquery.targetList[0]
            target.name, target.val = column, call
            item.alias.aliasname = alias
            return item
        for attr in getattr(type(node), "__slots__", ()):
            if attr != "location":
                value = getattr(node, attr, None)
                if value is not None:
                    setattr(node, attr, replace(value))
        return node

    try:
        rewritten = replace(tree)
        sql = RawStream()(rewritten)
        parsed = parse_sql(sql)
        if len(parsed) != 1 or not validator.same_statement(parsed[0].stmt, rewritten):
            return analysis
        streaming = validator.analyze(sql)
    except Exception:  # a deparser limitation: run the statement as written
        return analysis
    same_references = (
        streaming.functions == analysis.functions
        and streaming.operators == analysis.operators
        and streaming.types == analysis.types
        and streaming.relations == analysis.relations
    )
    return streaming if same_references else analysis
