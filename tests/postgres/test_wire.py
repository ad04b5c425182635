"""The wire reader: what PostgreSQL sends reaches asyncpg unchanged, except messages too large to hold.

Synthetic streams are fed in every chunking hypothesis finds (a message header split over two reads included),
and the output must not depend on it. Then a real connection shows asyncpg reading the rewritten messages and
the connection staying usable.
"""

from __future__ import annotations

import itertools
import struct
import tracemalloc
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.postgres.shop import Shop
from warden_postgres import wire
from warden_postgres.wire import ERROR_BYTES, FIELD_BYTES, NOTICE_BYTES, BoundedReader, DroppedRow

MiB = 1024 * 1024


def message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def data_row(*values: bytes | None) -> bytes:
    cells = b"".join(struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v for v in values)
    return message(b"D", struct.pack("!H", len(values)) + cells)


def error(kind: bytes = b"E", **fields: str) -> bytes:
    return message(kind, b"".join(code.encode() + text.encode() + b"\0" for code, text in fields.items()) + b"\0")


def fields_of(raw: bytes) -> dict[str, str]:
    """An error or notice message read back the way asyncpg reads it (each field must decode as UTF-8)."""
    length = struct.unpack("!I", raw[1:5])[0]
    assert len(raw) == length + 1
    parsed: dict[str, str] = {}
    for part in raw[5:].split(b"\0")[:-2]:
        parsed[chr(part[0])] = part[1:].decode()
    assert raw.endswith(b"\0\0")
    return parsed


class Inner:
    def __init__(self) -> None:
        self.received = bytearray()
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


def reader() -> tuple[BoundedReader, Inner, Transport]:
    inner, transport = Inner(), Transport()
    return BoundedReader(inner, transport), inner, transport  # type: ignore[arg-type]


def feed(bounded: BoundedReader, stream: bytes, cuts: Iterable[int] = ()) -> None:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for start, stop in itertools.pairwise(points):
        bounded.data_received(stream[start:stop])


cut_points = st.lists(st.integers(0, 10**9), max_size=12)

ORDINARY = (
    message(b"1", b"")  # ParseComplete
    + message(b"T", b"\x00\x01c\x00" + bytes(18))
    + data_row(b"1", None, b"x" * 300)
    + error(S="ERROR", C="22012", M="division by zero")
    + message(b"Z", b"T")
)


@given(cut_points)
def test_ordinary_traffic_passes_byte_for_byte(cuts: list[int]) -> None:
    bounded, inner, transport = reader()
    feed(bounded, ORDINARY, cuts)
    assert bytes(inner.received) == ORDINARY
    assert not transport.aborted


BIG_ERROR = error(
    S="ERROR",
    V="ERROR",
    C="22P02",
    M='invalid input syntax for type integer: "' + "x" * 200_000 + '"',
    R="pg_strtoint32",
)


@given(cut_points)
def test_a_long_error_is_cut_field_by_field(cuts: list[int]) -> None:
    bounded, inner, _ = reader()
    feed(bounded, BIG_ERROR + message(b"Z", b"E"), cuts)
    rewritten = bytes(inner.received)
    assert rewritten.endswith(message(b"Z", b"E"))
    fields = fields_of(rewritten[: -len(message(b"Z", b"E"))])
    assert fields["C"] == "22P02" and fields["S"] == "ERROR" and fields["R"] == "pg_strtoint32"
    assert fields["M"].startswith('invalid input syntax for type integer: "xxx')
    assert fields["M"].endswith("…")
    assert len(fields["M"].encode()) == FIELD_BYTES + len("…".encode())


@given(cut_points, st.sampled_from(["é", "€", "𝄞"]))
def test_fields_are_cut_between_characters(cuts: list[int], char: str) -> None:
    bounded, inner, _ = reader()
    feed(bounded, error(b"E", S="ERROR", C="XX000", M="a" + char * 10_000), cuts)
    text = fields_of(bytes(inner.received))["M"]  # decoding would fail on half a character
    assert text == "a" + char * ((FIELD_BYTES - 1) // len(char.encode())) + "…"


def test_errors_up_to_the_threshold_pass_untouched() -> None:
    bounded, inner, _ = reader()
    exact = error(S="ERROR", C="XX000", M="y" * (ERROR_BYTES - 30))
    assert len(exact) - 1 <= ERROR_BYTES
    feed(bounded, exact)
    assert bytes(inner.received) == exact


@given(cut_points)
def test_while_streaming_rows_an_oversized_row_is_dropped_and_reported(cuts: list[int]) -> None:
    bounded, inner, transport = reader()
    small, big = data_row(b"1"), data_row(b"x" * 5000)
    with bounded.dropping_rows(1000) as dropped:
        feed(bounded, small + small + big + small + message(b"s", b""), cuts)
    assert bytes(inner.received) == small + small + small + message(b"s", b"")
    assert dropped == [DroppedRow(after=2, size=len(big))]
    assert not transport.aborted


@given(cut_points)
def test_an_oversized_row_outside_a_stream_closes_the_connection(cuts: list[int]) -> None:
    bounded, inner, transport = reader()
    bounded.limit = 1000
    small, big = data_row(b"1"), data_row(b"x" * 5000)
    feed(bounded, small + big + small, cuts)
    assert transport.aborted
    assert bytes(inner.received) == small  # nothing of the refused row, nor after it
    assert bounded.refused == (
        f"the database sent a row of {len(big):,} bytes, more than the 1,000 this server reads at once; "
        "the connection was closed"
    )


def test_other_oversized_messages_close_the_connection_even_while_streaming() -> None:
    bounded, _, transport = reader()
    with bounded.dropping_rows(1000):
        feed(bounded, message(b"T", bytes(5000)))
    assert transport.aborted and "message of type 'T'" in (bounded.refused or "")


def huge_error_chunks(size: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """An ErrorResponse whose message field is `size` bytes, in reads the size asyncio makes, never whole."""
    head = b"SERROR\0C22P02\0M"
    tail = b"\0\0"
    yield b"E" + struct.pack("!I", 4 + len(head) + size + len(tail)) + head
    for start in range(0, size, chunk):
        yield b"x" * min(chunk, size - start)
    yield tail + message(b"Z", b"E")


def test_a_200_mb_error_costs_a_few_kilobytes() -> None:
    """What froze the server: asyncpg's reading of such a message is quadratic and holds all of it."""
    bounded, inner, _ = reader()
    tracemalloc.start()
    try:
        for chunk in huge_error_chunks(200_000_000):
            bounded.data_received(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB  # one 256 KiB read at a time, and the cut fields
    assert fields_of(bytes(inner.received)[: -len(message(b"Z", b"E"))])["C"] == "22P02"


# --- A real connection: asyncpg reads what the reader passes on, and the protocol stays in step. ----------


@pytest.fixture
async def conn(shop: Shop) -> Any:
    connection = await asyncpg.connect(shop.owner, statement_cache_size=0)
    bounded = wire.install(connection)
    assert wire.reader(connection) is bounded
    try:
        yield connection
    finally:
        connection.terminate()


@pytest.mark.anyio
async def test_asyncpg_reads_a_cut_error_and_the_connection_goes_on(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.InvalidTextRepresentationError) as failed:
        await conn.fetch("SELECT repeat('x', 1000000)::int")
    assert failed.value.sqlstate == "22P02"
    assert failed.value.message.startswith('invalid input syntax for type integer: "xxxx')
    assert failed.value.message.endswith("…") and len(failed.value.message) < 2 * FIELD_BYTES
    assert await conn.fetchval("SELECT 41 + 1") == 42


@pytest.mark.anyio
async def test_asyncpg_reads_a_cut_notice(conn: asyncpg.Connection) -> None:
    notices: list[Any] = []
    conn.add_log_listener(lambda _conn, notice: notices.append(notice))
    # A notice is cut past NOTICE_BYTES (the plan check's query trees, a few MB at most, pass whole).
    await conn.execute("DO $$ BEGIN RAISE NOTICE '%', repeat('n', 100000); END $$")
    await conn.execute(f"DO $$ BEGIN RAISE NOTICE '%', repeat('n', {NOTICE_BYTES + 1}); END $$")
    assert await conn.fetchval("SELECT 1") == 1
    assert [notice.message for notice in notices] == ["n" * 100000, "n" * FIELD_BYTES + "…"]


@pytest.mark.anyio
async def test_a_real_oversized_row_closes_the_connection(conn: asyncpg.Connection) -> None:
    bounded = wire.reader(conn)
    assert bounded is not None
    bounded.limit = 100_000
    with pytest.raises(asyncpg.ConnectionDoesNotExistError) as failed:
        await conn.fetch("SELECT repeat('x', 200000)")
    assert isinstance(failed.value.__cause__, wire.TooLarge)  # how errors.translate tells it from a lost connection
    assert bounded.refused is not None and "a row of 200,011 bytes" in bounded.refused
    assert conn.is_closed()
