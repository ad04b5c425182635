"""Small pure pieces: log tails, rate-limit arithmetic, cursors, search scoping."""

from __future__ import annotations

import time

import pytest

from warden_core import InvalidArgument, RateLimited, Retryable
from warden_github.client import read_tail
from warden_github.errors import from_status, rate_limit_wait
from warden_github.tools.actions import keep_end
from warden_github.tools.common import Position, decode_cursor, encode_cursor


def test_read_tail_handles_chunks_crlf_colours_and_timestamps() -> None:
    log = b"2026-11-01T10:00:00.1234567Z \x1b[32mok\x1b[0m\r\nplain\r\n##[error]bo" + b"om\r\nlast"
    chunks = [log[i : i + 7] for i in range(0, len(log), 7)]
    tail = read_tail(chunks, tail_lines=2, max_bytes=10_000)
    assert tail.lines == ["##[error]boom", "last"]
    assert tail.errors == ["##[error]boom"]
    assert tail.total_lines == 4 and not tail.cut


def test_read_tail_bounds_memory_on_one_endless_line() -> None:
    tail = read_tail([b"x" * 100_000] * 3, tail_lines=5, max_bytes=1_000_000)
    assert all(len(line) <= 502 for line in tail.lines)


def test_keep_end_cuts_at_a_line_start() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    kept, cut = keep_end(text, 40)
    assert cut and kept.endswith("line 99") and kept.startswith("line ")
    assert keep_end("short", 40) == ("short", False)


def test_rate_limit_waits() -> None:
    assert rate_limit_wait(429, {"Retry-After": "7"}, {}) == 7
    reset = str(int(time.time()) + 100)
    primary = rate_limit_wait(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}, {})
    assert primary is not None and primary > 90
    assert rate_limit_wait(403, {}, {"message": "You have exceeded a secondary rate limit."}) == 60
    assert rate_limit_wait(403, {}, {"message": "Resource not accessible by integration"}) is None
    assert rate_limit_wait(404, {"Retry-After": "5"}, {}) is None


def test_short_waits_are_retried_and_long_ones_fail_fast() -> None:
    short = from_status(429, {"Retry-After": "2"}, {}, "x", retry_after_cap=30)
    assert isinstance(short, Retryable) and short.retry_after == 2
    long = from_status(429, {"Retry-After": "300"}, {}, "x", retry_after_cap=30)
    assert isinstance(long, RateLimited) and long.retry_after == 300


def test_cursor_round_trip_and_binding() -> None:
    cursor = encode_cursor("abc", Position(3, 7, 25))
    assert decode_cursor(cursor, "abc", 10) == Position(3, 7, 25)
    assert decode_cursor("", "abc", 10) == Position(1, 0, 10)
    with pytest.raises(InvalidArgument):
        decode_cursor(cursor, "other", 10)
    with pytest.raises(InvalidArgument):
        decode_cursor(encode_cursor("abc", Position(0, 0, 1)), "abc", 10)
