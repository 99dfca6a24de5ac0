"""Background jobs that must run on one replica at a time, and the channel health check.

Exclusion: with Redis, a lock key set with NX for the job's interval (whoever sets it
runs this round); on PostgreSQL alone, a transaction-scoped advisory lock held while
the job runs; on SQLite there is one process, so the job just runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from hubgate.gateway import Gateway
from hubgate.jobs.channel_checks import record_check
from hubgate.jobs.videos import poll_due, release_finished_holds
from hubgate.routing.probe import test_channel
from hubgate.storage.db import is_sqlite
from hubgate.storage.retention import cutoff, prune

log = logging.getLogger("hubgate.jobs")


async def run_exclusive(gw: Gateway, name: str, hold_s: float, job: Callable[[], Awaitable[None]]) -> bool:
    """Run `job` unless another replica holds this round; True if it ran here."""
    if gw.redis is not None:
        token = f"{os.getpid()}-{id(gw)}"
        taken = await gw.redis.set(  # type: ignore[attr-defined]
            f"{gw.settings.redis_prefix}job:{name}", token, nx=True, px=max(1, int(hold_s * 1000))
        )
        if not taken:
            return False
        await job()
        return True
    if is_sqlite(gw.settings.database_url):
        await job()
        return True
    async with gw.engine.begin() as conn:
        lock = zlib.crc32(name.encode()) & 0x7FFFFFFF
        if not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock})).scalar():
            return False
        await job()  # the lock is held until this transaction ends
        return True


async def check_channels(gw: Gateway) -> None:
    """One tiny request through every serving channel: latency and status are recorded;
    a pass re-enables the channel's keys set aside and ends its cooldowns, failures in a
    row may switch it off (`record_check`)."""
    admin = gw.admin_channels
    configured = {c.name: c for c in gw.settings.channels}
    for channel in gw.channels.channels:
        settings = configured.get(channel.name)
        if settings is None and admin is not None:
            stored = await admin.settings_of(channel.name)
            settings = stored[1] if stored is not None else None
        if settings is None:
            continue
        result = await test_channel(settings)
        await record_check(gw, result)
        if not result.ok:
            log.warning("health check of channel %s failed: %s", channel.name, result.error)


async def health_checks(gw: Gateway, interval_s: float) -> None:
    """Every `interval_s`, on one replica: check every channel (off unless configured,
    since each check is a paid request on most upstreams)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_exclusive(gw, "health-check", interval_s * 0.9, lambda: check_channels(gw))
        except Exception:
            log.exception("channel health check round failed")


RETENTION_INTERVAL_S = 3600.0


async def usage_retention(gw: Gateway, days: int, interval_s: float = RETENTION_INTERVAL_S) -> None:
    """Hourly, on one replica: delete log rows of whole days older than `days` (their sums
    stay in usage_daily)."""
    while True:
        try:

            async def job() -> None:
                removed = await prune(gw.engine, cutoff(days))
                if removed:
                    log.info("usage retention deleted %d log rows older than %d days", removed, days)

            await run_exclusive(gw, "usage-retention", interval_s * 0.9, job)
        except Exception:
            log.exception("usage retention round failed")
        await asyncio.sleep(interval_s)


async def video_poll_round(gw: Gateway, interval_s: float) -> bool:
    """One round: on one replica, poll the video tasks that are due (each backs off on its
    own); on every replica, drop the budget holds of tasks that finished. True if it polled here."""

    async def job() -> None:
        await poll_due(gw)

    ran = await run_exclusive(gw, "video-poll", interval_s * 0.9, job)
    await release_finished_holds(gw)
    return ran


async def video_polling(gw: Gateway, interval_s: float) -> None:
    """A poll round every `interval_s` (`video_poll_interval_s`)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await video_poll_round(gw, interval_s)
        except Exception:
            log.exception("video poll round failed")
