"""One migrated engine per backend for the storage tests (SQLite and the real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.db import create_engine, migrate


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(database_url)
    await migrate(database_url)  # idempotent
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()
