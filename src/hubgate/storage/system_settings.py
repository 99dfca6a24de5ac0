"""The run-time settings an admin changed (`system_settings`): a name, its JSON value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import utcnow
from hubgate.storage.tables import system_settings


class SystemSettingsRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(system_settings.c.name, system_settings.c.value))).all()
        return {r.name: r.value for r in rows}

    async def put(self, changes: Mapping[str, Any]) -> None:
        """Set each value; None removes the setting (the config file's applies again)."""
        now = utcnow()
        c = system_settings.c
        async with self._engine.begin() as conn:
            for name, value in changes.items():
                if value is None:
                    await conn.execute(delete(system_settings).where(c.name == name))
                    continue
                done = await conn.execute(
                    update(system_settings).where(c.name == name).values(value=value, updated_at=now)
                )
                if not done.rowcount:
                    await conn.execute(insert(system_settings).values(name=name, value=value, updated_at=now))
