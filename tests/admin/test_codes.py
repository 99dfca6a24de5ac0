"""Redemption codes: created in batches (shown once), listed by prefix only, redeemed by
callers exactly once through /v1/dashboard/redeem."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.admin.helpers import REDEEM, Admin, unique


async def _redeem(admin: Admin, secret: str, code: str, path: str = REDEEM) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {secret}"}
    return await admin.call("POST", path, json={"code": code}, headers=headers)


async def test_codes_are_shown_once_and_listed_by_prefix(admin_gateway: Admin) -> None:
    batch = unique("batch")
    body = await admin_gateway.ok(
        "POST", "/admin/redemption-codes", {"batch": batch, "count": 3, "amount_usd": "2.5"}, 201
    )
    codes = body["codes"]
    assert len(set(codes)) == 3 and body["amount_micros"] == 2_500_000
    listing = await admin_gateway.ok("GET", f"/admin/redemption-codes?batch={batch}")
    assert len(listing["data"]) == 3
    text = str(listing)
    assert not any(code in text for code in codes)
    assert sorted(c["prefix"] for c in listing["data"]) == sorted(code[:14] for code in codes)
    assert all(c["redeemed_at"] is None and c["amount_usd"] == "2.500000" for c in listing["data"])


async def test_a_code_credits_the_callers_account_once(admin_gateway: Admin) -> None:
    account = await admin_gateway.account("1")
    _, secret = await admin_gateway.new_key(account=account)
    batch = unique("batch")
    (code,) = await admin_gateway.codes(amount_usd=4, batch=batch)
    status, body = await _redeem(admin_gateway, secret, code)
    assert status == 200, body
    assert body["amount_micros"] == 4_000_000 and body["balance_micros"] == 5_000_000
    assert (await admin_gateway.ok("GET", f"/admin/accounts/{account}"))["balance_usd"] == "5.000000"
    status, body = await _redeem(admin_gateway, secret, code, "/api/v1/dashboard/redeem")
    assert status == 400 and body["error"]["param"] == "code"
    assert "already been used" in body["error"]["message"]
    listing = await admin_gateway.ok("GET", f"/admin/redemption-codes?batch={batch}")
    assert listing["data"][0]["redeemed_by"] == account and listing["data"][0]["redeemed_at"]
    ledger = await admin_gateway.ok("GET", f"/admin/accounts/{account}/ledger")
    assert ledger["data"][0]["kind"] == "redeem" and ledger["data"][0]["amount_micros"] == 4_000_000


async def test_concurrent_redeemers_exactly_one_wins(admin_gateway: Admin) -> None:
    (code,) = await admin_gateway.codes()
    accounts = [await admin_gateway.account("0") for _ in range(8)]
    secrets = [(await admin_gateway.new_key(account=a))[1] for a in accounts]
    results = await asyncio.gather(*(_redeem(admin_gateway, s, code) for s in secrets))
    assert sorted(status for status, _ in results) == [200] + [400] * 7
    balances = [(await admin_gateway.ok("GET", f"/admin/accounts/{a}"))["balance_micros"] for a in accounts]
    assert sorted(balances) == [0] * 7 + [1_000_000]


async def test_unknown_and_expired_codes_are_400(admin_gateway: Admin) -> None:
    account = await admin_gateway.account("1")
    _, secret = await admin_gateway.new_key(account=account)
    status, body = await _redeem(admin_gateway, secret, "hg-redeem-not-a-real-code")
    assert status == 400 and body["error"]["code"] == "invalid_redemption_code"
    (code,) = await admin_gateway.codes(expires_at="2020-01-01T00:00:00Z")
    status, body = await _redeem(admin_gateway, secret, code)
    assert status == 400 and "expired" in body["error"]["message"]
    status, body = await admin_gateway.call(
        "POST", "/v1/dashboard/redeem", json={}, headers={"authorization": f"Bearer {secret}"}
    )
    assert status == 400 and body["error"]["param"] == "code"


async def test_redeem_needs_a_key_and_a_limited_account(admin_gateway: Admin) -> None:
    (code,) = await admin_gateway.codes()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{admin_gateway.url}/v1/dashboard/redeem", json={"code": code}) as resp,
    ):
        assert resp.status == 401
    _, default_secret = await admin_gateway.new_key()  # the built-in, unlimited default account
    status, body = await _redeem(admin_gateway, default_secret, code)
    assert status == 400 and body["error"]["code"] == "account_unlimited"
    account = await admin_gateway.account("0")
    _, secret = await admin_gateway.new_key(account=account)
    status, _ = await _redeem(admin_gateway, secret, code)
    assert status == 200  # the refused attempt did not use the code up
