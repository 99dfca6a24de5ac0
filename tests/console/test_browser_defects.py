"""The console's defects found by hand (issue 16), each checked in a real headless Chromium:
Post/Redirect/Get on forms, the playground's choice of models, the admin usage log, sign-up
and admin form errors, accessibility basics, and a phone-sized screen."""

from __future__ import annotations

import re
from typing import Any

from hubgate.console import totp
from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import PASSWORD, new_email


async def sign_up(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/ui/signup")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.fill("input[name=confirm]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))


async def test_forms_post_redirect_get(chromium: Pages, console_gateway: LiveGateway) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()
    await sign_up(page, base, new_email())

    # Reloading after creating a key does not send the form again (it used to answer 409).
    await page.goto(f"{base}/ui/keys")
    await page.fill("input[name=name]", "reload-me")
    await page.click("text=Create key")
    await page.locator("[data-testid=new-secret]").wait_for()
    assert page.url.endswith("/ui/keys")
    response = await page.reload()
    assert response.status == 200
    assert await page.locator("[role=alert]").count() == 0
    assert await page.locator("[data-testid=new-secret]").count() == 0  # shown once
    assert await page.locator("[data-testid=keys-table] td", has_text="reload-me").count() == 1

    # After a password change the navigation keeps Settings as its current item.
    await page.click("nav.nav >> text=Settings")
    new = "a-brand-new-password-8642"
    await page.fill("input[name=current]", PASSWORD)
    await page.fill("input[name=password]", new)
    await page.fill("input[name=confirm]", new)
    await page.click("text=Change password")
    await page.locator("text=Password changed.").wait_for()
    assert page.url.endswith("/ui/settings")
    assert await page.text_content("nav.nav [aria-current=page]") == "Settings"

    # Turning two-factor sign-in on, then off: the banner and the card agree at once.
    await page.click("text=Set up")
    secret = (await page.text_content("[data-testid=totp-secret]")).strip()
    await page.fill("input[name=code]", totp.code_now(secret))
    await page.click("text=Turn on")
    await page.locator("text=Two-factor sign-in is on.").wait_for()
    assert await page.locator("text=On: log-in asks for a code").count() == 1
    await shot(page, "20-settings-totp-on")
    await page.fill("form[action='/ui/settings/totp/disable'] input[name=current]", new)
    await page.click("text=Turn off")
    await page.locator("text=Two-factor sign-in is off.").wait_for()
    assert await page.locator("text=Off. Turn it on").count() == 1
    assert chromium.errors == []
