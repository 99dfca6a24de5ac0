"""Issue 16's new console features in a real headless Chromium: a customer edits, disables
and deletes a key and reads the balance history; an admin switches off, tests and deletes
selected channels in one go and sees each channel's traffic."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, new_email
from tests.console.test_browser import log_in
from tests.console.test_browser_defects import sign_up
from tests.console.test_console_flows import admin_api


async def test_a_customer_manages_a_key_and_reads_the_balance_history(
    chromium: Pages, console_gateway: LiveGateway
) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_up(page, base, new_email())
    await page.goto(f"{base}/ui/keys")
    await page.fill("input[name=name]", "to-edit")
    await page.click("text=Create key")
    await page.locator("[data-testid=new-secret]").wait_for()
    await page.click("[data-testid=edit-key-to-edit]")
    await page.wait_for_url(re.compile(r"/ui/keys/\d+/edit$"))
    form = page.locator("[data-testid=key-edit-form]")
    await form.locator("input[name=rpm]").fill("0")
    await form.locator("button[type=submit]").click()
    await page.locator("#f-rpm-error").wait_for()  # refused, tied to its field
    chromium.errors[:] = [e for e in chromium.errors if "status of 400" not in e]  # that refusal's page
    await form.locator("input[name=rpm]").fill("30")
    await form.locator("input[name=budget_usd]").fill("2.5")
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/ui/keys$"))
    await page.locator("[data-testid=key-notice]").wait_for()
    assert "$2.50" in await page.locator("[data-testid=keys-table]").inner_text()
    await page.click("[data-testid=disable-key-to-edit]")
    await page.locator("[data-testid=enable-key-to-edit]").wait_for()
    await shot(page, "20-keys-managed")
    await page.click("[data-testid=delete-key-to-edit]")
    await page.locator("[data-testid=key-notice]", has_text="deleted").wait_for()
    assert await page.locator("[data-testid=edit-key-to-edit]").count() == 0
    await page.click("nav.nav >> text=Balance")
    await page.wait_for_url(re.compile(r"/ui/billing$"))
    assert "Opening credit" in await page.locator("[data-testid=ledger-table]").inner_text()
    await shot(page, "21-balance-history")
    assert chromium.errors == []


async def test_an_admin_acts_on_selected_channels(chromium: Pages, console_gateway: LiveGateway) -> None:
    base = console_gateway.url
    names = ["bulk-echo-a", "bulk-echo-b"]
    for name in names:
        await admin_api(console_gateway, "POST", "/admin/channels",
                        {"name": name, "type": "echo", "models": [name + "-m"]})  # fmt: skip
    page: Any = await chromium.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await page.goto(f"{base}/ui/admin/channels")
    for name in names:
        await page.check(f"[data-testid=channel-row-{name}] input[data-bulk-select]")
    async with page.expect_navigation():  # the page reloads with the outcome (an old one could match)
        await page.click("[data-testid=bulk-disable]")
    await page.locator("[data-testid=bulk-result]", has_text="2 of 2 done").wait_for()
    for name in names:
        state = page.locator(f"[data-testid=channel-row-{name}] [data-testid=channel-enabled]")
        assert await state.inner_text() == "disabled"
    for name in names:
        await page.check(f"[data-testid=channel-row-{name}] input[data-bulk-select]")
    async with page.expect_navigation():
        await page.click("[data-testid=bulk-test]")
    await page.locator("[data-testid=bulk-result]", has_text="2 of 2 done").wait_for()
    assert (
        "24 h"
        in await page.locator(
            f"[data-testid=channel-row-{names[0]}] [data-testid=channel-usage]"
        ).inner_text()
    )
    await page.click("[data-bulk-all]")
    async with page.expect_navigation():
        await page.click("[data-testid=bulk-delete]")  # the config-file channels refuse, each said
    await page.locator("[data-testid=bulk-result]", has_text="config file").wait_for()
    for name in names:
        assert await page.locator(f"[data-testid=channel-row-{name}]").count() == 0
    assert chromium.errors == []
