"""Migration 0018: `users.language` and `accounts.low_balance_mailed_at` on SQLite and
PostgreSQL, up and down again, and the repository reading and writing the language."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import inspect

from hubgate.storage.db import _alembic_config, create_engine, migrate_sync
from hubgate.storage.users import UserRepository
from tests.conftest import _pg_admin
from tests.storage.test_rollup import _fresh_database


async def _columns(url: str, table: str = "users") -> set[str]:
    eng = create_engine(url)
    async with eng.connect() as conn:
        names = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})
    await eng.dispose()
    return names


async def test_migration_0018_adds_the_saved_language(database_url: str, tmp_path: Path) -> None:
    from alembic import command

    url, pg_name = await _fresh_database("sqlite" if database_url.startswith("sqlite") else "pg", tmp_path)
    try:
        await asyncio.to_thread(migrate_sync, url, "0017")
        assert "language" not in await _columns(url)
        await asyncio.to_thread(migrate_sync, url, "head")
        assert "language" in await _columns(url)
        assert "low_balance_mailed_at" in await _columns(url, "accounts")
        eng = create_engine(url)
        users = UserRepository(eng)
        made = await users.create("lang@example.test", None, role="user", account_id=1, language="zh_CN")
        assert made.language == "zh_CN"
        await users.update(made.id, language=None)
        again = await users.by_id(made.id)
        assert again is not None and again.language is None
        await eng.dispose()
        await asyncio.to_thread(command.downgrade, _alembic_config(url), "0017")
        assert "language" not in await _columns(url)
        assert "low_balance_mailed_at" not in await _columns(url, "accounts")
    finally:
        if pg_name is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
