"""Reading the exposition text back, and building usage rows, for the observability tests."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hubgate.storage.usage import UsageRow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str | bytes) -> Samples:
    """Every sample of an exposition, by (sample name, labels)."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the series does not exist."""
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def row(**fields: Any) -> UsageRow:
    """A finished request: a streamed chat that failed over once, unless told otherwise."""
    base: dict[str, Any] = {
        "request_id": "req-test",
        "endpoint": "chat",
        "status": 200,
        "stream": True,
        "key_name": "alice",
        "model": "gpt-x",
        "upstream_model": "gpt-x-2025",
        "channel": "main",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "cached_tokens": 30,
        "cache_write_tokens": 5,
        "reasoning_tokens": 7,
        "cost_micros": 1234,
        "latency_ms": 800,
        "ttfb_ms": 120,
        "attempts": 2,
    }
    base.update(fields)
    return UsageRow(**base)


def bench_rows() -> list[UsageRow]:
    """A realistic mix for timing `observe`: keys, models, channels, streams, failovers."""
    return [
        row(
            key_name=f"key-{i % 5}",
            model=f"model-{i % 3}",
            channel=f"channel-{i % 2}",
            stream=bool(i % 2),
            ttfb_ms=120 if i % 2 else None,
            attempts=2 if i % 7 == 0 else 1,
            reasoning_tokens=0,
            cache_write_tokens=0,
        )
        for i in range(64)
    ]


def time_observe(observe: Any, rows: list[UsageRow], n: int) -> float:
    """Mean µs per `observe(row)` over `n` calls, after a warm-up that resolves every series."""
    for r in rows:
        observe(r)
    mask = len(rows) - 1  # a power of two
    started = time.perf_counter()
    for i in range(n):
        observe(rows[i & mask])
    return (time.perf_counter() - started) / n * 1e6
