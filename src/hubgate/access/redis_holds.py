"""Hold leases in Redis: replicas share a balance (or a key's budget) through Redis the way
they share it through the database without Redis (storage/leases.py), so a request costs
a round trip only when its process's lease runs out (access/leases.py holds against it in
memory). One Lua script per lease taken and per lease given back, never per request.

Per subject a hash `{prefix}hold:{a|k}:{id}` keeps `leased` (the sum of the open leases),
`gen` (bumped whenever a lease goes back: a flush may have moved the subject's database
counters, so a base read before is stale; admin credits and debits bump it too) and one
field `l:{holder}` per process holding a lease; a sorted set beside it orders the holders
by expiry. A process renews its leases every second; the take script first purges the
leases of holders whose expiry passed (a killed process's lease goes `hold_ttl_s` after
its last renewal), then grants `want` of `base - leased`, or all of it if that covers
`need`. `base` is what the database says is left, presented with the generation seen
before it was read; a stale one is read again.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from redis.exceptions import RedisError

from hubgate.access.holds import BaseCache, Subject
from hubgate.errors import Unavailable
from hubgate.storage.ledger import HeldElsewhere

log = logging.getLogger("hubgate.holds")

KEEP_MS = 86_400_000  # an idle subject's keys go after a day (cached bases live far shorter)

# KEYS: hash, zset. ARGV: now_ms, holder, want, need, expire_ms, base, gen.
_TAKE = """
local now, holder, want, need = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local h, z = KEYS[1], KEYS[2]
local dead = redis.call('ZRANGEBYSCORE', z, '-inf', now)
for _, who in ipairs(dead) do
  local amount = tonumber(redis.call('HGET', h, 'l:' .. who) or '0')
  redis.call('HINCRBY', h, 'leased', string.format('%d', -amount))
  redis.call('HDEL', h, 'l:' .. who)
end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
local gen = tonumber(redis.call('HGET', h, 'gen') or '0')
if gen ~= tonumber(ARGV[7]) then return {'stale', gen} end
local available = tonumber(ARGV[6]) - tonumber(redis.call('HGET', h, 'leased') or '0')
local grant = 0
if available >= want then grant = want elseif available >= need and available > 0 then grant = available end
if grant > 0 then
  redis.call('HINCRBY', h, 'leased', string.format('%d', grant))
  redis.call('HINCRBY', h, 'l:' .. holder, string.format('%d', grant))
  redis.call('ZADD', z, ARGV[5], holder)
  redis.call('PEXPIRE', h, KEEP_MS)
  redis.call('PEXPIRE', z, KEEP_MS)
end
return {'ok', grant}
""".replace("KEEP_MS", str(KEEP_MS))

# KEYS: hash, zset. ARGV: holder, amount. What is left of the holder's lease; bumps the generation.
_GIVE = """
local h, z, holder = KEYS[1], KEYS[2], ARGV[1]
local have = tonumber(redis.call('HGET', h, 'l:' .. holder) or '0')
local back = math.min(have, tonumber(ARGV[2]))
if back > 0 then
  redis.call('HINCRBY', h, 'leased', string.format('%d', -back))
  redis.call('HINCRBY', h, 'l:' .. holder, string.format('%d', -back))
end
if have - back <= 0 then
  redis.call('HDEL', h, 'l:' .. holder)
  redis.call('ZREM', z, holder)
end
redis.call('HINCRBY', h, 'gen', 1)
redis.call('PEXPIRE', h, KEEP_MS)
return have - back
""".replace("KEEP_MS", str(KEEP_MS))

# KEYS: hash, zset. ARGV: holder, expire_ms. The holder's lease (0: purged as expired).
_RENEW = """
local h, z, holder = KEYS[1], KEYS[2], ARGV[1]
local have = tonumber(redis.call('HGET', h, 'l:' .. holder) or '0')
if have > 0 then
  redis.call('ZADD', z, ARGV[2], holder)
  redis.call('PEXPIRE', h, KEEP_MS)
  redis.call('PEXPIRE', z, KEEP_MS)
end
return have
""".replace("KEEP_MS", str(KEEP_MS))

_BUMP = f"redis.call('HINCRBY', KEYS[1], 'gen', 1) redis.call('PEXPIRE', KEYS[1], {KEEP_MS}) return 1"

ALL = 2**62  # give back everything


def _ms(seconds_from_now: float = 0.0) -> int:
    return int((time.time() + seconds_from_now) * 1000)


def _unavailable(exc: Exception) -> Unavailable:
    log.warning("hold lease in Redis failed: %s", exc)
    return Unavailable("Budgets and balances cannot be checked right now; retry shortly.")


class RedisLeases:
    """The lease source of `LeaseHolds` when `redis_url` is set."""

    def __init__(self, redis: Any, prefix: str, bases: BaseCache, holder: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}hold:"
        self._bases = bases
        self.holder = holder
        self._take = redis.register_script(_TAKE)
        self._give = redis.register_script(_GIVE)
        self._renew = redis.register_script(_RENEW)
        self._bump = redis.register_script(_BUMP)
        self._held: set[tuple[str, int]] = set()  # subjects this holder may have a lease on
        self._taking: dict[tuple[str, int], int] = {}  # takes in flight per subject

    def _keys(self, kind: str, ident: int) -> list[str]:
        name = f"{self._prefix}{kind}:{ident}"
        return [name, f"{name}:z"]

    async def take(self, subject: Subject, want: int, need: int, ttl_s: float) -> int:
        """Lease `want` of what the subject has left, or all of it if that covers `need`;
        what was granted (0: not even `need` is left)."""
        ident = (subject.kind, subject.id)
        self._held.add(ident)  # before the await: a granted lease is renewed
        self._taking[ident] = self._taking.get(ident, 0) + 1
        try:
            return await self._take_from(subject, want, need, ttl_s)
        finally:
            self._taking[ident] -= 1
            if not self._taking[ident]:
                del self._taking[ident]

    async def _take_from(self, subject: Subject, want: int, need: int, ttl_s: float) -> int:
        keys = self._keys(subject.kind, subject.id)
        for _ in range(5):
            base, gen = self._bases.need(subject)
            args = [_ms(), self.holder, want, need, _ms(ttl_s), base, gen]
            try:
                verdict, value = await self._take(keys=keys, args=args)
            except RedisError as exc:
                raise _unavailable(exc) from exc
            if verdict in (b"ok", "ok"):
                return int(value)
            await self._bases.refresh(subject, int(value))
        return 0  # flushes kept moving the base: refuse rather than guess

    async def give_back(self, amounts: dict[tuple[str, int], int]) -> None:
        """Shrink this holder's leases (spent costs now in the counters, or unused headroom);
        every subject's generation moves, so other replicas read its base again."""
        items = sorted((s, a) for s, a in amounts.items() if a > 0)
        if not items:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for (kind, ident), amount in items:
                await self._give(keys=self._keys(kind, ident), args=[self.holder, amount], client=pipe)
            left = await pipe.execute()
        for (subject, _), rest in zip(items, left, strict=True):
            if int(rest) <= 0:
                self._held.discard(subject)

    async def renew(self, ttl_s: float) -> dict[tuple[str, int], int]:
        """Push this holder's leases' expiry out; returns them (what Redis still grants)."""
        held = sorted(self._held)
        if not held:
            return {}
        expire = _ms(ttl_s)
        async with self._redis.pipeline(transaction=False) as pipe:
            for kind, ident in held:
                await self._renew(keys=self._keys(kind, ident), args=[self.holder, expire], client=pipe)
            have = await pipe.execute()
        granted = {s: int(a) for s, a in zip(held, have, strict=True) if int(a) > 0}
        for subject in held:
            if subject not in granted and subject not in self._taking:
                self._held.discard(subject)  # nothing leased (or purged as expired): forget it
        return granted

    async def release_all(self) -> None:
        """Give every lease of this holder back (a graceful stop, after the last flush)."""
        await self.give_back(dict.fromkeys(self._held, ALL))

    async def reclaim_expired(self) -> int:
        return 0  # the take script purges a subject's expired leases before it grants

    async def changed(self, subject: Subject) -> None:
        """An admin credit or debit moved the subject's base: every replica reads it again."""
        try:
            await self._bump(keys=self._keys(subject.kind, subject.id)[:1], args=[])
        except RedisError as exc:
            raise _unavailable(exc) from exc


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_leases(redis: Any, prefix: str) -> dict[tuple[str, int], HeldElsewhere]:
    """Every subject's leases in Redis, for `hubgate ledger check`: the `leased` total each
    hash records and the sum of its holders' `l:` fields (expired ones included: they are
    held back until the next take purges them)."""
    base = f"{prefix}hold:"
    names: list[tuple[str, tuple[str, int]]] = []
    async for raw in redis.scan_iter(match=_glob_escape(base) + "[ak]:*", count=1000):
        rest = _text(raw).removeprefix(base)
        kind, _, ident = rest.partition(":")
        if ident.isdigit():  # not the `:z` sorted set beside the hash
            names.append((_text(raw), (kind, int(ident))))
    found: dict[tuple[str, int], HeldElsewhere] = {}
    async with redis.pipeline(transaction=False) as pipe:
        for name, _ in names:
            pipe.hgetall(name)
        hashes = await pipe.execute()
    for (_, subject), fields in zip(names, hashes, strict=True):
        decoded = {_text(k): int(v) for k, v in fields.items()}
        holders = sum(v for k, v in decoded.items() if k.startswith("l:"))
        recorded = decoded.get("leased", 0)
        if recorded or holders:
            found[subject] = HeldElsewhere(recorded, holders)
    return found
