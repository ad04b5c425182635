"""Layer 5 at the wire: no message PostgreSQL sends can make this process hold or chew on a huge buffer.

asyncpg keeps a whole backend message in memory before it looks at it, and assembles each text field of an
error with one `bytes +=` per 256 KiB read, which is quadratic: `SELECT repeat('x', 200000000)::int` (whose
error quotes its input) cost 254 s of CPU on the event loop and 673 MB, and every other call waited. A DataRow
is buffered whole as well: 1,600 columns of 64 KB make 100 MB, and so does the single row of EXPLAIN output.

`BoundedReader` sits between the socket and asyncpg's protocol (`install`). It follows the message framing
(a type byte, then a four-byte length that counts itself) and passes every message on untouched, except:
- an ErrorResponse longer than ERROR_BYTES, or a NoticeResponse longer than NOTICE_BYTES, is rewritten as it
  arrives: each field is cut to FIELD_BYTES (at a character boundary, ending in "…") and the rest of it is
  discarded;
- a DataRow longer than `limit` is discarded as it arrives while a caller streams rows (`dropping_rows`),
  which learns where and how big it was; at any other time, and for any other message over `limit`, the
  connection is closed instead, so no row of the server's own catalog queries is ever lost silently. The
  operation waiting on it fails with asyncpg's ConnectionDoesNotExistError, whose cause is a `TooLarge`
  saying why (`errors.translate` reports it).
Each chunk read costs time linear in its size, and the reader holds at most a message header and the cut
fields of one error.
"""

from __future__ import annotations

import asyncio
import codecs
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

ERROR_BYTES = 16 * 1024
"""Error messages up to this size pass untouched."""

NOTICE_BYTES = 8 * 1024 * 1024
"""Notice messages up to this size pass untouched: the plan check reads each statement's query tree from a LOG
notice (plan_check), which the validator's size bounds keep to a few MB at most. A longer notice is cut like an
error, and a cut tree is refused as incomplete, so this bound can refuse a statement but never let one through."""

FIELD_BYTES = 4096
"""What is kept of each field of a longer error or notice message (the caller shows 600 characters)."""

DEFAULT_LIMIT = 16 * 1024 * 1024
"""Largest message read outside a row stream: catalog rows, statement descriptions. More closes the connection."""

_ERROR, _NOTICE, _DATA_ROW = ord("E"), ord("N"), ord("D")
_LENGTH = struct.Struct("!I")
_HEADER = 5
_ELLIPSIS = "…".encode()
_PASS, _DROP, _CUT = "pass", "drop", "cut"


class TooLarge(Exception):
    """Why the reader closed the connection: a message larger than it reads."""


@dataclass(frozen=True)
class DroppedRow:
    after: int
    """How many rows were passed on before it, since `dropping_rows` began."""
    size: int
    """Its size on the wire, in bytes."""


class BoundedReader(asyncio.Protocol):
    """asyncpg's protocol, behind a reader that bounds what one backend message can cost (see the module)."""

    def __init__(self, inner: asyncio.Protocol, transport: asyncio.Transport) -> None:
        self._inner = inner
        self._transport = transport
        self.limit = DEFAULT_LIMIT
        self.refused: str | None = None
        self._dropping = False
        self._rows = 0
        self._dropped: list[DroppedRow] = []
        self._header = bytearray()  # a header split across reads
        self._left = 0  # body bytes of the current message still to come
        self._mode = _PASS
        self._cut: _CutMessage | None = None

    @contextmanager
    def dropping_rows(self, limit: int) -> Iterator[list[DroppedRow]]:
        """While inside, DataRows over `limit` bytes are dropped and listed instead of closing the connection."""
        self.limit, self._dropping, self._rows, self._dropped = limit, True, 0, []
        try:
            yield self._dropped
        finally:
            self.limit, self._dropping = DEFAULT_LIMIT, False

    # --- asyncio.Protocol: data goes through the filter, everything else straight to asyncpg. ---------------
    def data_received(self, data: bytes) -> None:
        if self._closing():
            return
        if not self._left and not self._header and self._passes_whole(data):
            self._inner.data_received(data)
            return
        relay = _Relay(data)
        pos = 0
        while pos < len(data) and not self._closing():
            pos = self._body(relay, pos) if self._left else self._header_at(relay, pos)
        passed = relay.passed()
        if passed:
            self._inner.data_received(passed)
        if self._closing():
            self._transport.abort()

    def _passes_whole(self, data: bytes) -> bool:
        """Whether `data` is whole messages, each of which the framing below would pass unchanged (the common
        case: a read that starts at a message and holds only small ones). Then only the row count changes."""
        pos, end, rows, limit = 0, len(data), 0, self.limit
        while pos < end:
            if end - pos < _HEADER:
                return False
            kind, length = data[pos], _LENGTH.unpack_from(data, pos + 1)[0]
            if kind == _ERROR:
                bound = ERROR_BYTES
            elif kind == _NOTICE:
                bound = NOTICE_BYTES
            else:
                bound = limit
                rows += kind == _DATA_ROW
            if length < 4 or length > bound:
                return False
            pos += 1 + length
        if pos != end:
            return False
        self._rows += rows
        return True

    def _closing(self) -> bool:
        """A message was refused: the connection is being closed, and nothing more goes to asyncpg."""
        return self.refused is not None

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        # asyncpg makes this the cause of the error it raises in the operation that was waiting.
        self._inner.connection_lost(TooLarge(self.refused) if self.refused is not None else exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # --- The framing. ---------------------------------------------------------------------------------------
    def _header_at(self, relay: _Relay, pos: int) -> int:
        """Read the header starting at `pos` and decide what becomes of its message. Returns the new position."""
        data = relay.data
        if not self._header and len(data) - pos >= _HEADER:
            kind, length = data[pos], _LENGTH.unpack_from(data, pos + 1)[0]
            header_at, withheld, pos = pos, b"", pos + _HEADER
        else:  # a header split across reads: hold its bytes back until all five are here
            taken = data[pos : pos + _HEADER - len(self._header)]
            relay.skip(pos, pos + len(taken))
            self._header += taken
            pos += len(taken)
            if len(self._header) < _HEADER:
                return pos
            kind, length = self._header[0], _LENGTH.unpack_from(self._header, 1)[0]
            header_at, withheld = pos, bytes(self._header)
            self._header.clear()
        self._mode = self._decide(kind, length)
        if self._mode is _PASS:
            relay.insert(pos, withheld)
            if kind == _DATA_ROW:
                self._rows += 1
        else:
            # Nothing of a refused message, nor anything after it, reaches asyncpg: the connection is closed.
            relay.skip(header_at, len(data) if self.refused is not None else pos)
            if self._mode is _CUT:
                self._cut = _CutMessage(kind)
        self._left = length - 4
        if not self._left and self.refused is None:
            self._end_message(relay, pos)
        return pos

    def _body(self, relay: _Relay, pos: int) -> int:
        """Read what the current message has in this chunk. Returns the new position."""
        take = min(self._left, len(relay.data) - pos)
        if self._mode is not _PASS:
            if self._mode is _CUT:
                assert self._cut is not None
                self._cut.feed(relay.data, pos, pos + take)
            relay.skip(pos, pos + take)
        self._left -= take
        if not self._left:
            self._end_message(relay, pos + take)
        return pos + take

    def _decide(self, kind: int, length: int) -> str:
        if length < 4:  # the length counts itself: PostgreSQL never sends less
            self.refused = "the database sent a malformed message; the connection was closed"
            return _DROP
        if kind in (_ERROR, _NOTICE):
            return _CUT if length > (ERROR_BYTES if kind == _ERROR else NOTICE_BYTES) else _PASS
        if length <= self.limit:
            return _PASS
        if kind == _DATA_ROW and self._dropping:
            self._dropped.append(DroppedRow(after=self._rows, size=length + 1))
            return _DROP
        what = "row" if kind == _DATA_ROW else f"message of type {chr(kind)!r}"
        self.refused = (
            f"the database sent a {what} of {length + 1:,} bytes, more than the {self.limit:,} this server reads "
            "at once; the connection was closed"
        )
        return _DROP

    def _end_message(self, relay: _Relay, pos: int) -> None:
        if self._mode is _CUT:
            assert self._cut is not None
            relay.insert(pos, self._cut.message())
            self._cut = None
        self._mode = _PASS


class _Relay:
    """What one read passes on to asyncpg: the read itself, minus skipped ranges, plus inserted pieces."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._pieces: list[bytes] = []
        self._start = 0  # where the run of bytes passed on unchanged begins
        self._untouched = True

    def skip(self, start: int, stop: int) -> None:
        self._pieces.append(self.data[self._start : start])
        self._start, self._untouched = stop, False

    def insert(self, at: int, piece: bytes) -> None:
        if piece:
            self.skip(at, at)
            self._pieces.append(piece)

    def passed(self) -> bytes:
        if self._untouched:
            return self.data
        return b"".join([*self._pieces, self.data[self._start :]])


class _CutMessage:
    """An error or notice message rebuilt with every field cut to FIELD_BYTES, fed in pieces."""

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.body = bytearray()
        self.field: bytearray | None = None  # the field being read (after its code byte)
        self.cut = False  # the field being read had more than FIELD_BYTES

    def feed(self, data: bytes, start: int, stop: int) -> None:
        pos = start
        while pos < stop:
            if self.field is None:
                code = data[pos]
                pos += 1
                if code:  # a zero ends the message; `message` writes its own
                    self.body.append(code)
                    self.field, self.cut = bytearray(), False
                continue
            nul = data.find(b"\0", pos, stop)
            piece_end = stop if nul < 0 else nul
            room = FIELD_BYTES - len(self.field)
            self.field += data[pos : pos + min(room, piece_end - pos)]
            self.cut = self.cut or piece_end - pos > room
            if nul < 0:
                return
            self._end_field()
            pos = nul + 1

    def _end_field(self) -> None:
        assert self.field is not None
        field = bytes(self.field)
        if self.cut:
            field = _whole_characters(field) + _ELLIPSIS
        self.body += field + b"\0"
        self.field = None

    def message(self) -> bytes:
        if self.field is not None:  # the server never does this; close the field so asyncpg can read it
            self._end_field()
        body = bytes(self.body) + b"\0"
        return bytes([self.kind]) + _LENGTH.pack(len(body) + 4) + body


def _whole_characters(text: bytes) -> bytes:
    """`text` without a UTF-8 character cut in two at its end."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    decoder.decode(text, final=False)
    pending: bytes = decoder.getstate()[0]
    return text[: len(text) - len(pending)]


def install(conn: asyncpg.Connection) -> BoundedReader:
    """Put a `BoundedReader` between `conn`'s socket and its protocol (asyncio transports allow the swap)."""
    # asyncpg exposes neither attribute publicly; both have been stable since its first release.
    transport: Any = conn._transport
    reader = BoundedReader(conn._protocol, transport)
    transport.set_protocol(reader)
    return reader


def reader(conn: asyncpg.Connection) -> BoundedReader | None:
    """The reader `install` put on `conn` (a pooled connection's proxy works too), if any."""
    protocol = conn._transport.get_protocol()
    return protocol if isinstance(protocol, BoundedReader) else None
