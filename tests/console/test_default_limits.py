"""Default rate limits (issue 16): a system setting (`PATCH /admin/settings`, the admin's
settings page) applied to API keys that set none of their own, enforced on the request path
from memory; a key's own limit wins, and 0 or empty is unlimited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hubgate.gateway import GATEWAY
from tests.conftest import LiveGateway, live_gateway
from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, admin_call, console_config
from tests.console.test_browser import log_in
from tests.fakes.openai_upstream import FakeOpenAI

DEFAULTS = ("default_rpm", "default_tpm", "default_max_concurrency")


@pytest.fixture(scope="module")
async def limits_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    """A gateway of its own: the defaults set here must not limit other tests' keys."""
    async with live_gateway(console_config(fake_openai, database_url), fake_openai) as gw:
        yield gw


async def _key(gw: LiveGateway, name: str, **limits: Any) -> str:
    status, body = await admin_call(gw, "POST", "/admin/keys", {"name": name, **limits})
    assert status == 201, body
    return str(body["secret"])


async def _openai(gw: LiveGateway, secret: str) -> tuple[int, Any, dict[str, str]]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            gw.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"}
        ) as r,
    ):
        return r.status, await r.json(content_type=None), {k.lower(): v for k, v in r.headers.items()}


async def _anthropic(gw: LiveGateway, secret: str) -> tuple[int, Any]:
    body = {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(gw.url + "/v1/messages", json=body, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None)


async def test_a_default_rpm_limits_keys_without_their_own(limits_gateway: LiveGateway) -> None:
    gw = limits_gateway
    plain, anthropic_caller = await _key(gw, "no-own-limits"), await _key(gw, "no-own-limits-2")
    own = await _key(gw, "own-rpm", rpm=50)
    try:
        status, view = await admin_call(gw, "PATCH", "/admin/settings", {"default_rpm": 2})
        assert status == 200 and view["values"]["default_rpm"] == 2 and view["stored"]["default_rpm"] == 2
        for _ in range(2):
            status, _body, headers = await _openai(gw, plain)
            assert status == 200 and headers["x-ratelimit-limit-requests"] == "2"
        status, body, headers = await _openai(gw, plain)
        assert status == 429 and body["error"]["type"] == "rate_limit_error"  # OpenAI's shape
        assert "2 requests per minute" in body["error"]["message"] and int(headers["retry-after"]) >= 1
        for _ in range(2):
            assert (await _anthropic(gw, anthropic_caller))[0] == 200
        status, body = await _anthropic(gw, anthropic_caller)
        assert status == 429 and body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        for _ in range(4):  # its own rpm of 50 wins over the default of 2
            status, _body, headers = await _openai(gw, own)
            assert status == 200 and headers["x-ratelimit-limit-requests"] == "50"
        status, view = await admin_call(gw, "PATCH", "/admin/settings", {"default_rpm": 0})
        assert view["values"]["default_rpm"] is None  # 0: unlimited
        assert (await _openai(gw, plain))[0] == 200
        status, err = await admin_call(gw, "PATCH", "/admin/settings", {"default_tpm": -1})
        assert status == 400 and err["error"]["param"] == "default_tpm"
    finally:
        await admin_call(gw, "PATCH", "/admin/settings", dict.fromkeys(DEFAULTS))


async def test_in_a_browser_an_admin_sets_the_default_rate_limits(
    chromium: Pages, limits_gateway: LiveGateway
) -> None:
    gw = limits_gateway
    page: Any = await chromium.new_page()
    await log_in(page, gw.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    try:
        await page.goto(f"{gw.url}/ui/admin/settings?lang=zh-CN")
        group = page.locator("[data-testid=default-limits]")
        assert "默认速率限制" in await group.inner_text()
        await page.get_by_label("每分钟请求数").fill("30")
        await page.get_by_label("最大并发请求数").fill("4")
        await page.click("[data-testid=settings-form] button[type=submit]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=setting-default_rpm]').textContent === '30'"
        )
        assert await page.text_content("[data-testid=setting-default_max_concurrency]") == "4"
        await shot(page, "default-rate-limits-zh")
        _status, view = await admin_call(gw, "GET", "/admin/settings")
        assert view["stored"]["default_rpm"] == 30 and view["stored"]["default_max_concurrency"] == 4
        assert gw.app[GATEWAY].limiter.defaults.rpm == 30  # applied, read from memory per request
        await page.get_by_label("每分钟请求数").fill("-5")
        await page.click("[data-testid=settings-form] button[type=submit]")
        error = page.locator("[data-testid=settings-form] .field-error")
        await error.wait_for()
        assert await page.get_attribute("input[name=default_rpm]", "aria-invalid") == "true"
        assert "0" in await error.inner_text()  # "enter 0 or more", in Chinese
        chromium.errors[:] = [e for e in chromium.errors if "status of 400" not in e]  # that refusal's answer
    finally:
        await admin_call(gw, "PATCH", "/admin/settings", dict.fromkeys(DEFAULTS))
    assert chromium.errors == []
