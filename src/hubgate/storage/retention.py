"""Usage-log retention: whole UTC days older than the retention period are deleted.

Their sums stay in `usage_daily`, which the usage writer keeps current with every
batch, so reports and the ledger invariant are unchanged by a prune: key spent =
sum(usage_daily.cost) always, and sum(usage_logs.cost) for the days still kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import utcnow
from hubgate.storage.tables import usage_logs


def cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC `retention_days` days ago: only whole days are pruned."""
    today = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=retention_days)


async def prune(engine: AsyncEngine, before: datetime) -> int:
    """Delete the usage rows created before `before`; returns how many."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(usage_logs).where(usage_logs.c.created_at < before))
    return int(result.rowcount or 0)
