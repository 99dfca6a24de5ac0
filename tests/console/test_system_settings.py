"""System settings an admin changes at run time (issue 16): stored in the database over the
config file, applied at once to sign-up, new accounts and every page, validated, audited,
and back to the file's value when cleared."""

from __future__ import annotations

import re

from tests.conftest import LiveGateway
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Browser, admin_call, new_email
from tests.console.test_console_flows import BALANCE, admin_api

CLEAR = dict.fromkeys(
    ("site_name", "announcement", "signup", "new_account_credit_usd", "new_account_group",
     "topup_min_usd", "topup_max_usd", "low_balance_usd", "default_rpm", "default_tpm",
     "default_max_concurrency"),
)  # fmt: skip


async def test_stored_settings_override_the_file_until_cleared(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    gw = console_gateway
    start = await admin_api(gw, "GET", "/admin/settings")
    assert start["values"]["signup"] == "open" and start["file"]["new_account_credit_usd"] == "5"
    try:
        changed = await admin_api(gw, "PATCH", "/admin/settings", {
            "site_name": "Acme AI", "announcement": "Maintenance at 22:00 UTC", "signup": "closed",
            "new_account_credit_usd": "7.5",
        })  # fmt: skip
        assert changed["values"]["site_name"] == "Acme AI" and changed["stored"]["signup"] == "closed"
        status, page = await browser.get("/ui/login")
        assert "<title>" in page and "Acme AI" in page and 'data-testid="announcement"' in page
        assert "Maintenance at 22:00 UTC" in page
        status, _ = await browser.signup(new_email())
        assert status == 404  # closed
        await admin_api(gw, "PATCH", "/admin/settings", {"signup": "open"})
        status, page = await browser.signup(new_email())
        assert status == 200 and BALANCE.search(page).group(1) == "$7.50"  # type: ignore[union-attr]
        for bad in ({"topup_min_usd": "0"}, {"signup": "sometimes"}, {"colour": "blue"},
                    {"topup_min_usd": "500", "topup_max_usd": "100"}, {"site_name": ""}):  # fmt: skip
            status, answer = await admin_call(gw, "PATCH", "/admin/settings", bad)
            assert status == 400 and answer["error"]["message"], (bad, answer)
        audit = await admin_api(gw, "GET", "/admin/audit?action=settings.update")
        assert audit["data"] and audit["data"][0]["target"] == "system"
        await other_browser.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        status, page = await other_browser.get("/ui/admin/settings")
        assert status == 200 and 'data-testid="settings-form"' in page
        assert re.search(r'data-testid="setting-new_account_credit_usd">7.5<', page)
    finally:
        cleared = await admin_api(gw, "PATCH", "/admin/settings", CLEAR)
    assert cleared["stored"] == {} and cleared["values"] == start["values"]
    _, page = await browser.get("/ui/login")
    assert "Acme AI" not in page and 'data-testid="announcement"' not in page
