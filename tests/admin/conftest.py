"""A live hubgate with `admin_key` set, on SQLite and PostgreSQL, and a small admin client.

The database is shared by every gateway of the session, so these tests use unique
names (accounts, keys, groups, priced models) and never change shared ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubgate.settings import parse_settings
from tests.admin.helpers import ADMIN_KEY, PRICE, PRICED_MODEL, Admin
from tests.conftest import LiveGateway, _serve
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI


@pytest.fixture(scope="session")
async def admin_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[Admin]:
    config: dict[str, Any] = {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "key_cache_ttl_s": 60,  # long: changes must apply through invalidation, not expiry
        "admin_key": ADMIN_KEY,
        "channels": [
            {
                "name": "adm-main",
                "type": "openai",
                "base_url": fake_openai.base_url,
                "api_key": DEFAULT_API_KEY,
                "models": ["gpt-4o-mini", "fail-500", PRICED_MODEL],
            },
            {
                "name": "adm-alt",
                "type": "openai",
                "base_url": fake_openai.base_url,
                "api_key": DEFAULT_API_KEY,
                "models": ["alt-model"],
                "model_map": {"alt-model": "gpt-4o-mini"},
            },
        ],
        "pricing": {"gpt-4o-mini": PRICE},
        "groups": {"default": 1.0, "adm-half": 0.5},
    }
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield Admin(LiveGateway(url=url, app=app, settings=settings, fake=fake_openai))
    finally:
        await runner.cleanup()
