"""Python opcodes executed per request, by function: hubgate against the bare pass-through.

A count, not a time: a sitecustomize in the server's processes traces every opcode
(`sys.settrace` with `f_trace_opcodes`) between SIGUSR1 and SIGUSR2, which this script
sends around exactly --requests requests at c=16. The count does not move with what
else the machine does, so a change of a few percent shows where `make bench` cannot.
It leaves out C work (JSON, SQLite, the kernel) and runs the server far slower.

  .venv/bin/python bench/opcodes.py                      # hubgate, 2 workers, JSON
  .venv/bin/python bench/opcodes.py --scenario sse --workers 1
  .venv/bin/python bench/opcodes.py --target ceiling      # bench/ceiling.py, same body
  .venv/bin/python bench/opcodes.py --database pg         # the usage log in PostgreSQL (127.0.0.1:5432)

Prints the total per request, the share of each package and the top functions.
Needs nginx (Debian package).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from instr_ab import drive
from targets import PG_DATABASE_PREFIX, psql
from upstream.nginx import Nginx

ROOT = Path(__file__).resolve().parent.parent
SITE = """
import collections, json, os, signal, sys, threading

_counts = collections.Counter()


def _local(frame, event, arg):
    if event == "opcode":
        co = frame.f_code
        name = co.co_name
        if co.co_filename == "<string>":  # dataclass __init__s: named by their class
            name += ":" + type(frame.f_locals.get("self")).__name__
        _counts[(co.co_filename, name)] += 1
    return _local


def _tracer(frame, event, arg):
    frame.f_trace_opcodes = True
    return _local


def _on(sig, frm):
    _counts.clear()
    sys.settrace(_tracer)
    threading.settrace(_tracer)


def _off(sig, frm):
    sys.settrace(None)
    threading.settrace(None)
    with open(os.path.join(os.environ["HUBGATE_OPCODES_DIR"], f"{os.getpid()}.json"), "w") as fh:
        json.dump([[f, n, c] for (f, n), c in _counts.items()], fh)


signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
"""


def short(path: str) -> str:
    for mark in ("/src/", "site-packages/", "python3.11/", "/bench/"):
        if mark in path:
            return path.split(mark)[-1]
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=("hubgate", "ceiling"), default="hubgate")
    p.add_argument("--scenario", choices=("json", "sse"), default="json")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--top", type=int, default=40)
    p.add_argument(
        "--database", choices=("sqlite", "pg"), default="sqlite",
        help="hubgate's database: a SQLite file, or a fresh PostgreSQL database (dropped after)",
    )  # fmt: skip
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hubgate-opcodes-"))
    (work / "site").mkdir()
    (work / "site" / "sitecustomize.py").write_text(SITE, encoding="utf-8")
    (work / "counts").mkdir()
    env = {"PYTHONPATH": f"{work / 'site'}:{ROOT / 'src'}", "HUBGATE_OPCODES_DIR": str(work / "counts")}
    nginx = Nginx(h.free_port(), workers=1)
    nginx.start()
    upstream = f"http://127.0.0.1:{nginx.port}"
    port = h.free_port()
    sc = h.hubgate_scenarios()[args.scenario]
    python = str(ROOT / ".venv" / "bin" / "python")
    pg_database = f"{PG_DATABASE_PREFIX}{uuid.uuid4().hex[:8]}" if args.database == "pg" else None
    database_url = f"sqlite+aiosqlite:///{work}/db.sqlite"
    if pg_database is not None:
        created = psql(f"CREATE DATABASE {pg_database}")
        if created.returncode != 0:
            raise SystemExit(f"PostgreSQL at 127.0.0.1:5432 refused: {created.stderr.strip()}")
        database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_database}"
    if args.target == "hubgate":
        config = work / "hubgate.yaml"
        config.write_text(
            h.hubgate_config(upstream, database_url, args.workers, "info", limited=True, key_limits=10**9),
            encoding="utf-8",
        )
        argv = [python, "-m", "hubgate", "serve", "--config", str(config), "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(args.workers)]  # fmt: skip
    else:
        sc = h.Scenario(
            sc.name, f"/{args.scenario}/v1/chat/completions", sc.body, sc.headers, sc.stream, sc.expect
        )
        argv = [python, str(ROOT / "bench" / "ceiling.py"), "--port", str(port), "--upstream", upstream,
                "--workers", str(args.workers)]  # fmt: skip
    proc = h.Proc(f"opcodes-{args.target}", argv, env=env, cwd=work)
    base = f"http://127.0.0.1:{port}"
    try:
        h.wait_http(base + "/healthz", 120, proc)
        if drive(base, sc, 300, 16):
            raise SystemExit(f"warm-up requests failed\n{proc.log_tail(3000)}")
        pids = h.tree_pids(proc.pid)
        for pid in pids:
            os.kill(pid, signal.SIGUSR1)
        time.sleep(0.5)
        errors = drive(base, sc, args.requests, 16)
        for pid in pids:
            os.kill(pid, signal.SIGUSR2)
        time.sleep(2.0)
        if errors:
            raise SystemExit(f"{errors} failed requests")
        total: collections.Counter[tuple[str, str]] = collections.Counter()
        for dump in (work / "counts").glob("*.json"):
            for path, name, n in json.loads(dump.read_text()):
                total[(short(path), name)] += n
    finally:
        proc.stop(timeout=30)
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
        if pg_database is not None:
            psql(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")
    n = args.requests
    per = sum(total.values()) / n
    where = f", {args.database}" if args.target == "hubgate" else ""
    print(f"{args.target} {args.scenario}{where}, {args.workers} workers: {per:,.0f} opcodes a request")
    packages: collections.Counter[str] = collections.Counter()
    for (path, _), count in total.items():
        packages[path.split("/")[0]] += count
    for package, count in packages.most_common(8):
        print(f"  {count / n:9,.1f}  {package}")
    print()
    for (path, name), count in total.most_common(args.top):
        print(f"  {count / n:9,.1f}  {path} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
