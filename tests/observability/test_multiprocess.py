"""Multi-worker mode: processes write their values to PROMETHEUS_MULTIPROC_DIR and any one
of them renders the sum, as the workers of `hubgate serve --workers N` do."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubgate.observability.multiprocess import worker_exited
from tests.observability import _workers
from tests.observability.helpers import parse, value

ctx = multiprocessing.get_context("spawn")


def run(target: Callable[..., None], *args: Any) -> Any:
    """Run `target(*args, queue)` in a fresh interpreter and return what it put."""
    results = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, results))
    proc.start()
    try:
        answer = results.get(timeout=60)
    finally:
        proc.join(timeout=60)
    assert proc.exitcode == 0
    return answer


def test_the_exposition_sums_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    first = run(_workers.observe_then_exit, 3, 10)
    second = run(_workers.observe_then_exit, 2, 20)
    assert first != second
    s = parse(run(_workers.render, 5))
    chat = {"endpoint": "chat", "model": "gpt-x", "channel": "main"}
    assert value(s, "hubgate_requests_total", **chat, status="200") == 5
    assert value(s, "hubgate_tokens_total", key="alice", model="gpt-x", channel="main", kind="prompt") == 500
    assert value(s, "hubgate_cost_micros_total", key="alice", model="gpt-x", channel="main") == 5 * 1234
    assert value(s, "hubgate_upstream_attempts_total", channel="main") == 10
    assert value(s, "hubgate_failovers_total", model="gpt-x") == 5
    assert value(s, "hubgate_rate_limited_total", key="alice", limit="rpm") == 2
    streamed = {"endpoint": "chat", "stream": "true"}
    assert value(s, "hubgate_request_duration_seconds_bucket", **streamed, le="1.0") == 5
    assert value(s, "hubgate_request_duration_seconds_bucket", **streamed, le="0.5") == 0
    assert value(s, "hubgate_time_to_first_byte_seconds_count", endpoint="chat") == 5
    # Gauges: each live worker's own backlog, summed (the renderer's 5 included).
    assert value(s, "hubgate_usage_backlog_rows") == 10 + 20 + 5
    # A worker gone: its counts stay, its backlog no longer does.
    worker_exited(first, str(tmp_path))
    s = parse(run(_workers.render, 5))
    assert value(s, "hubgate_requests_total", **chat, status="200") == 5
    assert value(s, "hubgate_usage_backlog_rows") == 20 + 5


def test_a_worker_closing_leaves_the_gauge_sum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    run(_workers.close_worker, 7)
    assert value(parse(run(_workers.render, 1)), "hubgate_usage_backlog_rows") == 1


def test_observe_cost_in_multiprocess_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prints the per-call cost with values in mmap files; never fails on timing."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    us = run(_workers.observe_timed)
    with capsys.disabled():
        print(f"\n[bench] Metrics.observe, multi-worker (mmap): {us:.2f} µs per call (budget 10 µs)")
    assert us > 0


def test_the_shared_directory_is_fresh_and_removed_at_exit(tmp_path: Path) -> None:
    script = (
        "import os\n"
        "from hubgate.observability.multiprocess import shared_metrics_dir\n"
        "path = shared_metrics_dir()\n"
        "assert os.environ['PROMETHEUS_MULTIPROC_DIR'] == path and os.listdir(path) == []\n"
        "print(path)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    path = Path(out.stdout.strip())
    assert path.parent == tmp_path and path.name.startswith("hubgate-metrics-")
    assert not path.exists()
