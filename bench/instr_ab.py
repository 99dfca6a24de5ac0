"""What holds and the usage journal cost, counted in instructions (valgrind's callgrind),
not seconds: a count does not move with what else the machine is doing, so a 5% bound
can be shown on a shared, noisy machine where wall-clock ratios scatter by +-10%.

Two `hubgate serve --workers 2` (SQLite, holds in database leases, as bench/keys_ab.py)
run under `valgrind --tool=callgrind --trace-children=yes` with instrumentation off; for
each measured window it is switched on in every process of the tree (`callgrind_control
-i on`), exactly --requests requests go in at --concurrency, and the instructions of the
whole tree (workers, their threads, the parent) are dumped and divided by the requests:
  journal    the product as shipped: every answer appended to the usage journal;
  nojournal  the same with the journal off (bench-only: a sitecustomize hands the usage
             writer no journal; there is no such setting in the product);
  bare       neither journal nor holds (bench-only too: the relay sizes and places no
             hold, and the hold backend keeps no books; the limited key's budget and
             balance are still checked at admission, as before holds existed).
In each: F a plain key on an unpriced model, P the plain key on a priced model (priced,
charged, never held), L a limited key (budget, account balance: sized, held, settled and
charged). Issue 13's figure is L(journal) / L(bare): the same limited request with holds
and journal and with neither. L(journal) / P(nojournal) is an upper bound that also counts
what a limited key costs without holds (its budget and balance checks, its account's
reads after each flush). Variants rotate across --rounds rounds; the background timers'
instructions (lease keeper, flushes, metrics) fall in every window.

  bench/.venvs/tools/bin/python bench/instr_ab.py                      # ~20 min on 2 cores
  bench/.venvs/tools/bin/python bench/instr_ab.py --requests 200 --rounds 1 --no-write

Needs valgrind, nginx (Debian packages). Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from keys_ab import variants
from upstream.nginx import Nginx

ROOT = Path(__file__).resolve().parent.parent
# Under callgrind hubgate runs some hundreds of times slower, so a timer that fires every
# second at full speed (the usage flush's deadline, the lease keeper, the journal's syncer,
# the loop-lag probe) would fire hundreds of times more often per request. The
# sitecustomize stretches every sleep and wait by the same factor (--dilate), so per
# request the background work is what it is at full speed.
SITE = """
import asyncio, os

_f = float(os.environ["HUBGATE_BENCH_DILATE"])
_sleep, _wait_for = asyncio.sleep, asyncio.wait_for


async def _dilated_sleep(delay, result=None):
    return await _sleep(delay * _f if delay and delay > 0 else delay, result)


async def _dilated_wait_for(fut, timeout):
    return await _wait_for(fut, timeout * _f if timeout else timeout)


asyncio.sleep, asyncio.wait_for = _dilated_sleep, _dilated_wait_for

import hubgate.observability.loop_lag as _lag

_lag_init = _lag.LoopLag.__init__


def _dilated_lag(self, *args, interval_s=_lag.INTERVAL_S, **kwargs):
    _lag_init(self, *args, interval_s=interval_s * _f, **kwargs)


_lag.LoopLag.__init__ = _dilated_lag
"""
NO_JOURNAL = """
import hubgate.storage.usage as _usage

_init = _usage.UsageWriter.__init__


def _without_journal(self, *args, **kwargs):
    kwargs["journal"] = None
    _init(self, *args, **kwargs)


_usage.UsageWriter.__init__ = _without_journal
"""
NO_HOLDS = """
import hubgate.access.billing as _billing
import hubgate.relay.holds as _holds


class _NoBooks:
    shared = False

    def place_now(self, ref, subjects, micros):
        return True

    async def place(self, ref, subjects, micros, ttl_s):
        return None

    def settle(self, ref, subjects, micros, ttl_s):
        pass

    def flushed(self, costs):
        pass

    async def changed(self, subject):
        pass

    async def start(self):
        pass

    async def close(self):
        pass


async def _no_hold(gw, call, route, key, account, row):
    call.raw = None


_holds.place = _no_hold
_billing_init = _billing.Billing.__init__


def _without_books(self, *args, **kwargs):
    _billing_init(self, *args, **kwargs)
    self.backend = _NoBooks()


_billing.Billing.__init__ = _without_books
"""
SETUPS = {"journal": "", "nojournal": NO_JOURNAL, "bare": NO_JOURNAL + NO_HOLDS}
TOTALS = re.compile(rb"^(?:totals|summary):\s+(\d+)", re.M)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="json32,sse32", help="json32,sse32")
    p.add_argument("--requests", type=int, default=600, help="requests per measured window (600)")
    p.add_argument("--warmup", type=int, default=100, help="requests before each window, not counted")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2, help="windows per variant (2)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--setups", default="journal,nojournal,bare", help=",".join(SETUPS))
    p.add_argument("--variants", default="FPL", help="of F, P, L (FPL); L alone for L(journal)/L(bare)")
    p.add_argument("--dilate", type=float, default=200.0, help="timers stretched by this factor (200)")
    p.add_argument(
        "--batch", type=int, default=100, help="usage_batch_size (100: a flush or more in every window)"
    )
    p.add_argument("--date", default=dt.date.today().isoformat())
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--keep", type=Path, help="keep each window's callgrind dumps here (callgrind_annotate)")
    args = p.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("needs valgrind (apt-get install valgrind)")

    measured = h.git_describe()  # now: the servers import the tree as it is at their start
    work = Path(tempfile.mkdtemp(prefix="hubgate-instr-ab-"))
    nginx = Nginx(h.free_port(), workers=2)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    found: dict[str, Any] = {}
    try:
        for setup in args.setups.split(","):
            found[setup] = run_setup(setup, upstream, work, args)
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    doc = h.run_doc(args, setups=found, git=measured)
    md = report(doc)
    print(md)
    if not args.no_write:
        out = ROOT / "bench" / "results" / f"{args.date}-instr-ab"
        out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(md, encoding="utf-8")
    return 0


def run_setup(setup: str, upstream: str, work: Path, args: Any) -> dict[str, Any]:
    sub = work / setup
    sub.mkdir()
    (sub / "site").mkdir()
    site = SITE + SETUPS[setup]
    (sub / "site" / "sitecustomize.py").write_text(site, encoding="utf-8")
    # The tree this script is in, whatever the venv's editable install points at (a worktree).
    env = {"PYTHONPATH": f"{sub / 'site'}:{ROOT / 'src'}", "HUBGATE_BENCH_DILATE": str(args.dilate)}
    port = h.free_port()
    config = sub / "hubgate.yaml"
    config.write_text(
        h.hubgate_config(
            upstream, f"sqlite+aiosqlite:///{sub}/db.sqlite", args.workers, limited=True, plain_key=True
        )
        + f"usage_batch_size: {args.batch}\n",
        encoding="utf-8",
    )
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        "--instr-atstart=no",
        f"--callgrind-out-file={sub}/cg.%p",
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "hubgate",
        "serve",
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    proc = h.Proc(f"instr-{setup}", argv, env=env, cwd=sub)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        h.wait_http(base + "/healthz", 600, proc)
        time.sleep(2.0)
        pids = h.tree_pids(proc.pid)
        for name in args.scenarios.split(","):
            sides = {k: v for k, v in variants(name).items() if k in args.variants}
            for key, sc in sides.items():
                ok, detail = h.probe(base, sc, timeout=120)
                if not ok:
                    raise SystemExit(f"{setup} {key} fails {sc.name}: {detail}\n{proc.log_tail(6000)}")
            per: dict[str, list[float]] = {k: [] for k in sides}
            order = list(sides)
            for i in range(args.rounds):
                for key in order[i % len(order) :] + order[: i % len(order)]:
                    sc = sides[key]
                    drive(base, sc, args.warmup, args.concurrency)
                    control(pids, "-z")
                    control(pids, "-i", "on")
                    t0 = time.monotonic()
                    errors = drive(base, sc, args.requests, args.concurrency)
                    wall = time.monotonic() - t0
                    control(pids, "-i", "off")
                    total = dump(pids, sub, args.keep and args.keep / f"{setup}-{name}-{key}-{i}")
                    per[key].append(total / args.requests)
                    print(
                        f"{setup} {name} {key}: {total / args.requests:,.0f} instructions/request, "
                        f"{wall * 1000 * args.workers / args.requests:,.0f} ms a request per worker"
                        + (f" ({errors} errors)" if errors else ""),
                        flush=True,
                    )
                    if errors:
                        raise SystemExit(f"{errors} failed requests\n{proc.log_tail(4000)}")
            out[name] = {k: {"runs": v, "median": statistics.median(v)} for k, v in per.items()}
    finally:
        proc.stop(timeout=120)
    return out


def control(pids: list[int], *opts: str) -> None:
    for pid in pids:
        subprocess.run(["callgrind_control", *opts, str(pid)], capture_output=True, timeout=120)


def dump(pids: list[int], sub: Path, keep: Path | None = None) -> int:
    """Dump every process's counts (since the last zeroing) and add up their instructions."""
    before = {p: set(sub.glob(f"cg.{p}.*")) for p in pids}
    control(pids, "-d")
    total = 0
    for pid in pids:
        new: set[Path] = set()
        for _ in range(200):
            new = set(sub.glob(f"cg.{pid}.*")) - before[pid]
            if new:
                break
            time.sleep(0.1)
        for path in new:
            # The header's `summary:` can read 0; the closing `totals:` is the count.
            total += max((int(n) for n in TOTALS.findall(path.read_bytes())), default=0)
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                shutil.move(path, keep / path.name)
            else:
                path.unlink()
    return total


def drive(base: str, sc: h.Scenario, n: int, concurrency: int) -> int:
    """Exactly n requests over `concurrency` keep-alive connections; the failures."""
    body = json.dumps(sc.body).encode()
    headers = {"Content-Type": "application/json", **sc.headers}
    host, port = base.removeprefix("http://").split(":")
    errors = [0]
    lock = threading.Lock()
    left = [n]

    def one() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            conn.request("POST", sc.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or (sc.expect and sc.expect not in data):
                with lock:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=one) for _ in range(min(concurrency, n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors[0]


def args_variants(doc: dict[str, Any]) -> str:
    return str(doc["args"].get("variants", "FPL"))


def report(doc: dict[str, Any]) -> str:
    setups = doc["setups"]
    a = doc["args"]
    lines = [
        f"# Holds and journal in instructions per request ({doc['date']})",
        "",
        f"`bench/instr_ab.py` on {h.measured(doc['git'])}: `hubgate serve --workers {a['workers']}` "
        f"on SQLite under callgrind, {a['requests']} requests per window at c={a['concurrency']}, "
        f"{a['rounds']} windows per variant (medians); instructions of the whole process tree.",
        "",
        "| scenario | setup | F plain, unpriced | P plain, priced | L limited (held) | L/P | P/F |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup, by_sc in setups.items():
        for name, v in by_sc.items():
            m = {k: v[k]["median"] for k in "FPL" if k in v}
            cells = [f"{m[k] / 1e6:.3f} M" if k in m else "-" for k in "FPL"]
            lp = f"{m['L'] / m['P']:.3f}" if {"L", "P"} <= m.keys() else "-"
            pf = f"{m['P'] / m['F']:.3f}" if {"P", "F"} <= m.keys() else "-"
            lines.append(f"| {name} | {setup} | {' | '.join(cells)} | {lp} | {pf} |")
    if {"journal", "bare"} <= setups.keys():
        lines += ["", "Holds and journal together, on the limited key: L (journal) / L (bare):", ""]
        for name in setups["journal"]:
            lj = setups["journal"][name]["L"]["median"]
            lb = setups["bare"][name]["L"]["median"]
            extra = ""
            if "nojournal" in setups and "L" in setups["nojournal"][name]:
                ln = setups["nojournal"][name]["L"]["median"]
                extra = (
                    f" (journal alone, L/L: {(lj / ln - 1) * 100:+.1f}%; holds alone, "
                    f"L (no journal) / L (bare): {(ln / lb - 1) * 100:+.1f}%)"
                )
            lines.append(f"- {name}: **{(lj / lb - 1) * 100:+.1f}%**{extra}")
    if {"journal", "nojournal"} <= setups.keys() and "P" in args_variants(doc):
        lines += ["", "Upper bound, L (journal) / P (no journal): also a limited key's own checks:", ""]
        for name in setups["journal"]:
            lj = setups["journal"][name]["L"]["median"]
            pn = setups["nojournal"][name]["P"]["median"]
            pj = setups["journal"][name]["P"]["median"]
            lines.append(
                f"- {name}: **{(lj / pn - 1) * 100:+.1f}%** "
                f"(journal alone, P/P: {(pj / pn - 1) * 100:+.1f}%; holds alone, L/P with the journal: "
                f"{(lj / pj - 1) * 100:+.1f}%)"
            )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
