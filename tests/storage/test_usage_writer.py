"""The usage writer's driver-level insert (aiosqlite executemany, asyncpg COPY) on both
databases: rows read back as SQLAlchemy wrote them, and they commit or roll back with
the counter updates, in one transaction."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import KeyRepository
from hubgate.storage.tables import api_keys, usage_logs, usage_quarantine
from hubgate.storage.usage import UsageRow, UsageWriter, sqlite_datetime


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),  # no microseconds: still printed
        datetime(999, 12, 31, 23, 59, 59),  # naive, a short year
        datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),  # wall time, like SQLAlchemy
    ],
)
def test_sqlite_datetime_is_sqlalchemys_text(value: datetime) -> None:
    dialect = sqlite.dialect()
    processor = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    assert sqlite_datetime(value) == processor(value)


async def test_rows_read_back_as_written(engine: AsyncEngine) -> None:
    name = unique("rb")
    at = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    row = UsageRow(
        request_id=unique("req"),
        endpoint="images",
        status=200,
        stream=True,
        key_id=None,
        key_name=name,
        model="m",
        upstream_model="um",
        channel="c",
        prompt_tokens=1,
        completion_tokens=2,
        cached_tokens=3,
        cost_micros=0,
        latency_ms=5,
        ttfb_ms=None,
        attempts=2,
        error="e",
        created_at=at,
        cache_write_tokens=7,
        reasoning_tokens=8,
        estimated=True,
        units=4,
        unit="image",
    )
    writer = UsageWriter(engine)
    writer.record(row)
    await writer.flush()
    async with engine.connect() as conn:
        got = (await conn.execute(select(usage_logs).where(usage_logs.c.key_name == name))).one()._mapping
        # created_at compares in SQL as it did when SQLAlchemy wrote it.
        hits = (
            await conn.execute(
                select(usage_logs.c.id).where(
                    usage_logs.c.key_name == name,
                    usage_logs.c.created_at >= at,
                    usage_logs.c.created_at < at + timedelta(microseconds=1),
                )
            )
        ).all()
    assert len(hits) == 1
    assert got["created_at"].replace(tzinfo=UTC) == at
    assert (got["stream"], got["estimated"], got["ttfb_ms"], got["key_id"]) == (True, True, None, None)
    assert (got["units"], got["unit"], got["cache_write_tokens"], got["reasoning_tokens"]) == (
        4,
        "image",
        7,
        8,
    )
    assert (got["endpoint"], got["upstream_model"], got["error"], got["attempts"]) == ("images", "um", "e", 2)


async def test_a_refused_row_is_quarantined_and_the_rest_land(engine: AsyncEngine) -> None:
    """Counters move in the flush's transaction; a row the database refuses undoes them for
    its batch, which is split until the bad row stands alone: it goes to the quarantine,
    the good row lands, and only the good row's cost reaches the counters."""
    repo = KeyRepository(engine)
    key, _ = await repo.create(unique("rk"), budget_period="daily")
    writer = UsageWriter(engine, batch_size=10)
    good = UsageRow(request_id=unique("ok"), endpoint="chat", status=200, stream=False, key_id=key.id,
                    cost_micros=70)  # fmt: skip
    bad = UsageRow(request_id=unique("bad"), endpoint="chat", status=None, stream=False, key_id=key.id,  # type: ignore[arg-type]
                   cost_micros=50)  # fmt: skip
    writer.record(good)
    writer.record(bad)
    await writer.flush()
    assert (writer.pending, writer.written, writer.quarantined) == (0, 1, 1)
    async with engine.connect() as conn:
        spent, period = (
            await conn.execute(
                select(api_keys.c.spent_micros, api_keys.c.period_spent_micros).where(api_keys.c.id == key.id)
            )
        ).one()
        logged = (
            await conn.execute(select(usage_logs.c.request_id).where(usage_logs.c.key_id == key.id))
        ).all()
        held = (
            await conn.execute(
                select(usage_quarantine.c.row, usage_quarantine.c.error).where(
                    usage_quarantine.c.request_id == bad.request_id
                )
            )
        ).one()
    assert (spent, period, [r[0] for r in logged]) == (70, 70, [good.request_id])
    assert json.loads(held.row)["cost_micros"] == 50 and json.loads(held.row)["status"] is None
    assert "status" in held.error or "NULL" in held.error.upper(), held.error


async def test_a_database_failure_keeps_the_batch(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database itself failing (not the data) is no reason to quarantine: the batch
    waits, whole, for the next attempt."""
    writer = UsageWriter(engine, batch_size=10)
    rows = [UsageRow(request_id=unique("down"), endpoint="chat", status=200, stream=False) for _ in range(3)]
    for r in rows:
        writer.record(r)

    async def down(batch: list[UsageRow]) -> None:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(writer, "_insert", down)
    with pytest.raises(ConnectionRefusedError):
        await writer.flush()
    assert (writer.pending, writer.written, writer.quarantined) == (3, 0, 0)
    assert writer.lag_s() > 0
    monkeypatch.undo()
    await writer.flush()
    assert (writer.pending, writer.written, writer.lag_s()) == (0, 3, 0.0)


async def test_rows_without_cost_commit_and_counters_move_with_rows(engine: AsyncEngine) -> None:
    """A batch with no counters to move (PostgreSQL: the COPY opens the transaction
    itself) and one with them, flushed together."""
    repo = KeyRepository(engine)
    key, _ = await repo.create(unique("ck"))
    writer = UsageWriter(engine, batch_size=3)
    for i in range(7):  # batches of 3, 3, 1; the free rows alone in the first batch
        cost = 0 if i < 3 else 11
        writer.record(
            UsageRow(
                request_id=unique("r"),
                endpoint="chat",
                status=200,
                stream=False,
                key_id=key.id,
                cost_micros=cost,
            )
        )
    await writer.flush()
    assert writer.written == 7
    async with engine.connect() as conn:
        spent = (
            await conn.execute(select(api_keys.c.spent_micros).where(api_keys.c.id == key.id))
        ).scalar_one()
        costs = (
            await conn.execute(select(usage_logs.c.cost_micros).where(usage_logs.c.key_id == key.id))
        ).scalars()
        assert sorted(costs) == [0, 0, 0, 11, 11, 11, 11]
    assert spent == 44
