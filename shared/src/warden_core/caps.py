"""Output caps: a tool result never grows past its byte budget, and says when it was cut.

Tools fill their results through a `Budget`, so they stop reading from the backend once the
budget is spent instead of building a huge result and trimming it afterwards.
"""

from __future__ import annotations

from typing import Any

import pydantic_core


def json_size(value: Any) -> int:
    """Bytes `value` takes as compact JSON (what it costs in the result)."""
    return len(pydantic_core.to_json(value, fallback=str))


def truncate_text(text: str, max_bytes: int) -> tuple[str, bool]:
    """Cut `text` to at most `max_bytes` UTF-8 bytes, on a character boundary."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode(errors="ignore"), True


class Budget:
    """Bytes left for a result. `admit` says whether one more item still fits."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.truncated = False

    @property
    def remaining(self) -> int:
        return max(0, self.max_bytes - self.used)

    def admit(self, item: Any) -> bool:
        """Count `item` against the budget; False (and `truncated`) once it no longer fits."""
        size = json_size(item) + 1
        if self.truncated or size > self.remaining:
            self.truncated = True
            return False
        self.used += size
        return True

    def reserve(self, size: int) -> bool:
        """Spend `size` bytes on what surrounds the items (headers, the rest of the answer).

        False (and `truncated`) when not even that fits.
        """
        if size > self.remaining:
            self.used = self.max_bytes
            self.truncated = True
            return False
        self.used += size
        return True

    def take_text(self, text: str) -> str:
        """Admit as much of `text` as fits."""
        kept, cut = truncate_text(text, self.remaining)
        self.used += len(kept.encode())
        self.truncated = self.truncated or cut
        return kept
