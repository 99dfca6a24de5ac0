"""Two `hubgate serve` processes on different ports sharing one PostgreSQL and one Redis:
rate limits are shared, and a key revoked or a channel switched off through one replica
is honoured by the other within 5 seconds."""

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

from tests.conftest import TEST_POOL, _pg_admin, free_port, pg_url

ADMIN = "sk-admin-replicas-0123456789"
SECRET = "sk-replica-key-0123456789abcdef"


@pytest.fixture
async def own_database(pg_database: str) -> AsyncIterator[str]:
    """A PostgreSQL database of the replicas' own: in the session's, admin channels sealed by other
    tests' gateways (another secret_key) make them serve config channels only, deaf to switches."""
    name = f"hubgate_replicas_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def replicas(own_database: str, redis_url: str, tmp_path: Path) -> AsyncIterator[list[str]]:
    config = tmp_path / "replicas.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": own_database,
                **TEST_POOL,
                "redis_url": redis_url,
                "redis_prefix": f"hg-rep-{uuid.uuid4().hex}:",
                "admin_key": ADMIN,
                "channels": [{"name": "rep-echo", "type": "echo", "models": ["echo-1"]}],
                "keys": [{"name": f"rep-{uuid.uuid4().hex[:6]}", "key": SECRET, "rpm": 4}],
            }
        )
    )
    ports = [free_port(), free_port()]
    procs = []
    logs = [tmp_path / f"replica-{port}.log" for port in ports]
    for port, log in zip(ports, logs, strict=True):
        with log.open("wb") as out:  # the child keeps its own handle
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "hubgate", "serve", "--config", str(config), "--port", str(port),
                    env=dict(os.environ), stdout=out, stderr=asyncio.subprocess.STDOUT,
                )
            )  # fmt: skip
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        async with aiohttp.ClientSession() as http:
            for url in urls:
                for _ in range(200):
                    try:
                        async with http.get(f"{url}/readyz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
        for proc, log in zip(procs, logs, strict=True):
            assert proc.returncode is None, f"a replica exited at start-up:\n{log.read_text()[-3000:]}"
        yield urls
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 30)


async def _chat(http: aiohttp.ClientSession, url: str, secret: str = SECRET) -> int:
    async with http.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]},
    ) as resp:
        await resp.read()
        return resp.status


async def _until(check: object, want: int) -> None:
    for _ in range(50):  # 5 s
        if await check() == want:  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"never got {want}")


async def test_replicas_share_limits_revocations_and_channel_switches(replicas: list[str]) -> None:
    one, two = replicas
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as http:
        statuses = [await _chat(http, url) for url in (one, two, one, two, one)]
        assert statuses == [200, 200, 200, 200, 429]  # one budget of 4 rpm for both processes
        async with http.post(
            f"{one}/admin/keys", headers=admin, json={"name": f"k-{uuid.uuid4().hex[:6]}"}
        ) as r:
            created = await r.json()
            assert r.status == 201, created
        fresh, name = created["secret"], created["name"]
        await _until(lambda: _chat(http, two, fresh), 200)  # a key made on one works on two
        async with http.patch(f"{one}/admin/channels/rep-echo", headers=admin, json={"enabled": False}) as r:
            assert r.status == 200
        await _until(lambda: _chat(http, two, fresh), 404)  # switched off through one: two follows
        async with http.patch(f"{two}/admin/channels/rep-echo", headers=admin, json={"enabled": True}) as r:
            assert r.status == 200
        await _until(lambda: _chat(http, one, fresh), 200)
        async with http.delete(f"{two}/admin/keys/{name}", headers=admin) as r:
            assert r.status == 200
        await _until(lambda: _chat(http, one, fresh), 401)  # revoked through two: one refuses
