"""Accounts through the admin API: exact money, the ledger, the balance invariant, and
changes that reach the hot path at once."""

from __future__ import annotations

import openai
import pytest

from tests.admin.helpers import Admin, unique


async def test_create_read_and_list_with_exact_money(admin_gateway: Admin) -> None:
    name = unique("acct")
    created = await admin_gateway.ok("POST", "/admin/accounts", {"name": name, "credit_usd": "12.5"}, 201)
    assert created["balance_usd"] == "12.500000" and created["balance_micros"] == 12_500_000
    assert created["group"] == "default" and created["limited"] is True and created["disabled"] is False
    assert await admin_gateway.ok("GET", f"/admin/accounts/{name}") == created
    # A JSON number is read as the decimal it spells, never through binary floating point.
    other = unique("acct")
    body = await admin_gateway.ok("POST", "/admin/accounts", {"name": other, "credit_usd": 0.1}, 201)
    assert body["balance_micros"] == 100_000 and body["balance_usd"] == "0.100000"


async def test_adjust_writes_the_ledger_and_keeps_the_invariant(admin_gateway: Admin) -> None:
    name = await admin_gateway.account("5")
    after = await admin_gateway.ok("POST", f"/admin/accounts/{name}/adjust", {"amount_usd": "2.000001"})
    assert after["balance_micros"] == 7_000_001
    after = await admin_gateway.ok(
        "POST", f"/admin/accounts/{name}/adjust", {"amount_usd": -0.5, "reference": "refund #12"}
    )
    assert after["balance_usd"] == "6.500001"
    # Spend some of it through a key of the account.
    key_name, secret = await admin_gateway.new_key(account=name)
    await admin_gateway.ask(secret)
    await admin_gateway.ask(secret)
    ledger = await admin_gateway.ok("GET", f"/admin/accounts/{name}/ledger")
    kinds = [(e["kind"], e["amount_micros"], e["reference"]) for e in ledger["data"]]
    assert kinds == [
        ("debit", -500_000, "refund #12"),
        ("credit", 2_000_001, None),
        ("initial", 5_000_000, None),
    ]
    usage = await admin_gateway.ok("GET", f"/admin/usage?key={key_name}&group_by=")
    spent = usage["totals"]["cost_micros"]
    assert spent > 0 and usage["totals"]["requests"] == 2
    account = await admin_gateway.ok("GET", f"/admin/accounts/{name}")
    assert account["balance_micros"] == sum(e["amount_micros"] for e in ledger["data"]) - spent


async def test_ledger_and_account_lists_page_by_cursor(admin_gateway: Admin) -> None:
    name = await admin_gateway.account("1")
    for cents in range(1, 6):
        await admin_gateway.ok("POST", f"/admin/accounts/{name}/adjust", {"amount_usd": f"0.0{cents}"})
    seen: list[int] = []
    cursor = ""
    while True:
        page = await admin_gateway.ok("GET", f"/admin/accounts/{name}/ledger?limit=2{cursor}")
        assert len(page["data"]) <= 2
        seen += [e["amount_micros"] for e in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [50_000, 40_000, 30_000, 20_000, 10_000, 1_000_000]  # newest first, each once
    first = await admin_gateway.ok("GET", "/admin/accounts?limit=1")
    second = await admin_gateway.ok("GET", f"/admin/accounts?limit=1&cursor={first['next_cursor']}")
    assert first["data"][0]["id"] < second["data"][0]["id"]


async def test_patch_disabled_and_limited_apply_at_once(admin_gateway: Admin) -> None:
    name = await admin_gateway.account("0")  # nothing to spend
    _, secret = await admin_gateway.new_key(account=name)
    with pytest.raises(openai.APIStatusError) as info:
        await admin_gateway.ask(secret)
    assert info.value.status_code == 402
    body = await admin_gateway.ok("PATCH", f"/admin/accounts/{name}", {"limited": False})
    assert body["limited"] is False
    await admin_gateway.ask(secret)  # no balance limit now: served
    await admin_gateway.ok("PATCH", f"/admin/accounts/{name}", {"disabled": True})
    with pytest.raises(openai.PermissionDeniedError):
        await admin_gateway.ask(secret)
    await admin_gateway.ok("PATCH", f"/admin/accounts/{name}", {"disabled": False})
    await admin_gateway.ask(secret)


async def test_a_top_up_lifts_a_402_at_once(admin_gateway: Admin) -> None:
    name = await admin_gateway.account("0")
    _, secret = await admin_gateway.new_key(account=name)
    with pytest.raises(openai.APIStatusError) as info:
        await admin_gateway.ask(secret)
    assert info.value.status_code == 402
    await admin_gateway.ok("POST", f"/admin/accounts/{name}/adjust", {"amount_usd": 50})
    await admin_gateway.ask(secret)


async def test_group_must_exist_and_moves_the_account(admin_gateway: Admin) -> None:
    name = await admin_gateway.account("1", group="adm-half")
    body = await admin_gateway.ok("PATCH", f"/admin/accounts/{name}", {"group": "default"})
    assert body["group"] == "default"
    listed = await admin_gateway.ok("GET", "/admin/accounts?group=adm-half&limit=1000")
    assert name not in [a["name"] for a in listed["data"]]
