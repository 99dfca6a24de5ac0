"""Limits through live gateways: headers, 429s, a per-IP limit behind a trusted proxy,
and two gateways sharing one PostgreSQL and one Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from hubgate.settings import parse_settings
from tests.conftest import LiveGateway, _serve
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI


def _config(database_url: str, fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "channels": [
            {"name": "lim", "type": "openai", "base_url": fake.base_url, "api_key": DEFAULT_API_KEY,
             "models": ["l-model", "l-slow"],
             "model_map": {"l-model": "gpt-4o-mini", "l-slow": "slow-stream"}},
        ],
        **extra,
    }  # fmt: skip


@pytest.fixture
async def limited_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    settings = parse_settings(
        _config(
            database_url,
            fake_openai,
            ip_rate_limit_rpm=60,
            ip_rate_limit_burst=3,
            trusted_proxies=["127.0.0.0/8"],
        ),
        env={},
    )
    runner, app, url = await _serve(settings)
    try:
        yield LiveGateway(url=url, app=app, settings=settings, fake=fake_openai)
    finally:
        await runner.cleanup()


async def _post(
    http: aiohttp.ClientSession, gw: LiveGateway, secret: str, client: str, model: str = "l-model"
) -> Any:
    async with http.post(
        f"{gw.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}", "X-Forwarded-For": f"{client}, 127.0.0.1"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
    ) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


async def test_rpm_tpm_headers_and_429(limited_gateway: LiveGateway) -> None:
    gw = limited_gateway
    _, secret = await gw.new_key(rpm=2, tpm=10_000)
    async with aiohttp.ClientSession() as http:
        status, headers, _ = await _post(http, gw, secret, "198.51.100.1")
        assert status == 200
        assert headers["x-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "1"
        assert headers["x-ratelimit-limit-tokens"] == "10000"
        status, _, _ = await _post(http, gw, secret, "198.51.100.2")
        assert status == 200
        status, headers, body = await _post(http, gw, secret, "198.51.100.3")
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert b"requests per minute" in body


async def test_concurrency_cap(limited_gateway: LiveGateway) -> None:
    gw = limited_gateway
    _, secret = await gw.new_key(max_concurrency=1)
    client = gw.client(secret)
    stream = await client.chat.completions.create(
        model="l-slow", messages=[{"role": "user", "content": "x"}], stream=True
    )
    async for _ in stream:
        break
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="l-model", messages=[{"role": "user", "content": "x"}])
    await stream.close()
    for _ in range(50):  # the slot comes back once the hang-up is processed
        try:
            await client.chat.completions.create(model="l-model", messages=[{"role": "user", "content": "x"}])
            break
        except openai.RateLimitError:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("the concurrency slot was never given back")


async def test_ip_limit_trusts_forwarded_for_only_from_trusted_proxies(limited_gateway: LiveGateway) -> None:
    gw = limited_gateway
    _, secret = await gw.new_key()
    async with aiohttp.ClientSession() as http:
        client = f"192.0.2.{uuid.uuid4().int % 250}"
        statuses = [(await _post(http, gw, secret, client))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # burst of 3
        assert (await _post(http, gw, secret, "192.0.2.251"))[0] == 200  # another client is unaffected
        async with http.get(f"{gw.url}/healthz") as resp:
            assert resp.status == 200  # health checks are never limited


async def test_two_gateways_share_limits_and_revocations(
    pg_database: str, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    config = _config(
        pg_database, fake_openai, redis_url=redis_url, redis_prefix=f"hg-test-{uuid.uuid4().hex}:"
    )
    one = await _serve(parse_settings(config, env={}))
    two = await _serve(parse_settings(config, env={}))
    try:
        gw_one = LiveGateway(
            url=one[2], app=one[1], settings=parse_settings(config, env={}), fake=fake_openai
        )
        gw_two = LiveGateway(
            url=two[2], app=two[1], settings=parse_settings(config, env={}), fake=fake_openai
        )
        name, secret = await gw_one.new_key(rpm=3)
        async with aiohttp.ClientSession() as http:
            statuses = [
                (await _post(http, gw, secret, "192.0.2.1"))[0] for gw in (gw_one, gw_two, gw_one, gw_two)
            ]
            assert statuses == [200, 200, 200, 429]  # one shared budget of 3 per minute
            _, other = await gw_two.new_key()
            assert (await _post(http, gw_one, other, "192.0.2.1"))[0] == 200
            await gw_two.state.key_repo.revoke(name)
            await gw_two.state.key_repo.revoke((await gw_two.state.key_repo.all())[-1].name)
            for _ in range(50):  # revoked through one gateway, refused by the other within seconds
                if (await _post(http, gw_one, other, "192.0.2.1"))[0] == 401:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("gateway one still accepts a key revoked through gateway two")
    finally:
        await one[0].cleanup()
        await two[0].cleanup()


async def test_cooldowns_are_shared_through_redis(
    pg_database: str, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    config = {
        "database_url": pg_database,
        "redis_url": redis_url,
        "redis_prefix": f"hg-test-{uuid.uuid4().hex}:",
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 2,
        "cooldown_base_s": 60,
        "channels": [
            {"name": "sh-flaky", "type": "openai", "base_url": fake_openai.base_url,
             "api_key": DEFAULT_API_KEY, "models": ["sh-model"], "model_map": {"sh-model": "fail-500"},
             "priority": 10},
            {"name": "sh-steady", "type": "openai", "base_url": fake_openai.base_url,
             "api_key": DEFAULT_API_KEY, "models": ["sh-model"], "model_map": {"sh-model": "gpt-4o-mini"}},
        ],
    }  # fmt: skip
    settings = parse_settings(config, env={})
    one, two = await _serve(settings), await _serve(settings)
    try:
        gw_one = LiveGateway(url=one[2], app=one[1], settings=settings, fake=fake_openai)
        gw_two = LiveGateway(url=two[2], app=two[1], settings=settings, fake=fake_openai)
        name, secret = await gw_one.new_key()
        for _ in range(2):  # two failovers on replica one open the flaky channel's cooldown
            await gw_one.client(secret).chat.completions.create(
                model="sh-model", messages=[{"role": "user", "content": "x"}]
            )
        # Replica two reads the shared state once a second: wait until it has (a fixed sleep could
        # end first on a loaded machine, before replica one's write or replica two's read landed).
        deadline = time.monotonic() + 10
        while not any(channel == "sh-flaky" for channel, _, _ in gw_two.state.health.remote):
            assert time.monotonic() < deadline, "replica two never saw the shared cooldown"
            await asyncio.sleep(0.05)
        await gw_two.client(secret).chat.completions.create(
            model="sh-model", messages=[{"role": "user", "content": "x"}]
        )
        rows = await gw_two.usage_rows(name)
        assert [r["attempts"] for r in rows] == [2, 2, 1]  # replica two skipped the cooling channel
    finally:
        await one[0].cleanup()
        await two[0].cleanup()
