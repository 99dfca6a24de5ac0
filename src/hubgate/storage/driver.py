"""The driver's own connection under a SQLAlchemy connection, for the usage writer's bulk
statements (one aiosqlite executemany or one asyncpg COPY/executemany per batch).

They run on the connection SQLAlchemy's transaction holds, so they still commit or roll
back with everything else in it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def in_transaction(conn: AsyncConnection) -> Any | None:
    """The aiosqlite or asyncpg connection under `conn`, inside SQLAlchemy's transaction;
    None when the caller must take SQLAlchemy's generic path (another driver, or an
    AUTOCOMMIT engine on PostgreSQL)."""
    dialect = conn.dialect
    if (dialect.name, dialect.driver) not in (("sqlite", "aiosqlite"), ("postgresql", "asyncpg")):
        return None
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise RuntimeError("the usage writer's connection has no driver connection")
    # sqlite3 opens its transaction itself before the first write (SQLAlchemy's BEGIN on
    # pysqlite drivers is the driver's implicit one). asyncpg's connection is outside
    # SQLAlchemy's bookkeeping: let SQLAlchemy open its lazily begun transaction first.
    if dialect.name == "postgresql":
        if not driver.is_in_transaction():
            await conn.exec_driver_sql("SELECT 1")
        if not driver.is_in_transaction():
            return None
    return driver
