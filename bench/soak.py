"""Soak run: memory of hubgate's workers over a million requests.

  make bench-soak                                          # 1,000,000 requests, SQLite usage log
  bench/.venvs/tools/bin/python bench/soak.py --requests 200000 --no-write   # a shorter look

`hubgate serve --workers 2` with production features on (key auth with an rpm and
tpm limit high enough never to refuse, model routing, usage log to SQLite; --redis
puts the limits in Redis) in front of the benchmark's nginx upstream. wrk drives it
in chunks of --chunk-s seconds, alternating the scenarios of --mix (JSON and
streamed chat completions at c=32 by default), until --requests have been served;
after each chunk the RSS of each worker is sampled. Reported: RSS per worker once
the first 100,000 requests are served, at the start of the last 100,000, at the end,
and the peak; the growth between the first and the last; the usage rows written
(one per request, checked after a graceful stop). Writes
bench/results/<date>-soak.{json,md} unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from upstream.nginx import Nginx

RESULTS = h.BENCH / "results"
LIMIT = 100_000_000  # rpm and tpm: production code paths, never a refusal


def soak_config(upstream: str, database_url: str, workers: int, redis_url: str | None) -> str:
    text = h.hubgate_config(upstream, database_url, workers)
    text += f"    rpm: {LIMIT}\n    tpm: {LIMIT}\n"  # the bench key's limits
    if redis_url:
        text += f"redis_url: {redis_url}\n"
    return text


def sample(workers: list[int]) -> list[float]:
    return [round(h.rss_mb(pid), 1) for pid in workers]


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hubgate-soak-"))
    db_path = work / "soak.db"
    pg_name = None
    if args.database == "pg":
        pg_name = f"hubgate_soak_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", args.pg_admin, "-qc", f"CREATE DATABASE {pg_name}"], check=True)
        database_url = (
            "postgresql+asyncpg://" + args.pg_admin.split("://", 1)[1].rsplit("/", 1)[0] + f"/{pg_name}"
        )
    else:
        database_url = f"sqlite+aiosqlite:///{db_path}"
    nginx = Nginx(h.free_port(), workers=2)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    port = h.free_port()
    config = work / "hubgate.yaml"
    config.write_text(soak_config(upstream, database_url, args.workers, args.redis), encoding="utf-8")
    exe = h.ROOT / ".venv" / "bin" / "hubgate"
    argv = [str(exe), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    proc = h.Proc("hubgate-soak", [*argv, "--workers", str(args.workers)], cwd=work)
    base = f"http://127.0.0.1:{port}"
    scenarios = h.hubgate_scenarios()
    mix = [scenarios[name] for name in args.mix.split(",")]
    samples: list[dict[str, Any]] = []
    total = errors = 0
    started = time.monotonic()
    try:
        h.wait_http(f"{base}/healthz", 60, proc)
        for sc in mix:
            ok, detail = h.probe(base, sc)
            if not ok:
                raise SystemExit(f"{sc.name} probe failed: {detail}")
        workers = h.hubgate_workers(proc.pid)
        cpu0 = h.cpu_seconds(workers)
        samples.append({"requests": 0, "elapsed_s": 0.0, "rss_mb": sample(workers), "cpu_s": 0.0})
        i = 0
        while total < args.requests:
            sc = mix[i % len(mix)]
            i += 1
            out = h.run_wrk(base + sc.path, sc.body_file(work), sc.headers, args.connections, args.chunk_s)
            total += out["requests"]
            errors += out["error_count"]
            samples.append(
                {
                    "requests": total,
                    "elapsed_s": round(time.monotonic() - started, 1),
                    "scenario": sc.name,
                    "rps": round(out["rps"]),
                    "rss_mb": sample(workers),
                    "cpu_s": round(h.cpu_seconds(workers) - cpu0, 1),
                }
            )
            if args.verbose or len(samples) % 10 == 0:
                last = samples[-1]
                print(
                    f"  {total:>9,} requests, {last['rps']:>6,}/s {sc.name}, RSS {last['rss_mb']} MB",
                    flush=True,
                )
            if not all(h.rss_mb(pid) for pid in workers):
                raise RuntimeError(f"a worker died: {proc.last_lines()}")
        wall = time.monotonic() - started
    finally:
        proc.stop(timeout=60)  # graceful: the usage writer flushes what is left
        nginx.stop()
    query = "SELECT status, count(*) FROM usage_logs GROUP BY status ORDER BY status"
    try:
        if pg_name is not None:
            dsn = args.pg_admin.rsplit("/", 1)[0] + f"/{pg_name}"
            out = subprocess.run(
                ["psql", dsn, "-AtF,", "-c", query], check=True, capture_output=True, text=True
            )
            rows = {int(a): int(b) for a, b in (ln.split(",") for ln in out.stdout.split())}
        else:
            with sqlite3.connect(db_path) as conn:
                rows = dict(conn.execute(query).fetchall())
    finally:
        if pg_name is not None:
            drop = f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"
            subprocess.run(["psql", args.pg_admin, "-qc", drop], check=False)
    return summarise(args, samples, total, errors, wall, rows, len(mix))


def _at(samples: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    """The first sample taken once `requests` had been served."""
    return next(s for s in samples if s["requests"] >= requests)


def summarise(
    args: argparse.Namespace,
    samples: list[dict[str, Any]],
    total: int,
    errors: int,
    wall: float,
    rows: dict[int, int],
    probes: int,
) -> dict[str, Any]:
    first = _at(samples, min(100_000, total))
    last_start = _at(samples, max(first["requests"], total - 100_000))
    end = samples[-1]
    workers = len(end["rss_mb"])
    under_load = samples[1:] or samples  # the start sample is before any request (startup work)
    peak = [max(s["rss_mb"][w] for s in under_load) for w in range(workers)]
    growth = [round(end["rss_mb"][w] - first["rss_mb"][w], 1) for w in range(workers)]
    growth_last = [round(end["rss_mb"][w] - last_start["rss_mb"][w], 1) for w in range(workers)]
    return h.run_doc(
        args,
        **{
            "requests": total,
            "errors": errors,
            "wall_s": round(wall, 1),
            "rps_mean": round(total / wall) if wall else 0,
            "cpu_ms_per_req": round(end["cpu_s"] * 1000 / total, 3) if total else None,
            "usage_rows": sum(rows.values()),
            "usage_rows_by_status": {str(k): v for k, v in rows.items()},
            "usage_rows_expected_at_least": total + probes,
            "rss_mb": {
                "start": samples[0]["rss_mb"],
                "after_first_100k": {"requests": first["requests"], "per_worker": first["rss_mb"]},
                "at_start_of_last_100k": {
                    "requests": last_start["requests"],
                    "per_worker": last_start["rss_mb"],
                },
                "end": {"requests": end["requests"], "per_worker": end["rss_mb"]},
                "peak_per_worker_under_load": peak,
                "growth_first_100k_to_end": growth,
                "growth_over_last_100k": growth_last,
            },
            "samples": samples,
        },
    )


def _signed(values: list[float]) -> str:
    return " | ".join(f"{v:+}" for v in values)


def markdown(doc: dict[str, Any]) -> str:
    r = doc["rss_mb"]
    a = doc["args"]
    limits = "Redis" if a["redis"] else "in-process"
    end = max(r["end"]["per_worker"])
    grown = max(r["growth_first_100k_to_end"])
    verdict_mem = "PASS" if end < 100 else "FAIL"
    verdict_growth = "PASS" if grown <= 2.0 else "FAIL"
    lines = [
        f"# hubgate soak run, {doc['date']}",
        "",
        f"`make bench-soak` (`bench/soak.py --requests {a['requests']:,} --mix {a['mix']} "
        f"-c {a['connections']} --chunk-s {a['chunk_s']:g}`): {h.measured(doc['git'])}, "
        "`hubgate serve --workers "
        f"{a['workers']}`, key auth with rpm/tpm limits ({limits}), model routing, usage log to "
        f"{'PostgreSQL' if a['database'] == 'pg' else 'SQLite'}, "
        "nginx upstream; wrk in chunks alternating the scenarios, RSS of each worker after every chunk. "
        "A shared 2-core machine: other work (test suites) was running at times.",
        "",
        f"- requests: {doc['requests']:,} in {doc['wall_s']:,.0f} s ({doc['rps_mean']:,}/s mean), "
        f"errors: {doc['errors']:,}; worker CPU {doc['cpu_ms_per_req']} ms per request",
        f"- usage rows written: {doc['usage_rows']:,} by status {doc['usage_rows_by_status']} (at least "
        f"{doc['usage_rows_expected_at_least']:,}: one per request and probe; wrk does not count the "
        "requests in flight when each chunk ends, which hubgate answers or logs as 499)",
        "",
        "| RSS per worker (MB) | requests served | "
        + " | ".join(f"worker {i + 1}" for i in range(len(r["end"]["per_worker"])))
        + " |",
        "|---|---|" + "---|" * len(r["end"]["per_worker"]),
        f"| at start | 0 | {' | '.join(str(v) for v in r['start'])} |",
        f"| after the first 100k | {r['after_first_100k']['requests']:,} | "
        f"{' | '.join(str(v) for v in r['after_first_100k']['per_worker'])} |",
        f"| at the start of the last 100k | {r['at_start_of_last_100k']['requests']:,} | "
        f"{' | '.join(str(v) for v in r['at_start_of_last_100k']['per_worker'])} |",
        f"| at the end | {r['end']['requests']:,} | {' | '.join(str(v) for v in r['end']['per_worker'])} |",
        f"| peak under load | | {' | '.join(str(v) for v in r['peak_per_worker_under_load'])} |",
        f"| growth, first 100k to the end | | {_signed(r['growth_first_100k_to_end'])} |",
        f"| growth over the last 100k | | {_signed(r['growth_over_last_100k'])} |",
        "",
        f"- **{verdict_mem}** memory < 100 MB resident per worker after the run (largest {end} MB; peak "
        f"under load {max(r['peak_per_worker_under_load'])} MB)",
        f"- **{verdict_growth}** no growth between the first and the last 100,000 requests "
        f"(largest: {grown:+} MB; up to 2 MB is allocator noise)",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1_000_000, help="requests to serve (1,000,000)")
    p.add_argument("--mix", default="json,sse", help="scenarios, alternated per chunk (json,sse)")
    p.add_argument("-c", "--connections", type=int, default=32)
    p.add_argument("--chunk-s", type=float, default=3.0, help="seconds of wrk between RSS samples (3)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--redis", default=None, help="redis URL for the limits (default: in-process)")
    p.add_argument("--database", choices=("sqlite", "pg"), default="sqlite", help="the usage log's (sqlite)")
    p.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--name", default="soak", help="results/<date>-<name>.* (soak)")
    p.add_argument("--date", default=dt.date.today().isoformat())
    p.add_argument("--no-write", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if h.wrk_binary() is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    doc = run(args)
    md = markdown(doc)
    print(md)
    if not args.no_write:
        (RESULTS / f"{args.date}-{args.name}.json").write_text(
            json.dumps(doc, indent=1) + "\n", encoding="utf-8"
        )
        (RESULTS / f"{args.date}-{args.name}.md").write_text(md, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
