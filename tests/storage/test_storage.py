"""Repositories, the key cache and the usage writer on SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.access.auth import KeyCache
from hubgate.access.watch import RevisionWatch
from hubgate.errors import AuthenticationFailed
from hubgate.storage.admin_usage import UsageFilter, aggregate
from hubgate.storage.db import create_engine
from hubgate.storage.keys import KeyExists, KeyRepository, hash_key
from hubgate.storage.revisions import WATCHED, read_revisions
from hubgate.storage.tables import usage_logs
from hubgate.storage.usage import UsageRow, UsageWriter


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_keys_are_stored_as_hashes_only(engine: AsyncEngine) -> None:
    repo = KeyRepository(engine)
    record, secret = await repo.create(unique("k"), models=["b", "a"], budget_micros=5_000_000)
    assert secret.startswith("sk-hg-") and len(secret) > 40
    async with engine.connect() as conn:
        dump = str((await conn.execute(text("SELECT * FROM api_keys WHERE id = :i"), {"i": record.id})).one())
    assert secret not in dump
    assert hash_key(secret) in dump
    found = await repo.by_hash(hash_key(secret))
    assert found is not None and found.name == record.name
    assert found.models == frozenset({"a", "b"}) and found.budget_micros == 5_000_000
    with pytest.raises(KeyExists):
        await repo.create(record.name)


async def test_revoke_and_expiry(engine: AsyncEngine) -> None:
    repo = KeyRepository(engine)
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired, _ = await repo.create(unique("exp"), expires_at=past)
    assert expired.expires_at is not None and expired.expires_at.tzinfo is not None
    assert expired.refusal(datetime.now(UTC)) == "API key has expired"
    live, _ = await repo.create(unique("live"))
    assert live.refusal(datetime.now(UTC)) is None
    revoked = await repo.revoke(live.name)
    assert revoked is not None and revoked.refusal(datetime.now(UTC)) == "API key has been revoked"
    assert await repo.revoke("no-such-key") is None


async def test_key_cache_serves_from_memory_and_sees_revocations(engine: AsyncEngine) -> None:
    repo = KeyRepository(engine)
    calls = 0
    original = repo.by_hash

    async def counting(digest: str) -> object:
        nonlocal calls
        calls += 1
        return await original(digest)

    repo.by_hash = counting  # type: ignore[method-assign,assignment]
    cache = KeyCache(repo, ttl_s=60)
    record, secret = await repo.create(unique("c"))
    results = await asyncio.gather(*(cache.authenticate(secret) for _ in range(50)))
    assert all(r.id == record.id for r in results)
    assert calls == 1  # concurrent misses share one query; hits never touch the database
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await cache.authenticate("sk-unknown-key-000000000000")
    assert calls == 2  # unknown keys are cached too
    revisions = RevisionWatch(lambda names: read_revisions(engine, names), 0.05, WATCHED)
    revisions.follow("keys", cache.invalidate)
    watcher = asyncio.create_task(revisions.run())
    await asyncio.sleep(0.2)  # the watcher has its baseline revision
    await repo.revoke(record.name)
    try:
        for _ in range(100):
            try:
                await cache.authenticate(secret)
            except AuthenticationFailed as exc:
                assert "revoked" in exc.message
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("revocation never reached the cache")
    finally:
        watcher.cancel()


async def test_usage_writer_batches_and_loses_nothing_on_close(engine: AsyncEngine) -> None:
    key = unique("u")
    writer = UsageWriter(engine, batch_size=100, interval_s=10)
    writer.start()
    for i in range(1234):
        writer.record(
            UsageRow(
                request_id=f"{key}-{i}",
                endpoint="chat",
                status=200,
                stream=False,
                key_name=key,
                model="m",
                prompt_tokens=3,
                completion_tokens=2,
            )
        )
    await writer.close()  # long interval: only the batch-size wakeups and close flush
    assert writer.pending == 0 and writer.written == 1234
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).where(usage_logs.c.key_name == key))).scalar_one()
    assert count == 1234
    (summary,), _ = await aggregate(engine, ["key", "model"], UsageFilter(key=key))
    assert (summary.requests, summary.prompt_tokens, summary.completion_tokens) == (1234, 3702, 2468)


async def test_usage_writer_keeps_rows_when_the_database_fails(
    engine: AsyncEngine, database_url: str
) -> None:
    broken = create_engine(database_url.replace("/hubgate", "/nonexistent-dir/x/hubgate"))
    if database_url.startswith("postgresql"):
        await broken.dispose()
        broken = create_engine(database_url.rsplit("/", 1)[0] + "/no_such_database_hubgate")
    writer = UsageWriter(broken, batch_size=10, interval_s=10)
    writer.record(UsageRow(request_id="x", endpoint="chat", status=200, stream=False, key_name=unique("f")))
    with pytest.raises(Exception):  # noqa: B017 - any driver error will do
        await writer.flush()
    assert writer.pending == 1  # kept for the next attempt
    await broken.dispose()


async def test_concurrent_flushes_write_each_row_once(engine: AsyncEngine) -> None:
    key = unique("cf")
    writer = UsageWriter(engine, batch_size=7, interval_s=0.001)
    writer.start()

    async def produce(start: int) -> None:
        for i in range(start, start + 100):
            writer.record(
                UsageRow(request_id=f"{key}-{i}", endpoint="chat", status=200, stream=False, key_name=key)
            )
            if i % 9 == 0:
                await writer.flush()
            await asyncio.sleep(0)

    await asyncio.gather(produce(0), produce(100), produce(200))
    await writer.close()
    async with engine.connect() as conn:
        ids = (
            await conn.execute(select(usage_logs.c.request_id).where(usage_logs.c.key_name == key))
        ).scalars()
        got = sorted(ids)
    assert got == sorted(f"{key}-{i}" for i in range(300))
