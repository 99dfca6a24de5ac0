"""`Metrics.observe`: what one finished request adds to the exposition."""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
import time

import prometheus_client
import pytest

from hubgate.observability.metrics import LATENCY_BUCKETS, TOKEN_KINDS, Metrics
from tests.observability.helpers import bench_rows, names, parse, row, time_observe, value


def test_a_request_counts_once_under_its_labels() -> None:
    metrics = Metrics()
    metrics.observe(row())
    metrics.observe(row(status=502, stream=False, ttfb_ms=None, attempts=1, prompt_tokens=0,
                        completion_tokens=0, cached_tokens=0, cache_write_tokens=0,
                        reasoning_tokens=0, cost_micros=0))  # fmt: skip
    s = parse(metrics.render())
    labels = {"endpoint": "chat", "model": "gpt-x", "channel": "main"}
    assert value(s, "hubgate_requests_total", **labels, status="200") == 1
    assert value(s, "hubgate_requests_total", **labels, status="502") == 1
    assert value(s, "hubgate_upstream_attempts_total", channel="main") == 3
    assert value(s, "hubgate_failovers_total", model="gpt-x") == 1


def test_tokens_and_cost_by_key_model_channel_and_kind() -> None:
    metrics = Metrics()
    metrics.observe(row())
    metrics.observe(row(reasoning_tokens=0, cost_micros=66))
    s = parse(metrics.render())
    spend = {"key": "alice", "model": "gpt-x", "channel": "main"}
    expected = {"prompt": 200, "completion": 40, "cached": 60, "cache_write": 10, "reasoning": 7}
    assert set(expected) == set(TOKEN_KINDS)
    for kind, n in expected.items():
        assert value(s, "hubgate_tokens_total", **spend, kind=kind) == n, kind
    assert value(s, "hubgate_cost_micros_total", **spend) == 1234 + 66


def test_kinds_never_used_make_no_series() -> None:
    metrics = Metrics()
    metrics.observe(row(reasoning_tokens=0, cache_write_tokens=0, cost_micros=0))
    s = parse(metrics.render())
    kinds = {dict(labels)["kind"] for name, labels in s if name == "hubgate_tokens_total"}
    assert kinds == {"prompt", "completion", "cached"}
    assert "hubgate_cost_micros_total" not in names(s)


def test_latency_and_time_to_first_byte_histograms() -> None:
    metrics = Metrics()
    metrics.observe(row(latency_ms=800, ttfb_ms=120))
    metrics.observe(row(latency_ms=3, ttfb_ms=None, stream=False))
    s = parse(metrics.render())
    streamed = {"endpoint": "chat", "stream": "true"}
    assert value(s, "hubgate_request_duration_seconds_bucket", **streamed, le="0.5") == 0
    assert value(s, "hubgate_request_duration_seconds_bucket", **streamed, le="1.0") == 1
    assert value(s, "hubgate_request_duration_seconds_bucket", **streamed, le="+Inf") == 1
    assert value(s, "hubgate_request_duration_seconds_sum", **streamed) == pytest.approx(0.8)
    plain = {"endpoint": "chat", "stream": "false"}
    assert value(s, "hubgate_request_duration_seconds_bucket", **plain, le="0.0025") == 0
    assert value(s, "hubgate_request_duration_seconds_bucket", **plain, le="0.005") == 1
    assert value(s, "hubgate_time_to_first_byte_seconds_bucket", endpoint="chat", le="0.1") == 0
    assert value(s, "hubgate_time_to_first_byte_seconds_bucket", endpoint="chat", le="0.25") == 1
    assert value(s, "hubgate_time_to_first_byte_seconds_count", endpoint="chat") == 1  # only the stream
    bounds = {dict(labels)["le"] for name, labels in s if name == "hubgate_time_to_first_byte_seconds_bucket"}
    assert bounds == {str(b) for b in LATENCY_BUCKETS} | {"+Inf"}  # 1 ms .. 120 s


def test_summed_observations_expose_as_one_observe_per_value() -> None:
    """`observe` sums per series and `flush` adds the sums: the exposition is what
    prometheus_client's own `observe`, called once per value, gives (bucket edges included)."""
    rng = random.Random(7)
    edges = [int(b * 1000) for b in LATENCY_BUCKETS if b * 1000 == int(b * 1000)]
    latencies = [rng.choice([*edges, 0, 1, 7, 999, 250_000, rng.randrange(200_000)]) for _ in range(500)]
    metrics = Metrics()
    reference = prometheus_client.CollectorRegistry()
    hist = prometheus_client.Histogram("hubgate_request_duration_seconds", "d", ("endpoint", "stream"),
                                       buckets=LATENCY_BUCKETS, registry=reference)  # fmt: skip
    for i, ms in enumerate(latencies):
        metrics.observe(row(latency_ms=ms, ttfb_ms=None, stream=False))
        hist.labels("chat", "false").observe(ms / 1000)
        if i == 200:
            metrics.render()  # a scrape in between: flushed sums are not added twice
    ours = parse(metrics.render())
    theirs = parse(prometheus_client.generate_latest(reference))
    for (name, labels), expected in theirs.items():
        if name.startswith("hubgate_request_duration_seconds") and not name.endswith("_created"):
            assert ours[(name, labels)] == pytest.approx(expected), (name, dict(labels))
    assert value(ours, "hubgate_requests_total", endpoint="chat", model="gpt-x", channel="main",
                 status="200") == len(latencies)  # fmt: skip


def test_missing_labels_and_unexpected_failures() -> None:
    metrics = Metrics()
    # Authenticated, then refused before routing: no model, no channel, no attempt.
    metrics.observe(row(model=None, channel=None, status=404, attempts=0, prompt_tokens=0,
                        completion_tokens=0, cached_tokens=0, cache_write_tokens=0,
                        reasoning_tokens=0, cost_micros=0, ttfb_ms=None))  # fmt: skip
    metrics.observe(row(status=0))  # an unexpected exception: the caller got a 500
    s = parse(metrics.render())
    assert value(s, "hubgate_requests_total", endpoint="chat", model="", channel="", status="404") == 1
    assert (
        value(s, "hubgate_requests_total", endpoint="chat", model="gpt-x", channel="main", status="500") == 1
    )
    assert value(s, "hubgate_upstream_attempts_total", channel="") is None


def test_rate_limits_and_cooldowns() -> None:
    metrics = Metrics()
    metrics.rate_limited("alice", "rpm")
    metrics.rate_limited("alice", "rpm")
    metrics.rate_limited("bob", "tpm")
    metrics.cooldown("main")
    s = parse(metrics.render())
    assert value(s, "hubgate_rate_limited_total", key="alice", limit="rpm") == 2
    assert value(s, "hubgate_rate_limited_total", key="bob", limit="tpm") == 1
    assert value(s, "hubgate_cooldowns_total", channel="main") == 1


def test_backlog_gauge_is_read_at_scrape_time() -> None:
    backlog = [3]
    metrics = Metrics(backlog=lambda: backlog[0])
    assert value(parse(metrics.render()), "hubgate_usage_backlog_rows") == 3
    backlog[0] = 250
    assert value(parse(metrics.render()), "hubgate_usage_backlog_rows") == 250
    assert "hubgate_usage_backlog_rows" not in names(parse(Metrics().render()))


def test_instances_share_nothing() -> None:
    first, second = Metrics(), Metrics()
    first.observe(row())
    assert value(parse(first.render()), "hubgate_failovers_total", model="gpt-x") == 1
    assert value(parse(second.render()), "hubgate_failovers_total", model="gpt-x") is None
    default = parse(prometheus_client.generate_latest(prometheus_client.REGISTRY))
    assert not any(name.startswith("hubgate_") for name in names(default))


def test_observe_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    broken = row(latency_ms="soon")  # a bug upstream of metrics must not fail the request
    with caplog.at_level(logging.ERROR, logger="hubgate.metrics"):
        metrics.observe(broken)
        metrics.observe(row())  # summed in the same batch as the broken one
        rendered = metrics.render()  # rows are summed at the flush
    assert "could not observe request req-test" in caplog.text
    assert value(parse(rendered), "hubgate_failovers_total", model="gpt-x") == 1
    # The good row counts once: the failed batch changed nothing before it was summed again.
    counted = value(parse(rendered), "hubgate_request_duration_seconds_count", endpoint="chat", stream="true")
    assert counted == 1


def test_multiprocess_dir_needs_the_variable_at_import() -> None:
    # This process imported prometheus_client without PROMETHEUS_MULTIPROC_DIR.
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(multiprocess_dir="/tmp")


def test_observe_cost(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the per-call cost; timing depends on the machine, so it never fails on it."""
    metrics = Metrics(backlog=lambda: 0)
    us = time_observe(metrics.observe, bench_rows(), 50_000)
    with capsys.disabled():
        print(f"\n[bench] Metrics.observe, single process: {us:.2f} µs per call (budget 10 µs)")
    assert value(parse(metrics.render()), "hubgate_requests_total", endpoint="chat", model="model-0",
                 channel="channel-0", status="200") is not None  # fmt: skip


def test_translation_drops_by_formats_and_kind() -> None:
    from hubgate.formats.hub import Drop

    metrics = Metrics()
    drops = [Drop("include"), Drop("tools[3]", "web_search", "tool"), Drop("tools[4]", "mcp", "tool")]
    metrics.translation_dropped("openai_responses", "anthropic", drops)
    metrics.translation_dropped("openai_responses", "anthropic", [Drop("prompt_cache_key")])
    s = parse(metrics.render())
    labels = {"caller_format": "openai_responses", "upstream_format": "anthropic"}
    assert value(s, "hubgate_translation_dropped_total", **labels, kind="tool") == 2
    assert value(s, "hubgate_translation_dropped_total", **labels, kind="field") == 2
    assert value(s, "hubgate_translation_dropped_total", **labels, kind="content") is None


async def test_event_loop_lag_is_sampled_and_a_stall_shows() -> None:
    metrics = Metrics()
    metrics.start()
    try:
        time.sleep(0.4)  # noqa: ASYNC251 - holds the loop past the timer's due time (0.25 s) by ~0.15 s
        await asyncio.sleep(0.01)
        s = parse(metrics.render())
    finally:
        await metrics.close()
    count = value(s, "hubgate_event_loop_lag_seconds_count") or 0
    assert count >= 1
    # The stall's sample is above the lowest bucket (a second sample, after a stall of the
    # machine itself, may be small).
    assert (value(s, "hubgate_event_loop_lag_seconds_bucket", le="0.05") or 0) < count
    assert (value(s, "hubgate_event_loop_lag_max_seconds") or 0) >= 0.1


def test_batched_sums_equal_the_rows_one_by_one() -> None:
    """Rows are summed per batch in C; every latency lands in the bucket the seconds would
    (bounds included), and the counts add up as row-by-row sums do."""
    rng = random.Random(11)
    bounds_ms = [round(b * 1000) for b in LATENCY_BUCKETS]
    latencies = [*bounds_ms, *(b + 1 for b in bounds_ms), *(rng.randrange(200_000) for _ in range(1500))]
    metrics = Metrics()
    expected = [0] * (len(LATENCY_BUCKETS) + 1)
    prompt = 0
    for i, ms in enumerate(latencies):
        tokens = rng.randrange(1000)
        prompt += tokens
        metrics.observe(row(latency_ms=ms, prompt_tokens=tokens, ttfb_ms=None if i % 3 else ms))
        expected[bisect.bisect_left(LATENCY_BUCKETS, ms / 1000)] += 1
    text = metrics.render()
    assert metrics._rows == []
    parsed = parse(text)
    labels = {"endpoint": "chat", "stream": "true"}
    cumulative = 0
    for bound, count in zip(LATENCY_BUCKETS, expected, strict=False):
        cumulative += count
        assert value(parsed, "hubgate_request_duration_seconds_bucket", le=str(bound), **labels) == cumulative
    assert value(parsed, "hubgate_request_duration_seconds_count", **labels) == len(latencies)
    total_s = value(parsed, "hubgate_request_duration_seconds_sum", **labels)
    assert total_s == pytest.approx(sum(latencies) / 1000)
    spend = {"key": "alice", "model": "gpt-x", "channel": "main"}
    assert value(parsed, "hubgate_tokens_total", kind="prompt", **spend) == prompt
