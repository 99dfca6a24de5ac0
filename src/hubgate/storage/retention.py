"""Usage-log retention: whole days older than the retention period are rolled up into
`usage_daily` and removed, in one transaction.

The roll-up keeps every sum the counters were moved by, so after it the ledger
invariant reads: key spent = sum(usage_logs.cost) + sum(usage_daily.cost), and the
same for account balances.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.admin_usage import day_of
from hubgate.storage.keys import utcnow
from hubgate.storage.tables import usage_daily, usage_logs

_SUMMED = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micros",
)


def cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC `retention_days` days ago: only whole days are rolled up."""
    today = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=retention_days)


async def roll_up(engine: AsyncEngine, before: datetime) -> int:
    """Aggregate and remove the usage rows created before `before`; returns how many."""
    t = usage_logs.c
    day = day_of(engine.dialect.name)
    groups = (t.key_id, t.key_name, t.account_id, t.model, t.channel)
    summary = (
        select(
            day.label("day"),
            *groups,
            func.count().label("requests"),
            func.sum(case((t.status >= 400, 1), else_=0)).label("errors"),
            *(func.coalesce(func.sum(t[name]), 0).label(name) for name in _SUMMED),
        )
        .where(t.created_at < before)
        .group_by(day, *groups)
    )
    columns = ["day", "key_id", "key_name", "account_id", "model", "channel", "requests", "errors", *_SUMMED]
    async with engine.begin() as conn:
        await conn.execute(insert(usage_daily).from_select(columns, summary))
        result = await conn.execute(delete(usage_logs).where(t.created_at < before))
    return int(result.rowcount or 0)
