"""Usage retention: old rows become daily roll-ups; reports and the ledger invariant hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.admin_usage import UsageFilter, aggregate
from hubgate.storage.db import create_engine, migrate
from hubgate.storage.keys import KeyRepository, utcnow
from hubgate.storage.retention import cutoff, roll_up
from hubgate.storage.tables import api_keys, usage_daily, usage_logs
from hubgate.storage.usage import UsageRow, UsageWriter


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(database_url)
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


async def test_roll_up_keeps_every_sum(engine: AsyncEngine) -> None:
    record, _ = await KeyRepository(engine).create(f"ret-{uuid.uuid4().hex[:8]}")
    writer = UsageWriter(engine)
    now = utcnow()
    for age_days, status in ((10, 200), (10, 500), (9, 200), (0, 200)):
        writer.record(
            UsageRow(request_id="r", endpoint="chat", status=status, stream=False, key_id=record.id,
                     key_name=record.name, model="m", channel="c", prompt_tokens=10, completion_tokens=5,
                     cost_micros=100, created_at=now - timedelta(days=age_days, minutes=5))
        )  # fmt: skip
    await writer.flush()
    before, _ = await aggregate(engine, ["key", "day"], UsageFilter(key=record.name))
    removed = await roll_up(engine, cutoff(3, now))
    assert removed == 3
    after, totals = await aggregate(engine, ["key", "day"], UsageFilter(key=record.name))
    assert after == before  # same report, per day, from roll-ups and live rows together
    assert (totals.requests, totals.errors, totals.cost_micros, totals.prompt_tokens) == (4, 1, 400, 40)
    async with engine.connect() as conn:
        live = (await conn.execute(select(func.count()).where(usage_logs.c.key_id == record.id))).scalar_one()
        rolled = (
            await conn.execute(
                select(func.sum(usage_daily.c.cost_micros)).where(usage_daily.c.key_id == record.id)
            )
        ).scalar_one()
        logged = (
            await conn.execute(
                select(func.sum(usage_logs.c.cost_micros)).where(usage_logs.c.key_id == record.id)
            )
        ).scalar_one()
        spent = (
            await conn.execute(select(api_keys.c.spent_micros).where(api_keys.c.id == record.id))
        ).scalar_one()
    assert live == 1
    assert spent == rolled + logged == 400  # the ledger invariant, across both tables
    assert await roll_up(engine, cutoff(3, now)) == 0  # nothing left to roll
