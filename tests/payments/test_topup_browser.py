"""The Top-up page, its history and the admin's refund in a real headless Chromium: pick a
preset, pay on the fake Stripe's page, land on the history with the payment credited,
and as an admin refund it. Screens are saved; no page may log a console error."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, new_email
from tests.payments.conftest import Setup


async def test_a_customer_tops_up_with_stripe_and_an_admin_refunds(
    chromium: Pages, setup: Setup, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the HTTP tests cover PostgreSQL; one browser run is enough")
    base = setup.gw.url
    page: Any = await chromium.new_page()
    await page.goto(f"{base}/ui/signup")
    await page.fill("input[name=email]", new_email())
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))

    await page.click("nav.nav >> text=Top up")
    assert "+10% from $100" in await page.text_content("[data-testid=bonus-tiers]")
    await page.check("input[name=amount][value='100']")
    await page.check("input[name=method][value=card]")
    await shot(page, "30-topup")
    await page.click("text=Continue to payment")
    await page.wait_for_selector("[data-testid=pay-link]")
    await page.click("[data-testid=pay-link] a")  # the fake Stripe "pays" and redirects back
    await page.wait_for_url(re.compile(r"/ui/topup/history\?order=hgp"))
    assert await page.text_content("[data-testid=topup-status]") == "paid"
    assert "$110.00" in await page.text_content("[data-testid=topup-table]")
    await shot(page, "31-topup-history")
    order = page.url.rsplit("=", 1)[-1]

    admin: Any = await chromium.new_page()
    await admin.goto(f"{base}/ui/login")
    await admin.fill("input[name=email]", ADMIN_EMAIL)
    await admin.fill("input[name=password]", ADMIN_PASSWORD)
    await admin.click("button[type=submit]")
    await admin.wait_for_url(re.compile(r"/ui/dashboard$"))
    await admin.goto(f"{base}/ui/admin/payments")
    admin.on("dialog", lambda dialog: dialog.accept())
    await admin.click(f"tr:has-text('{order}') [data-testid=refund]")
    await admin.wait_for_selector(f"tr:has-text('{order}') >> text=refunded")
    await shot(admin, "32-admin-payments")

    phone: Any = await chromium.new_page(width=390, height=844)
    await phone.goto(f"{base}/ui/login")
    await phone.fill("input[name=email]", ADMIN_EMAIL)
    await phone.fill("input[name=password]", ADMIN_PASSWORD)
    await phone.click("button[type=submit]")
    await phone.wait_for_url(re.compile(r"/ui/dashboard$"))
    for path in ("/ui/topup", "/ui/topup/history"):
        await phone.goto(base + path)
        overflow = await phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    assert chromium.errors == []
