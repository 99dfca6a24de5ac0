"""What holding and charging cost, measured inside one process: on the same `hubgate
serve`, with the same journal and the same warm caches,
  F  a plain key (no budget, no account) asking for an unpriced model: nothing to charge;
  P  the plain key asking for a priced model: priced, charged, counted, never held;
  L  a limited key (budget, account balance) on the priced model: sized, held, settled
     and charged to the balance.
Runs rotate between the three (F, P, L, then P, L, F, ...), so noise from other work on
the machine falls on all, and CPU per request is the server's own process tree (utime +
stime from /proc) over the requests each run served. L/F is what issue 13's holds cost
with pricing; P/F pricing alone. `--profile S` then samples the (first) worker with
py-spy for S seconds under each variant and prints the frames whose time per request
grew most from F to L.

  bench/.venvs/tools/bin/python bench/keys_ab.py                       # json32, sse32
  bench/.venvs/tools/bin/python bench/keys_ab.py --runs 9 --workers 1 --scenarios json32
  bench/.venvs/tools/bin/python bench/keys_ab.py --redis redis://127.0.0.1:6379/0

Standard library only (plus wrk and nginx on PATH).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from upstream.nginx import Nginx

SCENARIOS = {"json32": ("json", 32, 2), "sse32": ("sse", 32, 2), "json8": ("json", 8, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="json32,sse32", help=",".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=7, help="runs per key and scenario (7)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--redis", metavar="URL", help="holds in this Redis (a fresh prefix)")
    p.add_argument("--profile", type=float, default=0.0, help="py-spy seconds per variant")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hubgate-keys-ab-"))
    nginx = Nginx(h.free_port(), workers=2)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    results: dict[str, Any] = {"git": h.git_describe(), "argv": sys.argv[1:], "scenarios": {}}
    port = h.free_port()
    try:
        server = h.hubgate_server(
            upstream,
            f"sqlite+aiosqlite:///{work}/keys.db",
            args.workers,
            port,
            work,
            limited=True,
            plain_key=True,
            redis_url=args.redis,
        )
        with server as proc:
            base = f"http://127.0.0.1:{port}"
            for name in args.scenarios.split(","):
                results["scenarios"][name] = measure(proc, base, name, args, work)
                if args.profile > 0:
                    results["scenarios"][name]["profile"] = profile(proc, base, name, args, work)
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def variants(name: str) -> dict[str, h.Scenario]:
    sc_name, _, _ = SCENARIOS[name]
    limited = h.hubgate_scenarios()[sc_name]
    plain = {"Authorization": f"Bearer {h.PLAIN_KEY}"}
    free_body = {**limited.body, "model": limited.body["model"].replace("bench-", "bench-free-")}
    return {
        "F": h.Scenario(sc_name + "_free", limited.path, free_body, plain, limited.stream, limited.expect),
        "P": h.Scenario(
            sc_name + "_plain", limited.path, limited.body, plain, limited.stream, limited.expect
        ),
        "L": limited,
    }


def measure(proc: h.Proc, base: str, name: str, args: Any, work: Path) -> dict[str, Any]:
    _, conns, threads = SCENARIOS[name]
    sides = variants(name)
    bodies = {k: sc.body_file(work) for k, sc in sides.items()}
    for key, sc in sides.items():
        ok, detail = h.probe(base, sc)
        if not ok:
            raise SystemExit(f"{key} fails {sc.name}: {detail}\n{proc.log_tail(6000)}")
        h.run_wrk(base + sc.path, bodies[key], sc.headers, conns, args.warmup, threads)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    order = list(sides)
    for i in range(args.runs):
        for key in order[i % 3 :] + order[: i % 3]:
            sc = sides[key]
            pids = h.tree_pids(proc.pid)
            c0 = h.cpu_seconds(pids)
            run = h.run_wrk(base + sc.path, bodies[key], sc.headers, conns, args.duration, threads)
            used = h.cpu_seconds(pids) - c0
            runs[key].append(
                {
                    "rps": run["rps"],
                    "p99_ms": run["latency_ms"]["p99"],
                    "cpu_ms_per_req": used * 1000 / max(1, run["requests"]),
                    "errors": run["error_count"],
                }
            )
    med = {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in runs.items()}

    def ratio(b: str, a: str, field: str) -> float:
        return statistics.median(rb[field] / ra[field] for ra, rb in zip(runs[a], runs[b], strict=True))

    ratios = {
        f"{b}/{a}": {"cpu": ratio(b, a, "cpu_ms_per_req"), "rps": ratio(b, a, "rps")}
        for b, a in (("P", "F"), ("L", "F"), ("L", "P"))
    }
    line = " | ".join(
        f"{k} {m['rps']:,.0f}/s {m['cpu_ms_per_req']:.3f} ms CPU/req p99 {m['p99_ms']:.1f} ms"
        for k, m in med.items()
    )
    ratio_text = ", ".join(f"{k}: CPU {v['cpu']:.3f} req/s {v['rps']:.3f}" for k, v in ratios.items())
    print(f"{name}: {line}\n  per run: {ratio_text}", flush=True)
    return {"median": med, "runs": runs, "ratios": ratios}


def profile(proc: h.Proc, base: str, name: str, args: Any, work: Path) -> dict[str, Any]:
    """py-spy on the first worker under each variant: microseconds per request by frame."""
    import collections
    import re
    import subprocess
    import threading

    _, conns, threads = SCENARIOS[name]
    worker = (h.hubgate_workers(proc.pid) or [proc.pid])[0]
    pyspy = Path(sys.executable).parent / "py-spy"
    frame = re.compile(r"(.*?) \((.*?)(?::\d+)?\)$")
    per_req: dict[str, dict[str, float]] = {}
    for key, sc in variants(name).items():
        out = work / f"prof-{name}-{key}.txt"
        result: dict[str, Any] = {}

        def load(sc: h.Scenario = sc, result: dict[str, Any] = result) -> None:
            result.update(
                h.run_wrk(base + sc.path, sc.body_file(work), sc.headers, conns, args.profile + 2, threads)
            )

        t = threading.Thread(target=load, daemon=True)
        t.start()
        time.sleep(1.0)
        cmd = [str(pyspy), "record", "-p", str(worker), "-d", str(int(args.profile)), "-r", "200"]
        subprocess.run([*cmd, "-f", "raw", "-o", str(out)], capture_output=True)
        t.join()
        served = result["requests"] * int(args.profile) / (args.profile + 2) / max(1, args.workers)
        inclusive: collections.Counter[str] = collections.Counter()
        for ln in out.read_text(encoding="utf-8").splitlines():
            stack, _, n = ln.rpartition(" ")
            names = set()
            for fr in stack.split(";"):
                m = frame.match(fr)
                names.add(
                    f"{m.group(1)} ({m.group(2).rsplit('site-packages/', 1)[-1].rsplit('src/', 1)[-1]})"
                    if m
                    else fr
                )
            for fr in names:
                inclusive[fr] += int(n)
        per_req[key] = {fr: n * 5000.0 / served for fr, n in inclusive.items()}  # 200 Hz: 5,000 us a sample
    grew = sorted(
        (
            (per_req["L"].get(fr, 0.0) - per_req["F"].get(fr, 0.0), fr)
            for fr in set(per_req["L"]) | set(per_req["F"])
        ),
        reverse=True,
    )
    print(f"  {name}: frames whose time per request grew most, F -> P -> L (us per request, inclusive)")
    for delta, fr in grew[:30]:
        f_, p_, l_ = (per_req[k].get(fr, 0.0) for k in "FPL")
        print(f"    {delta:+7.1f}  {f_:7.1f} {p_:7.1f} {l_:7.1f}  {fr}")
    return {k: dict(sorted(v.items(), key=lambda kv: -kv[1])[:200]) for k, v in per_req.items()}


if __name__ == "__main__":
    raise SystemExit(main())
