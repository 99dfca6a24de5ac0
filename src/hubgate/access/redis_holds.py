"""Holds shared by every replica through Redis: one Lua script per admit and per settle.

Per subject a hash `{prefix}hold:{a|k}:{id}` keeps `out` (open holds plus settled but
unflushed costs), `gen` (bumped after each flush that moved the subject's database
counters, and by admin credits and debits) and one field `r:{ref}` per entry; a sorted set
beside it orders the entries by expiry. A script purges a subject's expired entries
before it admits against it, so the holds of a crashed replica go after `hold_ttl_s`.
Settles and flush removals go through one ordered queue (a settle always lands before
the removal of the same ref), pipelined: one round trip for whatever has queued up. The
admits of one moment are pipelined too (each script still atomic on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from hubgate.access.holds import OK, BaseCache, Flushed, SharedBooks, Subject
from hubgate.errors import Unavailable

log = logging.getLogger("hubgate.holds")

ADMITS_IN_FLIGHT = 48  # of the client's 100 pooled connections (limits and health use the rest)
ADMIT_BATCH = 256  # admits sent in one pipeline
KEEP_MS = 86_400_000  # an idle subject's keys go after a day (cached bases live far shorter)

# KEYS: hash, zset per subject. ARGV: now_ms, ref, micros, expire_ms, then base, gen per subject.
_ADMIT = """
local now, ref, micros, expire = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local dead = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, r in ipairs(dead) do
    local amount = tonumber(redis.call('HGET', h, 'r:' .. r) or '0')
    redis.call('HINCRBY', h, 'out', string.format('%d', -amount))
    redis.call('HDEL', h, 'r:' .. r)
  end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
  local gen = tonumber(redis.call('HGET', h, 'gen') or '0')
  if gen ~= tonumber(ARGV[4 + 2 * i]) then return {'stale', i - 1, gen} end
  local available = tonumber(ARGV[3 + 2 * i]) - tonumber(redis.call('HGET', h, 'out') or '0')
  if available <= 0 or available < micros then return {'refused', i - 1, gen} end
end
if micros > 0 then
  for i = 1, n do
    local h, z = KEYS[2 * i - 1], KEYS[2 * i]
    local old = tonumber(redis.call('HGET', h, 'r:' .. ref) or '0')
    redis.call('HINCRBY', h, 'out', string.format('%d', micros - old))
    redis.call('HSET', h, 'r:' .. ref, string.format('%d', micros))
    redis.call('ZADD', z, expire, ref)
    redis.call('PEXPIRE', h, KEEP_MS)
    redis.call('PEXPIRE', z, KEEP_MS)
  end
end
return {'ok', 0, 0}
""".replace("KEEP_MS", str(KEEP_MS))

# KEYS: hash, zset per subject. ARGV: ref, micros (0: release), expire_ms.
_SETTLE = """
local ref, micros, expire = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local old = tonumber(redis.call('HGET', h, 'r:' .. ref) or '0')
  if micros == 0 then
    redis.call('HINCRBY', h, 'out', string.format('%d', -old))
    redis.call('HDEL', h, 'r:' .. ref)
    redis.call('ZREM', z, ref)
  else
    redis.call('HINCRBY', h, 'out', string.format('%d', micros - old))
    redis.call('HSET', h, 'r:' .. ref, string.format('%d', micros))
    redis.call('ZADD', z, expire, ref)
    redis.call('PEXPIRE', h, KEEP_MS)
    redis.call('PEXPIRE', z, KEEP_MS)
  end
end
return 1
""".replace("KEEP_MS", str(KEEP_MS))

# KEYS: hash, zset of one subject. ARGV: the refs the flush wrote. Bumps the generation.
_FLUSHED = """
local h, z = KEYS[1], KEYS[2]
for _, ref in ipairs(ARGV) do
  local old = redis.call('HGET', h, 'r:' .. ref)
  if old then
    redis.call('HINCRBY', h, 'out', string.format('%d', -tonumber(old)))
    redis.call('HDEL', h, 'r:' .. ref)
    redis.call('ZREM', z, ref)
  end
end
redis.call('HINCRBY', h, 'gen', 1)
redis.call('PEXPIRE', h, KEEP_MS)
return 1
""".replace("KEEP_MS", str(KEEP_MS))

_BUMP = f"redis.call('HINCRBY', KEYS[1], 'gen', 1) redis.call('PEXPIRE', KEYS[1], {KEEP_MS}) return 1"


def _ms(seconds_from_now: float = 0.0) -> int:
    return int((time.time() + seconds_from_now) * 1000)


class RedisHolds(SharedBooks):
    shared = True

    def __init__(self, redis: Any, prefix: str, bases: BaseCache) -> None:
        super().__init__(bases)
        self._redis = redis
        self._prefix = f"{prefix}hold:"
        self._admit_script = redis.register_script(_ADMIT)
        self._settle_script = redis.register_script(_SETTLE)
        self._flushed_script = redis.register_script(_FLUSHED)
        self._bump_script = redis.register_script(_BUMP)
        self._ops: list[tuple[Any, list[str], list[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._gate = asyncio.Semaphore(ADMITS_IN_FLIGHT)
        self._admits: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._admit_wake = asyncio.Event()
        self._admitter: asyncio.Task[None] | None = None

    def _keys(self, name: str) -> list[str]:
        return [f"{self._prefix}{name}", f"{self._prefix}{name}:z"]

    async def _admit(
        self, ref: str, subjects: tuple[Subject, ...], needs: list[tuple[int, int]], micros: int, ttl_s: float
    ) -> tuple[str, int, int]:
        keys = [k for s in subjects for k in self._keys(s.name)]
        args: list[Any] = [_ms(), ref, micros, _ms(ttl_s)]
        for base, gen in needs:
            args += [base, gen]
        try:
            if self._admitter is None:
                async with self._gate:
                    answer = await self._admit_script(keys=keys, args=args)
            else:  # coalesced: the admits of one moment go to Redis in one pipeline
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._admits.append((keys, args, future))
                self._admit_wake.set()
                answer = await future
        except RedisError as exc:
            log.warning("hold admit failed: %s", exc)
            raise Unavailable("Budgets and balances cannot be checked right now; retry shortly.") from exc
        verdict, index, gen = answer
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        return (OK if verdict == OK else verdict), int(index), int(gen)

    async def _run_admits(self) -> None:
        while True:
            await self._admit_wake.wait()
            self._admit_wake.clear()
            while self._admits:
                batch, self._admits = self._admits[:ADMIT_BATCH], self._admits[ADMIT_BATCH:]
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for keys, args, _ in batch:
                            await self._admit_script(keys=keys, args=args, client=pipe)
                        answers = await pipe.execute(raise_on_error=False)
                except Exception as exc:  # Redis unreachable: every waiting admit fails alike
                    answers = [exc] * len(batch)
                for (_, _, future), answer in zip(batch, answers, strict=True):
                    if future.done():  # its caller gave up
                        continue
                    if isinstance(answer, Exception):
                        error = answer if isinstance(answer, RedisError) else RedisError(str(answer))
                        future.set_exception(error)
                    else:
                        future.set_result(answer)

    def settle(self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float) -> None:
        keys = [k for s in subjects for k in self._keys(s.name)]
        self._queue(self._settle_script, keys, [ref, micros, _ms(ttl_s)])

    def flushed(self, costs: list[Flushed]) -> None:
        refs: dict[str, list[str]] = {}
        for cost in costs:
            for name in cost.subjects:
                refs.setdefault(name, []).append(cost.ref)
        for name, names in refs.items():
            self._queue(self._flushed_script, self._keys(name), list(names))

    async def changed(self, subject: Subject) -> None:
        await self._bump_script(keys=self._keys(subject.name)[:1], args=[])

    def _queue(self, script: Any, keys: list[str], args: list[Any]) -> None:
        self._ops.append((script, keys, args))
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hold-settle")
        self._admitter = asyncio.create_task(self._run_admits(), name="hold-admit")

    async def _run(self) -> None:
        while not self._closing or self._ops:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
            except Exception:
                log.exception("hold settles could not reach Redis; %d kept for retry", len(self._ops))
                await asyncio.sleep(0.5)
                self._wake.set()

    async def _drain(self) -> None:
        while self._ops:
            batch = self._ops[:500]
            async with self._redis.pipeline(transaction=False) as pipe:
                for script, keys, args in batch:
                    await script(keys=keys, args=args, client=pipe)  # queued on the pipeline
                await pipe.execute()
            del self._ops[: len(batch)]

    async def drained(self) -> None:
        """Wait until every queued settle has reached Redis (tests, shutdown)."""
        while self._ops:
            self._wake.set()
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._admitter is not None:
            self._admitter.cancel()
            await asyncio.gather(self._admitter, return_exceptions=True)
            self._admitter = None
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
