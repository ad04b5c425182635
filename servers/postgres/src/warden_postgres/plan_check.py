"""Layer 1, second half: decide on what PostgreSQL will run, from the query tree PostgreSQL analyzed itself.

Names in SQL text do not say what runs. `x IN (SELECT ...)`, `CASE x WHEN ...`, `BETWEEN` and an argument's
implicit cast each call a function that PostgreSQL's resolution rules choose, a view runs its own query, and a
partitioned table reads partitions that may live in other schemas. So the server asks PostgreSQL.

How: a checked session starts (in its one start message, see `start_sql`) by setting, transaction-locally,
`debug_print_rewritten = on`, `debug_pretty_print = off` and `client_min_messages = log`, which any role may
set. From then on the Parse step of the extended protocol (`prepare`, which the statement needs anyway) sends
the analyzed and rewritten query tree as a LOG notice before ParseComplete: nothing is planned or executed by
then. The tree names every function (`:funcid`, `:aggfnoid`, `:winfnoid`), every operator (`:opno`, with its
function looked up), every relation (`:relid`) including what views expand to and row-level-security quals,
and the columns read from each (`:selectedCols`). `PlanCheck.prepare` reads it and checks, before any Bind:

- functions: a built-in function (oid below 16384) as `reviewed.py` says; any other function only if
  WARDEN_POSTGRES_ALLOWED_FUNCTIONS lists it; never one of `validator.ALWAYS_REFUSED`. This covers functions
  called directly, behind operators (and their negators and commutators, which the planner may substitute),
  in the support functions and sort operator of a non-built-in aggregate, and in its default arguments;
- relations read, also inside views and as partitions or inheritance children (the planner expands those):
  in an allowlisted schema or pg_catalog/information_schema, not a catalog holding secrets, no secret column;
- PostgreSQL's own views (oid below 16384) are trusted to show only what they should: their bodies are not
  checked, only which of their columns the statement reads (pg_roles reads pg_authid, but masks passwords).

What runs before the check: while it parses, PostgreSQL converts literals with their type's input function.
Built-in and C input functions only convert; the one piece of user code they can reach is a domain's CHECK
constraint (an array, composite or range literal converts each element through domain_in), and the planner
can also call a range type's subtype_diff function. The checked session start therefore counts such "type
hooks" that call anything but a non-volatile built-in (outside ALWAYS_REFUSED and the transaction-id
assigners) or a listed function without defaults, and a database that has one is not served (`refuse_hooks`
names them), since no check of the statement can come before its Parse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warden_core import Allowlist
from warden_postgres import validator
from warden_postgres.reviewed import ALL_SCHEMAS, REFUSE, SETTING
from warden_postgres.validator import (
    DENIED_RELATIONS,
    OTHER_SCHEMA_COLUMNS,
    SECRET_COLUMNS,
    Analysis,
    Name,
    Rejected,
    Rules,
)

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.prepared_stmt import PreparedStatement

FIRST_NORMAL_OID = 16384
"""PostgreSQL's FirstNormalObjectId: every object with a smaller oid was created by initdb."""

FIRST_LOW_INVALID_ATTNO = -7
"""FirstLowInvalidHeapAttributeNumber (PostgreSQL 12+): `:selectedCols` bit n is column n + this."""

TREE_MESSAGE = "rewritten parse tree:"
TREE_SETTINGS = {"debug_print_rewritten": "on", "debug_pretty_print": "off", "client_min_messages": "log"}

MAX_TREE_CHARS = 16 * 1024 * 1024
"""A bigger tree is refused rather than parsed. validator.MAX_NODES and MAX_RELATION_REFERENCES keep legit
statements well below it (their trees run from 1 kB to a few MB)."""

OFF_LOOP_CHARS = 256 * 1024
"""A tree larger than this is read in a worker thread, so a big statement does not stall other calls."""

LINE = 78
"""format_node_dump's line length: every line of the notice holds at most this many bytes."""

XID_ASSIGNERS = ("txid_current", "pg_current_xact_id")
"""Stable built-ins that write (they assign a transaction id): not acceptable in a type hook either."""

_FUNCTION_FIELDS = frozenset(
    {"funcid", "opfuncid", "hashfuncid", "negfuncid", "aggfnoid", "winfnoid", "startInRangeFunc", "endInRangeFunc"}
)
_OPERATOR_FIELDS = frozenset({"opno", "eqop", "sortop"})
_UTILITIES = frozenset({"EXPLAINSTMT", "VARIABLESHOWSTMT"})
_RTE_RELATION, _RTE_SUBQUERY = 0, 1
_CMD_SELECT = 1  # CmdType: a utility statement's number moved when MERGE came in, so it is told by utilityStmt


class Unverifiable(Rejected):
    """The tree could not be read with certainty: refused, never guessed."""

    def __init__(self, why: str) -> None:
        super().__init__(f"the statement could not be checked ({why})")


# --- The tree: PostgreSQL's nodeToString format. --------------------------------------------------------


def unwrap(detail: str) -> str:
    """The node dump inside a notice, with format_node_dump's line breaks undone exactly.

    format_node_dump cuts the dump into lines of at most 78 bytes. A break replaces one space, except when a
    line holds no space after its first byte: then the dump was cut inside a token and nothing was dropped.
    A line that is all one token and 78 bytes long cannot be told apart from a break at a following space,
    so such a dump is refused (only a quoted identifier of 70-odd escaped characters makes one).
    """
    lines = detail.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines[:-1]:
        if " " in line[1:]:
            continue  # a space was dropped after this line: the cut fell on it, or backed up to one
        if not line.isascii() or len(line) >= LINE:
            raise Unverifiable("a name in it is too long to read back")
    return " ".join(lines)


_TOKEN = re.compile(r"[(){}]|(?:[^ \n\t(){}\\]|\\[\s\S])[^ \n\t(){}\\]*(?:\\[\s\S][^ \n\t(){}\\]*)*")


def tokens(dump: str) -> list[str]:
    """pg_strtok's tokens: `(`, `)`, `{`, `}`, or a run of other characters in which `\\x` escapes x.

    Only spaces, newlines and tabs separate tokens; any other character the pattern leaves out is refused.
    """
    if _TOKEN.sub("", dump).strip(" \n\t"):
        raise Unverifiable("unexpected text in the query tree")
    return _TOKEN.findall(dump)


class Node:
    """`{KIND :field value ...}`."""

    __slots__ = ("fields", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fields: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        return self.fields.get(name)

    def number(self, name: str) -> int:
        value: Any = self.fields.get(name)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise Unverifiable(f"{self.kind} has no integer {name}") from None


@dataclass(frozen=True)
class Numbers:
    """`(i 1 2)`, `(o 16 23)`, `(x ...)` or a bitmapset `(b 8 9)`."""

    tag: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Datum:
    """`:constvalue 4 [ 1 0 0 0 0 0 0 0 ]`: the length and bytes of a constant (outDatum prints them signed)."""

    length: int
    data: bytes


def parse_tree(dump: str) -> Any:
    """Parse a node dump into Nodes, lists, Numbers, Datums, tokens (str) and None (`<>`).

    Iterative, so a deeply nested expression cannot exhaust Python's recursion. Every field takes exactly
    one item, so a name that looks like a field (`SELECT 1 AS ":funcid"` prints `:resname :funcid`) is read
    as the value it is; any deviation from the grammar is refused.
    """
    words = tokens(dump)
    count = len(words)
    stack: list[Any] = []  # the open Nodes and lists
    reading: list[str | None] = []  # for each open Node, the field whose value comes next
    root: list[Any] = []
    i = 0
    while i < count:
        word = words[i]
        i += 1
        if word == "{":
            if i >= count:
                raise Unverifiable("an incomplete query tree")
            stack.append(Node(words[i]))
            reading.append(None)
            i += 1
            continue
        if word == "(":
            stack.append([])
            reading.append(None)
            continue
        top = stack[-1] if stack else None
        if word == "}":
            if type(top) is not Node or reading[-1] is not None:
                raise Unverifiable("an unbalanced node")
            value: Any = stack.pop()
            reading.pop()
        elif word == ")":
            if type(top) is not list:
                raise Unverifiable("an unbalanced list")
            value = _numbers(stack.pop())
            reading.pop()
        elif type(top) is Node and reading[-1] is None:
            if word[0] != ":":
                raise Unverifiable(f"{word[:20]!r} where a field of {top.kind} belongs")
            if word == ":constvalue":
                top.fields["constvalue"], i = _datum(words, i)
            else:
                reading[-1] = word[1:]
            continue
        else:
            value = None if word == "<>" else word
        _place(value, stack, reading, root)
    if stack or len(root) != 1:
        raise Unverifiable("an incomplete query tree")
    return root[0]


def _place(value: Any, stack: list[Any], reading: list[str | None], root: list[Any]) -> None:
    """A complete value goes into the container below it: a list, or the field its Node is reading."""
    if not stack:
        root.append(value)
    elif type(stack[-1]) is list:
        stack[-1].append(value)
    else:
        field = reading[-1]
        if field is None:
            raise Unverifiable(f"a value without a field in {stack[-1].kind}")
        stack[-1].fields[field] = value
        reading[-1] = None


async def _read(detail: str) -> Reach:
    """The notice's tree, read and walked; in a worker thread when it is large (reading takes ~1 s per 4 MB)."""
    if len(detail) <= OFF_LOOP_CHARS:
        return walk(parse_tree(unwrap(detail)))
    import anyio.to_thread

    return await anyio.to_thread.run_sync(lambda: walk(parse_tree(unwrap(detail))))


def _numbers(items: list[Any]) -> Any:
    if items and all(type(v) is str for v in items) and items[0] in {"i", "o", "x", "b"}:
        try:
            return Numbers(items[0], tuple(int(v) for v in items[1:]))
        except ValueError:
            raise Unverifiable("a malformed number list") from None
    return items


def _datum(words: list[str], i: int) -> tuple[Datum | None, int]:
    """The constant starting at words[i] (`<>`, or `length [ bytes ]`), and the index after it."""
    if i < len(words) and words[i] == "<>":
        return None, i + 1
    try:
        end = words.index("]", i)
        length, opening, data = int(words[i]), words[i + 1], bytes(int(b) & 0xFF for b in words[i + 2 : end])
    except (ValueError, IndexError):
        raise Unverifiable("a malformed constant") from None
    if opening != "[":
        raise Unverifiable("a malformed constant")
    return Datum(length, data), end + 1  # a by-value constant prints all 8 bytes of its Datum


def text_constant(node: Any) -> str | None:
    """The value of a non-null text Const, or None. Reads a little-endian varlena (4-byte or 1-byte header)."""
    if not isinstance(node, Node) or node.kind != "CONST" or node.get("consttype") != "25":
        return None
    datum = node.get("constvalue")
    if not isinstance(datum, Datum) or not datum.data:
        return None
    data = datum.data
    if len(data) >= 4 and data[0] & 0x03 == 0 and int.from_bytes(data[:4], "little") >> 2 == len(data):
        payload = data[4:]
    elif data[0] & 0x01 and data[0] >> 1 == len(data):
        payload = data[1:]
    else:
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- What the tree reads and runs. ---------------------------------------------------------------------


@dataclass(frozen=True)
class RelationUse:
    relid: int
    relkind: str
    inherits: bool  # `:inh`: the planner also reads partitions and inheritance children
    views: tuple[int, ...]  # the views this occurrence is inside, outermost first


@dataclass(frozen=True)
class ColumnUse:
    relid: int
    attnums: frozenset[int]  # 0: the whole row
    views: tuple[int, ...]


@dataclass
class Reach:
    """Everything a tree runs and reads, except inside PostgreSQL's own views (which are trusted)."""

    functions: set[int] = field(default_factory=set)
    operators: set[int] = field(default_factory=set)
    calls: list[Node] = field(default_factory=list)  # FUNCEXPR nodes, for argument conditions
    relations: list[RelationUse] = field(default_factory=list)
    columns: list[ColumnUse] = field(default_factory=list)
    from_functions: set[int] = field(default_factory=set)  # functions in the statement's own FROM items


def _trusted(views: tuple[int, ...]) -> bool:
    return any(view < FIRST_NORMAL_OID for view in views)


def _attnums(value: Any) -> frozenset[int]:
    if not isinstance(value, Numbers) or value.tag != "b":
        return frozenset()
    return frozenset(bit + FIRST_LOW_INVALID_ATTNO for bit in value.values)


def walk(tree: Any) -> Reach:
    """Collect what the tree runs and reads; refuse anything but a read (defence in depth for layer 1a)."""
    reach = Reach()
    statements = tree if isinstance(tree, list) else [tree]
    if len(statements) != 1 or not isinstance(statements[0], Node) or statements[0].kind != "QUERY":
        raise Unverifiable("not one query")
    top = statements[0]
    utility = top.get("utilityStmt")
    # PostgreSQL 15 prints a utility statement as `?`; layer 1a has already made sure it is EXPLAIN or SHOW, and
    # EXPLAIN's query has its own Parse, checked before (client.Database._check).
    if utility not in {None, "?"} and not (isinstance(utility, Node) and utility.kind in _UTILITIES):
        raise Rejected("only SELECT, VALUES, EXPLAIN and SHOW are allowed")
    stack: list[tuple[Any, tuple[int, ...]]] = [(top, ())]
    while stack:
        value, views = stack.pop()
        if isinstance(value, list):
            stack.extend((item, views) for item in value)
        elif isinstance(value, Node):
            _visit(value, views, reach, stack)
    return reach


def _visit(node: Node, views: tuple[int, ...], reach: Reach, stack: list[tuple[Any, tuple[int, ...]]]) -> None:
    kind = node.kind
    trusted = _trusted(views)
    skip: set[str] = set()
    if kind == "QUERY":
        command = node.number("commandType")
        if (command != _CMD_SELECT and node.get("utilityStmt") is None) or node.get("hasModifyingCTE") == "true":
            raise Rejected("data-modifying statements are not allowed")
        if node.get("hasForUpdate") == "true" or node.get("rowMarks"):
            raise Rejected("FOR UPDATE / FOR SHARE take row locks")
        view = _view_body_of(node)  # PostgreSQL 15 and older: the body carries OLD/NEW entries of its view
        if view is not None:
            relid, permissions = view
            if not trusted:
                reach.relations.append(RelationUse(relid, "v", False, views))
                if permissions is not None:
                    reach.columns.append(ColumnUse(relid, _attnums(permissions.get("selectedCols")), views))
            views = (*views, relid)
    elif kind == "RANGETBLENTRY":
        rtekind = node.number("rtekind")
        if rtekind == _RTE_RELATION and _placeholder(node):
            return  # a view's OLD/NEW entry, taken care of with its Query above
        if rtekind == _RTE_RELATION:
            if not trusted:
                relid = node.number("relid")
                reach.relations.append(RelationUse(relid, node.get("relkind") or "", _true(node, "inh"), views))
                if node.get("selectedCols") is not None and node.get("requiredPerms") != "0":  # PostgreSQL 15
                    reach.columns.append(ColumnUse(relid, _attnums(node.get("selectedCols")), views))
        elif rtekind == _RTE_SUBQUERY and node.get("relkind") == "v":  # PostgreSQL 16+: an expanded view
            relid = node.number("relid")
            if not trusted:
                reach.relations.append(RelationUse(relid, "v", False, views))
            stack.append((node.get("subquery"), (*views, relid)))
            skip.add("subquery")
    elif kind == "RTEPERMISSIONINFO":  # PostgreSQL 16+
        if not trusted:
            reach.columns.append(ColumnUse(node.number("relid"), _attnums(node.get("selectedCols")), views))
    elif kind == "RANGETBLFUNCTION" and not views:
        call = node.get("funcexpr")
        if isinstance(call, Node) and call.kind == "FUNCEXPR":
            reach.from_functions.add(call.number("funcid"))
    elif kind == "FUNCEXPR" and not trusted:
        reach.calls.append(node)
    elif kind in {"NEXTVALUEEXPR", "CURRENTOFEXPR"}:
        raise Rejected("sequence and cursor expressions are not allowed")
    elif kind == "TABLEFUNC" and not trusted:  # XMLTABLE (also inside a view): XPath cannot be interrupted
        raise Rejected("XMLTABLE evaluates XPath, which cannot be interrupted once it runs; it is not allowed")
    if not trusted:
        _collect_oids(node, reach)
    for name, value in node.fields.items():
        if name not in skip and isinstance(value, Node | list):
            stack.append((value, views))


def _collect_oids(node: Node, reach: Reach) -> None:
    for name, value in node.fields.items():
        if name in _FUNCTION_FIELDS and value not in {None, "0"}:
            reach.functions.add(node.number(name))
        elif name in _OPERATOR_FIELDS and value not in {None, "0"}:
            reach.operators.add(node.number(name))
        elif name == "opnos" and isinstance(value, Numbers):
            reach.operators.update(value.values)


def _true(node: Node, name: str) -> bool:
    return bool(node.get(name) == "true")


def _placeholder(rte: Node) -> bool:
    """PostgreSQL 15 and older keep OLD and NEW entries of a view (relkind v, not in FROM) in its body."""
    return bool(rte.get("relkind") == "v" and rte.get("inFromCl") == "false")


def _view_body_of(query: Node) -> tuple[int, Node | None] | None:
    """(view oid, the entry carrying the outer statement's permission check) when `query` is a view's body."""
    rtable = query.get("rtable")
    if not isinstance(rtable, list):
        return None
    placeholders = [
        rte
        for rte in rtable
        if isinstance(rte, Node) and rte.kind == "RANGETBLENTRY" and rte.get("rtekind") == "0" and _placeholder(rte)
    ]
    if not placeholders:
        return None
    checked = [rte for rte in placeholders if rte.get("requiredPerms") not in {None, "0"}]
    return placeholders[0].number("relid"), (checked[0] if checked else None)


# --- Facts from the catalog. ---------------------------------------------------------------------------

# The server's own SQL: every operand is exactly typed, and pg_catalog comes first on the search path, so
# no operator a user created can be chosen instead of pg_catalog's; every function is schema-qualified.
#
# Both lookups are prepared (SQL PREPARE) in the session start, before the tree notices are switched on, and
# run with EXECUTE and arrays of oids: a Parse of these queries would send (and write to the server's log) a
# query tree of over half a megabyte.

CALLS_SQL = r"""
WITH RECURSIVE reached(kind, oid, root_kind, root) AS (
    SELECT 'f'::text, f, 'f'::text, f FROM pg_catalog.unnest($1::oid[]) AS f
    UNION
    SELECT 'o'::text, o, 'o'::text, o FROM pg_catalog.unnest($2::oid[]) AS o
    UNION
    SELECT step.kind, step.oid, r.root_kind, r.root
    FROM reached r
    CROSS JOIN LATERAL (
        -- An operator runs its function; the planner may put its negator or commutator in its place.
        SELECT 'f'::text, o.oprcode::oid FROM pg_catalog.pg_operator o WHERE r.kind = 'o'::text AND o.oid = r.oid
        UNION ALL
        SELECT 'o'::text, u.oid FROM pg_catalog.pg_operator o, pg_catalog.unnest(ARRAY[o.oprnegate, o.oprcom]) AS u(oid)
        WHERE r.kind = 'o'::text AND o.oid = r.oid
        UNION ALL
        -- A function that is not built in: its aggregate support functions and sort operator ...
        SELECT 'f'::text, u.oid FROM pg_catalog.pg_aggregate a,
            pg_catalog.unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn,
                                    a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]::oid[]) AS u(oid)
        WHERE r.kind = 'f'::text AND r.oid >= 16384::oid AND a.aggfnoid::oid = r.oid
        UNION ALL
        SELECT 'o'::text, a.aggsortop FROM pg_catalog.pg_aggregate a
        WHERE r.kind = 'f'::text AND r.oid >= 16384::oid AND a.aggfnoid::oid = r.oid
        UNION ALL
        -- ... and what its default arguments run (the planner inserts them into the statement).
        SELECT CASE WHEN m[1] = ANY ('{opno,opnos}'::text[]) THEN 'o'::text ELSE 'f'::text END,
               pg_catalog.unnest(pg_catalog.string_to_array(m[2], ' '::text))::oid
        FROM pg_catalog.pg_proc p, pg_catalog.regexp_matches(p.proargdefaults::text, {calls}::text, 'g'::text) AS m
        WHERE r.kind = 'f'::text AND r.oid >= 16384::oid AND p.oid = r.oid
    ) AS step(kind, oid)
    WHERE step.oid <> 0::oid
)
SELECT r.root_kind, r.root::int8 AS root,
       CASE WHEN r.root_kind = 'o'::text THEN 'operator '::text || r.root::regoperator::text
            ELSE r.root::regprocedure::text END AS root_name,
       p.oid::int8 AS oid, n.nspname::text AS schema, p.proname::text AS name,
       p.proretset AND t.typtype = ANY ('{b,d,e,r,m}'::"char"[]) AND p.proallargtypes IS NULL AS streams
FROM reached r
JOIN pg_catalog.pg_proc p ON p.oid = r.oid
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
WHERE r.kind = 'f'::text
"""
"""Every function that the functions ($1) and operators ($2) a statement names run, with what named it."""

RELATIONS_SQL = r"""
WITH RECURSIVE children(parent, child) AS (
    SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = ANY ($2::oid[])
    UNION
    SELECT k.parent, i.inhrelid FROM children k JOIN pg_catalog.pg_inherits i ON i.inhparent = k.child
)
SELECT NULL::int8 AS parent, c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name,
       ARRAY(SELECT a.attnum::text || ':'::text || a.attname::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = c.oid AND a.attname = ANY ({columns}::name[])) AS columns
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY ($1::oid[])
UNION ALL
SELECT k.parent::int8, c.oid::int8, n.nspname::text, c.relname::text, NULL
FROM children k
JOIN pg_catalog.pg_class c ON c.oid = k.child
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
"""
"""The relations $1 (with the numbers of their secret columns), and every partition or child of $2."""

STORED_CALLS = r":(funcid|opfuncid|aggfnoid|winfnoid|opno|opnos) \(?o? ?([0-9][0-9 ]*[0-9]|[0-9])"
"""What a stored expression (pg_node_tree text) runs: `:funcid 123`, `:opno 96`, `:opnos (o 96 97)`. A name in
the expression that merely looks like these cannot put a number after a real space: outToken escapes spaces."""

CALLS_STATEMENT = "warden_plan_calls"
RELATIONS_STATEMENT = "warden_plan_relations"


def _oid_array(oids: list[int]) -> str:
    """An oid[] literal of integers (the only values ever formatted into the server's SQL here)."""
    return "'{" + ",".join(str(int(oid)) for oid in oids) + "}'"


@dataclass(frozen=True)
class Function:
    oid: int
    schema: str
    name: str
    streams: bool  # a set-returning function of a scalar type (see streaming.py)

    @property
    def builtin(self) -> bool:
        return self.oid < FIRST_NORMAL_OID

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    columns: dict[int, str]  # attnum -> name, of the columns named in the secret-column lists only

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Facts:
    """What the catalog says about oids. Facts about built-in objects never change, so a Database keeps them."""

    functions: dict[int, Function] = field(default_factory=dict)
    # (f|o, the oid a statement names) -> the functions it runs, and how to name it in a refusal.
    reached: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    names: dict[tuple[str, int], str] = field(default_factory=dict)
    relations: dict[int, Relation] = field(default_factory=dict)
    children: dict[int, list[Relation]] = field(default_factory=dict)

    def keep_builtins(self, into: Facts) -> None:
        """Copy the facts about built-in objects (and only those) into a longer-lived Facts."""
        into.functions.update((oid, f) for oid, f in self.functions.items() if oid < FIRST_NORMAL_OID)
        into.relations.update((oid, r) for oid, r in self.relations.items() if oid < FIRST_NORMAL_OID)
        for key, reached in self.reached.items():
            if key[1] < FIRST_NORMAL_OID and all(oid < FIRST_NORMAL_OID for oid in reached):
                into.reached[key] = reached
                if key in self.names:
                    into.names[key] = self.names[key]


_SECRET_NAMES = sorted({c for cols in (*SECRET_COLUMNS.values(), *OTHER_SCHEMA_COLUMNS.values()) for c in cols})


# --- The check. ----------------------------------------------------------------------------------------


class PlanCheck:
    """One call's check: prepares statements and refuses them, by their trees, before anything runs."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        rules: Rules,
        known: Facts,
        seconds: Callable[[], float],
        *,
        lookups_prepared: bool = True,
    ) -> None:
        self.conn = conn
        self.rules = rules
        self.known = known  # facts about built-in objects, shared by the Database's calls
        self.facts = Facts()  # this call's facts (objects of users may change between calls)
        self.seconds = seconds
        self.from_functions: list[Function] = []
        self._prepared: dict[str, PreparedStatement] = {}
        self.lookups_prepared = lookups_prepared
        """Whether the session has the two catalog lookups prepared (see `start_sql` and `lookups_sql`)."""
        self.looked_up = False
        """Whether this call asked the catalog (so whether its session needed the lookups)."""

    async def prepare(self, sql: str) -> PreparedStatement:
        """Parse `sql` (extended protocol) and check its tree before returning. Raises `Rejected`.

        The same text is parsed once per call: asking again returns the statement already checked.
        """
        if sql in self._prepared:
            return self._prepared[sql]
        trees: list[str] = []

        def listen(_conn: object, message: Any) -> None:
            if getattr(message, "message", None) == TREE_MESSAGE:
                trees.append(getattr(message, "detail", None) or "")

        self.conn.add_log_listener(listen)
        try:
            statement = await self.conn.prepare(sql, timeout=self.seconds())
        finally:
            self.conn.remove_log_listener(listen)
        # Listeners run in the order the notices arrive, before `prepare` continues. The statement's tree comes
        # first: asyncpg may parse type-introspection queries of its own afterwards, inside `prepare`.
        if not trees:
            raise Unverifiable("PostgreSQL sent no query tree")
        if len(trees[0]) > MAX_TREE_CHARS:
            raise Unverifiable("its query tree is too large")
        reach = await _read(trees[0])
        await self._learn(reach)
        self._decide(reach)
        self._prepared[sql] = statement
        return statement

    def streams(self, name: Name) -> bool:
        """Whether the statement's FROM items calling `name` all call set-returning functions of a scalar type."""
        matching = [f for f in self.from_functions if f.name == name.name and name.schema in {None, f.schema}]
        return bool(matching) and all(f.streams for f in matching)

    # --- Facts. -------------------------------------------------------------------------------------------
    def _knows(self, key: tuple[str, int]) -> bool:
        return key in self.known.reached or key in self.facts.reached

    async def _learn(self, reach: Reach) -> None:
        """Ask the catalog about every oid this call has not seen (facts about built-ins outlive the call)."""
        functions = sorted(o for o in reach.functions | reach.from_functions if not self._knows(("f", o)))
        operators = sorted(o for o in reach.operators if not self._knows(("o", o)))
        relids = {use.relid for use in reach.relations} | {use.relid for use in reach.columns}
        relations = sorted(r for r in relids if r not in self.known.relations and r not in self.facts.relations)
        inheriting = {use.relid for use in reach.relations if use.inherits and use.relid >= FIRST_NORMAL_OID}
        parents = sorted(inheriting - self.facts.children.keys())
        if functions or operators or relations or parents:
            await self._lookups()
        if functions or operators:
            # EXECUTE of the statement the session start prepared; only integers are formatted in.
            rows = await self.conn.fetch(
                f"EXECUTE {CALLS_STATEMENT}({_oid_array(functions)}, {_oid_array(operators)})",
                timeout=self.seconds(),
            )
            for key in [*(("f", o) for o in functions), *(("o", o) for o in operators)]:
                self.facts.reached[key] = set()
            for row in rows:
                key = (row["root_kind"], row["root"])
                self.facts.functions[row["oid"]] = Function(row["oid"], row["schema"], row["name"], row["streams"])
                self.facts.reached[key].add(row["oid"])
                self.facts.names[key] = row["root_name"]
        if relations or parents:
            rows = await self.conn.fetch(
                f"EXECUTE {RELATIONS_STATEMENT}({_oid_array(relations)}, {_oid_array(parents)})",
                timeout=self.seconds(),
            )
            for parent in parents:
                self.facts.children[parent] = []
            for row in rows:
                columns = dict(item.split(":", 1) for item in row["columns"] or ())
                relation = Relation(row["oid"], row["schema"], row["name"], {int(n): c for n, c in columns.items()})
                if row["parent"] is None:
                    self.facts.relations[relation.oid] = relation
                else:
                    self.facts.children[row["parent"]].append(relation)
        self.facts.keep_builtins(self.known)

    async def _lookups(self) -> None:
        """Prepare the catalog lookups, if the session start did not (one round trip, with the notices off)."""
        self.looked_up = True
        if not self.lookups_prepared:
            await self.conn.execute(lookups_sql(), timeout=self.seconds())
            self.lookups_prepared = True

    def _function(self, oid: int) -> Function:
        found = self.known.functions.get(oid) or self.facts.functions.get(oid)
        if found is None:
            raise Unverifiable(f"function {oid} is not in the catalog")
        return found

    def _relation(self, oid: int) -> Relation:
        found = self.known.relations.get(oid) or self.facts.relations.get(oid)
        if found is None:
            raise Unverifiable(f"relation {oid} is not in the catalog")
        return found

    def _reached(self, key: tuple[str, int]) -> tuple[set[int], str]:
        facts = self.known if key in self.known.reached else self.facts
        return facts.reached.get(key, set()), facts.names.get(key, "")

    # --- Verdicts. ----------------------------------------------------------------------------------------
    def _decide(self, reach: Reach) -> None:
        # Operators first: a function that an operator runs is named with the operator in the refusal.
        roots = [*(("o", oid) for oid in sorted(reach.operators)), *(("f", oid) for oid in sorted(reach.functions))]
        for key in roots:
            reached, name = self._reached(key)
            if key[0] == "f" and not reached:
                raise Unverifiable(f"function {key[1]} is not in the catalog")
            for oid in sorted(reached):
                direct = key == ("f", oid)
                why = function_refusal(self._function(oid), self.rules, direct=direct)
                if why is not None:
                    raise Rejected(why if direct else f"{why} (it runs behind {name})")
        for call in reach.calls:
            self._call_verdict(call)
        for use in reach.relations:
            self._relation_verdict(use)
        for columns in reach.columns:
            self._column_verdict(columns)
        self.from_functions = [self._function(oid) for oid in sorted(reach.from_functions)]

    def _call_verdict(self, call: Node) -> None:
        """Conditions on arguments: current_setting reads only the settings SHOW may read."""
        function = self._function(call.number("funcid"))
        if not function.builtin or self.rules.review.section(function.name) != SETTING:
            return
        args = call.get("args")
        name = text_constant(args[0]) if isinstance(args, list) and args else None
        if name is None or name.lower() not in validator.SAFE_SETTINGS:
            raise Rejected(
                f"{function.name} reads only the settings SHOW may read, named by a constant "
                "(custom settings such as app.* can hold secrets)"
            )

    def _relation_verdict(self, use: RelationUse) -> None:
        relation = self._relation(use.relid)
        where = f" (read by view {self._relation(use.views[-1])})" if use.views else ""
        why = self.rules.schema_verdict(relation.schema)
        if why is not None:
            raise Rejected(f"{relation}{where}: {why}")
        if (relation.schema, relation.name) in DENIED_RELATIONS:
            raise Rejected(f"{relation}{where} holds secrets and cannot be read")
        for child in self.facts.children.get(relation.oid, []) if use.inherits else []:
            why = self.rules.schema_verdict(child.schema)
            if why is not None:
                raise Rejected(f"{relation}{where} also reads its partition or child {child}: {why}")
        if not use.views and self.rules.check_relation is not None:
            # The policy file decides on what the statement names (a view, not the tables behind it: a
            # view is read with its owner's rights, as the database decides too).
            self.rules.check_relation(relation.schema, relation.name)

    def _column_verdict(self, use: ColumnUse) -> None:
        relation = self._relation(use.relid)
        key = (relation.schema, relation.name)
        always = SECRET_COLUMNS.get(key, frozenset())
        scoped = frozenset() if self.rules.every_schema else OTHER_SCHEMA_COLUMNS.get(key, frozenset())
        whole_row = 0 in use.attnums
        read = {name for num, name in relation.columns.items() if whole_row or num in use.attnums}
        if read & always:
            raise Rejected(
                f"{relation} ({', '.join(sorted(read & always))}) holds role and database settings, which can hold "
                "secrets; select the other columns by name"
            )
        if read & scoped:
            raise Rejected(
                f"{relation} ({', '.join(sorted(read & scoped))}) shows values or definitions from every schema, "
                f"and {self.rules.schemas.setting} admits only some; select the other columns by name"
            )


async def check(
    conn: asyncpg.Connection,
    started: str,
    analysis: Analysis,
    *,
    rules: Rules,
    known: Facts,
    seconds: Callable[[], float],
    lookups_prepared: bool = True,
) -> PlanCheck:
    """Check one statement in a checked session (`started`: its start message's command tag). Raises `Rejected`.

    Returns the PlanCheck, whose `prepare` checks every further statement of the call (the streaming form and
    the measuring wrapper) and whose `streams` tells the streaming rewrite what PostgreSQL resolved.
    `lookups_prepared`: whether the session start prepared the catalog lookups (`start_sql(lookups=True)`);
    if not, the check prepares them itself when it first needs them.
    """
    if hooks_found(started):
        raise await refuse_hooks(conn, rules.functions, seconds())
    plan = PlanCheck(conn, rules, known, seconds, lookups_prepared=lookups_prepared)
    if analysis.kind == "explain":
        # EXPLAIN's own Parse does not expand views; its query's Parse does, and EXPLAIN plans exactly that.
        await plan.prepare(validator.explained_sql(analysis))
    await plan.prepare(analysis.sql)
    return plan


def function_refusal(function: Function, rules: Rules, *, direct: bool = True) -> str | None:
    """Why a resolved function may not run, or None. `direct`: the statement calls it (not an operator ...)."""
    if validator.ALWAYS_REFUSED.match(function.name):
        return f"function {function} is never allowed: {validator.NEVER}"
    if validator.SERVER_ONLY.match(function.name):
        return f"function {function} is refused: {validator.SERVER_ONLY_REASON}"
    if function.builtin:
        if function.schema != "pg_catalog":
            return f"function {function} is an internal helper of {function.schema}"
        section = rules.review.section(function.name)
        if section is None:
            return f"function {function} has not been reviewed for this server"
        if section.startswith(REFUSE):
            return f"function {function.name} is refused ({section.removeprefix(REFUSE)})"
        if section == ALL_SCHEMAS and not rules.every_schema:
            return (
                f"function {function.name} reads definitions or contents of objects in every schema; it runs only "
                f"when {rules.schemas.setting} admits every schema"
            )
        if section == SETTING and not direct:
            return f"function {function.name} runs only when a statement calls it with a constant setting name"
        return None
    if rules.listed(function.schema, function.name):
        return None
    return (
        f"function {function} is not allowed by this server's policy ({rules.functions.setting}): PostgreSQL does not "
        "enforce volatility labels, so a function that is not built in runs only when the operator lists it"
    )


# --- Type hooks: user code PostgreSQL may run while it parses or plans. ---------------------------------

HOOKS_SQL = r"""
SELECT hook.owner, n.nspname::text AS schema, p.proname::text AS name
FROM (
    SELECT pg_catalog.format_type(k.contypid, NULL) || ' (constraint '::text || k.conname::text || ')'::text,
           m[1], pg_catalog.unnest(pg_catalog.string_to_array(m[2], ' '::text))::oid
    FROM pg_catalog.pg_constraint k, pg_catalog.regexp_matches(k.conbin::text, $1::text, 'g'::text) AS m
    WHERE k.contypid <> 0::oid
    UNION ALL
    SELECT pg_catalog.format_type(r.rngtypid, NULL) || ' (subtype_diff)'::text, 'funcid'::text, r.rngsubdiff::oid
    FROM pg_catalog.pg_range r WHERE r.rngsubdiff::oid <> 0::oid
) AS hook(owner, field, oid)
-- An operator runs its function; the planner may put its negator or commutator in its place.
LEFT JOIN pg_catalog.pg_operator o ON hook.field = ANY ('{opno,opnos}'::text[]) AND o.oid = hook.oid
LEFT JOIN pg_catalog.pg_operator v ON v.oid = ANY (ARRAY[o.oprnegate, o.oprcom])
JOIN pg_catalog.pg_proc p
    ON p.oid = ANY (CASE WHEN o.oid IS NULL THEN ARRAY[hook.oid] ELSE ARRAY[o.oprcode::oid, v.oprcode::oid] END)
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE NOT (p.oid < 16384::oid AND p.provolatile <> 'v'::"char" AND p.proname::text !~ $2::text)
  AND NOT (p.oid >= 16384::oid AND p.pronargdefaults = 0::int2
           AND n.nspname::text || '.'::text || p.proname::text ~~ ANY ($3::text[]))
"""
"""Type hooks that call what a hook may not: anything but a non-volatile built-in whose name does not match $2
(ALWAYS_REFUSED and the transaction-id assigners), or a function listed in $3 (LIKE patterns) without defaults."""


def _refused_pattern() -> str:
    """ALWAYS_REFUSED, SERVER_ONLY and the transaction-id assigners as one regular expression (PostgreSQL reads
    it too)."""
    names = (*validator.ALWAYS_REFUSED_NAMES, *validator.SERVER_ONLY_NAMES, *XID_ASSIGNERS)
    return "^(?:" + "|".join(names) + ")$"


def like_patterns(functions: Allowlist) -> list[str]:
    """WARDEN_POSTGRES_ALLOWED_FUNCTIONS as LIKE patterns (`*` and `?` are its only wildcards)."""
    escaped = (p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for p in functions.patterns)
    return [p.replace("*", "%").replace("?", "_") for p in escaped]


def _prepare_lookups_sql() -> str:
    """The two PREPAREs of the catalog lookups: constants only."""
    from warden_postgres.client import quote_literal

    calls = CALLS_SQL.replace("{calls}", quote_literal(STORED_CALLS)).strip()
    columns = RELATIONS_SQL.replace("{columns}", quote_literal("{" + ",".join(_SECRET_NAMES) + "}")).strip()
    return (
        f"PREPARE {CALLS_STATEMENT}(oid[], oid[]) AS {calls}; PREPARE {RELATIONS_STATEMENT}(oid[], oid[]) AS {columns}"
    )


def start_sql(functions: Allowlist, *, lookups: bool = True) -> str:
    """What a checked session's start message adds; built from the settings and constants alone.

    It prepares the two lookups (before the tree notices are on, so their trees are never sent), then one
    statement switches the notices on as it runs (after its own Parse, for the same reason), once per row:
    one row when the database has no unreviewed type hook, two when it has. The command tag of the start
    message ("SELECT 1" / "SELECT 2") is the answer, at no extra round trip.

    Preparing the lookups costs the server more than the rest of the start together, and a statement on
    built-in objects only needs them once per Database (their facts are kept). Without `lookups` they are
    left out, and the plan check prepares them later in the session if it needs them (`lookups_sql`).
    """
    from warden_postgres.client import quote_literal

    listed = "ARRAY[" + ", ".join(quote_literal(p) for p in like_patterns(functions)) + "]::text[]"
    hooks = (
        HOOKS_SQL.replace("$1::text", quote_literal(STORED_CALLS) + "::text")
        .replace("$2::text", quote_literal(_refused_pattern()) + "::text")
        .replace("$3::text[]", listed)
        .strip()
    )
    switches = ", ".join(
        f"pg_catalog.set_config({quote_literal(name)}, {quote_literal(value)}, true)"
        for name, value in TREE_SETTINGS.items()
    )
    # Constants, and the settings' function patterns as quoted literals: no tool input reaches this text.
    scan = (
        f"SELECT {switches} FROM pg_catalog.generate_series(0, "  # noqa: S608
        f"(SELECT pg_catalog.count(*) FROM ({hooks} LIMIT 1) AS hook)::int4)"
    )
    return f"{_prepare_lookups_sql()}; {scan}" if lookups else scan


@functools.cache
def lookups_sql() -> str:
    """Prepares the catalog lookups later in a checked session that started without them: the tree notice is
    off while they are parsed, so their trees are never sent. Constants only."""
    from warden_postgres.client import quote_literal

    name = quote_literal("debug_print_rewritten")
    return (
        f"SELECT pg_catalog.set_config({name}, 'off', true); {_prepare_lookups_sql()}; "
        f"SELECT pg_catalog.set_config({name}, 'on', true)"
    )


def hooks_found(status: str) -> bool:
    """Read the start message's command tag (see `start_sql`). Anything unexpected counts as found."""
    return status != "SELECT 1"


async def refuse_hooks(conn: asyncpg.Connection, functions: Allowlist, seconds: float) -> Rejected:
    """The refusal of a database with unreviewed type hooks, naming them (one query, on the refusal path only)."""
    rows = await conn.fetch(
        HOOKS_SQL + " ORDER BY 1, 2, 3 LIMIT 5",
        STORED_CALLS,
        _refused_pattern(),
        like_patterns(functions),
        timeout=seconds,
    )
    named = "; ".join(f"{row['owner']} calls {row['schema']}.{row['name']}" for row in rows) or "(changed meanwhile)"
    return Rejected(
        "this database has type hooks that PostgreSQL runs while it parses or plans a statement, before any check: "
        f"{named}. They may call non-volatile built-in functions, or functions listed in {functions.setting} "
        "that have no default arguments"
    )


__all__ = [
    "FIRST_NORMAL_OID",
    "Facts",
    "PlanCheck",
    "Unverifiable",
    "check",
    "function_refusal",
    "hooks_found",
    "parse_tree",
    "refuse_hooks",
    "start_sql",
    "unwrap",
    "walk",
]
