"""Per-key rpm / tpm / concurrency limits and the per-client-IP limit.

Requests and tokens per minute use a sliding-window counter: the previous minute's
count weighted by how much of it still overlaps the last 60 s, plus this minute's.
Tokens are added when a request's usage is known, so a key may finish requests
already admitted but starts no new one over its tpm. The per-IP limit is a token
bucket (a steady rate with a burst allowance).

A key without its own rpm, tpm or concurrency limit gets the default one
(`default_key_limits`, editable at run time): `Limiter.defaults`, replaced whenever the
settings are reloaded, so the request path reads it without a database round trip.

Two stores behind one interface: in-process (the default) and Redis, where every
check is one atomic Lua script so all replicas share the counters.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from hubgate.errors import RateLimited
from hubgate.settings import KeyLimitDefaults
from hubgate.storage.keys import KeyRecord

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Window:
    current: int  # index of the current minute
    overlap: float  # share of the previous minute still inside the last 60 s

    @classmethod
    def at(cls, now: float) -> Window:
        return cls(int(now // WINDOW_S), 1.0 - (now % WINDOW_S) / WINDOW_S)


def _retry_after(prev: float, cur: float, cost: float, limit: float, now: float) -> int:
    """Seconds until prev*overlap + cur + cost fits under limit."""
    into = now % WINDOW_S
    if cur + cost > limit or prev <= 0:
        return max(1, math.ceil(WINDOW_S - into))
    needed_overlap = (limit - cost - cur) / prev  # overlap must fall to this
    wait = (1.0 - needed_overlap) * WINDOW_S - into
    return max(1, math.ceil(wait))


class Store(Protocol):
    local: bool  # counters in this process: a call never waits on I/O

    async def window_take(self, name: str, limit: int, cost: int, now: float) -> tuple[bool, float, int]:
        """Check `cost` against the sliding window and take it if it fits: (ok, used, retry_after)."""

    async def window_add(self, name: str, amount: int, now: float) -> None: ...

    async def bucket_take(self, name: str, rate_per_s: float, burst: int, now: float) -> tuple[bool, int]:
        """Take one token from a bucket: (ok, retry_after)."""

    async def concurrency(self, name: str, delta: int, limit: int | None) -> bool:
        """Add delta (+1 to enter, -1 to leave); entering fails over `limit`."""


class LocalStore:
    """Counters in this process: exact for one process, per-process with several. Each
    window is one record per name, [minute, previous minute's count, this minute's], rolled
    forward when a later minute asks for it. The `*_now` methods never wait: the limiter
    calls them without a coroutine (`local`)."""

    local = True

    def __init__(self) -> None:
        self._windows: dict[str, list[float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._running: dict[str, int] = defaultdict(int)

    def _window(self, name: str, minute: int, rec: list[float] | None) -> list[float]:
        """The name's record (`rec`, as the caller looked it up) at `minute`."""
        if rec is None:
            if len(self._windows) >= 50_000:
                self._trim(minute)
            rec = self._windows[name] = [minute, 0.0, 0.0]
        elif rec[0] < minute:  # a later minute: this one's count becomes the previous one's
            rec[1] = rec[2] if rec[0] == minute - 1 else 0.0
            rec[2] = 0.0
            rec[0] = minute
        return rec  # (a clock stepped back keeps counting in the latest minute seen)

    def _trim(self, minute: int) -> None:
        for name in [n for n, rec in self._windows.items() if rec[0] < minute - 1]:
            del self._windows[name]

    def window_take_now(self, name: str, limit: int, cost: int, now: float) -> tuple[bool, float, int]:
        minute = int(now // WINDOW_S)
        rec = self._windows.get(name)
        if rec is None or rec[0] < minute:  # new, or a later minute: rolled forward
            rec = self._window(name, minute, rec)
        prev, cur = rec[1], rec[2]
        used = prev * (1.0 - (now % WINDOW_S) / WINDOW_S) + cur
        if used + cost > limit:
            return False, used, _retry_after(prev, cur, cost, limit, now)
        if cost:
            rec[2] = cur + cost
        return True, used + cost, 0

    async def window_take(self, name: str, limit: int, cost: int, now: float) -> tuple[bool, float, int]:
        return self.window_take_now(name, limit, cost, now)

    def window_add_now(self, name: str, amount: int, now: float) -> None:
        self._window(name, int(now // WINDOW_S), self._windows.get(name))[2] += amount

    async def window_add(self, name: str, amount: int, now: float) -> None:
        self.window_add_now(name, amount, now)

    async def bucket_take(self, name: str, rate_per_s: float, burst: int, now: float) -> tuple[bool, int]:
        tokens, last = self._buckets.get(name, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate_per_s)
        if tokens < 1.0:
            self._buckets[name] = (tokens, now)
            return False, max(1, math.ceil((1.0 - tokens) / rate_per_s))
        self._buckets[name] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:
            self._buckets.clear()
        return True, 0

    def concurrency_now(self, name: str, delta: int, limit: int | None) -> bool:
        running = self._running
        if delta > 0 and limit is not None and running[name] >= limit:
            return False
        left = running[name] + delta
        if left <= 0:
            del running[name]
        else:
            running[name] = left
        return True

    async def concurrency(self, name: str, delta: int, limit: int | None) -> bool:
        return self.concurrency_now(name, delta, limit)


_WINDOW_TAKE = """
local prev = tonumber(redis.call('GET', KEYS[1]) or '0')
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local used = prev * tonumber(ARGV[1]) + cur
local cost = tonumber(ARGV[2])
if used + cost > tonumber(ARGV[3]) then
  return {0, tostring(used), tostring(prev), tostring(cur)}
end
if cost > 0 then
  redis.call('INCRBY', KEYS[2], cost)
  redis.call('EXPIRE', KEYS[2], 180)
end
return {1, tostring(used + cost), tostring(prev), tostring(cur)}
"""

_BUCKET_TAKE = """
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tokens = tonumber(state[1] or ARGV[3])
local at = tonumber(state[2] or ARGV[1])
tokens = math.min(burst, tokens + (now - at) * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {ok, tostring(tokens)}
"""

_ENTER = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 900)
if tonumber(ARGV[1]) >= 0 and n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""


class RedisStore:
    """The same counters in Redis, each check one atomic script: shared by all replicas."""

    local = False

    def __init__(self, redis: Any, prefix: str = "hubgate:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = redis.register_script(_WINDOW_TAKE)
        self._bucket = redis.register_script(_BUCKET_TAKE)
        self._enter = redis.register_script(_ENTER)

    def _keys(self, name: str, w: Window) -> list[str]:
        return [f"{self._prefix}{name}:{w.current - 1}", f"{self._prefix}{name}:{w.current}"]

    async def window_take(self, name: str, limit: int, cost: int, now: float) -> tuple[bool, float, int]:
        w = Window.at(now)
        ok, used, prev, cur = await self._window(keys=self._keys(name, w), args=[w.overlap, cost, limit])
        if int(ok):
            return True, float(used), 0
        return False, float(used), _retry_after(float(prev), float(cur), cost, limit, now)

    async def window_add(self, name: str, amount: int, now: float) -> None:
        key = self._keys(name, Window.at(now))[1]
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(key, amount)
        pipe.expire(key, 180)
        await pipe.execute()

    async def bucket_take(self, name: str, rate_per_s: float, burst: int, now: float) -> tuple[bool, int]:
        ok, tokens = await self._bucket(keys=[f"{self._prefix}ip:{name}"], args=[now, rate_per_s, burst])
        if int(ok):
            return True, 0
        return False, max(1, math.ceil((1.0 - float(tokens)) / rate_per_s))

    async def concurrency(self, name: str, delta: int, limit: int | None) -> bool:
        key = f"{self._prefix}{name}:running"
        if delta > 0:
            return bool(int(await self._enter(keys=[key], args=[limit if limit is not None else -1])))
        await self._redis.decr(key)
        return True


@dataclass(slots=True)
class Admission:
    """What a key's limits said about one request: headers for the answer, whether a
    concurrency slot must be given back, and the counters `finish` moves."""

    headers: dict[str, str]
    holds_slot: bool = False
    running: str = ""  # the concurrency counter's name
    tokens: str | None = None  # the tpm counter's name, when the key has a tpm


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one key: its own, else the defaults (None: unlimited)."""

    rpm: int | None
    tpm: int | None
    max_concurrency: int | None

    @property
    def any(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.max_concurrency is not None


LIMITS_CACHE_SIZE = 10_000  # keys whose limits are remembered (all forgotten when full)


class Limiter:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        defaults: KeyLimitDefaults | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self.defaults = defaults or KeyLimitDefaults()  # for keys without their own; set on reload
        self.on_refusal: Callable[[str, str], None] | None = None  # metrics hook: (key name, limit)
        self._limits: dict[int, tuple[KeyRecord, KeyLimitDefaults, Limits, tuple[str, str, str]]] = {}

    def limits(self, key: KeyRecord) -> Limits:
        """The key's own limits, each empty one replaced by the default. Asked three times a
        request: remembered per key id for as long as the record and the defaults are the same."""
        return self._entry(key)[2]

    def _entry(self, key: KeyRecord) -> tuple[KeyRecord, KeyLimitDefaults, Limits, tuple[str, str, str]]:
        """The key's limits and its counters' names (tpm, rpm, concurrency), remembered."""
        d = self.defaults
        known = self._limits.get(key.id)
        if known is not None and known[0] is key and known[1] is d:
            return known
        limits = Limits(
            key.rpm if key.rpm is not None else d.rpm,
            key.tpm if key.tpm is not None else d.tpm,
            key.max_concurrency if key.max_concurrency is not None else d.max_concurrency,
        )
        if len(self._limits) >= LIMITS_CACHE_SIZE:
            self._limits.clear()
        entry = self._limits[key.id] = (key, d, limits, (f"{key.id}:t", f"{key.id}:r", f"{key.id}:c"))
        return entry

    def _refuse(
        self, key: KeyRecord, limit: str, value: int, message: str, retry_after: int, headers: dict[str, str]
    ) -> RateLimited:
        if self.on_refusal is not None:
            self.on_refusal(key.name, limit)
        if limit == "tpm":
            headers = {**headers, "x-ratelimit-limit-tokens": str(value), "x-ratelimit-remaining-tokens": "0"}
        elif limit == "rpm":
            headers = {
                **headers,
                "x-ratelimit-limit-requests": str(value),
                "x-ratelimit-remaining-requests": "0",
            }
        return RateLimited(message, retry_after=retry_after, headers=headers)

    async def admit(self, key: KeyRecord) -> Admission:
        """Take one request from the key's rpm, check its tpm and concurrency (429 if over)."""
        store = self.store
        if isinstance(store, LocalStore):
            return self.admit_now(key)
        now = self._clock()
        _, _, limits, (tpm_name, rpm_name, running_name) = self._entry(key)
        headers: dict[str, str] = {}
        if limits.tpm is not None:
            self._tpm(key, limits.tpm, await store.window_take(tpm_name, limits.tpm, 0, now), headers)
        if limits.rpm is not None:
            self._rpm(key, limits.rpm, await store.window_take(rpm_name, limits.rpm, 1, now), headers)
        holds = False
        if limits.max_concurrency is not None:
            entered = await store.concurrency(running_name, 1, limits.max_concurrency)
            holds = self._entered(key, limits.max_concurrency, entered, headers)
        return Admission(headers, holds, running_name, tpm_name if limits.tpm is not None else None)

    def admit_now(self, key: KeyRecord) -> Admission:
        """`admit` with the counters in this process (LocalStore): no coroutine, no await."""
        store = cast(LocalStore, self.store)  # the caller checked `store.local`
        now = self._clock()
        _, _, limits, (tpm_name, rpm_name, running_name) = self._entry(key)
        headers: dict[str, str] = {}
        if limits.tpm is not None:
            self._tpm(key, limits.tpm, store.window_take_now(tpm_name, limits.tpm, 0, now), headers)
        if limits.rpm is not None:
            self._rpm(key, limits.rpm, store.window_take_now(rpm_name, limits.rpm, 1, now), headers)
        holds = False
        if limits.max_concurrency is not None:
            entered = store.concurrency_now(running_name, 1, limits.max_concurrency)
            holds = self._entered(key, limits.max_concurrency, entered, headers)
        return Admission(headers, holds, running_name, tpm_name if limits.tpm is not None else None)

    def _tpm(self, key: KeyRecord, tpm: int, taken: tuple[bool, float, int], headers: dict[str, str]) -> None:
        ok, used, retry = taken
        if not ok or used >= tpm:
            message = f"Rate limit reached: {tpm} tokens per minute."
            raise self._refuse(key, "tpm", tpm, message, max(retry, 1), headers)
        headers["x-ratelimit-limit-tokens"] = str(tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, int(tpm - used)))

    def _rpm(self, key: KeyRecord, rpm: int, taken: tuple[bool, float, int], headers: dict[str, str]) -> None:
        ok, used, retry = taken
        if not ok:
            message = f"Rate limit reached: {rpm} requests per minute."
            raise self._refuse(key, "rpm", rpm, message, retry, headers)
        headers["x-ratelimit-limit-requests"] = str(rpm)
        headers["x-ratelimit-remaining-requests"] = str(max(0, int(rpm - used)))

    def _entered(self, key: KeyRecord, limit: int, entered: bool, headers: dict[str, str]) -> bool:
        if not entered:
            message = f"Too many concurrent requests: at most {limit}."
            raise self._refuse(key, "concurrency", limit, message, 1, headers)
        return True

    async def finish(self, key: KeyRecord, admission: Admission | None, tokens: int) -> None:
        """Give back the concurrency slot and count the request's tokens against tpm."""
        store = self.store
        if admission is None:  # admitted elsewhere: the key's counters by name
            _, _, limits, (tpm_name, _, running_name) = self._entry(key)
            admission = Admission({}, False, running_name, tpm_name if limits.tpm is not None else None)
        if isinstance(store, LocalStore):
            self.finish_now(admission, tokens)
            return
        if admission.holds_slot:
            await store.concurrency(admission.running, -1, None)
        if admission.tokens is not None and tokens > 0:
            await store.window_add(admission.tokens, tokens, self._clock())

    def finish_now(self, admission: Admission, tokens: int) -> None:
        """`finish` with the counters in this process (LocalStore): no coroutine, no await."""
        store = cast(LocalStore, self.store)  # the caller checked `store.local`
        if admission.holds_slot:
            store.concurrency_now(admission.running, -1, None)
        if admission.tokens is not None and tokens > 0:
            store.window_add_now(admission.tokens, tokens, self._clock())

    async def admit_ip(self, address: str, rpm: int, burst: int) -> None:
        await self.admit_address(address, address, rpm / WINDOW_S, burst)

    async def admit_address(self, bucket: str, address: str, rate_per_s: float, burst: int) -> None:
        """Take one request from a per-address bucket (429 with Retry-After when empty)."""
        ok, retry = await self.store.bucket_take(bucket, rate_per_s, burst, self._clock())
        if not ok:
            raise RateLimited(f"Too many requests from {address}; slow down.", retry_after=retry)
