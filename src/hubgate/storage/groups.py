"""Group multipliers set through the admin API; they override the config file's `groups`."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import utcnow
from hubgate.storage.tables import group_multipliers


class GroupRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> dict[str, Decimal]:
        """Every stored multiplier by group name."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(group_multipliers).order_by(group_multipliers.c.name))).all()
        return {r.name: Decimal(r.multiplier) for r in rows}

    async def put(self, name: str, multiplier: Decimal) -> None:
        """Create or replace a group's multiplier."""
        t = group_multipliers
        for _ in range(2):
            try:
                async with self._engine.begin() as conn:
                    moved = await conn.execute(
                        update(t).where(t.c.name == name).values(multiplier=multiplier, updated_at=utcnow())
                    )
                    if moved.rowcount == 0:
                        await conn.execute(
                            t.insert().values(name=name, multiplier=multiplier, updated_at=utcnow())
                        )
                return
            except IntegrityError:  # a concurrent put inserted it first; the update matches now
                continue
