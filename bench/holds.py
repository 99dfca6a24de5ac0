"""What a hold costs a request: sizing its body, and place + settle + flush removal in each
backend (memory, leases from Redis, leases from PostgreSQL), 32 requests in flight on one
event loop.

  .venv/bin/python bench/holds.py [--redis redis://127.0.0.1:6379/0] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Prints one line per measurement: microseconds of wall time per request at c=32 (the event
loop is the only consumer, so this is the CPU and round-trip cost the hold adds).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
import uuid
from typing import Any

from hubgate.access.holds import ACCOUNT, BaseCache, Flushed, LocalHolds, Subject
from hubgate.access.leases import LeaseHolds
from hubgate.access.redis_holds import RedisLeases
from hubgate.metering.hold import tokens
from hubgate.storage.accounts import AccountRepository
from hubgate.storage.db import create_engine, migrate
from hubgate.storage.leases import LeaseStore

REQUESTS = 20_000
CONCURRENCY = 32
HOLD = 1_000


def body(size: int) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "word " * (size // 5)}], "max_tokens": 100}


def sizing(size: int) -> float:
    b = body(size)
    rounds = 2000 if size < 10_000 else 200
    tokens(b)
    started = time.perf_counter()
    for _ in range(rounds):
        tokens(b)
    return (time.perf_counter() - started) / rounds * 1e6


async def run(holds: Any, subject: Subject) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)
    done: list[Flushed] = []

    async def one(i: int) -> None:
        async with gate:
            ref = f"r{i}"
            refused = await holds.place(ref, (subject,), HOLD, 60)
            assert refused is None
            holds.settle(ref, (subject,), HOLD // 2, 60)
            done.append(Flushed(ref, (subject.name,), HOLD // 2))
            if len(done) >= 500:  # a usage flush every 500 rows
                batch = done[:]
                done.clear()
                holds.flushed(batch)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    if hasattr(holds, "tend"):  # leases: what the last flushes spent goes back, counted here
        await holds.tend()
    return (time.perf_counter() - started) / REQUESTS * 1e6


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args()
    for size in (1_000, 100_000):
        print(f"sizing a {size // 1000} KB chat body: {sizing(size):.1f} us")

    async def plenty(subject: Subject) -> int:
        return 10**15

    class Nothing:
        async def place(self, *_: Any) -> None:
            return None

        def settle(self, *_: Any) -> None:
            return None

        def flushed(self, *_: Any) -> None:
            return None

    baseline = await run(Nothing(), Subject(ACCOUNT, 1))
    print(f"no holds (the loop's own cost per request): {baseline:.1f} us/request")
    local = LocalHolds(BaseCache(plenty, 30.0))
    print(f"memory (SQLite, one process): {await run(local, Subject(ACCOUNT, 1)):.1f} us/request")

    from redis.asyncio import Redis

    redis = Redis.from_url(args.redis)
    store = RedisLeases(redis, f"bench-{uuid.uuid4().hex}:", BaseCache(plenty, 30.0), "bench")
    shared = LeaseHolds(store, chunk_micros=1_000_000, ttl_s=60)
    await shared.start()
    per = await run(shared, Subject(ACCOUNT, 1))
    print(f"redis leases ($1 chunks, {HOLD} micro-dollar holds): {per:.1f} us/request")
    await shared.close()
    await redis.aclose()

    name = f"hubgate_bench_holds_{uuid.uuid4().hex[:8]}"
    psql = ["psql", args.pg, "-qc"]
    await asyncio.to_thread(
        subprocess.run, [*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True
    )
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        await migrate(url)
        engine = create_engine(url)
        account = await AccountRepository(engine).create("bench", credit_micros=10**15)
        leases = LeaseHolds(LeaseStore(engine, "bench"), chunk_micros=1_000_000, ttl_s=60)
        await leases.start()
        per = await run(leases, Subject(ACCOUNT, account.id))
        print(f"postgresql leases ($1 chunks, {HOLD} micro-dollar holds): {per:.1f} us/request")
        await leases.close()
        await engine.dispose()
    finally:
        drop = ["psql", args.pg, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]
        await asyncio.to_thread(subprocess.run, drop, capture_output=True)


if __name__ == "__main__":
    asyncio.run(main())
