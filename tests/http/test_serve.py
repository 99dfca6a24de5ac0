"""`hubgate serve` as a user runs it: the quickstart banner's curl line works, and a
graceful shutdown flushes every usage row."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import orjson

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _curl_to_request(line: str) -> tuple[str, dict[str, str], bytes]:
    args = shlex.split(line)
    assert args[0] == "curl"
    url, headers, body = args[1], {}, b""
    i = 2
    while i < len(args):
        if args[i] == "-H":
            name, _, value = args[i + 1].partition(":")
            headers[name.strip()] = value.strip()
        elif args[i] == "-d":
            body = args[i + 1].encode()
        i += 2
    return url, headers, body


async def test_quickstart_serves_the_printed_curl_line(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "quick.db"
    env = dict(
        os.environ,
        HUBGATE_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        HUBGATE_ADMIN_KEY="sk-admin-test-0123456789",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubgate", "serve", "--config", str(ROOT / "examples/quickstart.yaml"),
        "--port", str(port), "--workers", "2",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    banner: list[str] = []
    try:
        async with asyncio.timeout(60):  # two fresh interpreters migrate and start: slow on a loaded machine
            while not any(line.strip().startswith("curl ") for line in banner):
                line = (await proc.stdout.readline()).decode()
                assert line, "serve exited early:\n" + "".join(banner)
                banner.append(line)
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}" in text
        assert "sk-admin-test-0123456789" in text
        url, headers, body = _curl_to_request(
            next(x.strip() for x in banner if x.strip().startswith("curl "))
        )
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(60):  # workers may still be binding
                while True:
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                            if r.status == 200:
                                break
                    await asyncio.sleep(0.1)
            for _ in range(10):
                async with session.post(url, headers=headers, data=body) as resp:
                    assert resp.status == 200
                    answer = orjson.loads(await resp.read())
                    assert answer["choices"][0]["message"]["content"] == "Hello, hubgate!"
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM usage_logs WHERE status = 200").fetchone()
    assert count == 10  # nothing lost on shutdown, nothing counted twice
