"""Cooldowns and keys set aside, shared by every replica through Redis.

Each replica publishes its own transitions (a key per target, expiring with the
cooldown) and reads everyone's once a second, so a channel that failed on one
replica is skipped by all of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from hubgate.routing.health import Health, State, TargetKey

log = logging.getLogger("hubgate.health")

DISABLED_TTL_S = 24 * 3600


class SharedHealth:
    def __init__(self, health: Health, redis: Any, prefix: str) -> None:
        self._health = health
        self._redis = redis
        self._prefix = f"{prefix}health:"
        self._pending: set[asyncio.Task[None]] = set()
        health.on_change = self.publish

    def _key(self, target: TargetKey) -> str:
        return self._prefix + "|".join(target)

    def publish(self, target: TargetKey, state: State, seconds_left: float) -> None:
        task = asyncio.get_running_loop().create_task(self._write(target, state, seconds_left))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, target: TargetKey, state: State, seconds_left: float) -> None:
        try:
            if state is State.CLOSED:
                await self._redis.delete(self._key(target))
            elif state is State.OPEN:
                payload = orjson.dumps({"state": state.value, "until": time.time() + seconds_left})
                await self._redis.set(self._key(target), payload, ex=max(1, int(seconds_left) + 1))
            elif state is State.DISABLED:
                payload = orjson.dumps({"state": state.value, "until": 0})
                await self._redis.set(self._key(target), payload, ex=DISABLED_TTL_S)
        except Exception:
            log.warning("could not share a health change in Redis", exc_info=True)

    async def sync_once(self) -> None:
        keys = [k async for k in self._redis.scan_iter(match=self._prefix + "*", count=500)]
        remote: dict[TargetKey, tuple[State, float]] = {}
        if keys:
            for key, raw in zip(keys, await self._redis.mget(keys), strict=True):
                if raw is None:
                    continue
                name = key.decode() if isinstance(key, bytes) else key
                parts = tuple(name[len(self._prefix) :].split("|", 2))
                if len(parts) != 3:
                    continue
                data = orjson.loads(raw)
                remote[(parts[0], parts[1], parts[2])] = (State(data["state"]), float(data["until"]))
        self._health.remote = remote

    async def run(self, interval_s: float = 1.0) -> None:
        while True:
            try:
                await self.sync_once()
            except Exception:
                log.warning("could not read shared health from Redis", exc_info=True)
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
