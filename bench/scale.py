"""Scale run: hubgate with an empty database against one holding 100,000 keys, 1,000
channels and 10,000,000 usage rows, on SQLite and on PostgreSQL.

  make bench-scale                                              # both backends, 10M rows
  .venv/bin/python bench/scale.py --backends pg --rows 1000000 --runs 3 --no-write

For each backend two databases are migrated: "empty" (only what hubgate's config
adds: the benchmark key and its 6 channels) and "full", migrated to 0009 (before the
live daily roll-ups) and filled with --keys
API keys (executemany of tuples), --channels admin channels (through hubgate's own
AdminChannels, secrets sealed, served by the same nginx upstream) and --rows usage
rows spread over the last 60 days on every key (PostgreSQL: INSERT ... SELECT from
generate_series; SQLite: a recursive CTE; the usage_logs indexes are dropped for the
fill and rebuilt after, then ANALYZE), then upgraded to head as an existing install
would be (migration 0010 builds the roll-ups from the whole log; timed). The
PostgreSQL databases are created on --pg and dropped at the end.

Then, with the same config on both (bench/harness.py's, plus an admin key):
- startup: `hubgate serve --workers 2` until /healthz answers, --startup-runs times,
  alternating empty and full;
- load: both servers up at once, wrk runs alternating empty/full (JSON c=32, streamed
  c=32, JSON c=1), medians of --runs;
- the admin usage report (`GET /admin/usage`) over all time, the last day and the
  last 30 days, and filtered by one key: medians of 3 requests.
Writes bench/results/<date>-scale.{json,md} unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from upstream.nginx import Nginx

from hubgate.settings import ChannelSettings
from hubgate.storage.channels import AdminChannels
from hubgate.storage.db import create_engine, migrate, migrate_sync
from hubgate.storage.keys import display_prefix, hash_key
from hubgate.storage.secrets import SecretBox
from hubgate.storage.tables import api_keys, usage_logs

ADMIN_KEY = "sk-admin-bench-0123456789abcdef"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
SCENARIOS = {"json32": ("json", 32, 2), "sse32": ("sse", 32, 2), "json1": ("json", 1, 1)}
USAGE_COLUMNS = (
    "created_at, request_id, key_id, key_name, endpoint, model, upstream_model, channel, status, stream, "
    "prompt_tokens, completion_tokens, cached_tokens, cost_micros, latency_ms, ttfb_ms, attempts, error, "
    "account_id, cache_write_tokens, reasoning_tokens, estimated, units, unit"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- filling


async def fill(url: str, upstream: str, args: argparse.Namespace) -> dict[str, float]:
    """Keys, channels and usage rows into a migrated database; seconds per part."""
    timings: dict[str, float] = {}
    engine = create_engine(url)
    try:
        t0 = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        for start in range(0, args.keys, 10_000):
            rows = []
            for i in range(start, min(args.keys, start + 10_000)):
                secret = f"sk-scale-{i:06d}-{uuid.uuid4().hex}"
                rows.append(
                    {
                        "name": f"scale-{i:06d}",
                        "key_hash": hash_key(secret),
                        "key_prefix": display_prefix(secret),
                        "spent_micros": 0,
                        "period_spent_micros": 0,
                        "source": "cli",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            async with engine.begin() as conn:
                await conn.execute(insert(api_keys), rows)
        timings["keys_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        admin = AdminChannels(engine, SecretBox(SECRET_KEY))
        for i in range(args.channels):
            await admin.create(
                ChannelSettings.model_validate(
                    {
                        "name": f"scale-ch-{i:04d}",
                        "type": "openai",
                        "base_url": f"{upstream}/json/v1",
                        "api_key": f"{h.UPSTREAM_KEY}-{i}",
                        "models": [f"scale-model-{i:04d}"],
                    }
                )
            )
        timings["channels_s"] = round(time.perf_counter() - t0, 1)
    finally:
        await engine.dispose()
    t0 = time.perf_counter()
    if url.startswith("sqlite"):
        fill_usage_sqlite(url.split("///", 1)[1], args.rows, args.keys, args.mix)
    else:
        await fill_usage_pg(
            url.replace("postgresql+asyncpg://", "postgresql://"), args.rows, args.keys, args.mix
        )
    timings["usage_rows_s"] = round(time.perf_counter() - t0, 1)
    return timings


def _usage_index_sql() -> tuple[list[str], list[str]]:
    drops, creates = [], []
    for ix in usage_logs.indexes:
        cols = ", ".join(c.name for c in ix.columns)
        drops.append(f"DROP INDEX IF EXISTS {ix.name}")
        creates.append(f"CREATE INDEX {ix.name} ON usage_logs ({cols})")
    return drops, creates


def mix_sql(mix: str, keys: int) -> dict[str, str]:
    """SQL expressions in the row number x: the key index, model index and channel index.

    uniform: each row an independent key, model and channel (every row its own daily
    group: the worst case for roll-ups). skewed: 80% of rows from 1% of the keys, each
    key on 3 models, each model on its own channel (closer to a real gateway's log).
    """
    if mix == "uniform":
        return {"key": f"((x * 7919) % {keys})", "model": "(x % 1000)", "channel": "(x % 1000)"}
    h = "((x * 2654435761) % 1000003)"
    key = f"(CASE WHEN {h} % 10 < 8 THEN {h} % {max(1, keys // 100)} ELSE {h} % {keys} END)"
    model = f"(({key} * 31 + x % 3) % 1000)"
    return {"key": key, "model": model, "channel": model}


def fill_usage_sqlite(path: str, rows: int, keys: int, mix: str) -> None:
    """A recursive CTE: one row per step, created_at half a second apart going back."""
    drops, creates = _usage_index_sql()
    key, model, channel = (mix_sql(mix, keys)[k] for k in ("key", "model", "channel"))
    conn = sqlite3.connect(path)
    try:
        for sql in drops:
            conn.execute(sql)
        step = 1_000_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            conn.execute(
                f"""
                INSERT INTO usage_logs ({USAGE_COLUMNS})
                WITH RECURSIVE g(x) AS
                  (SELECT {start} UNION ALL SELECT x + 1 FROM g WHERE x < {start + n - 1})
                SELECT strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || (x / 2) || ' seconds')
                         || '.' || printf('%06d', (x % 2) * 500000),
                       printf('%024x', x), 1 + {key}, printf('scale-%06d', {key}),
                       'chat', printf('scale-model-%04d', {model}), printf('scale-model-%04d', {model}),
                       printf('scale-ch-%04d', {channel}), CASE WHEN x % 50 = 0 THEN 500 ELSE 200 END, x % 2,
                       12 + x % 100, 20 + x % 300, 0, 37 * (x % 5), 1 + x % 900,
                       CASE WHEN x % 2 = 1 THEN 1 END, 1, NULL, NULL, 0, 0, 0, 0, NULL
                FROM g
                """
            )
            conn.commit()
            log(f"    sqlite: {start + n:,} usage rows")
        for sql in creates:
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


async def fill_usage_pg(dsn: str, rows: int, keys: int, mix: str) -> None:
    drops, creates = _usage_index_sql()
    key, model, channel = (mix_sql(mix, keys)[k] for k in ("key", "model", "channel"))
    conn = await asyncpg.connect(dsn)
    try:
        for sql in drops:
            await conn.execute(sql)
        step = 2_000_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            await conn.execute(
                f"""
                INSERT INTO usage_logs ({USAGE_COLUMNS})
                SELECT now() - x * interval '0.5 second', lpad(to_hex(x), 24, '0'),
                       1 + {key}, 'scale-' || lpad(({key})::text, 6, '0'),
                       'chat', 'scale-model-' || lpad(({model})::text, 4, '0'),
                       'scale-model-' || lpad(({model})::text, 4, '0'),
                       'scale-ch-' || lpad(({channel})::text, 4, '0'),
                       CASE WHEN x % 50 = 0 THEN 500 ELSE 200 END, x % 2 = 1, 12 + x % 100, 20 + x % 300, 0,
                       37 * (x % 5), 1 + x % 900, CASE WHEN x % 2 = 1 THEN 1 END, 1, NULL, NULL, 0, 0,
                       false, 0, NULL
                FROM generate_series({start}::bigint, {start + n - 1}::bigint) AS x
                """
            )
            log(f"    postgresql: {start + n:,} usage rows")
        for sql in creates:
            await conn.execute(sql)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# ---------------------------------------------------------------- serving


def config_text(upstream: str, url: str) -> str:
    return h.hubgate_config(upstream, url, 2) + f"admin_key: {ADMIN_KEY}\nsecret_key: {SECRET_KEY}\n"


@contextlib.contextmanager
def serve(name: str, config: Path, port: int, work: Path) -> Iterator[tuple[h.Proc, float]]:
    exe = h.ROOT / ".venv" / "bin" / "hubgate"
    argv = [str(exe), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.perf_counter()
    proc = h.Proc(f"scale-{name}", [*argv, "--workers", "2"], cwd=work)
    try:
        h.wait_http(f"http://127.0.0.1:{port}/healthz", 300, proc)
        yield proc, time.perf_counter() - t0
    finally:
        proc.stop(timeout=60)


def admin_get(base: str, path: str) -> tuple[float, int, int]:
    """(seconds, HTTP status, groups) of one admin request."""
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        body = json.loads(r.read())
        status = r.status
    return time.perf_counter() - t0, status, len(body.get("data", []))


def admin_queries() -> dict[str, str]:
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    month = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "all time, by key,model (the default)": "/admin/usage",
        "all time, by model": "/admin/usage?group_by=model",
        "last day, by model": f"/admin/usage?group_by=model&since={day}",
        "last 30 days, by day": f"/admin/usage?group_by=day&since={month}",
        "one key, all time, by model": "/admin/usage?group_by=model&key=scale-000042",
        "usage logs, first page": "/admin/usage/logs?limit=100",
    }


def measure_backend(
    backend: str, urls: dict[str, str], upstream: str, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    configs = {}
    for state, url in urls.items():
        configs[state] = work / f"{backend}-{state}.yaml"
        configs[state].write_text(config_text(upstream, url), encoding="utf-8")
    out: dict[str, Any] = {"startup_s": {"empty": [], "full": []}}
    log(f"  {backend}: startup, {args.startup_runs} times each, alternating")
    for i in range(args.startup_runs):
        for state in ("empty", "full") if i % 2 == 0 else ("full", "empty"):
            with serve(state, configs[state], h.free_port(), work) as (_, seconds):
                out["startup_s"][state].append(round(seconds, 2))
    out["startup_median_s"] = {k: statistics.median(v) for k, v in out["startup_s"].items()}
    scenarios = h.hubgate_scenarios()
    with contextlib.ExitStack() as stack:
        bases, trees = {}, {}
        for state in ("empty", "full"):
            port = h.free_port()
            proc, _ = stack.enter_context(serve(state, configs[state], port, work))
            bases[state] = f"http://127.0.0.1:{port}"
            trees[state] = h.tree_pids(proc.pid)
        out["load"] = {}
        for name in args.scenarios.split(","):
            sc_name, conns, threads = SCENARIOS[name]
            sc = scenarios[sc_name]
            body = sc.body_file(work)
            for state, base in bases.items():
                ok, detail = h.probe(base, sc)
                if not ok:
                    raise SystemExit(f"{backend} {state} fails {sc_name}: {detail}")
                h.run_wrk(base + sc.path, body, sc.headers, conns, args.warmup, threads)
            runs: dict[str, list[dict[str, float]]] = {"empty": [], "full": []}
            for i in range(args.runs):
                for state in ("empty", "full") if i % 2 == 0 else ("full", "empty"):
                    cpu0 = h.cpu_seconds(trees[state])
                    r = h.run_wrk(bases[state] + sc.path, body, sc.headers, conns, args.duration, threads)
                    cpu = (h.cpu_seconds(trees[state]) - cpu0) * 1000 / max(1, r["requests"])
                    runs[state].append(
                        {
                            "cpu_ms_per_req": cpu,
                            "rps": r["rps"],
                            "p50_ms": r["latency_ms"]["p50"],
                            "p99_ms": r["latency_ms"]["p99"],
                            "errors": r["error_count"],
                        }
                    )
            med = {s: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for s, rs in runs.items()}
            out["load"][name] = {"median": med, "runs": runs}
            e, f = med["empty"], med["full"]
            log(
                f"  {backend} {name}: empty {e['rps']:,.0f}/s p50 {e['p50_ms']:.2f} p99 {e['p99_ms']:.2f} "
                f"ms | full {f['rps']:,.0f}/s p50 {f['p50_ms']:.2f} p99 {f['p99_ms']:.2f} ms | "
                f"full/empty {f['rps'] / e['rps']:.3f}"
            )
        out["admin"] = {}
        for label, path in admin_queries().items():
            res: dict[str, Any] = {}
            for state, base in bases.items():
                timings = [admin_get(base, path)]
                while len(timings) < 3 and timings[0][0] < 5.0:  # slow ones: once is enough
                    timings.append(admin_get(base, path))
                res[state] = {
                    "median_s": round(statistics.median(t[0] for t in timings), 3),
                    "status": timings[0][1],
                    "groups": timings[0][2],
                }
            out["admin"][label] = {"path": path, **res}
            log(
                f"  {backend} admin {label}: "
                f"empty {res['empty']['median_s']} s, full {res['full']['median_s']} s"
            )
    return out


# ---------------------------------------------------------------- main


def pg_admin(dsn: str, sql: str) -> None:
    subprocess.run(["psql", dsn, "-qc", sql], check=True, capture_output=True)


def pg_database(server: str, prefix: str) -> tuple[str, str]:
    """A new database on the PostgreSQL `server`: its name and hubgate's URL for it."""
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    pg_admin(server, f"CREATE DATABASE {name}")
    return name, "postgresql+asyncpg://" + server.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"


def fill_and_upgrade(url: str, upstream: str, args: argparse.Namespace) -> dict[str, float]:
    """Fill a database at schema 0009 and upgrade it, as an existing install would be
    (migration 0010 builds the daily roll-ups from the whole log); seconds per part."""
    migrate_sync(url, "0009")
    timings = asyncio.run(fill(url, upstream, args))
    t0 = time.perf_counter()
    migrate_sync(url)
    timings["upgrade_s"] = round(time.perf_counter() - t0, 1)
    return timings


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hubgate-scale-", dir=args.workdir))
    nginx = Nginx(h.free_port(), workers=2)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    results: dict[str, Any] = {}
    pg_dbs: list[str] = []
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                urls = {s: f"sqlite+aiosqlite:///{work}/{s}.db" for s in ("empty", "full")}
            else:
                urls = {}
                for s in ("empty", "full"):
                    name, urls[s] = pg_database(args.pg, f"hubgate_scale_{s}")
                    pg_dbs.append(name)
            asyncio.run(migrate(urls["empty"]))
            log(
                f"{backend}: filling with {args.keys:,} keys, {args.channels:,} channels, "
                f"{args.rows:,} usage rows"
            )
            t0 = time.perf_counter()
            timings = fill_and_upgrade(urls["full"], upstream, args)
            log(f"{backend}: filled and upgraded in {time.perf_counter() - t0:,.0f} s {timings}")
            res = measure_backend(backend, urls, upstream, work, args)
            res["fill_s"] = timings
            if backend == "sqlite":
                res["database_mb"] = {s: round(os.path.getsize(f"{work}/{s}.db") / 2**20) for s in urls}
            results[backend] = res
    finally:
        nginx.stop()
        for name in pg_dbs:
            with contextlib.suppress(subprocess.CalledProcessError):
                pg_admin(args.pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not args.keep:
            for f in work.glob("*"):
                f.unlink()
            work.rmdir()
    return h.run_doc(args, results=results)


def markdown(doc: dict[str, Any]) -> str:
    a = doc["args"]
    lines = [
        f"# hubgate at scale, {doc['date']}",
        "",
        f"`make bench-scale` (`bench/scale.py --backends {a['backends']} --keys {a['keys']} --channels "
        f"{a['channels']} --rows {a['rows']} --mix {a.get('mix', 'uniform')} --runs {a['runs']} "
        f"--duration {a['duration']:g}`), {h.measured(doc['git'])}: the same config and load against an "
        "empty database and one "
        f"holding {a['keys']:,} keys, {a['channels']:,} admin channels and {a['rows']:,} usage rows; "
        "2 workers, key auth, routing, usage log in the database measured; wrk runs alternating "
        f"empty/full, medians of {a['runs']}. A shared 2-core machine: other work (test suites) was "
        "running at times, so single runs vary by tens of percent; compare the medians side by side.",
        "",
        "| backend | scenario | empty: req/s | full: req/s | full/empty | empty p50 / p99 | full p50 / p99 "
        "| CPU per request, empty / full |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, res in doc["results"].items():
        for name, load in res["load"].items():
            e, f = load["median"]["empty"], load["median"]["full"]
            lines.append(
                f"| {backend} | {name} | {e['rps']:,.0f} | {f['rps']:,.0f} | {f['rps'] / e['rps']:.2f} | "
                f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f} ms | {f['p50_ms']:.2f} / {f['p99_ms']:.2f} ms | "
                + (
                    f"{e['cpu_ms_per_req']:.3f} / {f['cpu_ms_per_req']:.3f} ms |"
                    if "cpu_ms_per_req" in e
                    else "n/a |"
                )
            )
    lines += [
        "",
        "| backend | startup (to /healthz), empty | full | fill time (keys / channels / usage rows) "
        "| upgrade 0009 -> head (roll-ups built from the log) |",
        "|---|---|---|---|---|",
    ]
    for backend, res in doc["results"].items():
        st, fl = res["startup_median_s"], res["fill_s"]
        lines.append(
            f"| {backend} | {st['empty']:.2f} s | {st['full']:.2f} s | "
            f"{fl['keys_s']} s / {fl['channels_s']} s / {fl['usage_rows_s']} s | "
            f"{fl.get('upgrade_s', 'n/a')} s |"
        )
    lines += ["", "Admin usage report (`GET /admin/usage`, median of 3; once when over 5 s):", ""]
    lines += ["| backend | query | empty | full | groups (full) |", "|---|---|---|---|---|"]
    for backend, res in doc["results"].items():
        for label, q in res["admin"].items():
            lines.append(
                f"| {backend} | {label} `{q['path'].split('?')[-1] if '?' in q['path'] else ''}` | "
                f"{q['empty']['median_s']:.3f} s | {q['full']['median_s']:.3f} s | {q['full']['groups']:,} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="sqlite,pg", help="sqlite,pg")
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--channels", type=int, default=1_000)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--mix", choices=("skewed", "uniform"), default="skewed", help="how rows spread (mix_sql)")
    p.add_argument("--scenarios", default="json32,sse32,json1", help=",".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--startup-runs", type=int, default=3)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL server")
    p.add_argument("--workdir", default=None, help="where the SQLite files go (a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the SQLite files")
    p.add_argument("--date", default=dt.date.today().isoformat())
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    doc = run(args)
    h.finish(args, "scale", doc, markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
