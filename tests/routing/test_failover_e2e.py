"""Failover with cooldowns through a live gateway and fault-injecting fakes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from hubgate.settings import parse_settings
from tests.conftest import LiveGateway, _serve
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI


@pytest.fixture
async def flaky_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    config: dict[str, Any] = {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 2,
        "cooldown_base_s": 60,
        "channels": [
            # Same public model on a failing channel (tried first) and a healthy one.
            {"name": f"flaky-{uuid.uuid4().hex[:6]}", "type": "openai", "base_url": fake_openai.base_url,
             "api_key": DEFAULT_API_KEY, "models": ["f-model"], "model_map": {"f-model": "fail-500"},
             "priority": 10},
            {"name": "steady", "type": "openai", "base_url": fake_openai.base_url, "api_key": DEFAULT_API_KEY,
             "models": ["f-model"], "model_map": {"f-model": "gpt-4o-mini"}},
            # One channel, two upstream keys, the first of which the upstream refuses.
            {"name": "twokeys", "type": "openai", "base_url": fake_openai.base_url,
             "api_keys": ["sk-wrong-upstream-key-000", DEFAULT_API_KEY], "models": ["k-model"],
             "model_map": {"k-model": "gpt-4o-mini"}},
            {"name": "alone", "type": "openai", "base_url": fake_openai.base_url, "api_key": DEFAULT_API_KEY,
             "models": ["a-model"], "model_map": {"a-model": "fail-500"}},
        ],
    }  # fmt: skip
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield LiveGateway(url=url, app=app, settings=settings, fake=fake_openai)
    finally:
        await runner.cleanup()


async def _ask(gw: LiveGateway, secret: str, model: str) -> Any:
    return await gw.client(secret).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi there"}]
    )


async def test_failing_channel_cools_down_and_is_skipped(flaky_gateway: LiveGateway) -> None:
    gw = flaky_gateway
    name, secret = await gw.new_key()
    for _ in range(4):
        reply = await _ask(gw, secret, "f-model")
        assert reply.choices[0].message.content == "Hello! You said: hi there"
    rows = await gw.usage_rows(name)
    # Two failovers open the flaky channel's cooldown; after that it is not even tried.
    assert [r["attempts"] for r in rows] == [2, 2, 1, 1]
    assert {r["channel"] for r in rows} == {"steady"}
    (state,) = gw.state.health.snapshot()
    assert state["state"] == "open" and state["cooldown_left_s"] > 50


async def test_refused_upstream_key_is_set_aside_without_taking_the_channel_down(
    flaky_gateway: LiveGateway,
) -> None:
    gw = flaky_gateway
    name, secret = await gw.new_key()
    for _ in range(4):
        await _ask(gw, secret, "k-model")
    rows = await gw.usage_rows(name)
    assert all(r["status"] == 200 and r["channel"] == "twokeys" for r in rows)
    assert sum(r["attempts"] for r in rows) <= 5  # the wrong key is tried at most once
    (state,) = gw.state.health.snapshot()
    assert state["state"] == "disabled"
    assert "sk-wrong" not in str(state)


async def test_every_channel_cooling_down_is_a_clear_503(flaky_gateway: LiveGateway) -> None:
    gw = flaky_gateway
    _, secret = await gw.new_key()
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await _ask(gw, secret, "a-model")
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(gw, secret, "a-model")
    assert info.value.status_code == 503
    assert "cooling down" in str(info.value)
