"""Catalogue rows: the models the gateway offers, with what callers see of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import utcnow
from hubgate.storage.tables import model_catalogue

PRICE_FIELDS = ("input", "output", "cached_input", "cache_write", "per_image", "per_second", "per_request")
"""Token prices in USD per 1M tokens; `per_image`, `per_second`, `per_request` (one call or
task) in USD."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    model: str
    vendor: str
    name: str
    description: str = ""
    context_length: int | None = None
    max_output_tokens: int | None = None
    input_modalities: tuple[str, ...] = ("text",)
    output_modalities: tuple[str, ...] = ("text",)
    prices: dict[str, Decimal] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    enabled: bool = True


def _values(entry: CatalogueEntry) -> dict[str, Any]:
    values = asdict(entry)
    values["prices"] = {k: str(v) for k, v in entry.prices.items() if v is not None}
    for name in ("input_modalities", "output_modalities", "tags"):
        values[name] = list(values[name])
    return values


def _entry(row: Any) -> CatalogueEntry:
    return CatalogueEntry(
        model=row.model,
        vendor=row.vendor,
        name=row.name,
        description=row.description or "",
        context_length=row.context_length,
        max_output_tokens=row.max_output_tokens,
        input_modalities=tuple(row.input_modalities or ()),
        output_modalities=tuple(row.output_modalities or ()),
        prices={k: Decimal(v) for k, v in (row.prices or {}).items() if k in PRICE_FIELDS},
        tags=tuple(row.tags or ()),
        enabled=bool(row.enabled),
    )


class CatalogueExists(Exception):
    pass


class CatalogueRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> list[CatalogueEntry]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(model_catalogue).order_by(model_catalogue.c.model))).all()
        return [_entry(r) for r in rows]

    async def get(self, model: str) -> CatalogueEntry | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(model_catalogue).where(model_catalogue.c.model == model))
            ).first()
        return _entry(row) if row is not None else None

    async def seed(self, entries: Iterable[CatalogueEntry]) -> int:
        """Fill an empty catalogue; a catalogue with any row (even one an admin emptied to
        a single model) is left alone. Returns how many rows were added."""
        now = utcnow()
        rows = [dict(_values(e), created_at=now, updated_at=now) for e in entries]
        try:
            async with self._engine.begin() as conn:
                if (await conn.execute(select(func.count()).select_from(model_catalogue))).scalar():
                    return 0
                if rows:
                    await conn.execute(insert(model_catalogue), rows)
        except IntegrityError:  # another process seeded it at the same moment
            return 0
        return len(rows)

    async def create(self, entry: CatalogueEntry) -> None:
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(model_catalogue).values(**_values(entry), created_at=now, updated_at=now)
                )
        except IntegrityError as exc:
            raise CatalogueExists(entry.model) from exc

    async def replace(self, entry: CatalogueEntry) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(model_catalogue)
                .where(model_catalogue.c.model == entry.model)
                .values(**_values(entry), updated_at=utcnow())
            )
        return bool(result.rowcount)

    async def delete(self, model: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(model_catalogue).where(model_catalogue.c.model == model))
        return bool(result.rowcount)
