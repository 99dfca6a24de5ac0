"""One-replica-at-a-time jobs and the channel health check."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from hubgate.jobs.runner import check_channels, run_exclusive
from hubgate.routing.health import Outcome
from hubgate.storage.tables import channels
from tests.conftest import LiveGateway


async def test_a_job_round_runs_on_one_replica_only(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    prefix = f"hg-test-{uuid.uuid4().hex}:"
    replicas = [SimpleNamespace(redis=redis, settings=SimpleNamespace(redis_prefix=prefix)) for _ in range(3)]
    ran: list[int] = []

    async def job(n: int) -> None:
        ran.append(n)

    try:
        results = await asyncio.gather(
            *(run_exclusive(r, "demo", 5.0, lambda n=n: job(n)) for n, r in enumerate(replicas))  # type: ignore[arg-type]
        )
    finally:
        await redis.aclose()
    assert sum(results) == 1 and len(ran) == 1


async def test_on_the_database_alone_the_job_still_runs(gateway: LiveGateway) -> None:
    ran: list[bool] = []

    async def job() -> None:
        ran.append(True)

    assert await run_exclusive(gateway.state, f"solo-{uuid.uuid4().hex[:6]}", 1.0, job)
    assert ran == [True]


async def test_health_check_records_results_and_reenables_passing_channels(gateway: LiveGateway) -> None:
    gw = gateway.state
    health: Any = gw.health
    saved = health.policy
    health.policy = type(saved)(failures_to_open=1)  # this shared gateway runs with cooldowns off
    try:
        health.record("echo", "", "echo-1", Outcome.AUTH)
        assert not health.usable("echo", "", "echo-1")
        await check_channels(gw)
        assert health.usable("echo", "", "echo-1")  # the echo channel passed its check
    finally:
        health.policy = saved
    async with gw.engine.connect() as conn:
        rows = {
            r.name: (r.last_test_status, r.last_test_error)
            for r in await conn.execute(
                select(channels.c.name, channels.c.last_test_status, channels.c.last_test_error)
            )
        }
    assert rows["echo"][0] == 200
    assert rows["dead"][0] is None and rows["dead"][1]  # unreachable: recorded with its error
