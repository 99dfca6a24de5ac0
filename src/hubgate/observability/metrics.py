"""Prometheus metrics: one `Metrics` per process, fed one finished `UsageRow` per request.

Every metric lives in the instance's own `CollectorRegistry` (nothing is registered
in prometheus_client's global one). The label children a request feeds are resolved
once per distinct label set and cached; `observe` adds the request to plain sums kept per
label set, and `flush` (on every scrape and, multi-worker, every GAUGE_REFRESH_S) moves them
into the metric values: a worker's figures reach another worker's scrape within a second.
A request's row is only appended to a list: the sums are taken per batch of rows (at the
flush, or every OBSERVED_BATCH rows), grouped and summed in C.

Multi-worker (`hubgate serve --workers N`): prometheus_client chooses where values
live when it is imported. With PROMETHEUS_MULTIPROC_DIR set (the parent sets it,
see `observability.multiprocess`), every worker writes its values to its own mmap
files in that directory and `/metrics`, whichever worker answers, sums all of them
through a `MultiProcessCollector`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from hubgate.observability.loop_lag import WINDOW_S, LoopLag

if TYPE_CHECKING:
    from hubgate.formats.hub import Drop
    from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.metrics")

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4  # text/plain; version=0.0.4; charset=utf-8

# 1 ms .. 120 s: cached answers and errors at the low end, long generations at the top.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
# Event-loop lag: 0.5 ms (a timer's granularity) .. 5 s (a loop stalled outright).
LOOP_LAG_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TOKEN_KINDS: Final = ("prompt", "completion", "cached", "cache_write", "reasoning")
GAUGE_REFRESH_S: Final = 1.0  # multi-worker: how stale a worker's share of a gauge may get
OBSERVED_BATCH: Final = 128  # rows observed are summed at the latest after this many (~0.25 ms)


# What one request's labels resolve to: (endpoint, key, model, channel, status, stream).
_Signature = tuple[str, str | None, str | None, str | None, int, bool]
_SIGNATURE = attrgetter("endpoint", "key_name", "model", "channel", "status", "stream")
# The token counts in TOKEN_KINDS' order, then the cost, the latency and the attempts.
_COUNTS = attrgetter("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
                     "reasoning_tokens", "cost_micros", "latency_ms", "attempts")  # fmt: skip
# The histogram bucket of a latency in milliseconds (the bounds above, in ms).
_BUCKET_OF_MS = partial(bisect_left, tuple(round(b * 1000, 6) for b in LATENCY_BUCKETS))


class _Series:
    """The label children one request signature feeds, resolved once (conditional ones
    on first use), so that observing a row is one dict lookup plus the increments."""

    __slots__ = (
        "attempts",
        "channel",
        "cost",
        "duration",
        "endpoint",
        "failovers",
        "model",
        "pending",
        "requests",
        "spend",
        "tokens",
        "ttfb",
    )

    def __init__(self, requests: Counter, duration: Histogram, sig: _Signature) -> None:
        self.requests = requests
        self.duration = duration
        self.endpoint, key, model, channel = sig[0], sig[1] or "", sig[2] or "", sig[3] or ""
        self.model, self.channel = model, channel
        self.spend = (key, model, channel)
        self.ttfb: Histogram | None = None
        self.attempts: Counter | None = None
        self.failovers: Counter | None = None
        self.cost: Counter | None = None
        self.tokens: list[Counter | None] = [None] * len(TOKEN_KINDS)
        self.pending: _Pending | None = None  # observed, not yet in the metric values


class _Pending:
    """One series' observations since the last flush, summed in plain ints and floats.

    prometheus_client takes a lock per increment (and, multi-worker, writes the mmap
    file): eight or so per request, 8 us single-process and 20 us multi-worker. Summed
    here they cost a few additions, and `flush` moves them in once per series."""

    __slots__ = ("attempts", "cost", "duration", "duration_sum", "failovers", "requests", "tokens",
                 "ttfb", "ttfb_sum")  # fmt: skip

    def __init__(self) -> None:
        self.requests = 0
        self.duration = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above the top bucket
        self.duration_sum = 0.0
        self.ttfb: list[int] | None = None
        self.ttfb_sum = 0.0
        self.attempts = 0
        self.failovers = 0
        self.tokens = [0] * len(TOKEN_KINDS)
        self.cost = 0


class _CallbackGauge:
    """A gauge read from a callback at scrape time (single-process mode)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self._name, self._documentation)]

    def collect(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self._name, self._documentation, value=self._read())]


def _add_histogram(child: Histogram, counts: list[int], total: float) -> None:
    """Add summed observations to a histogram's child: what `observe` does once per value.
    prometheus_client keeps one value per bucket (not cumulative) and the sum; a test
    (tests/observability/test_metrics.py) holds this to its exposition."""
    child._sum.inc(total)
    buckets = child._buckets
    for i, n in enumerate(counts):
        if n:
            buckets[i].inc(n)


def multiprocess_values() -> bool:
    """Whether prometheus_client was imported in multiprocess mode (values in mmap files)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Metrics:
    """The gateway's Prometheus metrics.

    `backlog` reports the usage rows waiting for the database, `lag` the age of the
    oldest of them. `multiprocess_dir`
    turns on multi-worker aggregation; it must be the PROMETHEUS_MULTIPROC_DIR that
    was set when prometheus_client was imported (`from_env` does this); a worker then
    has exactly one instance, since two would overwrite each other's values in the files.
    """

    def __init__(
        self,
        *,
        backlog: Callable[[], int] | None = None,
        lag: Callable[[], float] | None = None,
        multiprocess_dir: str | None = None,
    ) -> None:
        if multiprocess_dir is not None and not multiprocess_values():
            raise RuntimeError(
                f"{MULTIPROC_ENV} must be set before prometheus_client is imported for multi-worker metrics"
            )
        self.multiprocess_dir = multiprocess_dir
        self.registry = reg = CollectorRegistry()
        self._traffic_metrics(reg)
        self._event_metrics(reg)
        self._usage_gauges(reg, backlog, lag, multiprocess_dir)
        if multiprocess_dir is not None:
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            self._exposed = reg
        self._refresher: asyncio.Task[None] | None = None
        # Label children by the raw row values: no str() or label validation per call.
        self._series: dict[_Signature, _Series] = {}
        self._pending: list[_Series] = []  # series observed since the last flush
        self._rows: list[UsageRow] = []  # observed, not yet summed into `_pending`

    def _traffic_metrics(self, reg: CollectorRegistry) -> None:
        """What every metered request feeds: requests, tokens, cost, attempts, timings."""
        self._requests = Counter(
            "hubgate_requests",
            "Metered requests, by API endpoint, public model, final channel and HTTP status "
            "(status 499: the caller hung up).",
            ("endpoint", "model", "channel", "status"),
            registry=reg,
        )
        self._tokens = Counter(
            "hubgate_tokens",
            "Tokens by key, model, channel and kind (cached and cache_write are part of prompt, "
            "reasoning is part of completion).",
            ("key", "model", "channel", "kind"),
            registry=reg,
        )
        self._cost = Counter(
            "hubgate_cost_micros",
            "Cost charged, in micro-dollars, by key, model and channel.",
            ("key", "model", "channel"),
            registry=reg,
        )
        self._attempts = Counter(
            "hubgate_upstream_attempts",
            "Upstream attempts, counted under the channel that made the request's last attempt.",
            ("channel",),
            registry=reg,
        )
        self._failovers = Counter(
            "hubgate_failovers",
            "Requests that needed more than one upstream attempt, by public model.",
            ("model",),
            registry=reg,
        )
        self._duration = Histogram(
            "hubgate_request_duration_seconds",
            "Time the gateway spent on a metered request, to its last byte (a stream's end).",
            ("endpoint", "stream"),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._ttfb = Histogram(
            "hubgate_time_to_first_byte_seconds",
            "Time from a streamed request's arrival to the upstream's first bytes.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )

    def _event_metrics(self, reg: CollectorRegistry) -> None:
        """Counted as they happen: rate-limit refusals, translation drops, cooldowns, quarantine."""
        self._rate_limited = Counter(
            "hubgate_rate_limited",
            "Requests refused by a rate limit, by key and limit.",
            ("key", "limit"),
            registry=reg,
        )
        self._dropped = Counter(
            "hubgate_translation_dropped",
            "Things a translated request left out because the upstream's format has no place for "
            "them (named in x-hubgate-dropped), by caller format, upstream format and kind "
            "(field, tool, content, message, item).",
            ("caller_format", "upstream_format", "kind"),
            registry=reg,
        )
        self._cooldowns = Counter(
            "hubgate_cooldowns",
            "Times a channel was set aside after failures.",
            ("channel",),
            registry=reg,
        )
        self._quarantined = Counter(
            "hubgate_usage_quarantined",
            "Usage rows the database refused, set aside in the quarantine (GET /admin/usage/quarantine).",
            registry=reg,
        )
        self._loop_lag = Histogram(
            "hubgate_event_loop_lag_seconds",
            "How late a worker's 4-per-second timer fired: time its event loop was busy elsewhere "
            "(every request in flight waited as long).",
            buckets=LOOP_LAG_BUCKETS,
            registry=reg,
        )
        self._loop_lag_max = Gauge(
            "hubgate_event_loop_lag_max_seconds",
            f"Largest event-loop lag of the last {WINDOW_S:g}-{2 * WINDOW_S:g} s (the worst worker's).",
            registry=reg,
            multiprocess_mode="livemax",
        )
        self._lag_monitor = LoopLag(self._record_loop_lag)

    def _usage_gauges(
        self,
        reg: CollectorRegistry,
        backlog: Callable[[], int] | None,
        lag: Callable[[], float] | None,
        multiprocess_dir: str | None,
    ) -> None:
        """The usage writer's backlog and lag, read from callbacks."""
        # A callback cannot be read across processes: each worker stores its own value
        # (refreshed by `start` and on scrape) and the collector sums (or maxes) the live ones.
        self._gauges: list[tuple[Gauge, Callable[[], float]]] = []
        gauges: tuple[tuple[str, str, Callable[[], float] | None, Literal["livesum", "livemax"]], ...] = (
            ("hubgate_usage_backlog_rows", "Usage rows waiting to be written to the database.", backlog,
             "livesum"),
            ("hubgate_usage_lag_seconds", "Age of the oldest usage row not yet written to the database.",
             lag, "livemax"),
        )  # fmt: skip
        for name, doc, read, mode in gauges:
            if read is not None and multiprocess_dir is not None:
                self._gauges.append((Gauge(name, doc, registry=reg, multiprocess_mode=mode), read))
            elif read is not None:
                reg.register(_CallbackGauge(name, doc, read))

    @classmethod
    def from_env(
        cls, *, backlog: Callable[[], int] | None = None, lag: Callable[[], float] | None = None
    ) -> Metrics:
        """Multi-worker aggregation when PROMETHEUS_MULTIPROC_DIR is set, else this process alone."""
        return cls(backlog=backlog, lag=lag, multiprocess_dir=os.environ.get(MULTIPROC_ENV) or None)

    def observe(self, row: UsageRow) -> None:
        """Count one finished request (summed with others at the next flush). Never raises:
        it runs in the relay's `finally`."""
        rows = self._rows
        rows.append(row)
        if len(rows) >= OBSERVED_BATCH:
            self._sum_rows()

    def _sum_rows(self) -> None:
        rows, self._rows = self._rows, []
        try:
            self._sum(rows)
        except Exception:  # a row no sum could take: each alone, so the others still count
            for row in rows:
                try:
                    self._sum([row])
                except Exception:
                    log.exception("metrics: could not observe request %s", row.request_id)

    def _sum(self, rows: list[UsageRow]) -> None:
        """Rows summed into their series' pending sums: grouped by signature, each group's
        columns summed in C (the row's counts read by one attrgetter each)."""
        groups: dict[_Signature, list[UsageRow]] = {}
        for sig, row in zip(map(_SIGNATURE, rows), rows, strict=True):
            group = groups.get(sig)
            if group is None:
                groups[sig] = [row]
            else:
                group.append(row)
        # Everything that can fail (a value of the wrong type) is worked out first, then
        # applied: a failing batch changes nothing, and is summed again row by row.
        sums = []
        for sig, group in groups.items():
            series = self._series.get(sig)
            if series is None:
                series = self._series[sig] = self._resolve(sig)
            *token_sums, cost, latencies, attempts = zip(*map(_COUNTS, group), strict=True)
            ttfbs = [r.ttfb_ms for r in group if r.ttfb_ms is not None]
            sums.append((
                series, len(group), [sum(t) for t in token_sums], sum(cost),
                list(map(_BUCKET_OF_MS, latencies)), sum(latencies) / 1000,
                list(map(_BUCKET_OF_MS, ttfbs)), sum(ttfbs) / 1000,
                sum(a for a in attempts if a > 0), sum(1 for a in attempts if a > 1),
            ))  # fmt: skip
        for series, n, tokens, cost_sum, buckets, seconds, ttfb_buckets, ttfb_s, tries, failovers in sums:
            p = series.pending
            if p is None:
                p = series.pending = _Pending()
                self._pending.append(series)
            p.requests += n
            for i, total in enumerate(tokens):
                p.tokens[i] += total
            p.cost += cost_sum
            for index in buckets:
                p.duration[index] += 1
            p.duration_sum += seconds
            if ttfb_buckets:
                if p.ttfb is None:
                    p.ttfb = [0] * (len(LATENCY_BUCKETS) + 1)
                for index in ttfb_buckets:
                    p.ttfb[index] += 1
                p.ttfb_sum += ttfb_s
            p.attempts += tries
            p.failovers += failovers

    def flush(self) -> None:
        """Move the observations summed since the last flush into the metric values (on
        scrape, and multi-worker every GAUGE_REFRESH_S, so another worker's scrape sees them)."""
        if self._rows:
            self._sum_rows()
        pending, self._pending = self._pending, []
        for series in pending:
            p, series.pending = series.pending, None
            if p is not None:
                self._apply(series, p)

    def _apply(self, series: _Series, p: _Pending) -> None:
        series.requests.inc(p.requests)
        _add_histogram(series.duration, p.duration, p.duration_sum)
        if p.ttfb is not None:
            if series.ttfb is None:
                series.ttfb = self._ttfb.labels(series.endpoint)
            _add_histogram(series.ttfb, p.ttfb, p.ttfb_sum)
        if p.attempts:
            if series.attempts is None:
                series.attempts = self._attempts.labels(series.channel)
            series.attempts.inc(p.attempts)
        if p.failovers:
            if series.failovers is None:
                series.failovers = self._failovers.labels(series.model)
            series.failovers.inc(p.failovers)
        for i, n in enumerate(p.tokens):
            if n > 0:
                counter = series.tokens[i]
                if counter is None:
                    counter = series.tokens[i] = self._tokens.labels(*series.spend, TOKEN_KINDS[i])
                counter.inc(n)
        if p.cost > 0:
            if series.cost is None:
                series.cost = self._cost.labels(*series.spend)
            series.cost.inc(p.cost)

    def _resolve(self, sig: _Signature) -> _Series:
        endpoint, _, model, channel, status, stream = sig
        # Status 0: the request ended in an unexpected exception, which the edge answers with 500.
        requests = self._requests.labels(endpoint, model or "", channel or "", str(status or 500))
        duration = self._duration.labels(endpoint, "true" if stream else "false")
        return _Series(requests, duration, sig)

    def rate_limited(self, key: str, limit: str) -> None:
        """Count a request refused by one of a key's limits (e.g. limit="rpm")."""
        self._rate_limited.labels(key, limit).inc()

    def translation_dropped(self, caller: str, upstream: str, drops: Iterable[Drop]) -> None:
        """Count what one translated request dropped. Never raises: it runs in the relay's `finally`."""
        try:
            for drop in drops:
                self._dropped.labels(caller, upstream, drop.kind).inc()
        except Exception:
            log.exception("metrics: could not count dropped fields")

    def cooldown(self, channel: str) -> None:
        """Count a channel being set aside after failures."""
        self._cooldowns.labels(channel).inc()

    def quarantined(self, rows: int) -> None:
        """Count usage rows set aside in the quarantine."""
        self._quarantined.inc(rows)

    def refresh(self) -> None:
        """Store this worker's current gauge values (multi-worker mode; a no-op otherwise)."""
        for gauge, read in self._gauges:
            gauge.set(read())

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of every worker's metrics."""
        self.flush()
        self.refresh()
        return generate_latest(self._exposed)

    def _record_loop_lag(self, lag_s: float) -> None:
        self._loop_lag.observe(lag_s)
        self._loop_lag_max.set(self._lag_monitor.max_s)

    def start(self) -> None:
        """Sample the event loop's lag; multi-worker mode: keep this worker's gauges fresh
        between scrapes of other workers."""
        self._lag_monitor.start()
        if self.multiprocess_dir is not None and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="metrics-refresh")

    async def _refresh_forever(self) -> None:
        while True:
            try:
                self.flush()
                self.refresh()
            except Exception:
                log.exception("metrics: flush or gauge refresh failed")
            await asyncio.sleep(GAUGE_REFRESH_S)

    async def close(self) -> None:
        """Stop refreshing; a worker's gauges leave the sum when it stops."""
        self._lag_monitor.stop()
        self.flush()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
