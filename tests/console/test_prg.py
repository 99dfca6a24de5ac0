"""Post/Redirect/Get: a console form's POST answers 303 to its page, which shows the outcome
once; reloading that page neither re-sends the form nor shows a secret again."""

from __future__ import annotations

import re

from hubgate.console import totp
from tests.conftest import LiveGateway
from tests.console.conftest import PASSWORD, Browser, admin_call, new_email

SECRET = re.compile(r'data-testid="new-secret">([^<]+)<')
CURRENT = re.compile(r'<a href="(/ui/[a-z/]+)" aria-current="page">')


async def post_303(browser: Browser, path: str, data: dict[str, str]) -> str:
    """POST a form without following the redirect; the Location it answers."""
    async with browser.http.post(
        browser.base + path, data={"csrf": browser.csrf, **data}, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
        return resp.headers["location"]


async def test_creating_a_key_redirects_and_the_secret_is_shown_once(browser: Browser) -> None:
    await browser.signup(new_email())
    await browser.get("/ui/keys")
    assert await post_303(browser, "/ui/keys", {"name": "prg-key"}) == "/ui/keys"
    status, text = await browser.get("/ui/keys")
    assert status == 200 and SECRET.search(text) and "prg-key" in text
    status, text = await browser.get("/ui/keys")  # a reload: no form sent again, the secret gone
    assert status == 200 and not SECRET.search(text)
    assert text.count("<td>prg-key</td>") == 1


async def test_a_flash_is_read_by_its_own_session_only(browser: Browser, other_browser: Browser) -> None:
    await browser.signup(new_email())
    await browser.get("/ui/keys")
    await post_303(browser, "/ui/keys", {"name": "stolen"})
    flash = browser.cookie("hubgate_flash")
    assert flash and "sk-" not in flash  # sealed
    await other_browser.signup(new_email())
    other_browser.http.cookie_jar.update_cookies({"hubgate_flash": flash})
    _, text = await other_browser.get("/ui/keys")
    assert not SECRET.search(text)


async def test_password_change_and_two_factor_redirect_to_settings(browser: Browser) -> None:
    await browser.signup(new_email())
    await browser.get("/ui/settings")
    new = "another-password-4567"
    form = {"current": PASSWORD, "password": new, "confirm": new}
    assert await post_303(browser, "/ui/settings/password", form) == "/ui/settings"
    _, text = await browser.get("/ui/settings")
    assert "Password changed." in text and CURRENT.findall(text) == ["/ui/settings"]
    # A refused change stays on its page, with Settings still the current item.
    status, text = await browser.post("/ui/settings/password", {"current": "wrong-one", **form})
    assert status == 400 and CURRENT.findall(text) == ["/ui/settings"]

    assert await post_303(browser, "/ui/settings/totp/start", {}) == "/ui/settings"
    _, text = await browser.get("/ui/settings")
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', text).group(1)  # type: ignore[union-attr]
    await post_303(browser, "/ui/settings/totp/enable", {"secret": secret, "code": totp.code_now(secret)})
    _, text = await browser.get("/ui/settings")
    assert "Two-factor sign-in is on." in text and "On: log-in asks for a code" in text  # they agree
    await post_303(browser, "/ui/settings/totp/disable", {"current": new})
    _, text = await browser.get("/ui/settings")
    assert "Two-factor sign-in is off." in text and "Off. Turn it on" in text


async def test_redeeming_redirects_with_the_amount(browser: Browser, console_gateway: LiveGateway) -> None:
    await browser.signup(new_email())
    _, made = await admin_call(console_gateway, "POST", "/admin/redemption-codes",
                               {"batch": "prg", "count": 1, "amount_usd": "2"})  # fmt: skip
    await browser.get("/ui/redeem")
    assert await post_303(browser, "/ui/redeem", {"code": made["codes"][0]}) == "/ui/redeem"
    _, text = await browser.get("/ui/redeem")
    assert "$2.00 added to your balance." in text
    _, text = await browser.get("/ui/redeem")
    assert "added to your balance" not in text
    status, text = await browser.post("/ui/redeem", {"code": made["codes"][0]})
    assert status == 400 and CURRENT.findall(text) == ["/ui/redeem"]
