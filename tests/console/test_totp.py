"""Two-factor sign-in: set up from a QR code, with one-time recovery codes for a lost phone."""

from __future__ import annotations

import re

from hubgate.admin.session import CONSOLE
from hubgate.console import totp
from tests.conftest import LiveGateway
from tests.console.conftest import PASSWORD, Browser, app_of, new_email

CODES = re.compile(r'data-testid="recovery-codes">([^<]+)<')
LEFT = re.compile(r'data-testid="recovery-left">(\d+) recovery code')


async def turn_on(browser: Browser) -> tuple[str, list[str]]:
    await browser.get("/ui/settings")
    _, text = await browser.post("/ui/settings/totp/start", {})
    qr = text.split('data-testid="totp-qr"', 1)[1].split("</figure>", 1)[0]
    assert "<svg" in qr and "<path" in qr  # the QR code, inline: no image to fetch
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', text).group(1)  # type: ignore[union-attr]
    _, text = await browser.post(
        "/ui/settings/totp/enable", {"secret": secret, "code": totp.code_now(secret)}
    )
    assert "Two-factor sign-in is on." in text and LEFT.search(text).group(1) == "10"  # type: ignore[union-attr]
    codes = CODES.search(text).group(1).split("\n")  # type: ignore[union-attr]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", c) for c in codes)
    _, again = await browser.get("/ui/settings")
    assert not CODES.search(again)  # shown once
    return secret, codes


async def test_a_recovery_code_signs_in_once(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    email = new_email()
    await browser.signup(email)
    _, codes = await turn_on(browser)

    await other_browser.login(email, PASSWORD)
    status, text = await other_browser.post(
        "/ui/login/totp", {"code": codes[3].upper().replace("-", " "), "next": "/ui/keys"}
    )
    assert status == 200 and "You signed in with a recovery code; 9 left." in text
    assert LEFT.search(text).group(1) == "9"  # type: ignore[union-attr]
    await other_browser.post("/ui/logout", {})
    await other_browser.login(email, PASSWORD)
    status, _ = await other_browser.post("/ui/login/totp", {"code": codes[3], "next": "/ui/keys"})
    assert status == 401  # used up

    # New codes void the old ones; the password is asked for.
    status, text = await browser.post("/ui/settings/totp/recovery", {"current": "wrong-one"})
    assert status == 400 and "The current password is not right." in text
    _, text = await browser.post("/ui/settings/totp/recovery", {"current": PASSWORD})
    fresh = CODES.search(text).group(1).split("\n")  # type: ignore[union-attr]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    status, _ = await other_browser.post("/ui/login/totp", {"code": codes[4], "next": "/ui/keys"})
    assert status == 401
    status, text = await other_browser.post("/ui/login/totp", {"code": fresh[0], "next": "/ui/keys"})
    assert status == 200 and "9 left" in text


async def test_a_secret_sealed_before_recovery_codes_still_works(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    email = new_email()
    await browser.signup(email)
    console = app_of(console_gateway)[CONSOLE]
    user = await console.users.by_email(email)
    assert user is not None
    secret = totp.new_secret()
    await console.users.update(user.id, totp_secret_enc=console.box.seal(secret))  # the old form
    _, text = await browser.get("/ui/settings")
    assert LEFT.search(text).group(1) == "0"  # type: ignore[union-attr]
    await other_browser.login(email, PASSWORD)
    status, text = await other_browser.post(
        "/ui/login/totp", {"code": totp.code_now(secret), "next": "/ui/keys"}
    )
    assert status == 200 and "Your keys" in text
