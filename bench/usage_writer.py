"""The usage writer alone: rows/s and CPU per row, before and after a change, on SQLite
and PostgreSQL.

  .venv/bin/python bench/usage_writer.py                       # HEAD's usage.py vs the work tree
  .venv/bin/python bench/usage_writer.py --before 683da3e      # the SQLAlchemy-executemany writer vs now

"before" is src/hubgate/storage/usage.py at a git revision (`git show`, read only),
loaded beside the work tree's module; both write the same rows through their own
`UsageWriter` (batches of 500, counters moved for 3 keys, as in the gateway) into a
fresh SQLite file and a fresh PostgreSQL database (created on --pg, dropped after).
Rounds alternate before/after; medians are reported. CPU per row is this process's
CPU (every thread: aiosqlite's included) during `flush()` divided by the rows; for
PostgreSQL the server backends' CPU is shown beside it. Writes
bench/results/<date>-usage-writer.{json,md} unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

from hubgate.storage.db import create_engine, migrate
from hubgate.storage.keys import KeyRepository

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
USAGE_PY = "src/hubgate/storage/usage.py"


def load_before(ref: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{ref}:{USAGE_PY}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="hubgate-uw-")) / "usage_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("hubgate_usage_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def load_after() -> types.ModuleType:
    import hubgate.storage.usage as module

    return module


def make_rows(module: types.ModuleType, n: int, key_ids: list[int], free: bool) -> list[Any]:
    row_cls = module.UsageRow
    return [
        row_cls(
            request_id=os.urandom(12).hex(),
            endpoint="chat",
            status=200,
            stream=bool(i % 2),
            key_id=key_ids[i % len(key_ids)],
            key_name="bench",
            model="bench-json",
            upstream_model="bench-json",
            channel="oa-json",
            prompt_tokens=12,
            completion_tokens=20,
            cost_micros=0 if free else 37,
            latency_ms=1,
            ttfb_ms=1 if i % 2 else None,
            attempts=1,
        )
        for i in range(n)
    ]


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backend_pids(engine: Any) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
        return [int(r[0]) for r in rows]


async def one_round(module: types.ModuleType, engine: Any, rows: list[Any], pg: bool) -> dict[str, float]:
    writer = module.UsageWriter(engine, batch_size=500, interval_s=3600)
    for row in rows:
        writer.record(row)
    pids = await _backend_pids(engine) if pg else []
    server0 = sum(_proc_cpu(p) for p in pids)
    c0, t0 = time.process_time(), time.perf_counter()
    await writer.flush()
    c1, t1 = time.process_time(), time.perf_counter()
    server1 = sum(_proc_cpu(p) for p in pids)
    assert writer.written == len(rows) and writer.pending == 0
    n = len(rows)
    return {
        "rows_per_s": n / (t1 - t0),
        "cpu_us_per_row": (c1 - c0) / n * 1e6,
        "server_cpu_us_per_row": (server1 - server0) / n * 1e6 if pg else 0.0,
    }


async def measure(
    url: str, variants: dict[str, types.ModuleType], args: argparse.Namespace, free: bool
) -> dict[str, Any]:
    await migrate(url)
    engine = create_engine(url)
    pg = url.startswith("postgresql")
    try:
        repo = KeyRepository(engine)
        key_ids = [
            (await repo.create(f"uw-{uuid.uuid4().hex[:8]}", budget_period="daily"))[0].id for _ in range(3)
        ]
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        # A warm-up round each (prepared statements, page cache), then alternating rounds.
        for module in variants.values():
            await one_round(module, engine, make_rows(module, min(args.rows, 5000), key_ids, free), pg)
        for i in range(args.rounds):
            order = list(variants.items()) if i % 2 == 0 else list(reversed(variants.items()))
            for name, module in order:
                rows = make_rows(module, args.rows, key_ids, free)
                runs[name].append(await one_round(module, engine, rows, pg))
    finally:
        await engine.dispose()
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        out[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]} | {"runs": rs}
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    variants = {"before": load_before(args.before), "after": load_after()}
    results: dict[str, Any] = {}
    modes = {"costed": False, "free": True}
    results["sqlite"] = {}
    for mode, free in modes.items():
        with tempfile.TemporaryDirectory(prefix="hubgate-uw-") as tmp:
            results["sqlite"][mode] = await measure(
                f"sqlite+aiosqlite:///{tmp}/usage.db", variants, args, free
            )
    if args.pg:
        admin = args.pg.rsplit("/", 1)[0] + "/postgres"
        name = f"hubgate_uw_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(admin)
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()
        try:
            url = args.pg.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
            results["postgresql"] = {
                mode: await measure(url, variants, args, free) for mode, free in modes.items()
            }
        finally:
            conn = await asyncpg.connect(admin)
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await conn.close()
    return results


def markdown(doc: dict[str, Any]) -> str:
    a = doc["args"]
    lines = [
        f"# usage writer micro-benchmark, {doc['date']}",
        "",
        f"`.venv/bin/python bench/usage_writer.py --before {doc['before_commit'][:7]} --rows {a['rows']} "
        f"--rounds {a['rounds']}`: {a['rows']:,} rows per round, batches of 500; medians of "
        f"{a['rounds']} alternating rounds. before = `{USAGE_PY}` at `{doc['before_commit']}`, "
        "after = the work tree. Rows: 'costed' carry a cost on 3 keys (the counters move in the "
        "same transaction), 'free' carry none (no counter update: the benchmark's config). "
        "CPU = this process (all threads, aiosqlite's included) during flush(); PostgreSQL's "
        "own backend CPU beside it. A shared 2-core machine: other work was running.",
        "",
        "| database | rows | variant | rows/s | CPU per row (client) | PostgreSQL backend CPU per row |",
        "|---|---|---|---|---|---|",
    ]
    for db, by_mode in doc["results"].items():
        for mode, res in by_mode.items():
            for name in ("before", "after"):
                r = res[name]
                server = f"{r['server_cpu_us_per_row']:.1f} us" if db == "postgresql" else ""
                cpu = f"{r['cpu_us_per_row']:.1f} us"
                lines.append(f"| {db} | {mode} | {name} | {r['rows_per_s']:,.0f} | {cpu} | {server} |")
            b, f = res["before"], res["after"]
            lines.append(
                f"| {db} | {mode} | **after/before** | {f['rows_per_s'] / b['rows_per_s']:.2f}x | "
                f"{f['cpu_us_per_row'] / b['cpu_us_per_row']:.2f}x | |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="HEAD", help="git revision of the 'before' usage.py (HEAD)")
    p.add_argument("--rows", type=int, default=30000, help="rows per round (30000)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per variant (5)")
    p.add_argument(
        "--pg",
        default=os.environ.get("HUBGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server (a database is created and dropped); '' to skip",
    )
    p.add_argument("--date", default=dt.date.today().isoformat())
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    results = asyncio.run(main_async(args))
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", args.before], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    doc = {
        "date": args.date,
        "args": vars(args),
        "before_commit": commit,
        "python": platform.python_version(),
        "results": results,
    }
    md = markdown(doc)
    print(md)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.date}-usage-writer.json").write_text(json.dumps(doc, indent=2) + "\n")
        (RESULTS / f"{args.date}-usage-writer.md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
