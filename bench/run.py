"""hubgate's benchmark: hubgate against nginx direct, a bare aiohttp pass-through,
LiteLLM's proxy and Portkey's gateway, all in front of the same nginx upstream.

  make bench                                   # everything, defaults of the issue
  bench/.venvs/tools/bin/python bench/run.py --quick --targets direct,hubgate

Each target is started in turn and measured with wrk (-t2, same cores): JSON at
c=8 and c=32, SSE (24 events sent at once) at c=32, JSON at c=1 for latency, and
a c=1 time-to-first-byte probe; hubgate also translated streams both ways. Every
figure is the median of --runs runs of --duration seconds after a --warmup. The
target's own CPU seconds (its process tree, from /proc) are divided by the
requests served; RSS is sampled per process. A py-spy profile of one hubgate
worker under JSON c=32 load is saved beside the results.

Writes bench/results/<date>.json, .md, .png, <date>-profile.svg/.txt and raw logs
under bench/results/raw/<date>/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chart
import harness as h
import loop_lag
import machine
import paired
import profile_summary
import psutil
import readme_table
import report
import targets as tg
import ttfb
from upstream.nginx import Nginx

ALL_TARGETS = ("direct", "ceiling", "hubgate", "hubgate-pg", "portkey", "litellm")
RESULTS = h.BENCH / "results"


class Bench:
    def __init__(self, args: argparse.Namespace, raw_dir: Path) -> None:
        self.args = args
        self.raw_dir = raw_dir
        self.workdir = Path(tempfile.mkdtemp(prefix="hubgate-bench-"))
        self.upstream_monitor: machine.TreeMonitor | None = None

    def wait_quiet(self) -> float:
        """Wait (up to --quiet-wait s) until the machine is nearly idle; the busy % last seen.

        Other work on the same 2 cores (a test suite, a build) skews every figure,
        so each target starts on a quiet machine when possible and the results
        record how busy the rest of the machine was during each series."""
        deadline = time.monotonic() + self.args.quiet_wait
        busy = psutil.cpu_percent(interval=1.0)
        while busy > self.args.quiet_threshold and time.monotonic() < deadline:
            self.log(f"  machine busy ({busy:.0f}% CPU by other processes); waiting")
            busy = psutil.cpu_percent(interval=5.0)
        return busy

    def log(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"[{stamp}] {message}", flush=True)

    def wrk_series(
        self, target: tg.Target, monitor: machine.TreeMonitor, sc: h.Scenario, connections: int
    ) -> dict[str, Any]:
        """Warm-up, then --runs measured runs; medians, errors and CPU per request.

        Each run's CPU is accounted: the target's tree, wrk, the upstream nginx, the
        database backends, and "other" (the rest of the machine). A run during which
        other processes took more than --noise-limit of a core is thrown away and
        run again (at most --max-retries times per series), after waiting for quiet.
        """
        url = target.base_url + sc.path
        body = sc.body_file(self.workdir)
        threads = 1 if connections == 1 else self.args.threads
        quiet = self.wait_quiet()
        if self.args.warmup > 0:
            h.run_wrk(url, body, sc.headers, connections, self.args.warmup, threads)
        up = self.upstream_monitor if target.name != "direct" else None
        db_pids = target.database_pids() if isinstance(target, tg.Hubgate) else []
        runs: list[dict[str, Any]] = []
        discarded: list[dict[str, Any]] = []
        # hubgate's event-loop lag from /metrics, read around each run (outside its CPU
        # accounting); the kept runs' histogram deltas add up, the max gauge is read after each.
        scrape_lag = isinstance(target, tg.Hubgate)
        lag_total: dict[str, Any] | None = None
        lag_max_reads: list[float] = []
        while len(runs) < self.args.runs:
            lag_before = loop_lag.scrape(target.base_url) if scrape_lag else None
            before = (monitor.cpu(), machine.busy_seconds(), machine.children_cpu(), up.cpu() if up else 0.0)
            db_before, kernel_before = machine.pids_cpu(db_pids), machine.kernel_threads_cpu()
            wall_before = time.monotonic()
            run = h.run_wrk(url, body, sc.headers, connections, self.args.duration, threads)
            wall = time.monotonic() - wall_before
            target_cpu = monitor.cpu() - before[0]
            busy = machine.busy_seconds() - before[1]
            wrk_cpu = machine.children_cpu() - before[2]
            up_cpu = (up.cpu() - before[3]) if up else 0.0
            db_cpu = machine.pids_cpu(db_pids) - db_before
            kernel = machine.kernel_threads_cpu() - kernel_before
            other = max(0.0, busy - target_cpu - wrk_cpu - up_cpu - db_cpu - kernel)
            lag_after = loop_lag.scrape(target.base_url) if scrape_lag else None
            run["cpu_s"] = {
                "wall": round(wall, 2),
                "machine_busy": round(busy, 2),
                "target": round(target_cpu, 3),
                "wrk": round(wrk_cpu, 2),
                "upstream_nginx": round(up_cpu, 2),
                "database": round(db_cpu, 2),
                "kernel_threads": round(kernel, 2),
                "other": round(other, 2),
            }
            if other / wall > self.args.noise_limit and len(discarded) < self.args.max_retries:
                self.log(
                    f"  {sc.name} c={connections}: other processes used {other / wall:.0%} of a core; rerun"
                )
                discarded.append({"rps": round(run["rps"], 1), "other_core_share": round(other / wall, 2)})
                self.wait_quiet()
                continue
            runs.append(run)
            lag_total = loop_lag.accumulate(lag_total, lag_before, lag_after)
            if lag_after is not None and lag_after.get("max_s") is not None:
                lag_max_reads.append(lag_after["max_s"])
        served = sum(r["requests"] for r in runs)
        cpu_used = sum(r["cpu_s"]["target"] for r in runs)
        breakdown = {k: round(sum(r["cpu_s"][k] for r in runs), 2) for k in runs[0]["cpu_s"]}
        out = {
            "connections": connections,
            "threads": threads,
            "rps": statistics.median(r["rps"] for r in runs),
            "latency_ms": {
                q: statistics.median(r["latency_ms"][q] for r in runs) for q in ("p50", "p90", "p99", "mean")
            },
            "errors": sum(r["error_count"] for r in runs),
            "machine_busy_pct_before": quiet,
            "requests": served,
            "cpu_s": round(cpu_used, 3),
            "cpu_ms_per_req": round(cpu_used * 1000 / served, 4) if served else None,
            # Where the machine's CPU went during the kept runs (seconds; 2 cores = 2 s per s).
            "cpu_breakdown_s": breakdown,
            "noisy_runs_discarded": discarded,
            "runs": [
                {
                    "rps": round(r["rps"], 1),
                    "p50_ms": r["latency_ms"]["p50"],
                    "p99_ms": r["latency_ms"]["p99"],
                }
                | {"errors": r["errors"], "cpu_s": r["cpu_s"]}
                for r in runs
            ],
        }
        lag = loop_lag.between(loop_lag.EMPTY, lag_total, lag_max_reads) if scrape_lag else None
        if scrape_lag:
            out["loop_lag"] = lag or {"error": "no hubgate_event_loop_lag_seconds samples in /metrics"}
        note = f", {out['errors']} errors" if out["errors"] else ""
        share = breakdown["other"] / breakdown["wall"] if breakdown["wall"] else 0.0
        if share > self.args.noise_limit:
            note += f", NOISY: other processes used {share:.0%} of a core"
        self.log(
            f"  {sc.name} c={connections}: {out['rps']:,.0f}/s  p50 {out['latency_ms']['p50']:.2f} ms"
            f"  p99 {out['latency_ms']['p99']:.2f} ms  cpu {out['cpu_ms_per_req']} ms/req{note}"
            + (
                f"  loop lag mean {lag['mean_ms']:.2f} p99 {lag['p99_ms']:.1f} max {lag['max_ms']} ms"
                if lag
                else ""
            )
        )
        return out

    def save_log(self, target: tg.Target) -> None:
        with contextlib.suppress(Exception):
            (self.raw_dir / f"{target.name}.log").write_text(target.log_tail(200_000), encoding="utf-8")

    def ttfb(self, target: tg.Target, sc: h.Scenario) -> dict[str, Any]:
        seconds = max(1.0, min(self.args.duration, 10.0))
        with contextlib.suppress(Exception):
            ttfb.ttfb_c1(target.base_url, sc, min(1.0, seconds))  # warm-up
        out = ttfb.ttfb_c1(target.base_url, sc, seconds)
        self.log(
            f"  ttfb c=1 ({sc.name}): p50 {out['ttfb_ms']['p50']:.3f} ms  p99 {out['ttfb_ms']['p99']:.3f} ms"
            f"  ({out['requests']} requests)"
        )
        return out

    def measure(self, target: tg.Target) -> dict[str, Any]:
        result: dict[str, Any] = {"label": target.label, "workers": target.workers, "status": "ok"}
        scenarios = target.scenarios()
        try:
            self.log(f"{target.name}: installing / checking")
            target.install()
            result["machine_busy_pct_before"] = self.wait_quiet()
            self.log(f"{target.name}: starting on {target.base_url}")
            target.start()
        except tg.Unavailable as exc:
            self.save_log(target)
            target.stop()
            return result | {"status": "unavailable", "reason": str(exc), "version": target.version}
        except BaseException as exc:
            tail = target.log_tail()
            self.save_log(target)
            target.stop()
            if not isinstance(exc, Exception):
                raise  # interrupted: the target is down, stop the run
            return result | {
                "status": "failed",
                "reason": f"did not start: {type(exc).__name__}: {str(exc)[:400]}",
                "log_tail": tail[-1500:],
                "version": target.version,
            }
        result["version"] = target.version
        monitor = machine.TreeMonitor(target.root_pid())
        worker_pids = target.worker_pids() if isinstance(target, tg.Hubgate) else []
        measured: dict[str, Any] = {}
        problems: dict[str, str] = {}
        try:
            for key, sc in scenarios.items():
                ok, detail = h.probe(target.base_url, sc)
                if not ok:
                    problems[key] = detail
                    self.log(f"  probe {key}: FAILED {detail}")
            plan = [("json_c8", "json", 8), ("json_c32", "json", 32), ("sse_c32", "sse", 32)]
            plan.append(("json_c1", "json", 1))
            if target.name == "hubgate":
                plan += [("sse_oa_to_an_c32", "sse_oa_to_an", 32), ("sse_an_to_an_c32", "sse_an_to_an", 32)]
                plan.append(("sse_an_to_oa_c32", "sse_an_to_oa", 32))
            for key, sc_name, conns in plan:
                if sc_name in problems:
                    measured[key] = {"error": f"probe failed: {problems[sc_name]}"}
                    continue
                try:
                    measured[key] = self.wrk_series(target, monitor, scenarios[sc_name], conns)
                except Exception as exc:
                    measured[key] = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
                    self.log(f"  {key}: ERROR {exc}")
                if not target.proc or target.proc.alive() or target.name == "direct":
                    continue
                raise RuntimeError(f"{target.name} died during {key}:\n{target.log_tail()}")
            if "sse" not in problems:
                try:
                    measured["ttfb_c1"] = self.ttfb(target, scenarios["sse"])
                except Exception as exc:
                    measured["ttfb_c1"] = {"error": f"{type(exc).__name__}: {exc}"}
            if target.name == "hubgate" and self.args.profile_s > 0 and "json" not in problems:
                assert isinstance(target, tg.Hubgate)
                result["profile"] = self.profile(target, scenarios["json"])
        except Exception as exc:
            result["status"] = "failed"
            result["reason"] = f"{type(exc).__name__}: {str(exc)[:600]}"
            traceback.print_exc()
        finally:
            result["memory"] = monitor.close()
            if worker_pids:
                result["memory"]["workers_peak_rss_mb"] = [
                    round(monitor.peak_rss.get(pid, 0) / 2**20, 1) for pid in worker_pids
                ]
            result["scenarios"] = measured
            if problems:
                result["probe_failures"] = problems
            self.save_log(target)
            target.stop()
        if isinstance(target, tg.Hubgate):
            result["features"] = target.features
            result["usage_rows_logged"] = target.usage_rows
            result["metering"] = target.metering
            result["database"] = target.database_url.split("@")[-1]
            self.log(f"{target.name}: metering after the run: {target.metering}")
        return result

    def profile(self, target: tg.Hubgate, sc: h.Scenario) -> dict[str, Any]:
        """py-spy on one worker while wrk drives JSON at c=32; a flame graph and a top list."""
        workers = target.worker_pids()
        if not workers:
            return {"error": "no worker process found"}
        seconds = int(self.args.profile_s)
        self.log(f"  profiling worker {workers[0]} for {seconds}s under JSON c=32 (py-spy, 100 Hz)")
        load = (target.base_url + sc.path, sc.body_file(self.workdir), sc.headers, self.args.threads)
        return profile_summary.record(workers[0], seconds, load, RESULTS, self.raw_dir, self.args.date)


def side_by_side(
    bench: Bench, names: list[str], upstream: str, nginx: Nginx, src: Path | None, commit: str | None
) -> dict[str, Any]:
    """bench/paired.py: the pass-through, the hubgate targets and the other gateways at once,
    runs alternating."""
    args = bench.args
    workdir = bench.workdir / "paired"  # fresh databases: not the sequential runs' files
    bench.log("=== paired: the pass-through, hubgate and the other gateways side by side, runs alternating")
    bench.wait_quiet()
    try:
        return paired.measure(
            lambda name: make_target(name, upstream, workdir, nginx, src, commit),
            names,
            workdir,
            rounds=args.paired_rounds,
            duration=args.paired_duration,
            warmup=args.warmup,
            threads=args.threads,
            log=bench.log,
        )
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}


def make_target(
    name: str, upstream: str, workdir: Path, nginx: Nginx, src: Path | None, commit: str | None
) -> tg.Target:
    if name == "direct":
        assert nginx.proc is not None
        return tg.Direct(upstream, workdir, nginx.proc.pid, machine.nginx_version())
    if name == "ceiling":
        return tg.Ceiling(upstream, workdir)
    if name == "hubgate":
        return tg.Hubgate(upstream, workdir, "sqlite", src, commit)
    if name == "hubgate-pg":
        return tg.Hubgate(upstream, workdir, "postgresql", src, commit)
    if name == "litellm":
        return tg.LiteLLM(upstream, workdir)
    if name == "portkey":
        return tg.Portkey(upstream, workdir)
    raise SystemExit(f"unknown target {name!r}; choose from {', '.join(ALL_TARGETS)}")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help=f"comma list of {', '.join(ALL_TARGETS)}")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per scenario (5)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (10)")
    p.add_argument("--runs", type=int, default=3, help="measured runs per scenario; medians (3)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument(
        "--profile-s", type=float, default=10.0, help="py-spy seconds on a hubgate worker, 0: none"
    )
    p.add_argument("--nginx-workers", type=int, default=2, help="nginx worker processes (2)")
    p.add_argument("--quiet-wait", type=float, default=60.0, help="max s to wait for an idle machine (60)")
    p.add_argument("--quiet-threshold", type=float, default=15.0, help="idle means below this CPU %% (15)")
    p.add_argument(
        "--noise-limit",
        type=float,
        default=0.15,
        help="rerun a run if other processes used > this many cores",
    )
    p.add_argument("--nice", type=int, default=-10, help="priority of the harness and its children (-10)")
    p.add_argument("--max-retries", type=int, default=3, help="noisy reruns allowed per series (3)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s warm-up, 1 run of 2 s, 3 s profile")
    p.add_argument(
        "--hubgate-ref",
        default=None,
        help="measure this commit of src/ (git archive, read-only) instead of the work tree",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the other targets' figures from an existing results/<date>.json (re-measure a few)",
    )
    p.add_argument("--report-only", type=Path, help="rewrite the .md and .png of an existing results JSON")
    p.add_argument(
        "--update-readme",
        action="store_true",
        help="rewrite README.md's benchmark table (between its bench-table markers) from the results;"
        " `make bench` passes it by default",
    )
    p.add_argument(
        "--readme", type=Path, default=h.ROOT / "README.md", help="the README --update-readme edits"
    )
    p.add_argument(
        "--paired-rounds",
        type=int,
        default=5,
        help="rounds of the pass-through, hubgate and the other gateways side by side"
        " (bench/paired.py), 0: none (5)",
    )
    p.add_argument("--paired-duration", type=float, default=8.0, help="seconds per paired run (8)")
    p.add_argument("--date", default=dt.date.today().isoformat(), help="name of the result files")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = p.parse_args(argv)
    if args.quick:
        args.warmup, args.duration, args.runs, args.profile_s = 1.0, 2.0, 1, 3.0
        args.paired_rounds, args.paired_duration = min(args.paired_rounds, 1), 2.0
        args.quiet_wait = min(args.quiet_wait, 10.0)
    return args


def write_report(results: dict[str, Any], base: Path, readme: Path | None = None) -> None:
    results["derived"] = report.derive(results)
    results["checks"] = report.checks(results)
    Path(f"{base}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    Path(f"{base}.md").write_text(report.markdown(results), encoding="utf-8")
    png = chart.chart(results, Path(f"{base}.png"))
    print(report.markdown(results))
    print(f"wrote {base}.json, {base}.md" + (f", {png}" if png else ""))
    if readme is not None:
        path = Path(f"{base}.json").resolve()
        shown = str(path.relative_to(h.ROOT)) if path.is_relative_to(h.ROOT) else str(path)
        readme_table.update(readme, results, shown)
        print(f"rewrote the benchmark table in {readme}")


def command_line(argv: list[str]) -> str:
    """How this run was started, for the results and the README: `make bench ...` under make
    (which runs run.py with BENCH_ARGS, by default --update-readme), else run.py itself."""
    if os.environ.get("MAKELEVEL"):
        return (
            "make bench"
            if argv == ["--update-readme"]
            else f"make bench BENCH_ARGS={shlex.quote(shlex.join(argv))}"
        )
    return shlex.join(["bench/.venvs/tools/bin/python", "bench/run.py", *argv])


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every `finally` stops its servers."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    readme = args.readme if args.update_readme else None
    if args.report_only:
        results = json.loads(args.report_only.read_text(encoding="utf-8"))
        write_report(results, args.report_only.with_suffix(""), readme)
        return 0
    global RESULTS
    RESULTS = args.out
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw_dir = RESULTS / "raw" / args.date
    raw_dir.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    machine.ensure_system_tools()
    if args.nice:
        # Every target, wrk and nginx are children of this process and inherit its
        # priority: on a shared machine the benchmark then wins the cores over
        # other work instead of measuring it.
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        except PermissionError:
            print(f"cannot set nice {args.nice} (not root); running at normal priority", flush=True)
            args.nice = 0
    bench = Bench(args, raw_dir)
    src, commit = None, None
    if args.hubgate_ref:
        commit = h.resolve_ref(args.hubgate_ref)
        src = h.snapshot_src(commit, bench.workdir)
    started = time.time()
    nginx = Nginx(h.free_port(), workers=args.nginx_workers)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    results: dict[str, Any] = {
        "date": args.date,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command_line(argv),
        "machine": machine.machine_info(),
        "hubgate": h.git_describe()
        | ({"commit": commit, "src_dirty": False} if commit else {})
        | {"measured_ref": f"{args.hubgate_ref} (git archive)" if commit else "work tree"},
        "settings": {
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "runs": args.runs,
            "wrk_threads": args.threads,
            "nginx_workers": args.nginx_workers,
            "profile_s": args.profile_s,
            "nice": args.nice,
            "noise_limit_cores": args.noise_limit,
            "quick": args.quick,
            "upstream": "nginx, fixed bodies from bench/upstream/bodies (SSE: 24 events in one write)",
        },
        "targets": {},
    }
    try:
        h.wait_http(upstream + "/healthz", 15)
        assert nginx.proc is not None
        bench.upstream_monitor = machine.TreeMonitor(nginx.proc.pid, interval=5.0)
        for name in names:
            target = make_target(name, upstream, bench.workdir, nginx, src, commit)
            bench.log(f"=== {name}: {target.label}")
            results["targets"][name] = bench.measure(target)
            (raw_dir / "partial.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
            status = results["targets"][name]["status"]
            if status != "ok":
                bench.log(f"{name}: {status}: {results['targets'][name].get('reason')}")
        measured = [n for n in names if results["targets"][n]["status"] == "ok"]
        if args.paired_rounds > 0:
            results["paired"] = side_by_side(bench, measured, upstream, nginx, src, commit)
    finally:
        nginx.stop()
        shutil.rmtree(bench.workdir, ignore_errors=True)
    results["elapsed_s"] = round(time.time() - started, 1)
    previous = RESULTS / f"{args.date}.json"
    if args.merge and previous.exists():
        old = json.loads(previous.read_text(encoding="utf-8"))
        merged = {n: t for n, t in old.get("targets", {}).items() if n not in results["targets"]}
        for kept in merged.values():
            kept["measured_in_earlier_run"] = old.get("started_at")
        order = [n for n in ALL_TARGETS if n in merged or n in results["targets"]]
        results["targets"] = {n: results["targets"].get(n) or merged[n] for n in order}
        if not any(n in names for n in ("hubgate", "hubgate-pg")) and "hubgate" in old:
            results["hubgate"] = old["hubgate"]  # the commit those figures were measured on
        results["merged_from"] = old.get("started_at")
        if old.get("command"):
            results["merged_command"] = old["command"]
    write_report(results, RESULTS / args.date, readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
