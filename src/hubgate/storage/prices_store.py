"""Model prices set through the admin API; they override the built-in and config prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.settings import PriceSettings
from hubgate.storage.keys import utcnow
from hubgate.storage.tables import price_overrides

_FIELDS = ("input", "output", "cached_input", "cache_write", "per_request")


def _decimal(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


class PriceOverrideRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> dict[str, PriceSettings]:
        """Every stored price by model name."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(price_overrides).order_by(price_overrides.c.model))).all()
        return {
            r.model: PriceSettings.model_validate({f: _decimal(getattr(r, f)) for f in _FIELDS}) for r in rows
        }

    async def put(self, model: str, price: PriceSettings) -> None:
        """Create or replace a model's price."""
        t = price_overrides
        values = {f: getattr(price, f) for f in _FIELDS}
        for _ in range(2):
            try:
                async with self._engine.begin() as conn:
                    moved = await conn.execute(
                        update(t).where(t.c.model == model).values(**values, updated_at=utcnow())
                    )
                    if moved.rowcount == 0:
                        await conn.execute(t.insert().values(model=model, **values, updated_at=utcnow()))
                return
            except IntegrityError:  # a concurrent put inserted it first; the update matches now
                continue
