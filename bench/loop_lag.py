"""hubgate's event-loop lag as its /metrics shows it, and the lag over a stretch of load.

`scrape(base)` reads the `hubgate_event_loop_lag_seconds` histogram (summed over the
workers) and the `hubgate_event_loop_lag_max_seconds` gauge (the worst worker's largest lag
of the last 10-20 s); `between(before, after, gauge_reads)` turns two scrapes into the
lag over what ran between them: samples, mean, 99th percentile (interpolated inside its
bucket, as Prometheus' histogram_quantile does) and the largest lag. Each worker samples
its loop 4 times a second. Standard library only (bench/ab.py and bench/run.py use it).
"""

from __future__ import annotations

import math
import urllib.request
from typing import Any

HISTOGRAM = "hubgate_event_loop_lag_seconds"
MAX_GAUGE = "hubgate_event_loop_lag_max_seconds"


def scrape(base: str) -> dict[str, Any] | None:
    """The lag histogram and max gauge from `base`/metrics, or None when that hubgate has
    no such metric (revisions before hubgate_event_loop_lag_seconds) or does not answer."""
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    out: dict[str, Any] = {"buckets": {}}
    for line in text.splitlines():
        if line.startswith(HISTOGRAM + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out["buckets"][le] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(HISTOGRAM + "_count"):
            out["count"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(HISTOGRAM + "_sum"):
            out["sum"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(MAX_GAUGE):
            out["max_s"] = float(line.rsplit(" ", 1)[1])
    return out if "count" in out else None


def accumulate(
    total: dict[str, Any] | None, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any] | None:
    """`total` plus what the histogram gained from `before` to `after` (a scrape-shaped dict
    that `between(EMPTY, total)` summarises); the max gauge keeps the last read. Only kept
    runs are added: lag during a run thrown away as noisy, or between runs, stays out."""
    if before is None or after is None:
        return total
    out = total or {"buckets": {}, "count": 0.0, "sum": 0.0}
    for le, n in after["buckets"].items():
        out["buckets"][le] = out["buckets"].get(le, 0.0) + n - before["buckets"].get(le, 0.0)
    out["count"] += after["count"] - before["count"]
    out["sum"] += after["sum"] - before["sum"]
    out["max_s"] = after.get("max_s")
    return out


EMPTY: dict[str, Any] = {"buckets": {}, "count": 0.0, "sum": 0.0}


def _quantile(q: float, bounds: list[tuple[float, float]], count: float) -> float:
    """Prometheus-style: the bucket holding rank q*count, linear inside it (seconds);
    in the +Inf bucket, the highest finite bound."""
    rank = q * count
    lower, below = 0.0, 0.0
    for le, cumulative in bounds:
        if cumulative >= rank:
            if math.isinf(le):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = le, cumulative
    return lower


def between(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    gauge_reads: list[float] | None = None,
) -> dict[str, Any] | None:
    """The lag between two scrapes: samples, mean, p99 (and the bucket bound holding it),
    shares above 10 ms and 100 ms, and the largest lag: `max_ms` from the max gauge read
    at the end and in `gauge_reads` (read at most 10 s apart they cover the whole stretch),
    `max_le_ms` the upper bound of the highest histogram bucket that gained samples (and a
    cap on `max_ms`, which in turn caps the interpolated p99)."""
    if before is None or after is None:
        return None
    count = after["count"] - before["count"]
    if count <= 0:
        return None
    cumulative = {le: after["buckets"][le] - before["buckets"].get(le, 0.0) for le in after["buckets"]}
    bounds = sorted((float(le), n) for le, n in cumulative.items())
    p99_le = next((le for le, n in bounds if n >= 0.99 * count), math.inf)
    at = dict(bounds)
    top_le, previous = 0.0, 0.0
    for le, n in bounds:
        if n > previous:
            top_le = le
        previous = n
    reads = [v for v in [*(gauge_reads or []), after.get("max_s")] if v is not None]
    # A read may reach up to 10 s before the stretch; no lag in it exceeds top_le.
    largest = min(max(reads), top_le) if reads else None
    p99 = _quantile(0.99, bounds, count)
    if largest is not None:  # interpolation inside a wide bucket can overshoot the largest lag
        p99 = min(p99, largest)
    return {
        "samples": count,
        "mean_ms": round((after["sum"] - before["sum"]) / count * 1000, 3),
        "p99_ms": round(p99 * 1000, 2),
        "p99_le_ms": p99_le * 1000,
        "over_10ms": round(1 - at.get(0.01, count) / count, 4),
        "over_100ms": round(1 - at.get(0.1, count) / count, 4),
        "max_ms": round(largest * 1000, 2) if largest is not None else None,
        "max_le_ms": top_le * 1000,
        "max_s_at_end": after.get("max_s"),
    }
