"""A live hubgate with the console and the admin API on, whose channels exercise the
catalogue: `gpt-4.1` behind a dead upstream, a failing one and a working one (in that
order of priority), and a channel named like a vendor (`openai`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import LiveGateway, free_port, live_gateway
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

ADMIN_KEY = "sk-admin-catalogue-tests-0123"
ALL_KEY = "sk-test-catalogue-all-0123456789"
GPT41_ONLY_KEY = "sk-test-catalogue-gpt41-0123456789"
VENDOR_ID_KEY = "sk-test-catalogue-vendor-0123456789"


def catalogue_config(fake: FakeOpenAI, database_url: str) -> dict[str, Any]:
    def openai(name: str, models: list[str], **extra: Any) -> dict[str, Any]:
        return {"name": name, "type": "openai", "base_url": fake.base_url, "api_key": DEFAULT_API_KEY,
                "models": models, **extra}  # fmt: skip

    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 0,
        "admin_key": ADMIN_KEY,
        "secret_key": "catalogue-tests-secret-key-0123456789",
        "channels": [
            # Connection refused, then an HTTP 500: `gpt-4.1` is served by "cat-live" in the end.
            {
                "name": "cat-dead",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-dead",
                "models": ["gpt-4.1"],
                "priority": 10,
            },
            openai("cat-500", ["gpt-4.1"], model_map={"gpt-4.1": "fail-500"}, priority=5),
            openai("cat-live", ["gpt-4.1", "gpt-4.1-nano", "text-embedding-3-small", "house-model"]),
            # Named like a vendor: pins `openai/gpt-4o` to itself; `openai/gpt-4.1` is not its model.
            {"name": "openai", "type": "echo", "models": ["gpt-4o"]},
        ],
        "keys": [
            {"name": "cat-all", "key": ALL_KEY},
            {"name": "cat-gpt41", "key": GPT41_ONLY_KEY, "models": ["gpt-4.1"]},
            {"name": "cat-vendor", "key": VENDOR_ID_KEY, "models": ["openai/gpt-4.1-nano"]},
        ],
        "pricing": {"house-model": {"input": 3, "output": 9}},
    }


@pytest.fixture(scope="session")
async def catalogue_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    async with live_gateway(catalogue_config(fake_openai, database_url), fake_openai) as gw:
        yield gw


async def call(
    gw: LiveGateway, method: str, path: str, *, key: str | None = ADMIN_KEY, json: Any = None
) -> tuple[int, Any]:
    """(status, body: parsed JSON, or the text of an HTML page) of one request."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, gw.url + path, json=json, headers=headers) as resp,
    ):
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()
