"""The benchmark's fast regression report (a few seconds, for `make test`).

Starts the nginx upstream and hubgate (1 worker, key auth, routing, SQLite usage
log), checks one plain and one streamed request, then drives 2 s of JSON and
2 s of SSE at c=8 and PRINTS the figures. It never fails on timing: it exits 0
unless something crashed (a server that does not start, a request that does not
answer 200 with the expected body). Without nginx or wrk it uses
bench/upstream/pyserver.py and bench/loadgen.py instead and says so: those
figures are far lower and only mean that the path works.

  .venv/bin/python bench/smoke.py [--seconds 2] [--connections 8]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadgen
from upstream.nginx import Nginx, nginx_binary


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwind: the `finally` blocks stop the servers


def main() -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--python-upstream", action="store_true", help="pyserver.py even if nginx is there")
    parser.add_argument("--python-load", action="store_true", help="loadgen.py even if wrk is there")
    args = parser.parse_args()
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="hubgate-smoke-"))
    use_nginx = nginx_binary() is not None and not args.python_upstream
    use_wrk = h.wrk_binary() is not None and not args.python_load
    nginx: Nginx | None = None
    fallback: h.Proc | None = None
    port = h.free_port()
    try:
        if use_nginx:
            nginx = Nginx(port, workers=1)
            nginx.start()
        else:
            script = h.BENCH / "upstream" / "pyserver.py"
            fallback = h.Proc("pyserver", [sys.executable, str(script), "--port", str(port)])
        upstream = f"http://127.0.0.1:{port}"
        h.wait_http(upstream + "/healthz", 15, fallback)
        hub_port = h.free_port()
        database = f"sqlite+aiosqlite:///{workdir}/smoke.db"
        with h.hubgate_server(upstream, database, 1, hub_port, workdir) as server:
            base = f"http://127.0.0.1:{hub_port}"
            scenarios = h.hubgate_scenarios()
            failed = False
            for name in ("json", "sse"):
                ok, detail = h.probe(base, scenarios[name])
                print(f"bench smoke: probe {name}: {'ok' if ok else 'FAILED'} ({detail})")
                failed |= not ok
            if failed:
                print("bench smoke: hubgate did not answer as expected\n" + server.log_tail())
                return 1
            tools = "upstream " + ("nginx" if use_nginx else "pyserver.py")
            tools += ", load " + ("wrk" if use_wrk else "loadgen.py")
            print(
                f"bench smoke: hubgate 1 worker, SQLite usage log; {tools};"
                f" c={args.connections}, {args.seconds:g} s each"
            )
            for name in ("json", "sse"):
                sc = scenarios[name]
                url = base + sc.path
                if use_wrk:
                    body = sc.body_file(workdir)
                    h.run_wrk(url, body, sc.headers, args.connections, 0.5)  # warm-up
                    r = h.run_wrk(url, body, sc.headers, args.connections, args.seconds)
                else:
                    payload = sc.body_file(workdir).read_bytes()
                    loadgen.run(url, payload, sc.headers, args.connections, 0.5)
                    r = loadgen.run(url, payload, sc.headers, args.connections, args.seconds)
                unit = "streams/s" if sc.stream else "req/s"
                lat = r["latency_ms"]
                print(
                    f"bench smoke: {name:4} c={args.connections}: {r['rps']:9,.0f} {unit:9}"
                    f"  p50 {lat['p50']:6.2f} ms  p99 {lat['p99']:6.2f} ms  errors {r['error_count']}"
                )
                if not server.alive():
                    print("bench smoke: hubgate exited under load\n" + server.log_tail())
                    return 1
    except Exception:
        traceback.print_exc()
        print("bench smoke: crashed (see above)")
        return 1
    finally:
        if nginx is not None:
            nginx.stop()
        if fallback is not None:
            fallback.stop()
    print(f"bench smoke: done in {time.monotonic() - began:.1f} s (figures are a report, never a failure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
