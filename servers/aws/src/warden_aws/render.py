"""AWS answers made safe to hand to a model: JSON types, masked secrets, clean text, and cursors.

- Values become JSON: timestamps as ISO 8601, bytes as base64, decimals as strings.
- Members the service model marks `sensitive` (and the reviewed extra members in the classification)
  are replaced by `[sensitive]` unless the operator explicitly allowed the operation; the answer lists
  the masked paths, so masking is never silent.
- Every string from AWS (names, tags, messages, keys) loses invisible and bidi-control characters.
- Cursors are opaque to the model: base64url JSON holding the AWS page token and how many items of
  that page were already shown (so a page cut by the byte cap resumes exactly where it stopped).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from warden_core import Budget, InvalidArgument, strip_invisible

MASK = "[sensitive]"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,8192}$"


def plain(value: Any) -> Any:
    """Any botocore value as JSON-able data, with clean strings."""
    if isinstance(value, str):
        return strip_invisible(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {strip_invisible(str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "read"):  # a streaming body: never read it here (streaming reads are refused)
        close = getattr(value, "close", None)
        if close is not None:
            close()
        return "[stream omitted]"
    return strip_invisible(str(value))


class Masker:
    """Walks an answer along its output shape and masks sensitive members."""

    def __init__(self, extra: Mapping[str, Collection[str]], *, unmask: bool = False) -> None:
        self.extra = extra
        self.unmask = unmask
        self.masked: list[str] = []

    def render(self, answer: Mapping[str, Any], shape: Any) -> dict[str, Any]:
        body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
        result = self._walk(body, shape, "")
        return result if isinstance(result, dict) else {"value": result}

    def _mask(self, path: str) -> str:
        if path not in self.masked:
            self.masked.append(path)
        return MASK

    def _walk(self, value: Any, shape: Any, path: str) -> Any:
        if shape is None:
            return plain(value)
        if not self.unmask and shape.metadata.get("sensitive") and value is not None:
            return self._mask(path or ".")
        kind = shape.type_name
        if kind == "structure" and isinstance(value, Mapping):
            extra = () if self.unmask else self.extra.get(shape.name, ())
            members = shape.members
            out = {}
            for key, item in value.items():
                where = f"{path}.{key}"
                out[strip_invisible(str(key))] = (
                    self._mask(where)
                    if key in extra and item is not None
                    else self._walk(item, members.get(key), where)
                )
            return out
        if kind == "list" and isinstance(value, list | tuple):
            return [self._walk(item, shape.member, f"{path}[]") for item in value]
        if kind == "map" and isinstance(value, Mapping):
            return {strip_invisible(str(k)): self._walk(v, shape.value, f"{path}{{}}") for k, v in value.items()}
        return plain(value)


# --- Cursors. -------------------------------------------------------------------------------------------
def encode_cursor(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    """The cursor's payload; it must have been made for `kind` (a tool, or `service:Operation`)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("s", 0), int):
        raise InvalidArgument("cursor is not valid for this call: pass next_cursor from the previous answer unchanged")
    return data


def take_page(
    items: list[Any],
    *,
    kind: str,
    budget: Budget,
    skip: int,
    token: Any,
    next_token: Any,
    limit: int | None = None,
) -> tuple[list[Any], bool, str | None]:
    """Admit the items of one page (after `skip`) into the budget.

    Returns the kept items, whether the page was cut, and the cursor to continue: within this page
    when it was cut (same token, more to skip), otherwise the next page's token, or None at the end.
    An item too large for the whole budget is passed over (the answer says truncated), so a cursor
    always makes progress.
    """
    kept: list[Any] = []
    for item in items[skip:]:
        if (limit is not None and len(kept) >= limit) or not budget.admit(item):
            cut = budget.truncated
            resume = skip + (len(kept) if kept or not cut else 1)
            return kept, cut, encode_cursor({"k": kind, "t": token, "s": resume})
        kept.append(item)
    if next_token:
        return kept, False, encode_cursor({"k": kind, "t": next_token, "s": 0})
    return kept, False, None
