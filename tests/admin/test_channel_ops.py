"""Channels in bulk, switched off after failed checks in a row, the upstream balance and
per-channel traffic, over the admin API (issue 16)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web

from hubgate.settings import parse_settings
from tests.admin.helpers import ADMIN_KEY, Admin, unique
from tests.conftest import LiveGateway, _serve, free_port
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

BILLING_KEY = "sk-relay-billing-0123"


class FakeRelayBilling:
    """An OpenAI-compatible relay's legacy billing dashboard (as one-api and new-api answer it):
    the quota in dollars, the usage in cents; the key is checked."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/v1/dashboard/billing/subscription", self.subscription)
        self.app.router.add_get("/v1/dashboard/billing/usage", self.usage)

    def _refuse(self, request: web.Request) -> web.Response | None:
        if request.headers.get("authorization") != f"Bearer {BILLING_KEY}":
            error = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            return web.json_response({"error": error}, status=401)
        return None

    async def subscription(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return web.json_response({"object": "billing_subscription", "has_payment_method": True,
                                  "soft_limit_usd": 25.0, "hard_limit_usd": 25.0,
                                  "system_hard_limit_usd": 25.0, "access_until": 0})  # fmt: skip

    async def usage(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        self.queries.append(dict(request.query))
        return web.json_response({"object": "list", "total_usage": 1234.5})  # cents


@pytest.fixture(scope="module")
async def ops(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[tuple[Admin, FakeRelayBilling]]:
    billing = FakeRelayBilling()
    runner = web.AppRunner(billing.app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    billing.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    config: dict[str, Any] = {
        "database_url": database_url,
        "admin_key": ADMIN_KEY,
        "secret_key": "test-secret-key-for-sealing-0123456789",
        "usage_flush_interval_s": 0.05,
        "channel_auto_disable_after": 2,
        "channels": [
            {"name": "ops-cfg", "type": "openai", "base_url": fake_openai.base_url,
             "api_key": DEFAULT_API_KEY, "models": ["ops-model"], "model_map": {"ops-model": "gpt-4o-mini"}},
        ],
    }  # fmt: skip
    settings = parse_settings(config, env={})
    served = await _serve(settings)
    try:
        yield Admin(LiveGateway(url=served[2], app=served[1], settings=settings, fake=fake_openai)), billing
    finally:
        await served[0].cleanup()
        await runner.cleanup()


async def _channel(admin: Admin, base_url: str, api_key: str = DEFAULT_API_KEY) -> str:
    name = unique("ch")
    body = {"name": name, "type": "openai", "base_url": base_url, "api_keys": [api_key],
            "models": [unique("m")]}  # fmt: skip
    await admin.ok("POST", "/admin/channels", body, 201)
    return name


async def _row(admin: Admin, name: str) -> dict[str, Any]:
    listed = await admin.ok("GET", "/admin/channels")
    return next(c for c in listed["data"] if c["name"] == name)


async def test_bulk_actions_report_each_channel(
    ops: tuple[Admin, FakeRelayBilling], fake_openai: FakeOpenAI
) -> None:
    admin, _ = ops
    a, b = await _channel(admin, fake_openai.base_url), await _channel(admin, fake_openai.base_url)
    got = await admin.ok("POST", "/admin/channels/bulk", {"action": "disable", "names": [a, b, "no-such"]})
    assert [(r["name"], r["ok"]) for r in got["data"]] == [(a, True), (b, True), ("no-such", False)]
    assert not (await _row(admin, a))["enabled"] and not (await _row(admin, b))["enabled"]
    await admin.ok("POST", "/admin/channels/bulk", {"action": "enable", "names": [a, b]})
    assert (await _row(admin, a))["enabled"] and (await _row(admin, b))["enabled"]
    got = await admin.ok("POST", "/admin/channels/bulk", {"action": "test", "names": [a, b]})
    assert all(r["ok"] and r["result"]["status"] == 200 for r in got["data"]), got
    got = await admin.ok("POST", "/admin/channels/bulk", {"action": "delete", "names": [a, "ops-cfg"]})
    assert got["data"][0]["ok"] and not got["data"][1]["ok"] and "config file" in got["data"][1]["error"]
    assert a not in {c["name"] for c in (await admin.ok("GET", "/admin/channels"))["data"]}
    audit = await admin.ok("GET", f"/admin/audit?target={a}")
    assert {"channels.update", "channels.test", "channels.delete"} <= {e["action"] for e in audit["data"]}
    for bad in ({"action": "explode", "names": [b]}, {"action": "test", "names": []}, {"names": [b]}):
        status, answer = await admin.call("POST", "/admin/channels/bulk", json=bad)
        assert status == 400 and answer["error"]["message"], (bad, answer)


async def test_a_channel_failing_its_checks_is_switched_off_until_enabled_by_hand(
    ops: tuple[Admin, FakeRelayBilling],
) -> None:
    admin, _ = ops
    dead = await _channel(admin, f"http://127.0.0.1:{free_port()}/v1")
    first = await admin.ok("POST", f"/admin/channels/{dead}/test")
    assert not first["ok"] and not first["auto_disabled"]
    assert (await _row(admin, dead))["enabled"] and (await _row(admin, dead))["failed_checks"] == 1
    second = await admin.ok("POST", f"/admin/channels/{dead}/test")
    assert second["auto_disabled"]
    row = await _row(admin, dead)
    assert (
        not row["enabled"]
        and row["auto_disabled_at"]
        and "2 checks failed in a row" in row["auto_disabled_reason"]
    )
    audit = await admin.ok("GET", f"/admin/audit?target={dead}&action=channels.auto_disable")
    assert len(audit["data"]) == 1 and audit["data"][0]["actor"] == "system:health-check"
    await admin.ok("PATCH", f"/admin/channels/{dead}", {"enabled": True})
    row = await _row(admin, dead)
    assert row["enabled"] and row["auto_disabled_at"] is None and row["failed_checks"] == 0


async def test_the_upstream_balance_and_the_channel_usage(ops: tuple[Admin, FakeRelayBilling]) -> None:
    admin, billing = ops
    relay = await _channel(admin, billing.base_url + "/v1", BILLING_KEY)  # type: ignore[attr-defined]
    got = await admin.ok("GET", f"/admin/channels/{relay}/balance")
    assert (got["limit_usd"], got["used_usd"], got["remaining_usd"]) == (25.0, 12.345, 12.655)
    assert set(billing.queries[-1]) == {"start_date", "end_date"}
    refused = await _channel(admin, billing.base_url, "sk-wrong")  # type: ignore[attr-defined]
    status, answer = await admin.call("GET", f"/admin/channels/{refused}/balance")
    assert status == 400 and "refused the channel's key (HTTP 401)" in answer["error"]["message"]
    status, answer = await admin.call("GET", "/admin/channels/no-such/balance")
    assert status == 404
    _, secret = await admin.new_key()
    await admin.ask(secret, "ops-model")
    await admin.live.state.usage.flush()
    usage = await admin.ok("GET", "/admin/channels/ops-cfg/usage")
    assert usage["24h"]["requests"] >= 1 and usage["7d"]["requests"] >= usage["24h"]["requests"]
    assert usage["24h"]["total_tokens"] > 0 and usage["24h"]["errors"] == 0
    assert (await admin.ok("GET", f"/admin/channels/{relay}/usage"))["24h"]["requests"] == 0


async def test_a_channel_whose_every_key_is_refused_in_traffic_is_switched_off(
    ops: tuple[Admin, FakeRelayBilling], fake_openai: FakeOpenAI
) -> None:
    admin, _ = ops
    name, model = unique("ch"), unique("m")
    await admin.ok("POST", "/admin/channels", {
        "name": name, "type": "openai", "base_url": fake_openai.base_url, "api_keys": ["sk-refused-0123"],
        "models": [model], "model_map": {model: "gpt-4o-mini"},
    }, 201)  # fmt: skip
    _, secret = await admin.new_key()
    with pytest.raises(openai.APIError):
        await admin.ask(secret, model)
    path = f"/admin/audit?target={name}&action=channels.auto_disable"
    for _ in range(60):  # switched off off the request path: row first, then the audit entry
        row, audit = await _row(admin, name), await admin.ok("GET", path)
        if audit["data"]:
            break
        await asyncio.sleep(0.05)
    row = await _row(admin, name)  # read again: the one read before the audit entry may predate it
    assert not row["enabled"] and "refused every key" in row["auto_disabled_reason"]
    assert len(audit["data"]) == 1
