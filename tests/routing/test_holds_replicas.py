"""Holds across real `hubgate serve` replicas on one PostgreSQL (and one Redis): a burst
never spends more than the balance, and the hold of a replica killed mid-request expires
and is released, after which `hubgate ledger check` passes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select

from hubgate.storage.db import create_engine
from hubgate.storage.tables import accounts
from tests.conftest import free_port
from tests.fakes.openai_upstream import FakeOpenAI
from tests.relay.test_holds import BODY, HOLD, chat, config, one_answer_cost

ADMIN = "sk-admin-holds-0123456789abcdef"
HOLD_TTL_S = 2.0  # the kill test waits for a dead replica's hold to expire
BURST_TTL_S = 60.0  # the burst test: a loaded machine can stall a replica's lease renewal for seconds

Start = Callable[[], Awaitable[tuple[str, asyncio.subprocess.Process]]]


@pytest.fixture
async def replicas(
    pg_database: str, redis_url: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> AsyncIterator[Any]:
    """`start(shared_redis)` runs one more replica; all are stopped at the end."""
    procs: list[asyncio.subprocess.Process] = []
    prefix = f"hg-holds-{uuid.uuid4().hex}:"

    async def start(
        with_redis: bool = True, ttl_s: float = HOLD_TTL_S
    ) -> tuple[str, asyncio.subprocess.Process]:
        extra: dict[str, Any] = {"admin_key": ADMIN, "hold_ttl_s": ttl_s, "hold_lease_chunk_usd": "0.05"}
        if with_redis:
            extra |= {"redis_url": redis_url, "redis_prefix": prefix}
        path = tmp_path / f"replica-{len(procs)}.yaml"
        path.write_text(yaml.safe_dump(config(pg_database, fake_openai, **extra)))
        port = free_port()
        log = tmp_path / f"replica-{port}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hubgate", "serve", "--config", str(path), "--port", str(port),
                env=dict(os.environ), stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{url}/readyz") as resp:
                        if resp.status == 200:
                            return url, proc
                except aiohttp.ClientConnectionError:
                    pass
                assert proc.returncode is None, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
        pytest.fail(f"replica never ready:\n{log.read_text()[-3000:]}")

    try:
        yield start
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 30)


async def _admin(http: aiohttp.ClientSession, url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{url}{path}", headers={"Authorization": f"Bearer {ADMIN}"}, json=body) as resp:
        answer: dict[str, Any] = await resp.json()
        assert resp.status in (200, 201), answer
        return answer


async def _funded_key(http: aiohttp.ClientSession, url: str, micros: int) -> tuple[str, str]:
    """A new account with `micros` of credit and a key on it: (account name, secret)."""
    name = f"hr-{uuid.uuid4().hex[:8]}"
    await _admin(http, url, "/admin/accounts", {"name": name, "credit_usd": f"{micros / 1_000_000:.6f}"})
    key = await _admin(http, url, "/admin/keys", {"name": f"k-{name}", "account": name})
    return name, str(key["secret"])


async def _balance(database_url: str, name: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(accounts.c.balance_micros, accounts.c.leased_micros).where(accounts.c.name == name)
                )
            ).one()
        return int(row[0]), int(row[1])
    finally:
        await engine.dispose()


async def _ledger(database_url: str, account: str) -> list[dict[str, Any]]:
    """`hubgate ledger check --json` run for real; the differences of this test's account and key."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubgate", "ledger", "check", "--json",
        env=dict(os.environ, HUBGATE_DATABASE_URL=database_url), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    report = json.loads(out)
    return [d for d in report["differences"] if d["name"] in (account, f"k-{account}")]


async def test_two_replicas_at_c300_serve_no_more_than_the_balance_affords(
    replicas: Any, pg_database: str
) -> None:
    (one, _), (two, _) = await replicas(ttl_s=BURST_TTL_S), await replicas(ttl_s=BURST_TTL_S)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=400)) as http:
        _, free = await _funded_key(http, one, 10**9)
        cost = await one_answer_cost(http, one, free)
        affordable = 10
        account, secret = await _funded_key(http, one, affordable * cost + cost // 2)
        stream = dict(BODY, stream=True)
        statuses = await asyncio.gather(
            *(chat(http, (one, two)[i % 2], secret, stream if i % 3 == 0 else BODY) for i in range(300))
        )
        served = statuses.count(200)
        assert set(statuses) <= {200, 402}, statuses
        assert 1 <= served <= affordable
        await asyncio.sleep(0.5)  # the last flushes land
        balance, leased = await _balance(pg_database, account)
        assert balance == affordable * cost + cost // 2 - served * cost >= 0 and leased == 0
    assert await _ledger(pg_database, account) == []


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "leases"])
async def test_a_killed_replicas_hold_expires(replicas: Any, pg_database: str, with_redis: bool) -> None:
    (one, victim), (two, _) = await replicas(with_redis), await replicas(with_redis)
    slow = dict(BODY, model="h-slow")  # the fake upstream answers it after 3 s
    async with aiohttp.ClientSession() as http:
        account, secret = await _funded_key(http, one, HOLD + HOLD // 2)  # one hold's worth
        held = asyncio.create_task(chat(http, one, secret, slow))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if await chat(http, two, secret) == 402:  # replica one holds the balance
                break
        else:
            pytest.fail("replica one never held the balance")
        victim.send_signal(signal.SIGKILL)  # between hold and settle
        await victim.wait()
        with pytest.raises(aiohttp.ClientError):
            await held
        assert await chat(http, two, secret) == 402  # its hold outlives it...
        for _ in range(int(HOLD_TTL_S * 20) + 40):  # ...until it expires and is released
            await asyncio.sleep(0.1)
            if await chat(http, two, secret) == 200:
                break
        else:
            pytest.fail("the killed replica's hold was never released")
        await asyncio.sleep(0.5)
    balance, _ = await _balance(pg_database, account)
    assert balance >= 0
    for _ in range(50):  # the surviving replica gives back its idle lease
        if await _ledger(pg_database, account) == []:
            break
        await asyncio.sleep(0.2)
    assert await _ledger(pg_database, account) == []
