"""`hubgate serve`: prepare the database once, then run one or more worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import signal
import sys
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from sqlalchemy import text

from hubgate.app import create_app
from hubgate.bootstrap import BootstrapResult, apply_config
from hubgate.observability.logging import configure_logging
from hubgate.observability.multiprocess import shared_metrics_dir, worker_exited
from hubgate.settings import Settings
from hubgate.storage.db import create_engine

log = logging.getLogger("hubgate")


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return
    uvloop.install()


_PG_BOOTSTRAP_LOCK = 0x6875_6267_0001  # "hubg" 1: one replica at a time applies the config file


async def _prepare(settings: Settings) -> BootstrapResult:
    """Migrate and apply the config file. On PostgreSQL, replicas starting together on a fresh
    database take turns (a session advisory lock): each creates what the file declares only if
    the one before did not (they raced on the same names before, and the loser exited)."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as lock:
            postgres = lock.dialect.name == "postgresql"
            if postgres:
                await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_BOOTSTRAP_LOCK})
                await lock.commit()
            try:
                return await apply_config(settings, engine)
            finally:
                if postgres:
                    await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_BOOTSTRAP_LOCK})
                    await lock.commit()
    finally:
        await engine.dispose()


def banner(settings: Settings, host: str, port: int, result: BootstrapResult) -> str:
    url = f"http://{host}:{port}"
    lines = [f"hubgate serving on {url}  (database: {settings.database_url.split('@')[-1]})"]
    lines.append(f"admin key: {settings.admin_key or '(none set; set admin_key or HUBGATE_ADMIN_KEY)'}")
    if settings.console.enabled:
        console = f"web console: {url}/ui"
        if settings.console.admin_email:
            console += f"  (admin log-in: {settings.console.admin_email})"
        lines.append(console)
    for name, created in result.created_keys:
        lines.append(f"created API key {name!r} (shown once): {created}")
    secret = next((k.key for k in settings.keys if k.key), None)
    secret = secret or next((s for _, s in result.created_keys), None)
    model = next((m for c in settings.channels if c.enabled for m in c.models), None)
    if secret and model:
        body = f'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello, hubgate!"}}]}}'
        lines.append("try:")
        lines.append(
            f"  curl {url}/v1/chat/completions -H 'Authorization: Bearer {secret}' "
            f"-H 'Content-Type: application/json' -d '{body}'"
        )
    else:
        lines.append("create a key with: hubgate keys create --name me")
    return "\n".join(lines)


def _few_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at two. Every thread (aiosqlite runs one per pooled
    connection, the event loop's executor more) otherwise gets an arena of its own,
    and memory freed in one is not reused by another: a 1M-request soak with the SQLite
    usage log saw each worker's RSS climb by 8-13 MB in steps. Not glibc: nothing to do."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return


GC_YOUNG_THRESHOLD = 10_000
GIL_SWITCH_INTERVAL_S = 0.001


async def _freeze_heap(_app: web.Application) -> None:
    """Once started, set every object alive so far (modules, settings, tables, caches: about
    110k in a worker) aside from the cyclic GC. Otherwise each full collection walks them all
    on the event loop: 100-300 ms on a loaded 2-core machine, every request in flight waiting
    (the JSON c=32 p99). Objects made later are collected as usual; these live as long as the
    process anyway. No `gc.collect()` first: it would delay listening by as long as one such
    collection, for the sake of a little start-up garbage.

    And collect the youngest generation after 10,000 net new container objects instead of
    700. A request's objects die by reference count, but the 32 or so in flight at once
    kept crossing 700, and each young collection walked them all: 16-34 us of CPU per
    request, 4-5% of a worker (measured with gc.callbacks at JSON c=32, 2026-12-03). At
    10,000 a young collection runs when garbage really accumulates (cycles, caches
    growing): once in ten seconds there."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _short_gil_turns() -> None:
    """Hand the GIL to a waiting thread after 1 ms instead of Python's 5. A worker's other
    threads (the usage writer's SQLite transaction, the journal's fdatasync, aiosqlite's)
    run Python between their C calls; when the event loop wants the GIL back it waits for
    the holder to reach a blocking call or the end of the interval, and every request in
    flight waits with it. Measured with bench/ab.py (paired runs, JSON and SSE c=32, twice):
    CPU per request 3-7% lower, p99 7-9% lower in three of the four."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def run_worker(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    _few_malloc_arenas()
    _short_gil_turns()
    _use_uvloop()
    # text or JSON lines (`log_format`, or HUBGATE_LOG_FORMAT)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, bootstrap=False)
    app.on_startup.append(_freeze_heap)  # after the app's own start-up (its cleanup context)
    web.run_app(
        app,
        host=host,
        port=port,
        reuse_port=reuse_port,
        handler_cancellation=True,  # a caller hanging up cancels its upstream request
        access_log=None,
        print=None,
        shutdown_timeout=30.0,
    )


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """A spawned process first re-runs the parent's main module, so that functions pickled
    from it resolve. `hubgate serve`'s main is the `hubgate` script, which imports the whole
    command line (typer and every command: ~1 MB of RSS a worker), and a worker needs none of
    it (its target, `run_worker`, lives here). While the workers start, the main module shows
    multiprocessing no file to re-run. (`python -m hubgate`'s is skipped by multiprocessing
    itself.)"""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    if settings.log_format == "json":  # start-up lines are JSON too
        configure_logging(settings.log_level, "json")
    result = asyncio.run(_prepare(settings))
    print(banner(settings, host, port, result), flush=True)
    if workers <= 1:
        run_worker(settings, host, port, reuse_port=False)
        return
    ctx = multiprocessing.get_context("spawn")
    metrics_dir = shared_metrics_dir()  # observability: workers sum their metrics there; gone at exit
    procs = [
        ctx.Process(target=run_worker, args=(settings, host, port, True), name=f"hubgate-worker-{i}")
        for i in range(workers)
    ]
    with _main_not_rerun():
        for p in procs:
            p.start()

    def stop(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = []
    for p in procs:
        p.join()
        codes.append(p.exitcode or 0)
        worker_exited(p.pid, metrics_dir)  # observability
    sys.exit(max(codes))
