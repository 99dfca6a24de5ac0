"""The directory through which `hubgate serve --workers N` sums every worker's metrics.

prometheus_client reads PROMETHEUS_MULTIPROC_DIR once, when it is imported: the
parent sets it before spawning the workers, so each worker writes its values to its
own files there and any of them can answer `/metrics` for all.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from prometheus_client.multiprocess import mark_process_dead

from hubgate.observability.metrics import MULTIPROC_ENV


def shared_metrics_dir() -> str:
    """A fresh, empty directory in PROMETHEUS_MULTIPROC_DIR for the workers spawned from now on.

    Fresh, because files left by an earlier run would be added to this run's counters.
    It is removed when this (the parent) process exits.
    """
    path = tempfile.mkdtemp(prefix="hubgate-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def worker_exited(pid: int | None, path: str) -> None:
    """Drop a dead worker's live gauges; its counters stay, since what they counted happened."""
    if pid is not None:
        mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
