"""The revisions of the tables every process keeps a copy of (keys, channels, the model
catalogue, system settings), read in one query: each table's latest `updated_at` and its
row count, which move whenever any replica creates, changes or removes a row.

Each process polls them once a second; one query for all of them instead of one a table
(four connections, statements and thread hops a second in every worker, idle or not)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.tables import api_keys, channels, model_catalogue, system_settings

WATCHED: dict[str, Table] = {
    "keys": api_keys,
    "channels": channels,
    "catalogue": model_catalogue,
    "settings": system_settings,
}


@lru_cache(maxsize=16)
def _statement(names: tuple[str, ...]) -> Select[Any]:
    columns: list[Any] = []
    for name in names:
        table = WATCHED[name]
        columns.append(select(func.max(table.c.updated_at)).scalar_subquery())
        columns.append(select(func.count()).select_from(table).scalar_subquery())
    return select(*columns)


async def read_revisions(engine: AsyncEngine, names: Sequence[str]) -> dict[str, tuple[Any, int]]:
    """Each named table's revision, (latest updated_at, row count), in one statement."""
    if not names:
        return {}
    names = tuple(names)
    async with engine.connect() as conn:
        row = (await conn.execute(_statement(names))).one()
    return {name: (row[2 * i], int(row[2 * i + 1])) for i, name in enumerate(names)}
