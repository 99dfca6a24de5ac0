"""The console in a real headless Chromium: sign up, create a key, use it with the openai
SDK, find the request in the usage log and the chart, redeem a code, chat in the
playground, check a phone-sized screen; an admin adds a channel and tests it. Every
screen is saved as a screenshot, and no page may log a console error."""

from __future__ import annotations

import re
from typing import Any

import openai

from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, new_email
from tests.console.test_console_flows import admin_api


async def log_in(page: Any, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/ui/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))


async def test_a_person_signs_up_and_uses_the_gateway(
    chromium: Pages,
    console_gateway: LiveGateway,
) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()

    await page.goto(f"{base}/ui/login")
    await shot(page, "01-login")
    await page.click("text=Sign up")
    email = new_email()
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await shot(page, "02-signup")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))
    assert await page.text_content("[data-testid=balance]") == "$5.00"

    # Create a key: the secret is shown once, with a copy button.
    await page.click("nav.nav >> text=API keys")
    await page.fill("input[name=name]", "browser-key")
    await page.fill("input[name=budget_usd]", "3")
    await page.click("text=Create key")
    secret = (await page.text_content("[data-testid=new-secret]")).strip()
    assert secret.startswith("sk-")
    await page.click("button.copy")
    await shot(page, "03-keys")

    # The key works with the official SDK.
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=secret, max_retries=0)
    answer = await client.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "hello from the browser test"}]
    )
    assert "hello from the browser test" in (answer.choices[0].message.content or "")
    await console_gateway.state.usage.flush()

    # The request is in the usage log and in the dashboard's charts.
    await page.click("nav.nav >> text=Usage")
    row = page.locator("[data-testid=usage-table] tbody tr").first
    assert "echo-1" in await row.text_content()
    assert "browser-key" in await row.text_content()
    await shot(page, "04-usage")
    await page.click("nav.nav >> text=Dashboard")
    assert await page.locator("[data-testid=spend-chart] svg rect").count() > 1
    assert await page.text_content("[data-testid=requests-month]") == "1"
    await shot(page, "05-dashboard")

    # Redeem a code; the balance changes.
    (code,) = (await admin_api(console_gateway, "POST", "/admin/redemption-codes",
                               {"batch": "browser", "count": 1, "amount_usd": "10"}))["codes"]  # fmt: skip
    await page.click("nav.nav >> text=Redeem")
    before = await page.text_content("[data-testid=balance]")
    await page.fill("input[name=code]", code)
    await page.click("button[type=submit] >> text=Redeem")
    await page.wait_for_selector("text=added to your balance")
    after = await page.text_content("[data-testid=balance]")
    assert (before, after) == ("$5.00", "$15.00")  # less a few micro-dollars of echo-1, rounded
    await shot(page, "06-redeem")

    # The playground streams an answer from the chosen key and model.
    await page.click("nav.nav >> text=Playground")
    await page.select_option("#pg-model", "echo-1")
    await page.fill("#pg-input", "stream this to the page")
    await page.click("#pg-send")
    answer_bubble = page.locator("#pg-log .msg.assistant").first
    await answer_bubble.wait_for()
    await page.wait_for_function(
        "() => { const m = document.querySelector('#pg-log .msg.assistant');"
        " return m && !m.classList.contains('pending') && m.textContent.length > 0; }"
    )
    assert "stream this to the page" in await answer_bubble.text_content()
    await shot(page, "07-playground")

    await page.click("nav.nav >> text=Settings")
    await shot(page, "08-settings")

    # A phone-sized screen: nothing wider than the viewport.
    phone: Any = await chromium.new_page(width=390, height=844)
    await log_in(phone, base, email, PASSWORD)
    for path in ("/ui/dashboard", "/ui/keys", "/ui/usage", "/ui/playground"):
        await phone.goto(base + path)
        overflow = await phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    await phone.goto(f"{base}/ui/dashboard")
    await shot(phone, "09-phone-dashboard")

    assert chromium.errors == []


async def test_an_admin_adds_a_channel_and_tests_it(
    chromium: Pages,
    console_gateway: LiveGateway,
) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()
    await log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await page.click("nav.nav >> text=Admin")
    await page.wait_for_url(re.compile(r"/ui/admin/channels$"))
    await shot(page, "10-admin-channels")
    name = "browser-echo"
    form = page.locator("[data-testid=channel-create]")
    await form.locator("input[name=name]").fill(name)
    await form.locator("select[name=type]").select_option("echo")
    await form.locator("input[name=models]").fill("browser-echo-1")
    await form.locator("button[type=submit]").click()
    row = page.locator(f"[data-testid=channel-row-{name}]")
    await row.wait_for()
    await row.locator("button[data-testid=channel-test]").click()
    result = page.locator(f"[data-testid=channel-test-result-{name}]")
    await result.wait_for(state="visible")
    selector = f"[data-testid=channel-test-result-{name}]"
    await page.wait_for_function(
        f"() => /OK in \\d+ ms/.test(document.querySelector('{selector}').textContent)"
    )
    # The "last test" cell is read again after the test, without a reload.
    await row.locator("[data-testid=channel-last-test] .badge.on").wait_for()
    await shot(page, "11-admin-channel-tested")
    await page.goto(base + "/ui/admin/codes")
    copy = page.locator("button[data-copy=new-codes]")
    assert not await copy.is_visible()  # nothing to copy before a batch
    codes_form = page.locator("[data-testid=codes-form]")
    await codes_form.locator("input[name=batch]").fill("browser-batch")
    await codes_form.locator("input[name=count]").fill("2")
    await codes_form.locator("input[name=amount_usd]").fill("3")
    await codes_form.locator("button[type=submit]").click()
    await page.locator("[data-testid=new-codes]").wait_for(state="visible")
    await copy.wait_for(state="visible")
    table = page.locator("[data-testid=codes-table]")
    await table.locator("text=browser-batch").first.wait_for()  # the table shows the batch at once
    assert await table.locator("tbody tr", has_text="browser-batch").count() == 2
    for path, shot_name in (
        ("/ui/admin/pricing", "12-admin-pricing"),
        ("/ui/admin/groups", "13-admin-groups"),
        ("/ui/admin/accounts", "14-admin-accounts"),
        ("/ui/admin/codes", "15-admin-codes"),
        ("/ui/admin/usage", "16-admin-usage"),
        ("/ui/admin/audit", "17-admin-audit"),
    ):
        response = await page.goto(base + path)
        assert response.status == 200, path
        await shot(page, shot_name)
    assert "console:" + ADMIN_EMAIL in await page.content()  # the audit log names the admin
    await admin_api(console_gateway, "DELETE", f"/admin/channels/{name}")  # sealed with this secret_key
    assert chromium.errors == []
