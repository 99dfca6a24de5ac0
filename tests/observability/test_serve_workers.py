"""`hubgate serve --workers 2`: one `/metrics` for all workers, JSON logs, nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from hubgate import relay
from hubgate.observability.metrics import GAUGE_REFRESH_S
from tests.conftest import free_port
from tests.observability.helpers import parse, value

ROOT = Path(__file__).resolve().parents[2]
DEMO_KEY = "sk-hubgate-demo-0123456789"  # examples/quickstart.yaml
RELAY_HOOKED = "metrics.observe" in inspect.getsource(relay)


async def _fetch(method: str, url: str, **kwargs: Any) -> tuple[int, str, bytes]:
    # A session per request: a new connection, which SO_REUSEPORT may give to either worker.
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def test_metrics_across_workers(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(
        os.environ,
        HUBGATE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        HUBGATE_LOG_FORMAT="json",
        TMPDIR=str(tmp),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubgate", "serve", "--config", str(ROOT / "examples/quickstart.yaml"),
            "--port", str(port), "--workers", "2",
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            # Workers may still be binding; two fresh interpreters migrating and starting can take
            # a while on a loaded 2-core machine (the suite runs on two pytest-xdist workers).
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        if (await _fetch("GET", f"{base}/healthz"))[0] == 200:
                            break
                    await asyncio.sleep(0.1)
            (shared,) = tmp.glob("hubgate-metrics-*")
            body = orjson.dumps({"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]})
            for _ in range(10):
                status, _, _ = await _fetch(
                    "POST", f"{base}/v1/chat/completions", data=body,
                    headers={"Authorization": f"Bearer {DEMO_KEY}", "Content-Type": "application/json"},
                )  # fmt: skip
                assert status == 200
            for _ in range(50):  # both workers have published their gauge
                if len(list(shared.glob("gauge_livesum_*.db"))) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(list(shared.glob("gauge_livesum_*.db"))) == 2
            # A worker moves what it counted into the shared files every GAUGE_REFRESH_S (and
            # on its own scrapes): wait that long, then whichever worker answers, it answers for both.
            await asyncio.sleep(GAUGE_REFRESH_S + 0.5)
            for _ in range(6):
                status, content_type, text = await _fetch("GET", f"{base}/metrics")
                assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
                s = parse(text)
                assert value(s, "hubgate_usage_backlog_rows") is not None
                if RELAY_HOOKED:  # once the relay feeds `observe`, every request counts exactly once
                    labels = {"endpoint": "chat", "model": "echo-1", "channel": "echo", "status": "200"}
                    assert value(s, "hubgate_requests_total", **labels) == 10
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await proc.wait()
    assert proc.returncode == 0
    assert not list(tmp.glob("hubgate-metrics-*"))  # removed at exit
    lines = stderr.read_bytes().splitlines()
    assert lines  # at least the migrations' lines
    for line in lines:
        record = orjson.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(record), record
