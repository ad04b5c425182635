"""A fair share of one database's pooled connections between the principals calling it.

Without it, one caller with a few slow queries held every pooled connection, and another caller's quick
query waited for them (13.8 s measured). The rule here:

- a principal holds at most `cap` = max(1, size - 1) connections at once, so with two or more connections
  in the pool one is always left for somebody else;
- when a connection comes free it goes to the waiting principal that holds the fewest, first come first
  served among equals, so a caller with nothing yet never waits behind one that already has several.

A principal alone still gets `cap` connections in parallel. With a pool of one, the rule cannot help:
callers take turns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import anyio


@dataclass(eq=False)
class _Waiter:
    principal: str
    granted: anyio.Event = field(default_factory=anyio.Event)


class FairShare:
    def __init__(self, size: int) -> None:
        self.size = size
        self.cap = max(1, size - 1)
        self.held: Counter[str] = Counter()
        self._in_use = 0
        self._waiting: list[_Waiter] = []  # in order of arrival

    async def acquire(self, principal: str) -> None:
        """Take one of the pool's slots for `principal`, waiting for one if need be. Pair with `release`."""
        waiter = _Waiter(principal)
        self._waiting.append(waiter)
        self._grant()
        try:
            await waiter.granted.wait()
        except BaseException:  # cancelled or timed out while waiting, or in the instant after the grant
            if waiter.granted.is_set():
                self.release(principal)
            else:
                self._waiting.remove(waiter)
            raise

    def release(self, principal: str) -> None:
        self.held[principal] -= 1
        if not self.held[principal]:
            del self.held[principal]
        self._in_use -= 1
        self._grant()

    def _grant(self) -> None:
        while self._in_use < self.size:
            eligible = [w for w in self._waiting if self.held[w.principal] < self.cap]
            if not eligible:
                return
            chosen = min(eligible, key=lambda w: self.held[w.principal])  # the first of the least served
            self._waiting.remove(chosen)
            self.held[chosen.principal] += 1
            self._in_use += 1
            chosen.granted.set()
