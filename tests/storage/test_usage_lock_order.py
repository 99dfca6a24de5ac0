"""The usage writer and the hold leases take the rows they share in one order (an account's
before a key's), so a writer never waits for a row while holding one a lease transaction
in another process waits for (issue 17: on PostgreSQL such deadlocks cost a second each
and sent the writer into its back-off while the backlog grew); a flush that still
loses a lock conflict goes again at once; and a writer woken by a full batch writes full
batches, not a tail of small transactions."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.accounts import AccountRepository
from hubgate.storage.keys import KeyRepository
from hubgate.storage.quarantine import lock_conflict
from hubgate.storage.tables import accounts, api_keys
from hubgate.storage.usage import UsageRow, UsageWriter


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _charged_row(engine: AsyncEngine, cost: int) -> tuple[int, int, UsageRow]:
    account = await AccountRepository(engine).create(unique("order"), credit_micros=1000)
    key, _ = await KeyRepository(engine).create(unique("order"), account_id=account.id)
    row = UsageRow(
        request_id=unique("order"),
        endpoint="chat",
        status=200,
        stream=False,
        key_id=key.id,
        account_id=account.id,
        cost_micros=cost,
    )
    return account.id, key.id, row


async def test_the_writer_waits_for_an_account_holding_no_key(engine: AsyncEngine) -> None:
    """Another transaction holds the account's row, as a lease give-back does before it
    takes the key's: the flush waits for the account without holding the key, so the
    other transaction gets the key at once and both commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time, no row locks")
    account_id, key_id, row = await _charged_row(engine, 7)
    writer = UsageWriter(engine, batch_size=10)
    writer.record(row)
    async with engine.connect() as other:
        await other.exec_driver_sql("SET lock_timeout = '3s'")
        await other.execute(
            update(accounts).where(accounts.c.id == account_id).values(leased_micros=accounts.c.leased_micros)
        )
        flushing = asyncio.create_task(writer.flush())
        await asyncio.sleep(0.3)  # the writer reaches the account's row and waits for it
        assert not flushing.done()
        await other.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(leased_micros=api_keys.c.leased_micros)
        )  # the writer holding the key's row here would be a deadlock (one of the two aborted)
        await other.commit()
        await other.exec_driver_sql("SET lock_timeout = 0")
    await asyncio.wait_for(flushing, 5)
    assert (writer.written, writer.pending) == (1, 0)
    async with engine.connect() as conn:
        balance = (
            await conn.execute(select(accounts.c.balance_micros).where(accounts.c.id == account_id))
        ).scalar_one()
        spent = (
            await conn.execute(select(api_keys.c.spent_micros).where(api_keys.c.id == key_id))
        ).scalar_one()
    assert (balance, spent) == (993, 7)


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlock_or_serialization_failure_is_a_lock_conflict() -> None:
    assert lock_conflict(RuntimeError("wrapped")) is False
    try:
        try:
            raise _Deadlock("deadlock detected")
        except _Deadlock as exc:
            raise RuntimeError("flush failed") from exc
    except RuntimeError as wrapped:
        assert lock_conflict(wrapped)


async def test_a_flush_that_lost_a_lock_conflict_goes_again_at_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No back-off (a database failure waits a second, then the next interval): the
    batch is tried again straight away."""
    _, _, row = await _charged_row(engine, 3)
    writer = UsageWriter(engine, batch_size=1, interval_s=60)
    insert = writer._insert
    tries: list[int] = []

    async def first_loses(batch: list[UsageRow]) -> None:
        tries.append(len(batch))
        if len(tries) == 1:
            raise _Deadlock("deadlock detected")
        await insert(batch)

    monkeypatch.setattr(writer, "_insert", first_loses)
    writer.start()
    writer.record(row)  # a full batch: wakes the writer
    for _ in range(100):
        if writer.written:
            break
        await asyncio.sleep(0.01)
    await writer.close()
    assert (writer.written, tries) == (1, [1, 1])


async def test_woken_by_a_full_batch_the_writer_writes_full_batches_only(engine: AsyncEngine) -> None:
    """The rows recorded past a full batch wait for the next full one or the interval,
    not a transaction of their own each time (under load the writer was never out of one);
    a flush (and closing) still writes everything."""
    writer = UsageWriter(engine, batch_size=3, interval_s=60)
    writer.start()
    for _ in range(4):  # the third wakes the writer; record never awaits, so all 4 are in
        writer.record(UsageRow(request_id=unique("full"), endpoint="chat", status=200, stream=False))
    for _ in range(200):
        if writer.written:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert (writer.written, writer.pending) == (3, 1)
    await writer.close()
    assert (writer.written, writer.pending) == (4, 0)


async def test_rows_recorded_during_a_flush_wait_for_the_next(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush writes the rows pending when it began: under load, draining the ones
    recorded meanwhile too never ended (a small transaction for each round trip's worth)."""
    writer = UsageWriter(engine, batch_size=10, interval_s=60)
    insert = writer._insert

    async def meanwhile(batch: list[UsageRow]) -> None:
        writer.record(UsageRow(request_id=unique("late"), endpoint="chat", status=200, stream=False))
        await insert(batch)

    monkeypatch.setattr(writer, "_insert", meanwhile)
    for _ in range(2):
        writer.record(UsageRow(request_id=unique("now"), endpoint="chat", status=200, stream=False))
    await writer.flush()
    assert (writer.written, writer.pending) == (2, 1)
    monkeypatch.undo()
    await writer.close()  # closing writes everything
    assert (writer.written, writer.pending) == (3, 0)
