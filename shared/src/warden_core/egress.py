"""The egress filter: nothing secret leaves in an answer.

`WardenServer` applies it to every answer that carries backend data, after the handler and before
the transport: tool results (`structuredContent` and the text copy the SDK derives from it, or the
content blocks), `resources/read`, `prompts/get` and `completion/complete`. Confirmation questions
are masked where they are asked (`confirm.ask`). No server calls it for its results, so a new tool
cannot forget it.

What it masks is what the one detector (`detector`) finds, plus two structural rules:

- a dict entry whose key names a secret (`password`, `clientSecret`, `DB_PASS`, ...) has its string
  value masked whole, whatever it looks like;
- so does an entry of a name/value list (`{"name": "DB_PASS", "value": ...}`, `{"Key": ..., "Value": ...}`).

The strings of an answer are scanned by column (the strings under one key, or in one list, joined
by newlines), so a private key spread over a list of log lines, or over the rows of a log query, is
found like one in a single string; all columns go into one scan, kept apart by a line no rule crosses.

The answer says what was masked, so the model neither retries nor guesses: `_meta["warden/masked"]`
carries the count per kind (both protocol eras carry result `_meta`), and a tool result also gets a
short text block saying so. Markers are strings in place of strings, never longer than what they
replace, so `structuredContent` still validates against the tool's output schema and never grows.

Servers that mask by their own semantics (a Kubernetes Secret's values) call `note` so the count
includes them, and stream their text through `LineMasker` when a selection (grep, tail) follows.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from warden_core import audit
from warden_core.detector import REGISTRY, Detector, Finding, apply, is_marker, key_kind, marker, plain_value

META_KEY = "warden/masked"
"""Result `_meta` key: `{"count": N, "kinds": {"github-token": 2, ...}}`."""

NAME_KEYS = frozenset({"name", "Name", "key", "Key", "ParameterKey", "OptionName", "variable"})
VALUE_KEYS = frozenset({"value", "Value", "ParameterValue"})
_SKIP = frozenset({"_meta", "requestState", "resultType"})
"""Protocol fields of a result: never backend data, and the sealed request state must stay byte-exact."""
_NOTICE_KINDS = 6
_NAME = re.compile(r"^[\w.\-/:]{1,128}$")
"""What the name of a name/value entry looks like (an identifier, not free text)."""


def note(kind: str, count: int = 1) -> None:
    """Count values a server masked itself (by its own semantics) into the current request's tally."""
    record = audit.current()
    if record is not None and count:
        tally = record.masked if record.masked is not None else {}
        tally[kind] = tally.get(kind, 0) + count
        record.masked = tally


def _note_all(counts: Mapping[str, int]) -> None:
    for kind, count in counts.items():
        note(kind, count)


def notice(counts: Mapping[str, int]) -> str:
    """What the model reads about masked values: how many, of which kinds, and not to chase them."""
    total = sum(counts.values())
    kinds = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    listed = ", ".join(f"{kind} x{count}" for kind, count in kinds[:_NOTICE_KINDS])
    more = f", {len(kinds) - _NOTICE_KINDS} more kinds" if len(kinds) > _NOTICE_KINDS else ""
    values = "value" if total == 1 else "values"
    return (
        f"[warden] {total} secret {values} in this result {'was' if total == 1 else 'were'} masked "
        f"({listed}{more}). [masked: ...] marks a credential withheld on purpose: it cannot be "
        "retrieved through this server, so do not retry or try to reconstruct it."
    )


class Egress:
    """The egress filter of one server: the shared detector, less the kinds its settings turn off."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self.disabled = frozenset(disabled)

    @property
    def detector(self) -> Detector:
        # Rebuilt by the registry when a credential or pattern is registered; cached otherwise.
        return REGISTRY.detector(self.disabled)

    # --- Text and values. ---------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """`value` with its secrets masked (and counted in the current request's tally)."""
        masked, counts = self.detector.mask(value)
        _note_all(counts)
        return masked

    def value(self, obj: Any) -> Any:
        """Mask every string inside `obj` (dicts and lists, changed in place); returns `obj`.

        A bare string is returned masked.
        """
        if isinstance(obj, str):
            return self.text(obj)
        counts = _mask_structure(obj, self.detector, self.disabled)
        _note_all(counts)
        return obj

    def lines(self) -> LineMasker:
        return LineMasker(self.detector)

    # --- MCP answers. -------------------------------------------------------------------------------
    def answer(self, method: str | None, result: dict[str, Any]) -> None:
        """Mask an MCP result in place; the notice is added by `announce` once the tally is known."""
        if method == "tools/call":
            structured = result.get("structuredContent")
            if structured is not None:
                self.value(structured)
            content = result.get("content")
            if isinstance(content, list) and not _is_text_copy(content, structured):
                self.value(content)
        elif method in {"resources/read", "prompts/get", "completion/complete"}:
            for key, part in result.items():
                if key not in _SKIP:
                    result[key] = self.value(part)

    @staticmethod
    def announce(method: str | None, result: dict[str, Any], counts: Mapping[str, int]) -> None:
        """Tell the model what was masked: `_meta` on any result, and a text block on a tool result."""
        if not counts:
            return
        meta = result.get("_meta")
        meta = dict(meta) if isinstance(meta, Mapping) else {}
        meta[META_KEY] = {"count": sum(counts.values()), "kinds": dict(sorted(counts.items()))}
        result["_meta"] = meta
        content = result.get("content")
        if method == "tools/call" and isinstance(content, list):
            content.append({"type": "text", "text": notice(counts)})


def _is_text_copy(content: list[Any], structured: Any) -> bool:
    """The single text block the SDK derives from `structuredContent` (the core re-derives it after masking)."""
    return structured is not None and len(content) == 1 and isinstance(content[0], dict)


# --- Structures. ------------------------------------------------------------------------------------------
Slot = tuple[Any, Any]
"""Where a string lives: (its dict or list, its key or index)."""


def _mask_structure(obj: Any, detector: Detector, disabled: frozenset[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    columns: dict[str, list[Slot]] = {}
    _collect(obj, columns, "", counts, disabled)
    if columns:
        # One scan for the whole answer: columns one after another, each closed by a line no rule crosses.
        slots: list[Slot | None] = []
        for column in columns.values():
            slots += [*column, None]
        counts.update(_mask_slots(slots, detector))
    return counts


@functools.lru_cache(maxsize=4096)
def _named_kind(key: str) -> str | None:
    return key_kind(key)


def _collect(
    node: Any, columns: dict[str, list[Slot]], column: str, counts: Counter[str], disabled: frozenset[str]
) -> None:
    """Mask secret-named entries now; gather every other string into its column for one scan each.

    A column is the strings under one key (or in one list), in order: the `@message` of every log row,
    the items of a list of lines. A private key spread over the rows of a column is still one key.
    """
    if isinstance(node, dict):
        pair = _pair_name(node)
        for key, value in node.items():
            if isinstance(value, str):
                kind = _named_kind(key) if isinstance(key, str) and not is_marker(key) else None
                if kind is None and pair is not None and key in VALUE_KEYS:
                    kind = pair
                if kind is not None and kind not in disabled and value and not plain_value(value, shortest=1):
                    node[key] = marker(kind, len(value.encode()))
                    counts[kind] += 1
                else:
                    columns.setdefault(str(key), []).append((node, key))
            elif isinstance(value, dict | list):
                _collect(value, columns, str(key), counts, disabled)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, str):
                columns.setdefault(column, []).append((node, index))
            elif isinstance(value, dict | list):
                _collect(value, columns, column, counts, disabled)


def _pair_name(node: dict[Any, Any]) -> str | None:
    """The secret kind named by a name/value entry (`{"name": "DB_PASS", "value": ...}`), or None."""
    if len(node) > 4 or not any(key in VALUE_KEYS for key in node):
        return None
    for key in NAME_KEYS & node.keys():
        name = node[key]
        if isinstance(name, str) and _NAME.match(name):
            return _named_kind(name)
    return None


_COLUMN_END = "\x00"
"""The line between two columns of the joined text: no rule's characters include it."""


def _mask_slots(slots: list[Slot | None], detector: Detector) -> Counter[str]:
    """Scan all strings as one text (a key split over list items is still one key); mask in place."""
    texts = [_COLUMN_END if slot is None else slot[0][slot[1]] for slot in slots]
    findings = detector.find("\n".join(texts))
    if not findings:
        return Counter()
    counts = Counter(finding.kind for finding in findings)
    for index, local in _per_slot(texts, findings):
        slot = slots[index]
        if slot is not None:
            container, key = slot
            container[key] = apply(texts[index], local)
    return counts


def _per_slot(texts: list[str], findings: list[Finding]) -> Iterator[tuple[int, list[Finding]]]:
    """Findings (byte offsets into the joined text) cut into each string's own offsets."""
    position = 0
    cursor = 0
    for index, text in enumerate(texts):
        size = len(text) if text.isascii() else len(text.encode())
        end = position + size
        local: list[Finding] = []
        while cursor < len(findings) and findings[cursor].start < end:
            finding = findings[cursor]
            if finding.end > position:
                local.append(
                    Finding(max(finding.start, position) - position, min(finding.end, end) - position, finding.kind)
                )
            if finding.end <= end + 1:
                cursor += 1
            else:
                break
        if local:
            yield index, local
        position = end + 1  # the joining newline


# --- Streams. ---------------------------------------------------------------------------------------------
_FLUSH_BYTES = 65_536
_HOLD_BYTES = 1_048_576
"""Most text held back while a block (a private key) is still open; past it, the block is masked to here."""


class LineMasker:
    """Masks a text that arrives line by line (a log), with blocks that span lines (private keys).

    Lines are masked in batches, before any selection (grep, tail) sees them, and come out in order
    and in the same number: a private key's lines come out as one marker and empty lines. A line is
    held back while it may belong to a key still open or to a key whose END is yet to come.
    """

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        self._lines: list[str] = []
        self._bytes = 0
        self.counts: Counter[str] = Counter()

    def feed(self, line: str) -> list[str]:
        """Take one line (without its newline); return the lines now final (maybe none)."""
        self._lines.append(line)
        self._bytes += len(line) + 1
        if self._bytes < _FLUSH_BYTES or (self._bytes < _HOLD_BYTES and self._may_continue()):
            return []
        return self._flush()

    def close(self) -> list[str]:
        """The lines still held, masked."""
        return self._flush() if self._lines else []

    def _may_continue(self) -> bool:
        """The last line could still be part of a private key (inside one, or base64 before an END)."""
        last = self._lines[-1].strip()
        if "PRIVATE KEY" in last and "BEGIN" in last and "END" not in last:
            return True
        return len(last) >= 16 and last.rstrip("=").replace("+", "").replace("/", "").isalnum()

    def _flush(self) -> list[str]:
        text = "\n".join(self._lines)
        masked, counts = self._detector.mask(text)
        self.counts.update(counts)
        _note_all(counts)
        self._lines, self._bytes = [], 0
        return masked.split("\n")


def mask_text(text: str) -> str:
    """`text` masked by the whole detector (every kind): for texts outside an answer (a confirmation question)."""
    masked, counts = REGISTRY.detector().mask(text)
    _note_all(counts)
    return masked
