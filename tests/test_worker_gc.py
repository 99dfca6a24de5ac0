"""A worker's cyclic GC, once it is serving: the start-up heap set aside (frozen) and the
youngest generation collected after GC_YOUNG_THRESHOLD net new objects, not Python's 700
(young collections walked the requests in flight several times a request)."""

from __future__ import annotations

import asyncio
import gc
import sys

from hubgate.server import GC_YOUNG_THRESHOLD, GIL_SWITCH_INTERVAL_S, _freeze_heap, _short_gil_turns


def test_a_started_worker_freezes_its_heap_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    try:
        asyncio.run(_freeze_heap(None))  # type: ignore[arg-type]  # the app is not read
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
        assert GC_YOUNG_THRESHOLD >= 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_worker_hands_the_gil_over_after_a_millisecond() -> None:
    before = sys.getswitchinterval()
    try:
        _short_gil_turns()
        assert sys.getswitchinterval() == GIL_SWITCH_INTERVAL_S <= 0.001 < before
    finally:
        sys.setswitchinterval(before)
