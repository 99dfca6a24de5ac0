"""The usage writer's one-trip SQLite transaction (storage/sqlite_batch.py) against the
SQLAlchemy path it replaces for SQLite files: the same batches leave the same rows,
roll-ups and counters, a budget period's restart included."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.accounts import AccountRepository
from hubgate.storage.db import create_engine, migrate
from hubgate.storage.keys import KeyRepository
from hubgate.storage.sqlite_batch import SqliteBatches, multi_row
from hubgate.storage.tables import (
    accounts,
    api_keys,
    usage_daily,
    usage_daily_models,
    usage_logs,
    usage_quarantine,
)
from hubgate.storage.usage import UsageRow, UsageWriter


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 57, 499, 500, 501, 1234])
@pytest.mark.parametrize("most", [1, 7, 10, 100, 500])
def test_multi_row_inserts_every_row_once_in_order(n: int, most: int) -> None:
    rows = [(i, f"r{i}", i * 2) for i in range(n)]
    statements = multi_row("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", 3, rows, most)
    assert len({sql for sql, _ in statements}) <= 3  # few texts: each is prepared once and cached
    flat: list[Any] = []
    for sql, params in statements:
        per = sql.count("?")
        assert per // 3 <= most and all(len(p) == per for p in params)
        for p in params:
            flat.extend(p)
    assert flat == [v for row in rows for v in row]


async def _engine(path: Path) -> AsyncEngine:
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    return create_engine(url)


async def _state(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        logs = (await conn.execute(select(usage_logs).order_by(usage_logs.c.request_id))).all()
        daily = (await conn.execute(select(usage_daily))).all()
        models = (await conn.execute(select(usage_daily_models))).all()
        k = api_keys.c
        counters = select(k.name, k.spent_micros, k.period_spent_micros, k.period_started_at).order_by(k.name)
        keys = (await conn.execute(counters)).all()
        balances = select(accounts.c.name, accounts.c.balance_micros).order_by(accounts.c.name)
        held = (await conn.execute(balances)).all()
    return {
        "logs": [tuple(v for k, v in r._mapping.items() if k != "id") for r in logs],
        "daily": sorted(map(tuple, daily)),
        "models": sorted(map(tuple, models)),
        "keys": list(map(tuple, keys)),
        "accounts": list(map(tuple, held)),
    }


async def test_a_sqlite_file_takes_the_one_trip_path_with_the_same_result(tmp_path: Path) -> None:
    """Random batches through both paths: every table they touch ends equal."""
    fast, slow = await _engine(tmp_path / "fast.db"), await _engine(tmp_path / "slow.db")
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=3)
    try:
        writers = []
        for engine in (fast, slow):
            repo, accounts_repo = KeyRepository(engine), AccountRepository(engine)
            ids = []
            for i in range(3):
                account = await accounts_repo.create(f"acct-{i}", credit_micros=10_000_000)
                period = (None, "daily", "monthly")[i]
                key, _ = await repo.create(f"key-{i}", budget_micros=5_000_000, account_id=account.id,
                                           budget_period=period)  # fmt: skip
                ids.append((key.id, account.id))
            writer = UsageWriter(engine, batch_size=rng.choice([7, 50, 500]))
            writers.append((writer, ids))
        assert isinstance(writers[0][0]._sqlite, SqliteBatches)
        writers[1][0]._sqlite = None  # SQLAlchemy and aiosqlite, statement by statement
        for _ in range(6):
            batch: list[dict[str, Any]] = []
            for _ in range(rng.randint(0, 700)):
                k = rng.randrange(3)
                at = start + timedelta(hours=rng.randrange(80), microseconds=rng.randrange(10**6))
                batch.append(
                    dict(
                        request_id=uuid.uuid4().hex, endpoint=rng.choice(["chat", "embeddings"]),
                        status=rng.choice([200, 200, 429, 500]), stream=rng.random() < 0.5,
                        key_index=k, key_name=f"key-{k}", model=rng.choice(["m1", "m2", None]),
                        channel=rng.choice(["c1", "c2"]), prompt_tokens=rng.randrange(5000),
                        completion_tokens=rng.randrange(900), cost_micros=rng.choice([0, rng.randrange(9)]),
                        created_at=at, ttfb_ms=rng.choice([None, 12]), error=rng.choice([None, "e"]),
                    )
                )  # fmt: skip
            for writer, ids in writers:
                for spec in batch:
                    spec = dict(spec)
                    key_id, account_id = ids[spec.pop("key_index")]
                    writer.record(UsageRow(**spec, key_id=key_id, account_id=account_id))
                await writer.flush()
        assert writers[0][0].written == writers[1][0].written > 0
        assert await _state(fast) == await _state(slow)
    finally:
        for writer, _ in writers:
            await writer.close()
        await fast.dispose()
        await slow.dispose()


async def test_an_in_memory_database_keeps_sqlalchemys_path() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert UsageWriter(engine)._sqlite is None
    finally:
        await engine.dispose()


def _slow_thread(writer: UsageWriter, *, fail: bool) -> threading.Event:
    """Make the writer's transaction take a while after it committed (or failed), so
    that a cancel lands while the thread still runs; the event is set once it finished."""
    batches = writer._sqlite
    assert batches is not None
    ran = batches._run
    finished = threading.Event()

    def slow(first: Any, then: Any) -> None:
        try:
            if fail:
                raise sqlite3.OperationalError("disk I/O error")
            ran(first, then)
        finally:
            time.sleep(0.3)
            finished.set()

    batches._run = slow  # type: ignore[method-assign]
    return finished


@pytest.mark.parametrize("fail", [False, True])
async def test_a_flush_cancelled_while_its_thread_runs_lands_rows_once(tmp_path: Path, fail: bool) -> None:
    """A cancel cannot stop the thread: the flush waits for the transaction's outcome,
    counts committed rows as landed (a retry would quarantine them as duplicates and the
    caches would re-read), and keeps failed ones for the next flush."""
    engine = await _engine(tmp_path / "cancel.db")
    landed: list[UsageRow] = []
    writer = UsageWriter(engine, on_flushed=landed.extend)
    try:
        finished = _slow_thread(writer, fail=fail)
        for i in range(5):
            writer.record(UsageRow(request_id=f"r{i}", endpoint="chat", status=200, stream=False))
        flush = asyncio.create_task(writer.flush())
        await asyncio.sleep(0.1)
        flush.cancel()
        flush_cancelled_again = asyncio.get_running_loop().call_later(0.05, flush.cancel)
        with pytest.raises(asyncio.CancelledError):
            await flush
        flush_cancelled_again.cancel()
        assert finished.is_set()  # the flush returned only after the thread was done
        writer._sqlite._run = type(writer._sqlite)._run.__get__(writer._sqlite)  # type: ignore[method-assign, union-attr]
        assert (writer.pending, writer.written, len(landed)) == ((5, 0, 0) if fail else (0, 5, 5))
        await writer.flush()
        assert (writer.pending, writer.written, writer.quarantined) == (0, 5, 0)
        async with engine.connect() as conn:
            ids = (await conn.execute(select(usage_logs.c.request_id))).scalars().all()
            refused = (await conn.execute(select(usage_quarantine.c.request_id))).scalars().all()
        assert sorted(ids) == [f"r{i}" for i in range(5)] and refused == []
    finally:
        await writer.close()
        await engine.dispose()
