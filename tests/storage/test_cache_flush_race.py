"""A key or account read that straddles a usage flush must not under-count spend.

The flush commits the new totals, then releases the same cost from `pending` and
drops the cached records. A read that began before the commit and ended after the
release saw neither; the caches read again instead of using it (the CI flake of
`test_budget_set_by_patch_refuses_with_402`). Real database, real writer: the only
thing arranged is the timing, by landing a flush inside the first read.
"""

from __future__ import annotations

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
    billing = Billing(AccountCache(accounts), default_account_id=default.id, prices={}, groups={})

    def settled(batch: list[UsageRow]) -> None:
        moved, _ = billing.settle(batch)
        keys.invalidate_ids(moved)

    writer = UsageWriter(engine, batch_size=100, interval_s=60, on_flushed=settled)
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
