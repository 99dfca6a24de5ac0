"""bench/run.py's PNG: throughput and latency per target, log scales (nginx is ~100x the
slowest target), with issue 17's throughput floor for hubgate (half the pass-through's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report import sc as _sc


def chart(results: dict[str, Any], path: Path) -> str | None:
    """Throughput and latency per target, log scales (nginx is ~100x the slowest)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = [n for n, t in results["targets"].items() if t.get("status") == "ok"]
    if not names:
        return None
    short = {
        "direct": "nginx\ndirect",
        "ceiling": "bare aiohttp\npass-through",
        "hubgate": "hubgate\n(SQLite log)",
        "hubgate-pg": "hubgate\n(PostgreSQL log)",
        "portkey": "Portkey\ngateway",
        "litellm": "LiteLLM\nproxy",
    }
    labels = [short.get(n, n) for n in names]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6.5))
    series = [("JSON c=8", "json_c8"), ("JSON c=32", "json_c32"), ("SSE c=32", "sse_c32")]
    _grouped_bars(
        ax1,
        labels,
        [(title, [(_sc(results, n, key) or {}).get("rps", 0) for n in names]) for title, key in series],
        "{:,.0f}",
    )
    ax1.set_ylabel("requests (streams) per second, log scale")
    ax1.set_title("Throughput (higher is better)")
    # Issue 17: hubgate at c=32 serves at least half of the pass-through's throughput.
    for key, style, what in (("json_c32", "--", "JSON"), ("sse_c32", ":", "SSE")):
        ceiling = _sc(results, "ceiling", key)
        if ceiling:
            floor = ceiling["rps"] / 2
            label = f"issue 17's floor for hubgate {what} c=32: half the pass-through's ({floor:,.0f}/s)"
            ax1.axhline(floor, color="grey", ls=style, lw=0.8, label=label)
    ax1.legend(fontsize=7)
    lat_series = [
        ("JSON c=1 p50", lambda n: (_sc(results, n, "json_c1") or {}).get("latency_ms", {}).get("p50")),
        ("JSON c=1 p99", lambda n: (_sc(results, n, "json_c1") or {}).get("latency_ms", {}).get("p99")),
        ("JSON c=8 p50", lambda n: (_sc(results, n, "json_c8") or {}).get("latency_ms", {}).get("p50")),
        ("SSE c=32 p50", lambda n: (_sc(results, n, "sse_c32") or {}).get("latency_ms", {}).get("p50")),
        ("JSON c=32 p99", lambda n: (_sc(results, n, "json_c32") or {}).get("latency_ms", {}).get("p99")),
    ]
    _grouped_bars(ax2, labels, [(title, [get(n) or 0 for n in names]) for title, get in lat_series], "{:.2f}")
    ax2.set_ylabel("milliseconds, log scale")
    ax2.set_title("Latency (lower is better)")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.margins(y=0.25)
        ax.grid(axis="y", which="major", alpha=0.3)
    fig.suptitle(f"hubgate benchmark {results['date']} (2 cores, wrk -t2, nginx upstream)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def _grouped_bars(ax: Any, labels: list[str], series: list[tuple[str, list[float]]], fmt: str) -> None:
    """One bar per series beside each other for every target, its value on top; log scale."""
    width = 0.8 / len(series)
    for i, (title, values) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        bars = ax.bar(xs, values, width, label=title)
        shown = [fmt.format(v) if v else "" for v in values]
        ax.bar_label(bars, labels=shown, fontsize=7, rotation=90, padding=2)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
