"""Event-loop lag: how late a periodic timer fires, i.e. how long the loop was busy elsewhere.

One timer per worker (`loop.call_later`, no task, no coroutine): every `interval_s` it
notes how far past its due time it ran and hands that to `record`. A lag near zero means
the loop answers promptly; a lag of 50 ms means some callback held the loop for 50 ms,
and every request in flight waited that long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

INTERVAL_S: Final = 0.25  # 4 samples a second: cheap (a few µs each) and fine enough for stalls
WINDOW_S: Final = 10.0  # the max gauge covers the current window and the one before it


class LoopLag:
    """Samples the running loop's lag every `interval_s` seconds until `stop`.

    `record(lag_s)` is called once per sample; `max_s` is the largest lag of the last one
    to two windows (`window_s` each), so a stall stays visible for at least `window_s`.
    """

    def __init__(
        self,
        record: Callable[[float], None],
        *,
        interval_s: float = INTERVAL_S,
        window_s: float = WINDOW_S,
    ) -> None:
        self._record = record
        self._interval = interval_s
        self._window = window_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._window_end = 0.0
        self._current_max = 0.0
        self._previous_max = 0.0

    @property
    def max_s(self) -> float:
        return max(self._current_max, self._previous_max)

    def start(self) -> None:
        """Start sampling on the running loop (idempotent)."""
        if self._handle is not None:
            return
        self._loop = loop = asyncio.get_running_loop()
        self._window_end = loop.time() + self._window
        self._schedule(loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self._interval
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        lag = max(0.0, now - self._due)
        if now >= self._window_end:
            self._previous_max, self._current_max = self._current_max, 0.0
            self._window_end = now + self._window
        if lag > self._current_max:
            self._current_max = lag
        try:
            self._record(lag)
        finally:
            self._schedule(loop)
