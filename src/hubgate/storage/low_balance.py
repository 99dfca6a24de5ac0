"""Accounts whose balance fell below the admin's low-balance threshold, and whether their
people were told (`accounts.low_balance_mailed_at`, migration 0018): once per fall, and
again only after the balance came back to the threshold or above."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.tables import accounts


async def due(engine: AsyncEngine, threshold_micros: int) -> list[tuple[int, int]]:
    """(account id, balance) of the limited, enabled accounts below the threshold, not yet told."""
    c = accounts.c
    query = select(c.id, c.balance_micros).where(
        c.limited.is_(True), c.disabled.is_(False), c.balance_micros < threshold_micros,
        c.low_balance_mailed_at.is_(None),
    ).order_by(c.id)  # fmt: skip
    async with engine.connect() as conn:
        return [(int(r.id), int(r.balance_micros)) for r in (await conn.execute(query)).all()]


async def mark(engine: AsyncEngine, account_ids: Sequence[int], now: datetime) -> None:
    if account_ids:
        async with engine.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id.in_(list(account_ids))).values(low_balance_mailed_at=now)
            )


async def rearm(engine: AsyncEngine, threshold_micros: int) -> None:
    """Accounts back at or above the threshold are told again at their next fall."""
    c = accounts.c
    async with engine.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(c.low_balance_mailed_at.is_not(None), c.balance_micros >= threshold_micros)
            .values(low_balance_mailed_at=None)
        )
