"""The bare pass-through ceiling: what aiohttp + uvloop cost with nothing else.

No auth, no routing, no parsing, no logging: each POST's body goes to the same
path on the upstream and the answer comes back (a stream chunk by chunk as it
arrives). N worker processes share the port with SO_REUSEPORT, as hubgate's do.
The gap between this and hubgate is what hubgate's own features cost.

  .venv/bin/python bench/ceiling.py --port 8100 --upstream http://127.0.0.1:8080 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys

import aiohttp
import uvloop
from aiohttp import web

PASSED_HEADERS = ("content-type", "cache-control")


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def open_session(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, force_close=False)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def close_session(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        session: aiohttp.ClientSession = request.app["session"]
        async with session.post(
            upstream + request.path_qs,
            data=body,
            headers={"content-type": request.headers.get("content-type", "application/json")},
        ) as up:
            headers = {k: up.headers[k] for k in PASSED_HEADERS if k in up.headers}
            if up.headers.get("content-type", "").startswith("text/event-stream"):
                out = web.StreamResponse(status=up.status, headers=headers)
                await out.prepare(request)
                async for chunk in up.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
                return out
            return web.Response(body=await up.read(), status=up.status, headers=headers)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", forward)
    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    return app


def run_worker(host: str, port: int, upstream: str, reuse_port: bool) -> None:
    uvloop.install()
    web.run_app(make_app(upstream), host=host, port=port, reuse_port=reuse_port, access_log=None, print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8080 (no trailing /)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    upstream = args.upstream.rstrip("/")
    if args.workers <= 1:
        run_worker(args.host, args.port, upstream, reuse_port=False)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=run_worker, args=(args.host, args.port, upstream, True))
        for _ in range(args.workers)
    ]
    for p in procs:
        p.start()

    def stop(_signum: int, _frame: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.join()
    sys.exit(0)


if __name__ == "__main__":
    main()
