"""Reading a record for a cache while usage flushes move it underneath.

A flush commits new spend totals, then releases the same cost from the in-memory
`pending` counters and bumps the cache's generation. A read that began before the
commit and ended after the release sees neither: budgets and balances would be
under-counted for one request. So a read that overlapped a generation change is
read again, and is only cached when one read ran undisturbed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def read_steady(
    read: Callable[[], Awaitable[T]], generation: Callable[[], int], attempts: int = 3
) -> tuple[T, bool]:
    """`read()` until no invalidation lands during it (at most `attempts` times).
    Returns the last value and whether it is steady (safe to cache)."""
    for _ in range(attempts):
        before = generation()
        value = await read()
        if generation() == before:
            return value, True
    return value, False


class FlushMark:
    """When the usage flush under way began (`begin`, before its transaction). A cache moves
    a record by what the flush wrote only if the record was stored before then: one stored
    later may count that flush already, and is read again instead."""

    __slots__ = ("_began",)

    def __init__(self) -> None:
        self._began: float | None = None  # None: no flush announced

    def begin(self) -> None:
        self._began = time.monotonic()

    def end(self) -> None:
        self._began = None

    def predates(self, stored: float) -> bool:
        """Whether a record stored at `stored` (time.monotonic) was read before the flush began."""
        return self._began is not None and stored < self._began
