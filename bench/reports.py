"""Usage reports over a large log: the daily roll-ups against a scan of the log, on the
same data, on SQLite and PostgreSQL.

  .venv/bin/python bench/reports.py                                  # 10M rows, both mixes, both backends
  .venv/bin/python bench/reports.py --backends pg --rows 1000000 --no-write

For each backend and row mix (bench/scale.py's `mix_sql`: "skewed" puts 80% of the
rows on 1% of the keys, each key on 3 models; "uniform" makes every row its own
daily group, the worst case for roll-ups) a fresh database is migrated to 0009,
filled with --keys keys, --channels admin channels and --rows usage rows over the
last 60 days (bench/scale.py's `fill`), then upgraded to head, which builds the
roll-ups (timed). Each report of the admin API's kind is then run in-process both
ways, --repeat times, alternating: `aggregate` (whole days from the roll-ups,
part-days from the log) and the log alone (`_from_log` over the whole range, what
every report did before migration 0010). Their totals must agree: the run fails if
they don't. Writes bench/results/<date>-reports.{json,md} unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import scale

from hubgate.storage.admin_usage import UsageFilter, UsageGroup, _by_id, _from_log, aggregate
from hubgate.storage.db import create_engine
from hubgate.storage.tables import usage_daily, usage_logs


def reports() -> dict[str, tuple[list[str], UsageFilter]]:
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "all time, by key and model": (["key", "model"], UsageFilter()),
        "all time, by model": (["model"], UsageFilter()),
        "all time, totals only": ([], UsageFilter()),
        "last 24 hours, by model": (["model"], UsageFilter(since=now - dt.timedelta(days=1))),
        "last 30 days, by day": (["day"], UsageFilter(since=now - dt.timedelta(days=30))),
        "this month, by day and model (whole days)": (
            ["day", "model"], UsageFilter(since=midnight.replace(day=1)),
        ),
        "one busy key, all time, by model": (["model"], UsageFilter(key="scale-000042")),
        "one channel, last 7 days, by day": (
            ["day"], UsageFilter(channel="scale-ch-0042", since=midnight - dt.timedelta(days=7)),
        ),
    }  # fmt: skip


async def log_only(engine: AsyncEngine, group_by: list[str], flt: UsageFilter) -> tuple[Any, UsageGroup]:
    """The report as it was made before the roll-ups: one scan of the log over the range."""
    async with engine.connect() as conn:
        return await _from_log(conn, engine.dialect.name, group_by, await _by_id(conn, flt), 10_000)


async def timed(run: Callable[[], Awaitable[tuple[Any, UsageGroup]]]) -> tuple[float, UsageGroup, int]:
    t0 = time.perf_counter()
    groups, total = await run()
    return time.perf_counter() - t0, total, len(groups)


async def measure(url: str, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        async with engine.connect() as conn:
            out["log_rows"] = (await conn.execute(select(func.count()).select_from(usage_logs))).scalar_one()
            out["rollup_rows"] = (
                await conn.execute(select(func.count()).select_from(usage_daily))
            ).scalar_one()
        out["reports"] = {}
        for label, (group_by, flt) in reports().items():
            ways: dict[str, list[float]] = {"rollups": [], "log": []}
            totals: dict[str, UsageGroup] = {}
            groups: dict[str, int] = {}
            for i in range(repeat):
                order = ("rollups", "log") if i % 2 == 0 else ("log", "rollups")
                for way in order:
                    if way == "rollups":
                        s, total, n = await timed(lambda g=group_by, f=flt: aggregate(engine, g, f))
                    else:
                        s, total, n = await timed(lambda g=group_by, f=flt: log_only(engine, g, f))
                    ways[way].append(s)
                    totals[way], groups[way] = total, n
            if totals["rollups"] != totals["log"] or groups["rollups"] != groups["log"]:
                raise SystemExit(f"{label}: the roll-ups and the log disagree: {totals} {groups}")
            med = {way: statistics.median(v) for way, v in ways.items()}
            out["reports"][label] = {
                "median_s": med,
                "runs_s": ways,
                "groups": groups["log"],
                "requests": totals["log"].requests,
            }
            scale.log(
                f"    {label}: log {med['log']:.3f} s, roll-ups {med['rollups']:.3f} s "
                f"({med['log'] / max(med['rollups'], 1e-6):.1f}x), {groups['log']:,} groups"
            )
    finally:
        await engine.dispose()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hubgate-reports-", dir=args.workdir))
    results: dict[str, Any] = {}
    try:
        for backend in args.backends.split(","):
            for mix in args.mixes.split(","):
                args.mix = mix
                if backend == "sqlite":
                    url, name = f"sqlite+aiosqlite:///{work}/{mix}.db", None
                else:
                    name, url = scale.pg_database(args.pg, f"hubgate_reports_{mix}")
                try:
                    scale.log(f"{backend}/{mix}: filling {args.rows:,} rows at 0009")
                    fill = scale.fill_and_upgrade(url, "http://127.0.0.1:9", args)
                    scale.log(f"{backend}/{mix}: filled {fill}")
                    res = asyncio.run(measure(url, args.repeat))
                    res["fill_s"] = fill
                    results[f"{backend}/{mix}"] = res
                finally:
                    if name is not None:
                        scale.pg_admin(args.pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    for f in work.glob(f"{mix}.db*"):
                        f.unlink()
    finally:
        work.rmdir()
    return h.run_doc(args, results=results)


def markdown(doc: dict[str, Any]) -> str:
    a = doc["args"]
    lines = [
        f"# Usage reports: daily roll-ups against the log, {doc['date']}",
        "",
        f"`bench/reports.py --backends {a['backends']} --mixes {a['mixes']} --keys {a['keys']} "
        f"--rows {a['rows']} --repeat {a['repeat']}`, {h.measured(doc['git'])}. Each report "
        "run in-process both ways on the same database, alternating, medians; totals and group counts "
        "checked equal. 'log' is one scan of the log over the range (every report before migration "
        "0010); 'roll-ups' is `aggregate` now (whole days from `usage_daily_models` when no key is "
        "involved, else `usage_daily`; part-days from the log). "
        "skewed: 80% of rows on 1% of the keys, 3 models per key; uniform: every row its own daily "
        "group (the worst case). A shared 2-core machine.",
        "",
        "| backend / mix | log rows | roll-up rows | upgrade 0009 -> head |",
        "|---|---|---|---|",
    ]
    for key, res in doc["results"].items():
        lines.append(
            f"| {key} | {res['log_rows']:,} | {res['rollup_rows']:,} | {res['fill_s']['upgrade_s']} s |"
        )
    lines += [
        "",
        "| backend / mix | report | log | roll-ups | speed-up | groups |",
        "|---|---|---|---|---|---|",
    ]
    for key, res in doc["results"].items():
        for label, r in res["reports"].items():
            m = r["median_s"]
            lines.append(
                f"| {key} | {label} | {m['log']:.3f} s | {m['rollups']:.3f} s | "
                f"{m['log'] / max(m['rollups'], 1e-6):.1f}x | {r['groups']:,} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="sqlite,pg")
    p.add_argument("--mixes", default="skewed,uniform")
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--channels", type=int, default=100)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL server")
    p.add_argument("--workdir", default=None)
    p.add_argument("--date", default=dt.date.today().isoformat())
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    doc = run(args)
    h.finish(args, "reports", doc, markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
