"""What the usage journal and the storable-text check cost per usage row.

  .venv/bin/python bench/journal.py                 # prints, and writes results/<date>-journal.md
  .venv/bin/python bench/journal.py --rows 20000 --no-write

Measured in this process as CPU time of the calling thread (kernel time of write()
included), on a journal directory under /tmp (or --dir), medians of
--rounds rounds:
- make_storable: the text fields of a clean row checked (the hot path), and a dirty one;
- encode: one record's JSON line;
- append: encode + one write() on the segment (fsync off: what a request pays);
- record: UsageWriter.record with the journal against without (no flush);
- fsync always: append + fdatasync awaited in a thread, one record at a time (latency);
- fsync batch: the syncer's fdatasync calls (at most one per 50 ms, off the event loop).
The last column relates each cost to hubgate's CPU per JSON request at c=32 (0.358 to
0.384 ms, README's benchmark table).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from hubgate.storage.journal import Journal, encode
from hubgate.storage.storable import make_storable
from hubgate.storage.usage import UsageRow, UsageWriter

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CPU_PER_REQUEST_US = (358.0, 384.0)  # README: hubgate, PostgreSQL / SQLite usage log, JSON c=32


def rows(n: int, dirty: bool = False) -> list[UsageRow]:
    model = "nope\x00" if dirty else "gpt-4o-mini"
    return [
        UsageRow(
            request_id=os.urandom(12).hex(),
            endpoint="chat",
            status=200,
            stream=bool(i % 2),
            key_id=3,
            key_name="bench",
            model=model,
            upstream_model="gpt-4o-mini-2024-07-18",
            channel="main",
            prompt_tokens=12,
            completion_tokens=30,
            cost_micros=27,
            latency_ms=420,
            ttfb_ms=180,
            attempts=1,
            account_id=1,
        )
        for i in range(n)
    ]


def per_row_us(fn: Callable[[UsageRow], object], batch: list[UsageRow]) -> float:
    """CPU time of this thread per row (the machine is shared: wall time would count waits)."""
    start = time.thread_time()
    for row in batch:
        fn(row)
    return (time.thread_time() - start) / len(batch) * 1e6


class _NoEngine:
    """record() never touches the engine."""


async def measure(args: argparse.Namespace, directory: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in (
        "storable_clean", "storable_dirty", "encode", "append_off", "record_plain", "record_journal",
        "always_latency", "batch_syncs_per_s", "batch_sync_ms",
    )}  # fmt: skip
    for _ in range(args.rounds):
        out["storable_clean"].append(per_row_us(make_storable, rows(args.rows)))
        out["storable_dirty"].append(per_row_us(make_storable, rows(args.rows, dirty=True)))
        out["encode"].append(per_row_us(encode, rows(args.rows)))
        journal = Journal(directory, fsync="off")
        journal.open()
        out["append_off"].append(per_row_us(journal.append, rows(args.rows)))
        await journal.close()
        plain = UsageWriter(_NoEngine(), max_pending=10**9)  # type: ignore[arg-type]
        out["record_plain"].append(per_row_us(plain.record, rows(args.rows)))
        journal = Journal(directory, fsync="off")
        journal.open()
        journaled = UsageWriter(_NoEngine(), max_pending=10**9, journal=journal)  # type: ignore[arg-type]
        out["record_journal"].append(per_row_us(journaled.record, rows(args.rows)))
        await journal.close()
        # fsync always: each record waits for its fdatasync.
        journal = Journal(directory, fsync="always")
        journal.open()
        sample = rows(min(args.rows, 500))
        start = time.perf_counter()
        for row in sample:
            journal.append(row)
            await journal.durable()
        out["always_latency"].append((time.perf_counter() - start) / len(sample) * 1e6)
        await journal.close()
        # fsync batch: appends at a steady 5,000 rows/s for a second; count and time the syncs.
        journal = Journal(directory, fsync="batch")
        journal.open()
        syncs: list[float] = []
        journal._sync = _timed(journal._sync, syncs)  # type: ignore[method-assign]
        journal.start()
        batch = rows(5000)
        t0 = time.perf_counter()
        for i in range(0, len(batch), 50):
            for row in batch[i : i + 50]:
                journal.append(row)
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        await journal.close()
        out["batch_syncs_per_s"].append(len(syncs) / elapsed)
        out["batch_sync_ms"].append(statistics.median(syncs) * 1000 if syncs else 0.0)
        _clear(directory)
    return out


def _clear(directory: Path) -> None:
    for leftover in directory.glob("*.journal"):
        leftover.unlink()


def _timed(sync: Callable[[], Awaitable[None]], into: list[float]) -> Callable[[], Awaitable[None]]:
    async def timed() -> None:
        t0 = time.perf_counter()
        await sync()
        into.append(time.perf_counter() - t0)

    return timed


def report(args: argparse.Namespace, m: dict[str, list[float]], where: str) -> str:
    med = {k: statistics.median(v) for k, v in m.items()}
    low, high = CPU_PER_REQUEST_US

    def share(us: float) -> str:
        return f"{us / high * 100:.2f}-{us / low * 100:.2f}%"

    journal_cost = med["record_journal"] - med["record_plain"]
    table = [
        (
            "make_storable, clean row (the hot path)",
            f"{med['storable_clean']:.2f} µs",
            share(med["storable_clean"]),
        ),
        ("make_storable, NUL in the model", f"{med['storable_dirty']:.2f} µs", "(rare)"),
        ("encode one record (orjson line)", f"{med['encode']:.2f} µs", share(med["encode"])),
        ("append: encode + one write(), fsync off", f"{med['append_off']:.2f} µs", share(med["append_off"])),
        ("UsageWriter.record without a journal", f"{med['record_plain']:.2f} µs", ""),
        ("UsageWriter.record with the journal", f"{med['record_journal']:.2f} µs", ""),
        ("**the journal's share of record**", f"**{journal_cost:.2f} µs**", f"**{share(journal_cost)}**"),
        ("fsync always: append + fdatasync awaited (latency)", f"{med['always_latency']:.0f} µs", ""),
        (
            "fsync batch: fdatasync calls a second at 5,000 rows/s",
            f"{med['batch_syncs_per_s']:.1f}",
            "off the loop",
        ),
        ("fsync batch: one fdatasync (in a thread)", f"{med['batch_sync_ms']:.2f} ms", ""),
    ]
    python = sys.version.split()[0]
    lines = [
        f"# Usage journal: cost per row ({args.date})",
        "",
        f"`.venv/bin/python bench/journal.py --rows {args.rows} --rounds {args.rounds}` on {where}, "
        f"Python {python}, 2-core machine shared with other work; medians of {args.rounds} rounds.",
        "",
        "| step | per row | of a request's CPU (0.358-0.384 ms) |",
        "|---|---|---|",
        *(f"| {step} | {cost} | {part} |" for step, cost, part in table),
        "",
        "Reading: with the default `batch`, a request pays the `record with the journal` line",
        "on the event loop: one JSON encode and one write() to the page cache. Relative to",
        "the gateway's measured CPU per JSON request at c=32 that is the percentage shown,",
        "well inside the issue's 5% budget for journal and holds together at c=32 (the holds'",
        "share is measured by their own benchmark). `always` adds one fdatasync per answer to",
        "its latency (not to the loop's CPU: it runs in a thread), so throughput at c=32 then",
        "depends on the disk's flush latency.",
        "",
        "The batch syncer's own cost is about 19 fdatasync calls a second, each a thread hop",
        "and a wait on the disk (I/O wait rather than CPU). Not measured here: the whole",
        "gateway with and without the journal (`bench/ab.py` needs nginx and wrk); the figure",
        "above is the journal's CPU per answer against the CPU per request that the last full",
        "benchmark measured (README).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="journal directory (default: a temporary one)")
    parser.add_argument("--date", default=dt.date.today().isoformat())
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # segments left unlanded on purpose
    with tempfile.TemporaryDirectory(prefix="hubgate-journal-") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        measured = asyncio.run(measure(args, directory))
        where = f"`{directory}` ({os.statvfs(directory).f_bsize} B blocks)"
    md = report(args, measured, where)
    print(md)
    if not args.no_write:
        (RESULTS / f"{args.date}-journal.md").write_text(md, encoding="utf-8")


if __name__ == "__main__":
    main()
