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
from tests.console.conftest import PASSWORD, admin_call, new_email
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
        await sign_up(page, base, new_email())
        await page.goto(f"{base}/ui/keys")
        await page.fill("input[name=name]", "any-model")
        await page.click("text=Create key")
        await page.locator("[data-testid=new-secret]").wait_for()
        await page.fill("input[name=name]", "ghost")
        await page.fill("input[name=models]", "ghost-model")
        await page.click("text=Create key")
        await page.locator("[data-testid=new-secret]").wait_for()

        await page.goto(f"{base}/ui/playground")
        await page.select_option("#pg-key", label="any-model")
        offered = await page.eval_on_selector_all("#pg-model option", "els => els.map(e => e.value)")
        assert "echo-1" in offered and f"{dead}-chat" in offered
        for other in ("echo-embed", "text-embedding-3-small", "whisper-1", "dall-e-3", "tts-1"):
            assert other not in offered, other  # not chat models
        assert await page.input_value("#pg-model") != f"{dead}-chat"  # not the first by name: it is down
        assert offered[-1] == f"{dead}-chat"

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
