"""Sliding-window limits and the IP token bucket, in-process and on the real Redis."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from hubgate.errors import RateLimited
from hubgate.routing.limits import Limiter, LocalStore, RedisStore, Store
from hubgate.storage.keys import KeyRecord
from tests.conftest import IN_CI, REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # a minute boundary

    def __call__(self) -> float:
        return self.now


def key(**limits: int | None) -> KeyRecord:
    return KeyRecord(
        id=abs(hash(uuid.uuid4())) % 10**9, name="k", key_hash="h", key_prefix="p", account=None, models=None,
        budget_micros=None, spent_micros=0, rpm=limits.get("rpm"), tpm=limits.get("tpm"), expires_at=None,
        revoked_at=None, source="test", created_at=datetime.now(UTC), max_concurrency=limits.get("conc"),
    )  # fmt: skip


@pytest.fixture(params=["local", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "local":
        yield LocalStore()
        return
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:
        await redis.aclose()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is required under CI: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    yield RedisStore(redis, prefix=f"hubgate-test:{uuid.uuid4().hex}:")
    await redis.aclose()


async def test_rpm_sliding_window(store: Store) -> None:
    clock = Clock()
    limiter = Limiter(store, clock=clock)
    k = key(rpm=3)
    for remaining in ("2", "1", "0"):
        admitted = await limiter.admit(k)
        assert admitted.headers["x-ratelimit-remaining-requests"] == remaining
    with pytest.raises(RateLimited) as info:
        await limiter.admit(k)
    assert 1 <= info.value.retry_after <= 60
    clock.now += 60  # the old minute now weighs fully: 3 * 1.0 + 0 -> still full
    with pytest.raises(RateLimited):
        await limiter.admit(k)
    clock.now += 30  # half of it remains: 1.5 used
    await limiter.admit(k)
    clock.now += 120
    for _ in range(3):
        await limiter.admit(k)


async def test_tpm_counts_tokens_when_usage_is_known(store: Store) -> None:
    clock = Clock()
    limiter = Limiter(store, clock=clock)
    k = key(tpm=100)
    first = await limiter.admit(k)
    assert first.headers["x-ratelimit-remaining-tokens"] == "100"
    await limiter.finish(k, first, 120)  # the request turned out bigger than the budget
    with pytest.raises(RateLimited) as info:
        await limiter.admit(k)
    assert "tokens per minute" in info.value.message
    clock.now += 120
    await limiter.admit(k)


async def test_concurrency_cap_and_release(store: Store) -> None:
    limiter = Limiter(store, clock=Clock())
    k = key(conc=2)
    a, b = await limiter.admit(k), await limiter.admit(k)
    with pytest.raises(RateLimited):
        await limiter.admit(k)
    await limiter.finish(k, a, 0)
    c = await limiter.admit(k)
    await limiter.finish(k, b, 0)
    await limiter.finish(k, c, 0)


async def test_ip_bucket_allows_a_burst_then_the_rate(store: Store) -> None:
    clock = Clock()
    limiter = Limiter(store, clock=clock)
    ip = f"203.0.113.{uuid.uuid4().int % 250}"
    for _ in range(5):
        await limiter.admit_ip(ip, rpm=60, burst=5)
    with pytest.raises(RateLimited) as info:
        await limiter.admit_ip(ip, rpm=60, burst=5)
    assert info.value.retry_after == 1
    clock.now += 2.0  # one token a second
    await limiter.admit_ip(ip, rpm=60, burst=5)
    await limiter.admit_ip(ip, rpm=60, burst=5)
    with pytest.raises(RateLimited):
        await limiter.admit_ip(ip, rpm=60, burst=5)


async def test_a_key_without_its_own_limits_gets_the_defaults(store: Store) -> None:
    """`default_key_limits`: each limit a key leaves empty comes from the defaults (0: unlimited);
    a key's own limit wins."""
    from hubgate.settings import KeyLimitDefaults

    clock = Clock()
    limiter = Limiter(store, clock=clock, defaults=KeyLimitDefaults(rpm=2, tpm=0, max_concurrency=3))
    mixed = limiter.limits(key(tpm=500))
    assert (mixed.rpm, mixed.tpm, mixed.max_concurrency) == (2, 500, 3)
    plain, own = key(), key(rpm=10)
    for _ in range(2):
        await limiter.admit(plain)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(plain)
    assert refused.value.headers["x-ratelimit-limit-requests"] == "2"
    for _ in range(5):
        admission = await limiter.admit(own)
        assert admission.headers["x-ratelimit-limit-requests"] == "10"
        await limiter.finish(own, admission, 0)  # gives the concurrency slot (a default of 3) back
    limiter.defaults = KeyLimitDefaults()  # as a settings reload sets it
    await limiter.admit(plain)  # neither its own nor a default: unlimited


def test_local_windows_match_counts_kept_per_minute() -> None:
    """LocalStore keeps one record per name, rolled forward a minute at a time; held here to
    counts kept per (name, minute), over random times (gaps of seconds to minutes), names,
    limits, takes and adds."""
    rnd = random.Random(3)
    store = LocalStore()
    minutes: dict[tuple[str, int], float] = {}
    now = 1_000_000.0
    for _ in range(20_000):
        now += rnd.choice([0.0, 0.3, 5.0, 29.0, 61.0, 130.0])
        name = rnd.choice(["1:r", "1:t", "2:r"])
        current = int(now // 60)
        prev, cur = minutes.get((name, current - 1), 0.0), minutes.get((name, current), 0.0)
        used = prev * (1.0 - (now % 60) / 60) + cur
        if rnd.random() < 0.3:
            amount = rnd.randrange(1, 500)
            store.window_add_now(name, amount, now)
            minutes[(name, current)] = cur + amount
            continue
        limit, cost = rnd.choice([5, 50, 5_000]), rnd.choice([0, 1, 40])
        ok, seen, _ = store.window_take_now(name, limit, cost, now)
        assert ok == (used + cost <= limit)
        assert math.isclose(seen, used + cost if ok else used, abs_tol=1e-6)
        if ok and cost:
            minutes[(name, current)] = cur + cost
