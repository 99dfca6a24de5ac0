"""Key self-service in OpenAI's legacy dashboard shapes, as balance-checking clients
call it: raw HTTP with the caller's key, under /v1, bare, and under /api."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.admin.helpers import Admin

SUBSCRIPTION = "/v1/dashboard/billing/subscription"
USAGE = "/v1/dashboard/billing/usage"


async def _get(admin: Admin, path: str, secret: str | None) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    async with aiohttp.ClientSession() as http, http.get(admin.url + path, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_subscription_reports_the_key_budget(admin_gateway: Admin) -> None:
    _, secret = await admin_gateway.new_key(budget_usd="5", expires_at="2999-01-01T00:00:00Z")
    status, body = await _get(admin_gateway, SUBSCRIPTION, secret)
    assert status == 200
    assert body["object"] == "billing_subscription" and body["has_payment_method"] is True
    assert body["hard_limit_usd"] == body["soft_limit_usd"] == body["system_hard_limit_usd"] == 5.0
    assert body["access_until"] == int(datetime(2999, 1, 1, tzinfo=UTC).timestamp())
    await admin_gateway.ask(secret)
    _, body = await _get(admin_gateway, SUBSCRIPTION, secret)
    assert body["hard_limit_usd"] == 5.0  # spend does not move a budget
    assert body["hubgate"]["budget_usd"] == "5.000000" and body["hubgate"]["spent_micros"] > 0


async def test_subscription_of_an_account_key_is_balance_plus_spend(admin_gateway: Admin) -> None:
    account = await admin_gateway.account("3")
    _, secret = await admin_gateway.new_key(account=account)
    await admin_gateway.ask(secret)
    await admin_gateway.live.state.usage.flush()  # the legacy usage route reads stored rows only
    _, body = await _get(admin_gateway, SUBSCRIPTION, secret)
    assert body["hard_limit_usd"] == pytest.approx(3.0)  # what is left + what was spent
    assert body["account_name"] == account and body["access_until"] == 0
    _, usage = await _get(admin_gateway, USAGE, secret)
    left = body["hard_limit_usd"] - usage["total_usage"] / 100
    balance = (await admin_gateway.ok("GET", f"/admin/accounts/{account}"))["balance_micros"]
    assert left == pytest.approx(balance / 1e6)
    assert body["hubgate"]["balance_micros"] == balance
    # An unlimited key reports a very large limit, as one-api and new-api do.
    _, open_secret = await admin_gateway.new_key()
    _, body = await _get(admin_gateway, SUBSCRIPTION, open_secret)
    assert body["hard_limit_usd"] >= 1e6


async def test_usage_is_in_cents_per_day(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key()
    await admin_gateway.ask(secret)
    await admin_gateway.ask(secret, "alt-model")
    report = await admin_gateway.ok("GET", f"/admin/usage?key={name}&group_by=")
    cost = report["totals"]["cost_micros"]
    assert cost > 0
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=6), today + timedelta(days=1)
    status, body = await _get(admin_gateway, f"{USAGE}?start_date={start}&end_date={end}", secret)
    assert status == 200 and body["object"] == "list"
    assert body["total_usage"] == pytest.approx(cost / 10_000)  # cents
    assert len(body["daily_costs"]) == 7
    stamps = [d["timestamp"] for d in body["daily_costs"]]
    assert (
        stamps == sorted(stamps)
        and stamps[-1] == datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()
    )
    items = body["daily_costs"][-1]["line_items"]
    assert {i["name"] for i in items} == {"gpt-4o-mini", "alt-model"}
    assert sum(i["cost"] for i in items) == pytest.approx(cost / 10_000)
    # Other spellings of the same route, and the defaults (this month).
    for path in (
        "/dashboard/billing/usage",
        "/api/v1/dashboard/billing/usage",
        "/api/dashboard/billing/usage",
    ):
        status, other = await _get(admin_gateway, path, secret)
        assert status == 200 and other["total_usage"] == pytest.approx(cost / 10_000)


async def test_usage_bad_dates_are_400_naming_the_parameter(admin_gateway: Admin) -> None:
    _, secret = await admin_gateway.new_key()
    status, body = await _get(admin_gateway, f"{USAGE}?start_date=2024-13-01&end_date=2024-12-01", secret)
    assert status == 400 and body["error"]["param"] == "start_date"
    status, body = await _get(admin_gateway, f"{USAGE}?start_date=2024-12-05&end_date=2024-12-01", secret)
    assert status == 400 and body["error"]["param"] == "end_date"
    status, body = await _get(admin_gateway, f"{USAGE}?start_date=2020-01-01&end_date=2024-01-01", secret)
    assert status == 400 and body["error"]["param"] == "end_date"


async def test_dashboard_needs_a_valid_key(admin_gateway: Admin) -> None:
    for path in (SUBSCRIPTION, USAGE):
        status, body = await _get(admin_gateway, path, None)
        assert status == 401 and body["error"]["type"] == "authentication_error"
        status, _ = await _get(admin_gateway, path, "sk-hg-not-a-key-0123456789")
        assert status == 401
    name, secret = await admin_gateway.new_key()
    await admin_gateway.ok("DELETE", f"/admin/keys/{name}")
    status, _ = await _get(admin_gateway, SUBSCRIPTION, secret)
    assert status == 401
