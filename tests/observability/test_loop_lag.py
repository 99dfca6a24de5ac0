"""`LoopLag`: a timer that reports how late it fires."""

from __future__ import annotations

import asyncio
import time

from hubgate.observability.loop_lag import LoopLag


async def test_samples_until_stopped_and_the_max_covers_the_window() -> None:
    lags: list[float] = []
    monitor = LoopLag(lags.append, interval_s=0.01, window_s=0.2)
    monitor.start()
    monitor.start()  # idempotent: one timer
    await asyncio.sleep(0.05)
    assert lags and all(lag >= 0 for lag in lags)
    time.sleep(0.15)  # noqa: ASYNC251 - the stall under test, ~140 ms past the due time
    await asyncio.sleep(0.02)
    stall = max(lags)
    assert stall >= 0.12
    assert monitor.max_s == stall
    sampled = len(lags)
    await asyncio.sleep(0.45)  # two windows later the stall has aged out
    # The max is now one of the later samples (on a loaded machine one of them may even be a
    # longer stall of its own, so this is not `< stall`).
    assert monitor.max_s != stall and monitor.max_s in lags[sampled:]
    monitor.stop()
    seen = len(lags)
    await asyncio.sleep(0.03)
    assert len(lags) == seen
