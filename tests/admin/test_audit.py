"""Every admin change leaves an audit entry (who, what, when, before and after), and no
secret ever reaches the audit table: not a key's secret, not a redemption code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hubgate.storage.audit import redact
from hubgate.storage.tables import audit_log
from tests.admin.helpers import PRICED_MODEL, REDEEM, Admin, unique


async def _entries(admin: Admin, target: str) -> list[dict[str, Any]]:
    page = await admin.ok("GET", f"/admin/audit?target={target}&limit=100")
    return list(reversed(page["data"]))  # oldest first


async def test_each_change_is_audited_with_before_and_after(admin_gateway: Admin) -> None:
    account = unique("acct")
    await admin_gateway.ok("POST", "/admin/accounts", {"name": account, "credit_usd": "1"}, 201)
    await admin_gateway.ok(
        "POST", f"/admin/accounts/{account}/adjust", {"amount_usd": "2", "reference": "r1"}
    )
    await admin_gateway.ok("PATCH", f"/admin/accounts/{account}", {"disabled": True})
    entries = await _entries(admin_gateway, account)
    assert [e["action"] for e in entries] == ["accounts.create", "accounts.adjust", "accounts.update"]
    assert all(e["actor"] == "admin" and e["created_at"] for e in entries)
    create, adjust, update = entries
    assert create["before"] is None and create["after"]["balance_micros"] == 1_000_000
    assert adjust["before"]["balance_micros"] == 1_000_000 and adjust["after"]["balance_micros"] == 3_000_000
    assert adjust["after"]["amount_micros"] == 2_000_000 and adjust["after"]["reference"] == "r1"
    assert update["before"]["disabled"] is False and update["after"]["disabled"] is True

    key = unique("key")
    await admin_gateway.ok("POST", "/admin/keys", {"name": key, "rpm": 5}, 201)
    await admin_gateway.ok("PATCH", f"/admin/keys/{key}", {"rpm": 7})
    await admin_gateway.ok("DELETE", f"/admin/keys/{key}")
    entries = await _entries(admin_gateway, key)
    assert [e["action"] for e in entries] == ["keys.create", "keys.update", "keys.revoke"]
    assert entries[1]["before"]["rpm"] == 5 and entries[1]["after"]["rpm"] == 7
    assert entries[2]["before"]["status"] == "active" and entries[2]["after"]["status"] == "revoked"

    group = unique("grp")
    await admin_gateway.ok("PUT", f"/admin/groups/{group}", {"multiplier": "0.9"})
    await admin_gateway.ok("PUT", f"/admin/groups/{group}", {"multiplier": "0.7"})
    entries = await _entries(admin_gateway, group)
    assert [(e["before"] or {}).get("multiplier") for e in entries] == [None, "0.9"]
    assert [e["after"]["multiplier"] for e in entries] == ["0.9", "0.7"]

    audit = await admin_gateway.ok("GET", "/admin/audit?action=groups.put&limit=1")
    assert audit["data"][0]["target"] == group and audit["has_more"] is True


async def test_secrets_never_reach_the_audit_table(admin_gateway: Admin) -> None:
    account = await admin_gateway.account("0")
    key_name, secret = await admin_gateway.new_key(account=account)
    await admin_gateway.ok("PATCH", f"/admin/keys/{key_name}", {"models": ["gpt-4o-mini"]})
    await admin_gateway.ok("DELETE", f"/admin/keys/{key_name}")
    _, live_secret = await admin_gateway.new_key(account=account)
    codes = await admin_gateway.codes(count=5)
    headers = {"authorization": f"Bearer {live_secret}"}
    status, _ = await admin_gateway.call("POST", REDEEM, json={"code": codes[0]}, headers=headers)
    assert status == 200
    await admin_gateway.ok("PUT", f"/admin/pricing/{PRICED_MODEL}-audit", {"input": 1})
    engine = admin_gateway.live.state.engine
    async with engine.connect() as conn:
        dump = "\n".join(str(tuple(row)) for row in await conn.execute(select(audit_log)))
    for secret_text in [secret, live_secret, *codes, admin_gateway.key]:
        assert secret_text not in dump
    redeemed = await admin_gateway.ok("GET", f"/admin/audit?action=codes.redeem&target={account}")
    (entry,) = redeemed["data"]
    assert entry["actor"].startswith("key:") and entry["after"]["amount_micros"] == 1_000_000


def test_redaction_covers_secret_fields_and_secret_looking_values() -> None:
    value = {
        "name": "k",
        "secret": "anything",
        "nested": [{"api_key": "x", "note": "sk-hg-" + "a" * 40}, "hg-redeem-abcdefghijkl"],
        "prefix": "sk-hg-abcd...",
        "model": "gpt-4o-mini",
    }
    assert redact(value) == {
        "name": "k",
        "secret": "***",
        "nested": [{"api_key": "***", "note": "***"}, "***"],
        "prefix": "sk-hg-abcd...",
        "model": "gpt-4o-mini",
    }
