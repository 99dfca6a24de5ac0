"""Channel rows: the config file's channels, kept in the database for listing and state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.settings import ChannelSettings
from hubgate.storage.keys import utcnow
from hubgate.storage.tables import channels


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: int
    name: str
    type: str
    base_url: str | None
    models: tuple[str, ...]
    priority: int
    weight: int
    enabled: bool
    source: str


def _settings_values(ch: ChannelSettings) -> dict[str, Any]:
    # Upstream secrets are not stored here: they stay in the config / environment.
    return {
        "type": ch.type,
        "base_url": ch.base_url,
        "models": list(ch.models),
        "model_map": dict(ch.model_map),
        "priority": ch.priority,
        "weight": ch.weight,
        "timeout_s": ch.timeout_s,
        "headers": {k: "***" for k in ch.headers},
        "api_version": ch.api_version,
        "enabled": ch.enabled,
    }


class ChannelRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sync_from_config(self, configured: tuple[ChannelSettings, ...]) -> dict[str, int]:
        """Create or update the config file's channels; returns name -> id."""
        now = utcnow()
        async with self._engine.begin() as conn:
            existing = {r.name: r.id for r in (await conn.execute(select(channels.c.name, channels.c.id)))}
            for ch in configured:
                values = _settings_values(ch)
                if ch.name in existing:
                    await conn.execute(
                        update(channels).where(channels.c.name == ch.name).values(**values, updated_at=now)
                    )
                else:
                    result = await conn.execute(
                        insert(channels).values(
                            name=ch.name, source="config", created_at=now, updated_at=now, **values
                        )
                    )
                    pk = result.inserted_primary_key
                    existing[ch.name] = int(pk[0]) if pk else 0
        return existing

    async def all(self) -> list[ChannelRow]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(channels).order_by(channels.c.id))).all()
        return [
            ChannelRow(
                id=r.id,
                name=r.name,
                type=r.type,
                base_url=r.base_url,
                models=tuple(r.models),
                priority=r.priority,
                weight=r.weight,
                enabled=r.enabled,
                source=r.source,
            )
            for r in rows
        ]
