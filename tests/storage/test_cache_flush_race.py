"""A key or account read that straddles a usage flush must not under-count spend.

The flush commits the new totals, then releases the same cost from `pending` and
drops the cached records. A read that began before the commit and ended after the
release saw neither; the caches read again instead of using it (the CI flake of
`test_budget_set_by_patch_refuses_with_402`). Real database, real writer: the only
thing arranged is the timing, by landing a flush inside the first read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.access.account_cache import AccountCache
from hubgate.access.auth import KeyCache
from hubgate.access.billing import Billing
from hubgate.errors import PaymentRequired
from hubgate.storage.accounts import AccountRepository
from hubgate.storage.keys import KeyRecord, KeyRepository
from hubgate.storage.usage import UsageRow, UsageWriter


async def _world(engine: AsyncEngine) -> tuple[KeyRepository, KeyCache, Billing, UsageWriter]:
    repo = KeyRepository(engine)
    keys = KeyCache(repo, ttl_s=60)
    accounts = AccountRepository(engine)
    default = await accounts.ensure_default()
    cache = AccountCache(accounts, refresh_s=60)  # no read behind the requests in these tests
    billing = Billing(cache, default_account_id=default.id, prices={}, groups={})

    def settled(batch: list[UsageRow]) -> None:
        keys.spent(billing.settle(batch))

    def flushing() -> None:
        billing.flushing()
        keys.flushing()

    writer = UsageWriter(engine, batch_size=100, interval_s=60, on_flushed=settled, on_flushing=flushing)
    return repo, keys, billing, writer


def _spend(billing: Billing, writer: UsageWriter, key: KeyRecord, micros: int) -> None:
    """A finished request: its cost pending in memory, its row queued for the flush."""
    row = UsageRow(request_id=uuid.uuid4().hex, endpoint="chat", status=200, stream=False)
    row.key_id, row.key_name, row.account_id, row.cost_micros = key.id, key.name, key.account_id, micros
    if row.account_id is None:
        row.account_id = billing.default_account_id
    billing.pending_keys[key.id] += micros
    billing.pending_accounts[row.account_id] += micros
    writer.record(row)


def _flush_inside_first_read(
    read: Callable[..., Awaitable[object]], writer: UsageWriter
) -> Callable[..., Awaitable[object]]:
    landed = False

    async def read_then_flush(*args: object) -> object:
        nonlocal landed
        value = await read(*args)  # read before the flush commits ...
        if not landed:
            landed = True
            await writer.flush()  # ... which commits, releases `pending`, bumps the generation
        return value

    return read_then_flush


async def test_a_key_read_straddling_a_flush_is_read_again(engine: AsyncEngine) -> None:
    repo, keys, billing, writer = await _world(engine)
    key, secret = await repo.create(f"race-{uuid.uuid4().hex[:8]}", budget_micros=1)
    _spend(billing, writer, key, 5)
    repo.by_hash = _flush_inside_first_read(repo.by_hash, writer)  # type: ignore[method-assign,assignment]
    seen = await keys.authenticate(secret)
    assert billing.pending_keys.get(key.id, 0) == 0  # the flush landed during the read
    assert seen.spent_micros == 5  # ... and the cache read the committed total, not the stale one
    with pytest.raises(PaymentRequired):
        await billing.admit(seen)


async def test_an_account_read_straddling_a_flush_is_read_again(engine: AsyncEngine) -> None:
    repo, _keys, billing, writer = await _world(engine)
    accounts = AccountRepository(engine)
    account = await accounts.create(f"race-{uuid.uuid4().hex[:8]}", credit_micros=3)
    key, _ = await repo.create(f"race-{uuid.uuid4().hex[:8]}", account_id=account.id)
    _spend(billing, writer, key, 3)
    cache_repo = billing.accounts._repo  # the cache's own repository, wrapped in place
    cache_repo.by_id = _flush_inside_first_read(cache_repo.by_id, writer)  # type: ignore[method-assign,assignment]
    with pytest.raises(PaymentRequired):
        await billing.admit(key)
    again = await billing.accounts.get(account.id)
    assert again is not None and again.balance_micros == 0
    assert billing.pending_accounts.get(account.id, 0) == 0


def _count_calls(obj: object, name: str) -> list[int]:
    calls = [0]
    inner = getattr(obj, name)

    async def counted(*args: object) -> object:
        calls[0] += 1
        return await inner(*args)

    setattr(obj, name, counted)
    return calls


async def test_a_flush_moves_the_cached_records_without_reading_them(engine: AsyncEngine) -> None:
    """After a flush the cached key and account equal the database's, with no read: every
    request in flight used to wait for the two reads each flush caused."""
    repo, keys, billing, writer = await _world(engine)
    accounts = AccountRepository(engine)
    account = await accounts.create(f"moved-{uuid.uuid4().hex[:8]}", credit_micros=1_000)
    key, secret = await repo.create(f"moved-{uuid.uuid4().hex[:8]}", budget_micros=900, account_id=account.id)
    cached = await keys.authenticate(secret)
    await billing.admit(cached)  # caches the account
    key_reads = _count_calls(repo, "by_hash")
    account_reads = _count_calls(billing.accounts._repo, "by_id")
    for micros in (7, 11, 13):
        _spend(billing, writer, key, micros)
    await writer.flush()
    seen = await keys.authenticate(secret)
    held = await billing.accounts.get(account.id)
    assert key_reads == [0] and account_reads == [0]
    stored_key = await repo.by_hash(seen.key_hash)
    stored_account = await accounts.by_id(account.id)
    assert stored_key is not None and stored_account is not None and held is not None
    assert (seen.spent_micros, seen.period_spent_micros) == (31, 31)
    assert (stored_key.spent_micros, stored_key.period_spent_micros) == (31, 31)
    assert held.balance_micros == stored_account.balance_micros == 1_000 - 31
    assert billing.pending_keys.get(key.id, 0) == 0 and billing.pending_accounts.get(account.id, 0) == 0


async def test_a_key_with_a_budget_period_is_read_again_after_a_flush(engine: AsyncEngine) -> None:
    """The flush's UPDATE may restart a period's spend: that key is not moved in memory."""
    repo, keys, billing, writer = await _world(engine)
    name = f"period-{uuid.uuid4().hex[:8]}"
    key, secret = await repo.create(name, budget_micros=900, budget_period="daily")
    await keys.authenticate(secret)
    key_reads = _count_calls(repo, "by_hash")
    _spend(billing, writer, key, 5)
    await writer.flush()
    seen = await keys.authenticate(secret)
    assert key_reads == [1]
    assert (seen.spent_micros, seen.period_spent_micros) == (5, 5) and seen.period_started_at is not None


async def test_a_quarantined_rows_subjects_are_read_again(engine: AsyncEngine) -> None:
    """A row the database refused moved no counter: its key and account are dropped, not moved."""
    repo, keys, billing, _writer = await _world(engine)
    accounts = AccountRepository(engine)
    account = await accounts.create(f"refused-{uuid.uuid4().hex[:8]}", credit_micros=100)
    key, secret = await repo.create(f"refused-{uuid.uuid4().hex[:8]}", account_id=account.id)
    await billing.admit(await keys.authenticate(secret))
    row = UsageRow(request_id=uuid.uuid4().hex, endpoint="chat", status=200, stream=False)
    row.key_id, row.account_id, row.cost_micros, row.quarantined = key.id, account.id, 9, True
    billing.pending_keys[key.id] += 9
    billing.pending_accounts[account.id] += 9
    keys.spent(billing.settle([row]))
    key_reads = _count_calls(repo, "by_hash")
    account_reads = _count_calls(billing.accounts._repo, "by_id")
    seen = await keys.authenticate(secret)
    held = await billing.accounts.get(account.id)
    assert key_reads == [1] and account_reads == [1]
    assert seen.spent_micros == 0 and held is not None and held.balance_micros == 100


async def test_a_read_between_the_commit_and_the_settle_is_not_moved_again(engine: AsyncEngine) -> None:
    """A record read after the flush committed already counts it: it is dropped, not moved."""
    repo, keys, billing, writer = await _world(engine)
    accounts = AccountRepository(engine)
    account = await accounts.create(f"late-{uuid.uuid4().hex[:8]}", credit_micros=1_000)
    key, secret = await repo.create(f"late-{uuid.uuid4().hex[:8]}", budget_micros=900, account_id=account.id)
    insert = writer._insert

    async def insert_then_read(batch: list[UsageRow]) -> None:
        await insert(batch)  # committed ...
        await keys.authenticate(secret)  # ... and read (cold caches) before the settle
        await billing.accounts.get(account.id)

    writer._insert = insert_then_read  # type: ignore[method-assign]
    _spend(billing, writer, key, 31)
    await writer.flush()
    seen = await keys.authenticate(secret)
    held = await billing.accounts.get(account.id)
    assert seen.spent_micros == 31 and held is not None and held.balance_micros == 1_000 - 31


async def test_an_account_changed_by_another_process_is_read_again_behind_the_requests(
    engine: AsyncEngine,
) -> None:
    """Flushes no longer drop the account, so another worker's change (here: a disable)
    arrives by a read started once the record is `refresh_s` old, which no request waits for."""
    accounts = AccountRepository(engine)
    account = await accounts.create(f"elsewhere-{uuid.uuid4().hex[:8]}", credit_micros=100)
    cache = AccountCache(accounts, refresh_s=0.0)
    assert (await cache.get(account.id)) == account
    await accounts.update(account.id, disabled=True)  # another process's admin
    stale = await cache.get(account.id)  # the cached record at once; a read starts behind it
    assert stale is not None and not stale.disabled
    for _ in range(100):
        fresh = await cache.get(account.id)
        if fresh is not None and fresh.disabled:
            break
        await asyncio.sleep(0.01)
    assert fresh is not None and fresh.disabled
