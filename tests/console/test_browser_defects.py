"""The console's defects found by hand (issue 16), each checked in a real headless Chromium:
Post/Redirect/Get on forms, the playground's choice of models, the admin usage log, sign-up
and admin form errors, accessibility basics, and a phone-sized screen."""

from __future__ import annotations

import re
import uuid
from typing import Any

from hubgate.console import totp
from tests.conftest import LiveGateway, free_port
from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, admin_call, new_email
from tests.console.test_browser import log_in
from tests.console.test_console_flows import admin_api


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
    qr = page.locator("[data-testid=totp-qr] svg")
    await qr.wait_for(state="visible")  # a QR code to scan
    assert (await qr.bounding_box())["width"] >= 150
    secret = (await page.text_content("[data-testid=totp-secret]")).strip()
    await page.fill("input[name=code]", totp.code_now(secret))
    await page.click("text=Turn on")
    await page.locator("text=Two-factor sign-in is on.").wait_for()
    assert await page.locator("text=On: log-in asks for a code").count() == 1
    codes = (await page.text_content("[data-testid=recovery-codes]")).split()
    assert len(codes) == 10  # one-time recovery codes, shown once
    assert await page.text_content("[data-testid=recovery-left]") == "10 recovery codes left."
    await shot(page, "20-settings-totp-on")
    await page.fill("form[action='/ui/settings/totp/disable'] input[name=current]", new)
    await page.click("text=Turn off")
    await page.locator("text=Two-factor sign-in is off.").wait_for()
    assert await page.locator("text=Off. Turn it on").count() == 1
    assert chromium.errors == []


async def test_the_playground_offers_healthy_chat_models(
    chromium: Pages, console_gateway: LiveGateway
) -> None:
    base = console_gateway.url
    dead = f"aaa-dead-{uuid.uuid4().hex[:6]}"  # sorts before every other model
    body = {"name": dead, "type": "openai-compatible", "base_url": f"http://127.0.0.1:{free_port()}/v1",
            "api_key": "sk-nowhere", "models": [f"{dead}-chat"]}  # fmt: skip
    await admin_api(console_gateway, "POST", "/admin/channels", body)
    try:
        status, tested = await admin_call(console_gateway, "POST", f"/admin/channels/{dead}/test")
        assert status == 200 and tested["ok"] is False, tested
        page: Any = await chromium.new_page()
        email = new_email()
        await sign_up(page, base, email)
        await page.goto(f"{base}/ui/keys")
        await page.fill("input[name=name]", "any-model")
        await page.click("text=Create key")
        await page.locator("[data-testid=new-secret]").wait_for()
        # The key form offers only the catalogue's models: a key limited to a model that does
        # not exist comes from the admin API (or the user API).
        account = await admin_api(console_gateway, "GET", f"/admin/accounts/{email}")
        ghost = {"name": f"u{account['id']}-ghost", "account": email, "models": ["ghost-model"]}
        await admin_api(console_gateway, "POST", "/admin/keys", ghost)
        await page.reload()

        await page.goto(f"{base}/ui/playground")
        await page.select_option("#pg-key", label="any-model")
        offered = await page.eval_on_selector_all("#pg-model option", "els => els.map(e => e.value)")
        assert "echo-1" in offered and f"{dead}-chat" in offered
        for other in ("echo-embed", "text-embedding-3-small", "whisper-1", "dall-e-3", "tts-1"):
            assert other not in offered, other  # not chat models
        assert await page.input_value("#pg-model") != f"{dead}-chat"  # not the first by name: it is down
        # Down models go after the healthy ones (other tests' channels may be down too).
        assert offered.index(f"{dead}-chat") > offered.index("echo-1")

        # After a chat with echo-1, echo-1 is the first choice.
        await page.select_option("#pg-model", "echo-1")
        await page.fill("#pg-input", "hello")
        await page.click("#pg-send")
        await page.wait_for_function(
            "() => { const m = document.querySelector('#pg-log .msg.assistant');"
            " return m && !m.classList.contains('pending') && m.textContent.length > 0; }"
        )
        await console_gateway.state.usage.flush()
        await page.reload()
        await page.select_option("#pg-key", label="any-model")
        assert await page.input_value("#pg-model") == "echo-1"

        # A key whose only model does not exist: a clear message, no empty list to pick from.
        await page.select_option("#pg-key", label="ghost")
        note = page.locator("[data-testid=pg-note]")
        await note.wait_for(state="visible")
        assert "ghost-model" in await note.text_content()
        assert await page.is_disabled("#pg-model") and await page.is_disabled("#pg-send")
        await shot(page, "21-playground-no-models")
        await page.select_option("#pg-key", label="any-model")
        assert not await note.is_visible() and not await page.is_disabled("#pg-send")
    finally:
        await admin_api(console_gateway, "DELETE", f"/admin/channels/{dead}")
    assert chromium.errors == []


CONTRAST = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const style = getComputedStyle(el);
  const a = lum(rgb(style.color)), b = lum(rgb(style.backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


async def test_forms_say_what_is_wrong_where(chromium: Pages, console_gateway: LiveGateway) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()

    # Sign-up: zxcvbn's judgement and email-validator's, each on its own field.
    await page.goto(f"{base}/ui/signup")
    await page.fill("input[name=email]", "foo@bar")
    await page.fill("input[name=password]", "password123")
    await page.fill("input[name=confirm]", "password123")
    await page.click("button[type=submit]")
    email_box = page.locator("input[name=email]")
    assert await email_box.get_attribute("aria-invalid") == "true"
    described = await email_box.get_attribute("aria-describedby")
    assert "period" in await page.text_content(f"#{described}")
    password_box = page.locator("input[name=password]")
    described = await password_box.get_attribute("aria-describedby")
    assert "too easy to guess" in await page.text_content(f"#{described}")
    await shot(page, "22-signup-errors")

    # A skip link is the first stop of the keyboard and leads to the main content.
    await page.goto(f"{base}/ui/no-such-page")  # a page without autofocus
    await page.keyboard.press("Tab")
    skip = page.locator("[data-testid=skip-link]")
    assert await skip.evaluate("el => el === document.activeElement")
    assert (await skip.bounding_box())["y"] >= 0  # shown when focused
    await page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    assert await page.evaluate("() => document.activeElement.id") == "main"

    # An admin form: the API's validation text becomes advice on the field.
    await log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await page.goto(f"{base}/ui/admin/codes")
    form = page.locator("[data-testid=codes-form]")
    await form.locator("input[name=batch]").fill("bad-amount")
    await form.locator("input[name=amount_usd]").fill("five")
    await form.locator("button[type=submit]").click()
    amount = form.locator("input[name=amount_usd]")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=codes-form] input[name=amount_usd]')"
        ".getAttribute('aria-invalid') === 'true'"
    )
    described = await amount.get_attribute("aria-describedby")
    assert await page.text_content(f"#{described}") == "Enter an amount in dollars, e.g. 5 or 2.50."
    box = await form.locator(".form-error").text_content()
    assert "Input should be" not in box and "Enter an amount in dollars" in box
    await shot(page, "23-admin-field-error")
    await form.locator("input[name=amount_usd]").fill("2.50")
    await form.locator("button[type=submit]").click()
    await page.locator("[data-testid=new-codes]").wait_for(state="visible")
    assert await amount.get_attribute("aria-invalid") is None  # cleared once it is right

    # Green and amber badges (and red) meet WCAG AA 4.5:1.
    await page.goto(f"{base}/ui/admin/channels")
    for selector in (".badge.on", ".badge.warn", ".badge.off"):
        await page.evaluate(
            "(cls) => { const b = document.createElement('span'); b.className = cls;"
            " b.textContent = 'x'; document.getElementById('main').appendChild(b); }",
            selector.replace(".", " ").strip(),
        )
        ratio = await page.locator(selector).last.evaluate(CONTRAST)
        assert ratio >= 4.5, (selector, ratio)
    # The refused forms answered 400 and the missing page 404, on purpose; nothing else failed.
    assert [e for e in chromium.errors if "Failed to load resource" not in e] == []
    chromium.errors.clear()


CHART_TEXT_PX = """() => {
  const sizes = [];
  document.querySelectorAll("svg.chart").forEach((svg) => {
    const box = svg.getBoundingClientRect();
    if (box.width === 0) return;  // the other drawing, not shown at this width
    const scale = box.width / svg.viewBox.baseVal.width;
    svg.querySelectorAll("text").forEach((t) => sizes.push(parseFloat(t.getAttribute("font-size")) * scale));
  });
  return sizes;
}"""

ACTIONS_REACHABLE = """() => [...document.querySelectorAll(".table-wrap")].map((wrap) => {
  const hint = wrap.previousElementSibling;
  const hinted = hint && hint.classList.contains("scroll-hint") && !hint.hidden && hint.offsetHeight > 0;
  const buttons = [...wrap.querySelectorAll("button, summary")];
  const inView = buttons.every((b) => b.getBoundingClientRect().right <= window.innerWidth);
  return {scrolls: wrap.scrollWidth > wrap.clientWidth, hinted, inView,
          focusable: wrap.tabIndex === 0, buttons: buttons.length};
})"""


async def test_a_phone_reaches_row_actions_and_reads_the_charts(
    chromium: Pages, console_gateway: LiveGateway
) -> None:
    base = console_gateway.url
    phone: Any = await chromium.new_page(width=390, height=844)
    await log_in(phone, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    seen_scrolling = False
    for path in ("/ui/keys", "/ui/usage", "/ui/admin/channels", "/ui/admin/accounts", "/ui/admin/codes",
                 "/ui/admin/pricing", "/ui/admin/groups"):  # fmt: skip
        await phone.goto(base + path)
        overflow = await phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)  # only tables scroll, never the page
        for table in await phone.evaluate(ACTIONS_REACHABLE):
            if table["scrolls"]:  # a table wider than the phone says so, and takes the keyboard
                seen_scrolling = True
                assert table["hinted"] and table["focusable"], (path, table)
            else:
                assert table["inView"] and not table["hinted"], (path, table)
    assert seen_scrolling  # the admin tables do scroll on a phone
    await phone.goto(base + "/ui/admin/channels")
    await phone.locator("[data-testid=scroll-hint]").first.wait_for(state="visible")
    await shot(phone, "24-phone-admin-channels", full_page=False)

    # Chart text renders at 11 px or more, on the phone and on a desktop.
    desktop: Any = await chromium.new_page()
    await log_in(desktop, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    for page, name in ((phone, "phone"), (desktop, "desktop")):
        for path in ("/ui/dashboard", "/ui/admin/usage"):
            await page.goto(base + path)
            sizes = await page.evaluate(CHART_TEXT_PX)
            assert sizes and min(sizes) >= 11, (name, path, min(sizes or [0]))
    await phone.goto(base + "/ui/admin/usage")
    await shot(phone, "25-phone-admin-usage")
    assert chromium.errors == []
