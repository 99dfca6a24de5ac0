"""SIGKILL mid-burst: every stream whose caller saw `data: [DONE]` is billed after a restart.

A real `hubgate serve` (two workers) in front of a fake OpenAI upstream that streams
slowly; a burst of concurrent streams; the whole process group killed with SIGKILL while
streams are still running and finished rows still wait for their flush; a restart
replays the journal; every finished answer has its usage row (status 200), once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from sqlalchemy import func, select

from hubgate.storage.db import create_engine
from hubgate.storage.tables import usage_logs
from tests.conftest import free_port
from tests.fakes.slow_stream import slow_stream_upstream

STREAMS = 48
STAGGER_S = 0.04  # the burst is spread over about two seconds
KILL_WHEN_FINISHED = 5  # the kill lands once this many callers saw [DONE] (others still streaming)


@pytest.fixture
async def slow_upstream() -> AsyncIterator[str]:
    async with slow_stream_upstream(chunks=8, interval_s=0.1) as url:  # a stream lasts about a second
        yield url


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _start(config: Path, port: int, log: Path, workers: int) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubgate", "serve", "--config", str(config), "--port", str(port),
            "--workers", str(workers), env=dict(os.environ), stdout=out, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches every worker
        )  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientConnectionError:
                pass
            assert proc.returncode is None, f"serve exited at start-up:\n{_tail(log)}"
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve never became ready:\n{_tail(log)}")


async def _stream(http: aiohttp.ClientSession, url: str, secret: str, delay: float) -> str | None:
    """The request id of a stream the caller saw finish ([DONE]); None if it was cut."""
    await asyncio.sleep(delay)
    try:
        async with http.post(
            f"{url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ) as resp:
            seen = b""
            async for chunk in resp.content.iter_any():
                seen += chunk
                if b"data: [DONE]" in seen:
                    return resp.headers["x-request-id"]
    except (aiohttp.ClientError, ConnectionError):
        pass
    return None


async def test_sigkill_mid_burst_bills_every_finished_stream(
    database_url: str, slow_upstream: str, tmp_path: Path
) -> None:
    secret = f"sk-kill-{uuid.uuid4().hex}"
    name = f"kill-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "kill.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": database_url,
                "usage_flush_interval_s": 30,  # finished rows wait in memory: only the journal has them
                "usage_journal_dir": str(tmp_path / "journal"),
                "channels": [{"name": "slow-up", "type": "openai", "base_url": slow_upstream,
                              "api_key": "sk-up", "models": ["slow"]}],
                "keys": [{"name": name, "key": secret}],
            }
        )
    )  # fmt: skip
    port, log = free_port(), tmp_path / "serve.log"
    proc = await _start(config, port, log, workers=2)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            burst = [asyncio.create_task(_stream(http, url, secret, i * STAGGER_S)) for i in range(STREAMS)]
            seen = 0
            async with asyncio.timeout(30):
                for next_done in asyncio.as_completed(burst):
                    seen += await next_done is not None
                    if seen >= KILL_WHEN_FINISHED:
                        break
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            finished = {rid for rid in await asyncio.gather(*burst) if rid is not None}
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert 0 < len(finished) < STREAMS, "the kill must land mid-burst"
    assert list((tmp_path / "journal").glob("*.journal")), "the killed workers left their journal"

    restarted = await _start(config, port, log, workers=1)  # replays the dead workers' segments
    restarted.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(restarted.wait(), 30) == 0

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            billed = set(
                (
                    await conn.execute(
                        select(usage_logs.c.request_id).where(
                            usage_logs.c.key_name == name, usage_logs.c.status == 200
                        )
                    )
                ).scalars()
            )
            per_id = (
                await conn.execute(
                    select(func.count())
                    .where(usage_logs.c.key_name == name)
                    .group_by(usage_logs.c.request_id)
                )
            ).scalars()
            assert set(per_id) <= {1}  # no answer billed twice
    finally:
        await engine.dispose()
    assert finished <= billed, f"{len(finished - billed)} finished streams not billed:\n{_tail(log)}"
    assert list((tmp_path / "journal").glob("*.journal")) == []  # replayed, landed, deleted
