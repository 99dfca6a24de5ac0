"""The hold backends: in memory, and leases from Redis (two 'replicas' on one Redis) or
from the database (two processes' holders on one database, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from hubgate.access.holds import ACCOUNT, KEY, BaseCache, Flushed, LocalHolds, Subject
from hubgate.access.leases import LeaseHolds
from hubgate.access.redis_holds import RedisLeases
from hubgate.storage.accounts import AccountRepository
from hubgate.storage.db import create_engine, migrate
from hubgate.storage.keys import KeyRepository
from hubgate.storage.leases import LeaseStore
from hubgate.storage.ledger import check_ledger
from hubgate.storage.tables import accounts, hold_leases

A = Subject(ACCOUNT, 1)


class FakeDatabase:
    """What a subject has left, as the database would say; counts the reads."""

    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.reads = 0

    async def read(self, subject: Subject) -> int:
        self.reads += 1
        await asyncio.sleep(0)
        return self.balance


async def test_local_holds_refuse_beyond_the_balance_and_follow_flushes() -> None:
    db = FakeDatabase(100)
    holds = LocalHolds(BaseCache(db.read, 30.0))
    assert await holds.place("r1", (A,), 60, 10) is None
    assert await holds.place("r2", (A,), 50, 10) == A  # 40 left
    holds.settle("r1", (A,), 30, 10)  # it cost 30: 70 left
    assert await holds.place("r2", (A,), 50, 10) is None
    assert await holds.place("r3", (A,), 30, 10) == A  # 20 left
    db.balance -= 30  # the usage writer committed r1's cost...
    holds.flushed([Flushed("r1", (A.name,), 30)])  # ...then said so: the cached balance moves too
    assert await holds.place("r3", (A,), 21, 10) == A
    assert await holds.place("r3", (A,), 20, 10) is None
    holds.settle("r2", (A,), 0, 10)  # failed upstream: released
    holds.settle("r3", (A,), 0, 10)
    assert await holds.place("r4", (A,), 70, 10) is None
    assert await holds.place("r5", (A,), 0, 10) == A  # nothing left: even an unpriced request waits


async def test_local_holds_place_now_only_what_the_books_can_hold_at_once() -> None:
    db = FakeDatabase(100)
    holds = LocalHolds(BaseCache(db.read, 30.0))
    assert not holds.place_now("r1", (A,), 60)  # no base read yet: nothing held, `place` reads it
    assert holds.out[A.name] == 0 and db.reads == 0
    assert await holds.place("r1", (A,), 60, 10) is None
    assert holds.place_now("r2", (A,), 40)  # cached base, room: held without waiting
    assert holds.out[A.name] == 100
    assert not holds.place_now("r3", (A,), 1)  # no room: nothing held; `place` refuses it
    assert await holds.place("r3", (A,), 1, 10) == A
    assert holds.out[A.name] == 100 and db.reads == 1


async def _redis_leased(redis: object, prefix: str) -> int:
    return int(await redis.hget(f"{prefix}hold:{A.name}", "leased") or 0)  # type: ignore[attr-defined]


async def test_redis_leases_share_a_balance_between_replicas(redis_url: str) -> None:
    from redis.asyncio import Redis

    prefix = f"hg-holds-{uuid.uuid4().hex}:"
    db = FakeDatabase(1000)
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    one, two = (
        LeaseHolds(RedisLeases(c, prefix, BaseCache(db.read, 30.0), f"{n}-{uuid.uuid4().hex[:8]}"), 100, 30)
        for n, c in zip(("one", "two"), clients, strict=True)
    )
    try:
        placed = await asyncio.gather(
            *(
                holds.place(f"{n}{i}", (A,), 30, 30)
                for i in range(40)
                for n, holds in (("a", one), ("b", two))
            )
        )
        held = sum(30 for p in placed if p is None)
        assert 900 <= held <= 1000  # never more than the balance; at most one hold's worth idle in leases
        assert sum(one.leases.values()) + sum(two.leases.values()) == await _redis_leased(clients[0], prefix)
        assert await _redis_leased(clients[0], prefix) <= 1000
        # Replica one's first hold cost 10: its flush moves the balance, shrinks its lease and
        # gives the 10 back; replica two's cached balance is then stale and read again.
        ref = next(f"a{i}" for i in range(40) if placed[2 * i] is None)
        one.settle(ref, (A,), 10, 30)
        db.balance -= 10
        one.flushed([Flushed(ref, (A.name,), 10)])
        await one.tend()
        assert await _redis_leased(clients[0], prefix) == sum(one.leases.values()) + sum(two.leases.values())
        for i in range(40):  # every hold released: the leases stand until they idle
            for n, holds, ok in (("a", one, placed[2 * i]), ("b", two, placed[2 * i + 1])):
                if ok is None and f"{n}{i}" != ref:
                    holds.settle(f"{n}{i}", (A,), 0, 30)
        await one.close()  # a graceful stop gives its lease back whole
        reads = db.reads
        assert await two.place("big", (A,), 991, 30) == A  # its lease and all that is left: 990
        assert db.reads == reads + 1  # the give-back moved the generation: read again
        assert await two.place("big", (A,), 990, 30) is None  # everything left, to one replica
        two.settle("big", (A,), 0, 30)
        await two.close()
        assert await _redis_leased(clients[0], prefix) == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_a_dead_replicas_redis_lease_expires(redis_url: str) -> None:
    from redis.asyncio import Redis

    prefix = f"hg-holds-{uuid.uuid4().hex}:"
    db = FakeDatabase(1000)
    client = Redis.from_url(redis_url)
    dead = LeaseHolds(RedisLeases(client, prefix, BaseCache(db.read, 30.0), "dead"), 1000, 0.3)
    alive = LeaseHolds(RedisLeases(client, prefix, BaseCache(db.read, 30.0), "alive"), 100, 30)
    try:
        assert await dead.place("held", (A,), 700, 0.3) is None  # then the process is killed
        assert await _redis_leased(client, prefix) == 1000
        assert await alive.place("x", (A,), 1, 30) == A  # all leased to the dead one
        await asyncio.sleep(0.4)
        assert await alive.place("x", (A,), 900, 30) is None  # its lease expired and was purged
        assert await _redis_leased(client, prefix) == 900
        alive.settle("x", (A,), 0, 30)
        await alive.close()
        assert await _redis_leased(client, prefix) == 0
    finally:
        await client.aclose()


@pytest.fixture
async def lease_db(database_url: str) -> AsyncIterator[tuple[object, int]]:
    await migrate(database_url)
    engine = create_engine(database_url)
    account = await AccountRepository(engine).create(f"lease-{uuid.uuid4().hex[:8]}", credit_micros=1000)
    try:
        yield engine, account.id
    finally:
        await engine.dispose()


async def _leased(engine: object, account_id: int) -> tuple[int, int]:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        leased = (
            await conn.execute(select(accounts.c.leased_micros).where(accounts.c.id == account_id))
        ).scalar_one()
        rows = (
            await conn.execute(
                select(hold_leases.c.amount_micros).where(
                    hold_leases.c.kind == "a", hold_leases.c.subject_id == account_id
                )
            )
        ).all()
    return int(leased), sum(int(r[0]) for r in rows)


async def test_leases_share_a_balance_between_processes(lease_db: tuple[object, int]) -> None:
    engine, account_id = lease_db
    subject = Subject(ACCOUNT, account_id)
    one = LeaseHolds(LeaseStore(engine, "one-" + uuid.uuid4().hex[:8]), chunk_micros=100, ttl_s=30)  # type: ignore[arg-type]
    two = LeaseHolds(LeaseStore(engine, "two-" + uuid.uuid4().hex[:8]), chunk_micros=100, ttl_s=30)  # type: ignore[arg-type]
    placed = await asyncio.gather(
        *(
            holds.place(f"{n}{i}", (subject,), 30, 30)
            for i in range(40)
            for n, holds in (("a", one), ("b", two))
        )
    )
    held = sum(30 for p in placed if p is None)
    assert 900 <= held <= 1000  # never more than the balance; at most one hold's worth idle in leases
    leased, rows = await _leased(engine, account_id)
    assert leased == rows <= 1000
    # Replica one's first hold cost 10; its flush moves the balance (here without a usage
    # row: the ledger check must catch that) and shrinks its lease.
    ref = next(f"a{i}" for i in range(40) if placed[2 * i] is None)
    one.settle(ref, (subject,), 10, 30)
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(balance_micros=accounts.c.balance_micros - 10)
        )
    one.flushed([Flushed(ref, (subject.name,), 10)])
    await one.tend()
    leased, rows = await _leased(engine, account_id)
    assert leased == rows and leased <= 990
    await one.close()  # a graceful stop gives its leases back whole
    await two.close()
    assert await _leased(engine, account_id) == (0, 0)
    report = await check_ledger(engine)  # type: ignore[arg-type]
    # (an API key of another test may share the account's id: only the account's lines)
    mine = [d for d in report.differences if d.subject == "account" and d.id == account_id]
    assert [(d.check, d.stored, d.expected) for d in mine] == [("balance", 990, 1000)]


async def test_a_lease_places_now_only_within_its_room(lease_db: tuple[object, int]) -> None:
    engine, account_id = lease_db
    subject = Subject(ACCOUNT, account_id)
    holds = LeaseHolds(LeaseStore(engine, "now-" + uuid.uuid4().hex[:8]), chunk_micros=100, ttl_s=30)  # type: ignore[arg-type]
    try:
        assert not holds.place_now("r1", (subject,), 30)  # no lease yet: `place` leases
        assert await _leased(engine, account_id) == (0, 0)
        assert await holds.place("r1", (subject,), 30, 30) is None  # leased a chunk of 100
        assert holds.place_now("r2", (subject,), 70)  # the rest of the chunk, at once
        assert not holds.place_now("r3", (subject,), 1)  # beyond the lease: nothing held
        assert holds.out[subject.name] == 100
        assert await _leased(engine, account_id) == (100, 100)
    finally:
        await holds.close()


async def test_a_dead_processs_lease_expires_and_is_reclaimed(lease_db: tuple[object, int]) -> None:
    engine, account_id = lease_db
    subject = Subject(ACCOUNT, account_id)
    # The dead lease must outlive the next two steps, even on a loaded machine.
    dead = LeaseHolds(LeaseStore(engine, "dead-" + uuid.uuid4().hex[:8]), chunk_micros=1000, ttl_s=1.5)  # type: ignore[arg-type]
    alive = LeaseHolds(LeaseStore(engine, "alive-" + uuid.uuid4().hex[:8]), chunk_micros=100, ttl_s=30)  # type: ignore[arg-type]
    assert await dead.place("held", (subject,), 700, 1.5) is None  # then the process is killed
    assert await _leased(engine, account_id) == (1000, 1000)
    assert await alive.place("x", (subject,), 1, 30) == subject  # all leased to the dead one
    await asyncio.sleep(1.6)
    await alive.tend()  # reclaims what expired
    assert await alive.place("x", (subject,), 900, 30) is None
    await alive.close()
    assert await _leased(engine, account_id) == (0, 0)
    report = await check_ledger(engine)  # type: ignore[arg-type]
    assert [d for d in report.differences if d.subject == "account" and d.id == account_id] == []


async def test_a_small_balance_is_not_hoarded_by_one_process(lease_db: tuple[object, int]) -> None:
    engine, account_id = lease_db
    subject = Subject(ACCOUNT, account_id)
    one = LeaseHolds(LeaseStore(engine, "one-" + uuid.uuid4().hex[:8]), chunk_micros=5000, ttl_s=30)  # type: ignore[arg-type]
    two = LeaseHolds(LeaseStore(engine, "two-" + uuid.uuid4().hex[:8]), chunk_micros=5000, ttl_s=30)  # type: ignore[arg-type]
    assert await one.place("a", (subject,), 100, 30) is None  # less than a chunk left: it took all 1000
    assert await _leased(engine, account_id) == (1000, 1000)
    one.settle("a", (subject,), 0, 30)  # released: a scarce subject's spare goes back at once
    await one.tend()
    assert await _leased(engine, account_id) == (0, 0)
    assert await two.place("b", (subject,), 600, 30) is None  # it took all 1000 too...
    await two.tend()  # ...and its keeper, woken, gives back what "b" does not hold
    assert await _leased(engine, account_id) == (600, 600)
    assert await one.place("c", (subject,), 300, 30) is None  # scarce here: leased exactly, not all 400
    assert await two.place("d", (subject,), 100, 30) is None
    assert await one.place("e", (subject,), 1, 30) == subject  # 1000 held, nothing left
    await one.close()
    await two.close()
    assert await _leased(engine, account_id) == (0, 0)


async def _ledger_cli(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """`hubgate ledger check --json`, in a thread (it runs its own event loop)."""
    from typer.testing import CliRunner

    from hubgate.cli import app as cli

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["ledger", "check", "--json"], env=env)
    return result.exit_code, json.loads(result.output)


async def test_the_ledger_check_counts_the_holds_kept_in_redis(redis_url: str, tmp_path: Path) -> None:
    from redis.asyncio import Redis

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"  # the check reads every account
    await migrate(database_url)
    engine = create_engine(database_url)
    account = await AccountRepository(engine).create("redis-held", credit_micros=1000)
    key, _ = await KeyRepository(engine).create("redis-held-key", account_id=account.id, budget_micros=500)
    await engine.dispose()
    subjects = (Subject(ACCOUNT, account.id), Subject(KEY, key.id, limit=500))
    db = FakeDatabase(1000)

    async def read(subject: Subject) -> int:  # an account's balance; a key's counted spend
        return await db.read(subject) if subject.kind == ACCOUNT else 0

    prefix = f"hg-ledger-{uuid.uuid4().hex}:"
    env = {
        "HUBGATE_DATABASE_URL": database_url,
        "HUBGATE_REDIS_URL": redis_url,
        "HUBGATE_REDIS_PREFIX": prefix,
    }
    client = Redis.from_url(redis_url)
    holds = LeaseHolds(RedisLeases(client, prefix, BaseCache(read, 30.0), "holder"), 1000, 30)
    try:
        assert await holds.place("open", subjects, 300, 30) is None  # leases all of both: left 0
        assert await client.hget(f"{prefix}hold:a:{account.id}", "leased") == b"1000"
        code, report = await _ledger_cli(env)
        assert (code, report["differences"]) == (0, [])
        # Forged: the account's total no longer matches its holders' leases, and a lease on
        # the key that its budget does not cover (invisible to the database alone).
        await client.hincrby(f"{prefix}hold:a:{account.id}", "leased", 5)
        await client.hincrby(f"{prefix}hold:k:{key.id}", "leased", 7)
        await client.hincrby(f"{prefix}hold:k:{key.id}", "l:holder", 7)
        code, report = await _ledger_cli(env)
        found = {(d["subject"], d["check"], d["stored"], d["expected"]) for d in report["differences"]}
        assert code == 1 and report["ok"] is False
        assert found == {
            ("account", "redis_leased", 1005, 1000),
            ("account", "negative", -5, 0),
            ("key", "negative", -7, 0),
        }
        code, report = await _ledger_cli({**env, "HUBGATE_REDIS_URL": ""})  # without Redis: unseen
        assert (code, report["differences"]) == (0, [])
    finally:
        await client.delete(*[k async for k in client.scan_iter(match=f"{prefix}*")])
        await client.aclose()


async def test_local_holds_move_the_base_with_any_flush_of_the_subject() -> None:
    """A flushed cost moves the subject's base in the database whether or not this process
    held it (a replayed journal row): the cached base moves by as much, without a read
    (the requests arriving meanwhile all waited for it). A cost whose move is not known
    here (quarantined: no counter moved) makes the base be read again."""
    db = FakeDatabase(100)
    holds = LocalHolds(BaseCache(db.read, 30.0))
    assert await holds.place("r1", (A,), 10, 10) is None
    assert db.reads == 1
    holds.bases.flushing()  # the usage writer announces its flush, then commits...
    db.balance -= 50  # ...someone else's cost, now in the database
    holds.flushed([Flushed("replayed", (A.name,), 50)])
    assert await holds.place("r2", (A,), 41, 10) == A  # 100 - 50 - 10 = 40 left
    assert await holds.place("r2", (A,), 40, 10) is None
    assert db.reads == 1 and holds.out[A.name] == 50
    holds.settle("r2", (A,), 0, 10)
    holds.bases.flushing()
    holds.flushed([Flushed("refused", (A.name,), 7, landed=False)])  # the database kept 50
    holds.bases.flushing()  # the next flush begins and commits r0's cost ...
    db.balance -= 1
    assert await holds.place("r2", (A,), 41, 10) == A  # ... before this read: 49 - 10 left
    assert db.reads == 2 and holds.out[A.name] == 10
    holds.flushed([Flushed("r0", (A.name,), 1)])  # read since the flush began: not moved again
    assert await holds.place("r2", (A,), 40, 10) == A
    assert await holds.place("r2", (A,), 39, 10) is None and db.reads == 3
    holds.settle("r2", (A,), 0, 10)
    holds.settle("r1", (A,), 0, 10)  # released: the book is empty...
    holds.flushed([Flushed("r1", (A.name,), 0)])
    assert A.name not in holds.gens  # ...and forgotten once a flush names it
    assert await holds.place("r3", (A,), 49, 10) is None and db.reads == 4
