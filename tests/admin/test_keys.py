"""Keys through the admin API: the secret is shown once and works at once; changes to
the allow-list and revocation apply to the very next request."""

from __future__ import annotations

import openai
import pytest

from tests.admin.helpers import Admin


async def test_create_returns_a_working_secret_once(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key(
        budget_usd="2.5",
        budget_period="daily",
        rpm=100,
        tpm=100_000,
        allowed_ips=["10.1.2.3/8", "127.0.0.1", "::1"],
    )
    assert secret.startswith("sk-hg-")
    reply = await admin_gateway.ask(secret)
    assert reply.choices[0].message.content
    view = await admin_gateway.ok("GET", f"/admin/keys/{name}")
    assert "secret" not in view and secret not in str(view)
    assert view["prefix"] == secret[:10] + "..."
    assert view["budget_usd"] == "2.500000" and view["budget_micros"] == 2_500_000
    assert view["budget_period"] == "daily" and view["rpm"] == 100 and view["tpm"] == 100_000
    assert view["allowed_ips"] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]  # normalised CIDRs
    assert view["status"] == "active" and view["account"] == "default"
    listing = await admin_gateway.ok("GET", "/admin/keys?limit=1000")
    assert secret not in str(listing)


async def test_patch_models_is_enforced_at_once(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key()
    await admin_gateway.ask(secret, "alt-model")  # cached as "every model"
    body = await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"models": ["gpt-4o-mini"]})
    assert body["models"] == ["gpt-4o-mini"]
    with pytest.raises(openai.PermissionDeniedError) as info:
        await admin_gateway.ask(secret, "alt-model")
    assert info.value.status_code == 403
    await admin_gateway.ask(secret, "gpt-4o-mini")
    body = await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"models": None})  # null clears
    assert body["models"] is None
    await admin_gateway.ask(secret, "alt-model")


async def test_patch_changes_only_what_is_sent(admin_gateway: Admin) -> None:
    name, _ = await admin_gateway.new_key(budget_usd=3, rpm=10, price_multiplier="1.5")
    body = await admin_gateway.ok(
        "PATCH", f"/admin/keys/{name}", {"tpm": 500, "expires_at": "2999-01-01T00:00:00"}
    )
    assert body["tpm"] == 500 and body["rpm"] == 10 and body["budget_micros"] == 3_000_000
    assert body["price_multiplier"] == "1.5" and body["expires_at"].startswith("2999-01-01T00:00:00")
    body = await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"budget_usd": None, "rpm": None})
    assert body["budget_micros"] is None and body["rpm"] is None and body["tpm"] == 500


async def test_budget_set_by_patch_refuses_with_402(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key()
    await admin_gateway.ask(secret)
    await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"budget_usd": "0.000001"})
    with pytest.raises(openai.APIStatusError) as info:
        await admin_gateway.ask(secret)
    assert info.value.status_code == 402


async def test_delete_revokes_at_once(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key()
    await admin_gateway.ask(secret)  # now in the key cache
    body = await admin_gateway.ok("DELETE", f"/admin/keys/{name}")
    assert body["status"] == "revoked" and body["revoked_at"]
    with pytest.raises(openai.AuthenticationError) as info:
        await admin_gateway.ask(secret)
    assert "revoked" in str(info.value)
    again = await admin_gateway.ok("DELETE", f"/admin/keys/{name}")  # idempotent
    assert again["revoked_at"] == body["revoked_at"]


async def test_expired_by_patch_is_401(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key()
    await admin_gateway.ask(secret)
    body = await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"expires_at": "2020-01-01T00:00:00Z"})
    assert body["status"] == "expired"
    with pytest.raises(openai.AuthenticationError):
        await admin_gateway.ask(secret)


async def test_keys_of_an_account_are_listed_and_paged(admin_gateway: Admin) -> None:
    account = await admin_gateway.account("1")
    names = [(await admin_gateway.new_key(account=account))[0] for _ in range(3)]
    first = await admin_gateway.ok("GET", f"/admin/keys?account={account}&limit=2")
    assert [k["name"] for k in first["data"]] == names[:2] and first["has_more"]
    rest = await admin_gateway.ok(
        "GET", f"/admin/keys?account={account}&limit=2&cursor={first['next_cursor']}"
    )
    assert [k["name"] for k in rest["data"]] == names[2:] and not rest["has_more"]
    assert all(k["account"] == account for k in first["data"] + rest["data"])


async def test_max_concurrency_is_set_and_cleared_through_the_api(admin_gateway: Admin) -> None:
    name, _ = await admin_gateway.new_key()
    body = await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"max_concurrency": 2})
    assert body["max_concurrency"] == 2
    body = await admin_gateway.ok("PATCH", f"/admin/keys/{name}", {"max_concurrency": None})
    assert body["max_concurrency"] is None
