"""Targets for spawned processes (importable by name, as spawn requires).

Each runs in a fresh interpreter that inherited PROMETHEUS_MULTIPROC_DIR, so its
prometheus_client stores values in that directory, as a `serve --workers N` worker does.
"""

from __future__ import annotations

import asyncio
import os
from multiprocessing.queues import Queue
from typing import Any

from hubgate.observability.metrics import Metrics, multiprocess_values
from tests.observability.helpers import bench_rows, row, time_observe


def observe_then_exit(rows: int, backlog: int, results: Queue[Any]) -> None:
    """A worker: count `rows` requests and a refusal, publish its backlog, report its pid."""
    metrics = Metrics.from_env(backlog=lambda: backlog)
    assert metrics.multiprocess_dir is not None and multiprocess_values()
    metrics.refresh()
    for _ in range(rows):
        metrics.observe(row())
    metrics.flush()  # what a running worker's refresher does every GAUGE_REFRESH_S
    metrics.rate_limited("alice", "rpm")
    results.put(os.getpid())


def observe_timed(results: Queue[Any]) -> None:
    """µs per observe with values in mmap files (the multi-worker path)."""
    metrics = Metrics.from_env()
    results.put(time_observe(metrics.observe, bench_rows(), 20_000))


def render(backlog: int, results: Queue[Any]) -> None:
    """The worker that answers the scrape (everyone's metrics, summed), then stops gracefully."""
    metrics = Metrics.from_env(backlog=lambda: backlog)
    text = metrics.render().decode()
    asyncio.run(metrics.close())
    results.put(text)


def close_worker(backlog: int, results: Queue[Any]) -> None:
    """A worker that shuts down gracefully: its live gauge leaves the sum."""

    async def run() -> None:
        metrics = Metrics.from_env(backlog=lambda: backlog)
        metrics.start()
        await asyncio.sleep(0.05)
        await metrics.close()

    asyncio.run(run())
    results.put(os.getpid())
