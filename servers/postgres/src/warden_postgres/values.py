"""PostgreSQL values to JSON and back: exact, lossless where JSON allows, and free of hidden text.

Out: numeric keeps every digit as a string, timestamps are ISO 8601 (infinity stays `infinity`),
bytea is PostgreSQL's hex form (`\\x...`), uuid and network types are strings, arrays are lists,
json/jsonb are parsed, NaN and infinities are strings, and text loses invisible characters.

In: bind parameters arrive as JSON values and are converted to what the driver expects for the
type PostgreSQL inferred for each `$n` (a timestamp from an ISO string, a numeric from a number or
string, jsonb from any JSON value, ...).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from warden_core import InvalidArgument, strip_invisible

JsonConverter = Callable[[Any], Any]

_FIXED_SIZE = frozenset(
    {
        "bool",
        "int2",
        "int4",
        "int8",
        "oid",
        "float4",
        "float8",
        "date",
        "time",
        "timetz",
        "timestamp",
        "timestamptz",
        "uuid",
        "money",
        "interval",
        "pg_lsn",
        "char",
        "xid",
        "cid",
        "tid",
        "regclass",
        "regproc",
        "regprocedure",
        "regtype",
        "regoper",
        "regnamespace",
        "regrole",
    }
)


def is_small(type_name: str) -> bool:
    """Whether a value of this type is a few bytes at most (no need to measure it server-side)."""
    return type_name in _FIXED_SIZE


def _datetime(value: dt.datetime | dt.date) -> str:
    # The driver maps PostgreSQL's +/-infinity onto the extremes of Python's range.
    if isinstance(value, dt.datetime):
        if value.replace(tzinfo=None) == dt.datetime.max:
            return "infinity"
        if value.replace(tzinfo=None) == dt.datetime.min:
            return "-infinity"
    elif value == dt.date.max:
        return "infinity"
    elif value == dt.date.min:
        return "-infinity"
    return value.isoformat()


def _range(value: Any) -> str:
    if value.isempty:
        return "empty"
    lower = "" if value.lower is None else _scalar_text(to_json(value.lower))
    upper = "" if value.upper is None else _scalar_text(to_json(value.upper))
    return f"{'[' if value.lower_inc else '('}{lower},{upper}{']' if value.upper_inc else ')'}"


def _scalar_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def to_json(value: Any) -> Any:
    """One value as decoded by asyncpg, made JSON-safe."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return strip_invisible(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return _datetime(value)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {strip_invisible(str(k)): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    kind = type(value).__name__
    if kind == "Range":
        return _range(value)
    if kind == "BitString":
        return value.as_string()
    return strip_invisible(str(value))


MAX_JSON_DEPTH = 200
"""JSON nested deeper than this comes back as its text: the result's serializer gives up at about 250 levels,
and Python's parser not much later."""


def _parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        return to_json(text)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return strip_invisible(text)
    return strip_invisible(text) if _nesting(parsed) > MAX_JSON_DEPTH else to_json(parsed)


def _nesting(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value, counted without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def converter(type_name: str) -> JsonConverter:
    """How values of a column of this type become JSON."""
    if type_name in {"json", "jsonb"}:
        return _parse_json
    if type_name in {"json[]", "jsonb[]", "_json", "_jsonb"}:
        return lambda value: None if value is None else [_parse_json(item) for item in value]
    return to_json


# --- Parameters. ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError("expected an integer")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError("expected a number")


def _numeric(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number or a numeric string")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("expected a number or a numeric string") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {
        "true",
        "t",
        "yes",
        "on",
        "1",
        "false",
        "f",
        "no",
        "off",
        "0",
    }:
        return value.strip().lower() in {"true", "t", "yes", "on", "1"}
    raise ValueError("expected true or false")


def _bytea(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected a string (\\x-prefixed hex, or text)")
    if value.startswith("\\x"):
        return bytes.fromhex(value[2:])
    return value.encode()


def _timestamp(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 timestamp string")
    return dt.datetime.fromisoformat(value.strip().replace(" ", "T", 1))


def _timestamptz(value: Any) -> dt.datetime:
    stamp = _timestamp(value)
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def _date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date string")
    return dt.date.fromisoformat(value.strip())


def _time(value: Any) -> dt.time:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 time string")
    return dt.time.fromisoformat(value.strip())


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("expected a UUID string")
    return uuid.UUID(value)


def _str(value: Any) -> str:
    if isinstance(value, list | dict):
        raise ValueError("expected a string")
    return _text(value)


_PARAM: dict[str, Callable[[Any], Any]] = {
    "int2": _int,
    "int4": _int,
    "int8": _int,
    "oid": _int,
    "float4": _float,
    "float8": _float,
    "numeric": _numeric,
    "bool": _bool,
    "text": _str,
    "varchar": _str,
    "bpchar": _str,
    "name": _str,
    "char": _str,
    "unknown": _str,
    "citext": _str,
    "interval": _str,
    "json": _text,
    "jsonb": _text,
    "bytea": _bytea,
    "timestamp": _timestamp,
    "timestamptz": _timestamptz,
    "date": _date,
    "time": _time,
    "timetz": _time,
    "uuid": _uuid,
    "inet": lambda v: ipaddress.ip_interface(str(v)),
    "cidr": lambda v: ipaddress.ip_network(str(v)),
}


def _param(value: Any, type_name: str) -> Any:
    if value is None:
        return None
    if type_name.endswith("[]"):
        if not isinstance(value, list):
            raise ValueError("expected a JSON array")
        element = type_name[:-2]
        return [_param(item, element) for item in value]
    convert = _PARAM.get(type_name)
    return value if convert is None else convert(value)


def params_for(values: Sequence[Any], types: Sequence[Any]) -> list[Any]:
    """Convert JSON bind values to the driver's types for the statement's inferred parameter types."""
    if len(values) != len(types):
        raise InvalidArgument(f"the statement takes {len(types)} parameter(s) ($1..${len(types)}), got {len(values)}")
    converted = []
    for index, (value, kind) in enumerate(zip(values, types, strict=True), start=1):
        try:
            converted.append(_param(value, kind.name))
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise InvalidArgument(f"parameter ${index} ({kind.name}): {exc}") from None
    return converted
