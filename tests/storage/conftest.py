"""One migrated engine per backend for the storage tests (SQLite and the real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.db import create_engine, migrate
from tests.conftest import TEST_POOL_OVERFLOW, TEST_POOL_SIZE


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(database_url)
    await migrate(database_url)  # idempotent
    eng = create_engine(database_url, pool_size=TEST_POOL_SIZE, pool_overflow=TEST_POOL_OVERFLOW)
    yield eng
    await eng.dispose()
