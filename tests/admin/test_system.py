"""Health, the channel listing (upstream keys never shown), and no-op changes."""

from __future__ import annotations

from tests.admin.helpers import Admin
from tests.fakes.openai_upstream import DEFAULT_API_KEY


async def test_health_reports_database_and_usage_backlog(admin_gateway: Admin) -> None:
    body = await admin_gateway.ok("GET", "/admin/health")
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["database_backend"] in ("sqlite", "postgresql")
    assert isinstance(body["usage_pending"], int) and body["usage_dropped"] == 0
    assert body["usage_quarantined"] == 0 and body["usage_lag_s"] >= 0
    assert body["channels"] == 2 and body["uptime_s"] >= 0


async def test_channels_never_show_upstream_keys(admin_gateway: Admin) -> None:
    body = await admin_gateway.ok("GET", "/admin/channels")
    channels = {c["name"]: c for c in body["data"]}
    main = channels["adm-main"]
    assert main["running"] is True and main["upstream_keys"] == 1 and main["type"] == "openai"
    assert "gpt-4o-mini" in main["models"]
    assert channels["adm-alt"]["model_map"] == {"alt-model": "gpt-4o-mini"}
    assert DEFAULT_API_KEY not in str(body)
    # Channels of other gateways on the same database are listed, but not as running here.
    assert all(c["running"] == (c["name"] in ("adm-main", "adm-alt")) for c in body["data"])


async def test_an_empty_patch_changes_and_audits_nothing(admin_gateway: Admin) -> None:
    account = await admin_gateway.account("1")
    key, _ = await admin_gateway.new_key(account=account)
    before = await admin_gateway.ok("GET", "/admin/audit?limit=1")
    assert (await admin_gateway.ok("PATCH", f"/admin/accounts/{account}", {}))["name"] == account
    assert (await admin_gateway.ok("PATCH", f"/admin/keys/{key}", {}))["name"] == key
    after = await admin_gateway.ok("GET", "/admin/audit?limit=1")
    assert after["data"][0]["id"] == before["data"][0]["id"]
