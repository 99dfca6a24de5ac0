"""A/B of hubgate against itself: a git revision (A) and the work tree (B), both running
at once in front of the same nginx upstream, measured in alternating wrk runs (A, B,
B, A, ...) so noise from other work on the machine falls on both; medians reported, and
the paired medians (each B run over the A run beside it in time), which are the ones to
read on a host whose speed drifts.

  bench/.venvs/tools/bin/python bench/ab.py                      # HEAD vs the work tree
  bench/.venvs/tools/bin/python bench/ab.py --a HEAD~2 --runs 7 --scenarios json32,sse32,json1
  bench/.venvs/tools/bin/python bench/ab.py --profile 10         # and py-spy on a B worker
  bench/.venvs/tools/bin/python bench/ab.py --a d2362b7 --limited --redis redis://127.0.0.1:6379/0
  bench/.venvs/tools/bin/python bench/ab.py --a worktree --scenarios names-sse32,names-json32
  bench/.venvs/tools/bin/python bench/ab.py --a HEAD~1 --scenarios "" --idle 20   # CPU while idle

`--a worktree` runs the work tree on both sides; with a `names-*` scenario side A asks for
the channel's own model name and side B for a public name (`model_map`), so B/A is what
renaming every answer costs; `--a <a revision without it> --scenarios pub-sse32,pub-json32`
measures the renaming alone (the same public name on both sides).

Each side is `hubgate serve --workers 2` with bench/harness.py's config (key auth,
model routing, usage log to SQLite, or --pg for PostgreSQL; --limited puts a budget on
the key and a balance on its account and prices the models, so requests are held and
charged; --redis shares holds and limits through Redis). CPU per request is the
side's process tree (utime + stime from /proc) over the requests served. Standard
library only, apart from py-spy for --profile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from loop_lag import between as lag_between
from loop_lag import scrape as loop_lag
from upstream.nginx import Nginx

SCENARIOS = {  # name: (harness scenario, connections, wrk threads, side B's scenario if another)
    "json32": ("json", 32, 2, None),
    "sse32": ("sse", 32, 2, None),
    "json8": ("json", 8, 2, None),
    "json1": ("json", 1, 1, None),
    "names-json32": ("json", 32, 2, "json_pub"),
    "names-sse32": ("sse", 32, 2, "sse_pub"),
    "names-sse-an32": ("sse_an_to_an", 32, 2, "sse_an_to_an_pub"),
    "pub-json32": ("json_pub", 32, 2, None),  # a public name on both sides: against a revision
    "pub-sse32": ("sse_pub", 32, 2, None),  # without the renaming, what it alone costs
}


def pg_database(admin_dsn: str, drop: str | None = None) -> str:
    name = drop or f"hubgate_ab_{uuid.uuid4().hex[:8]}"
    sql = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" if drop else f"CREATE DATABASE {name}"
    subprocess.run(["psql", admin_dsn, "-qc", sql], check=True, capture_output=True)
    return name


def paired_ratios(runs: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """B/A of each run with the A run next to it in time, medians: this host's speed drifts
    more within minutes than most changes move, and a pair shares the drift."""
    pairs = list(zip(runs["A"], runs["B"], strict=True))
    out = {}
    for k in ("rps", "p99_ms", "cpu_ms_per_req"):
        ratios = [b[k] / a[k] for a, b in pairs if a[k]]
        out[k] = round(statistics.median(ratios), 4) if ratios else float("nan")
    return out


def idle_cpu(sides: dict[str, tuple[Any, str]], seconds: float) -> dict[str, float]:
    """Both sides left idle at once: each one's process tree CPU over `seconds`, in % of a core
    (timers, pollers, background tasks: what a quiet gateway costs its host)."""
    time.sleep(2.0)  # the last load's flushes and settles done
    pids = {side: h.tree_pids(proc.pid) for side, (proc, _) in sides.items()}
    before = {side: h.cpu_seconds(p) for side, p in pids.items()}
    time.sleep(seconds)
    share = {side: round(100 * (h.cpu_seconds(p) - before[side]) / seconds, 2) for side, p in pids.items()}
    print(f"idle CPU over {seconds:g} s (% of a core): A {share['A']} | B {share['B']}", flush=True)
    return share


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", default="HEAD", help="git revision for side A (HEAD), or `worktree`")
    p.add_argument("--scenarios", default="json32,sse32,json1", help=",".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=5, help="runs per side and scenario (5)")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per run (8)")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument(
        "--pg", action="store_true", help="usage log in PostgreSQL (databases created and dropped)"
    )
    p.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument(
        "--limited",
        action="store_true",
        help="a key budget, an account balance and prices for the bench models: every request is held",
    )
    p.add_argument(
        "--limited-b-only",
        action="store_true",
        help="--limited on side B alone: with --a HEAD, what holds (and charging) cost, nothing else",
    )
    p.add_argument("--redis", metavar="URL", help="both sides share state through this Redis (own prefixes)")
    p.add_argument("--profile", type=float, default=0.0, help="py-spy seconds on a worker at c=32")
    p.add_argument("--profile-side", choices=("A", "B"), default="B", help="whose worker --profile samples")
    p.add_argument("--profile-scenario", choices=("json", "sse"), default="json", help="the load meanwhile")
    p.add_argument(
        "--idle", type=float, default=0.0, help="then seconds with no load: each side's CPU share while idle"
    )
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hubgate-ab-"))
    src_a = None if args.a == "worktree" else h.snapshot_src(args.a, work)
    nginx = Nginx(h.free_port(), workers=2)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    dbs: list[str] = []

    def db_url(side: str) -> str:
        if not args.pg:
            return f"sqlite+aiosqlite:///{work}/{side}.db"
        name = pg_database(args.pg_admin)
        dbs.append(name)
        return args.pg_admin.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"

    results: dict[str, Any] = {
        "a": args.a,
        "a_commit": h.resolve_ref("HEAD" if args.a == "worktree" else args.a),
        "b": "work tree",
        "b_git": h.git_describe(),
        "pg": args.pg,
        "limited": "B only" if args.limited and args.limited_b_only else args.limited,
        "redis": args.redis,
        "argv": sys.argv[1:],
        "scenarios": {},
    }
    try:
        with contextlib.ExitStack() as stack:
            sides = {}
            for side, src in (("A", src_a), ("B", None)):
                port = h.free_port()
                server = h.hubgate_server(
                    upstream,
                    db_url(side),
                    2,
                    port,
                    work,
                    src,
                    limited=args.limited and not (args.limited_b_only and side == "A"),
                    redis_url=args.redis,
                )
                proc = stack.enter_context(server)
                sides[side] = (proc, f"http://127.0.0.1:{port}")
            scenarios = h.hubgate_scenarios()
            for name in filter(None, args.scenarios.split(",")):
                sc_name, conns, threads, b_name = SCENARIOS[name]
                side_sc = {"A": scenarios[sc_name], "B": scenarios[b_name or sc_name]}
                bodies = {side: sc.body_file(work) for side, sc in side_sc.items()}
                runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
                for side, (proc, base) in sides.items():
                    sc = side_sc[side]
                    ok, detail = h.probe(base, sc)
                    if not ok:
                        raise SystemExit(f"{side} fails {sc.name}: {detail}\n{proc.log_tail(6000)}")
                    h.run_wrk(base + sc.path, bodies[side], sc.headers, conns, args.warmup, threads)
                lag_before = {side: loop_lag(base) for side, (_, base) in sides.items()}
                for i in range(args.runs):
                    order = ("A", "B") if i % 2 == 0 else ("B", "A")
                    for side in order:
                        proc, base = sides[side]
                        sc = side_sc[side]
                        pids = h.tree_pids(proc.pid)
                        c0 = h.cpu_seconds(pids)
                        run = h.run_wrk(
                            base + sc.path, bodies[side], sc.headers, conns, args.duration, threads
                        )
                        used = h.cpu_seconds(pids) - c0
                        runs[side].append(
                            {
                                "rps": run["rps"],
                                "p50_ms": run["latency_ms"]["p50"],
                                "p99_ms": run["latency_ms"]["p99"],
                                "cpu_ms_per_req": used * 1000 / max(1, run["requests"]),
                                "errors": run["error_count"],
                            }
                        )
                        print(f"  {name} {side} run {i}: {run['rps']:,.0f}/s", flush=True)
                med = {
                    side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in runs.items()
                }
                lag = {side: lag_between(lag_before[side], loop_lag(b)) for side, (_, b) in sides.items()}
                paired = paired_ratios(runs)
                results["scenarios"][name] = {"median": med, "runs": runs, "loop_lag": lag, "paired": paired}
                a, b = med["A"], med["B"]
                print(
                    f"{name}: A {a['rps']:,.0f}/s p50 {a['p50_ms']:.2f} p99 {a['p99_ms']:.2f} ms "
                    f"{a['cpu_ms_per_req']:.3f} ms CPU/req | B {b['rps']:,.0f}/s p50 {b['p50_ms']:.2f} "
                    f"p99 {b['p99_ms']:.2f} ms {b['cpu_ms_per_req']:.3f} ms CPU/req | "
                    f"B/A {b['rps'] / a['rps']:.3f}",
                    flush=True,
                )
                print(
                    f"  paired (median of B/A run by run): req/s {paired['rps']:.3f}, "
                    f"p99 {paired['p99_ms']:.3f}, CPU per request {paired['cpu_ms_per_req']:.3f}",
                    flush=True,
                )
                for side, figures in lag.items():
                    if figures is not None:
                        print(f"  {side} loop lag: {figures}", flush=True)
            results["rss_mb"] = {
                side: [round(h.rss_mb(pid), 1) for pid in h.hubgate_workers(proc.pid)]
                for side, (proc, _) in sides.items()
            }
            if args.idle > 0:
                results["idle_cpu_percent"] = idle_cpu(sides, args.idle)
            if args.profile > 0:
                sc = scenarios[args.profile_scenario]
                results["profile"] = profile(sides[args.profile_side], sc, work, args.profile)
    finally:
        nginx.stop()
        for name in dbs:
            pg_database(args.pg_admin, drop=name)
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def profile(side: tuple[h.Proc, str], sc: h.Scenario, work: Path, seconds: float) -> str:
    import threading

    import profile_summary

    proc, base = side
    worker = h.hubgate_workers(proc.pid)[0]
    pyspy = Path(sys.executable).parent / "py-spy"
    out = Path(tempfile.mkdtemp(prefix="hubgate-ab-prof-")) / "collapsed.txt"
    load = threading.Thread(
        target=h.run_wrk, args=(base + sc.path, sc.body_file(work), sc.headers, 32, seconds + 3), daemon=True
    )
    load.start()
    time.sleep(1.5)
    cmd = [str(pyspy), "record", "-p", str(worker), "-d", str(int(seconds)), "-r", "100"]
    subprocess.run([*cmd, "-f", "raw", "-o", str(out)], capture_output=True)
    load.join()
    summary = profile_summary.summarise_profile(out.read_text(encoding="utf-8"))
    text = profile_summary.profile_text(summary, worker, int(seconds))
    print(text)
    print(f"collapsed stacks: {out}")
    return text


if __name__ == "__main__":
    raise SystemExit(main())
