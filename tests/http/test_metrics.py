"""`GET /metrics` (and `/api/metrics`) on a live gateway."""

from __future__ import annotations

import uuid

import aiohttp

from tests.conftest import LiveGateway
from tests.observability.helpers import parse, row, value


async def scrape(gateway: LiveGateway, path: str = "/metrics") -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(gateway.url + path) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.text()


async def test_metrics_are_served_without_auth(gateway: LiveGateway) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}"
    gateway.state.metrics.observe(row(model=model))
    for path in ("/metrics", "/api/metrics"):
        status, content_type, text = await scrape(gateway, path)
        assert status == 200
        assert content_type.startswith("text/plain; version=0.0.4")
        s = parse(text)
        assert (
            value(s, "hubgate_requests_total", endpoint="chat", model=model, channel="main", status="200")
            == 1
        )
        assert value(s, "hubgate_failovers_total", model=model) == 1
        backlog = value(s, "hubgate_usage_backlog_rows")  # the gateway's own usage writer
        assert backlog is not None and backlog >= 0


async def test_channel_cooldowns_are_counted(gateway: LiveGateway) -> None:
    channel = f"c-{uuid.uuid4().hex[:8]}"
    hook = gateway.state.health.on_cooldown
    assert hook is not None  # wired in the app's lifespan
    hook(channel)
    _, _, text = await scrape(gateway)
    assert value(parse(text), "hubgate_cooldowns_total", channel=channel) == 1


async def test_rate_limit_refusals_are_counted(gateway: LiveGateway) -> None:
    key = f"k-{uuid.uuid4().hex[:8]}"
    hook = gateway.state.limiter.on_refusal
    assert hook is not None  # wired in the app's lifespan
    hook(key, "rpm")
    _, _, text = await scrape(gateway)
    assert value(parse(text), "hubgate_rate_limited_total", key=key, limit="rpm") == 1


async def test_a_relayed_request_shows_up(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    await gateway.client(secret).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    _, _, text = await scrape(gateway)
    s = parse(text)
    assert value(s, "hubgate_requests_total", endpoint="chat", model="gpt-4o-mini", channel="main",
                 status="200") is not None  # fmt: skip
    prompt = value(s, "hubgate_tokens_total", key=name, model="gpt-4o-mini", channel="main", kind="prompt")
    assert prompt is not None and prompt > 0
