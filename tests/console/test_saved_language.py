"""A saved language per user (issue 16): set by the switcher or the Settings page when signed
in (and at sign-up), used before the cookie and Accept-Language (after `?lang=`), on every
device; in the user API (`GET`/`PUT /api/user/self`) and its OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from hubgate.console import i18n
from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import PASSWORD, Browser, admin_call, new_email
from tests.console.test_browser_defects import sign_up
from tests.console.test_user_api import call, make_token

ZH = "设置"  # "Settings" in the navigation and the page title


def test_the_saved_language_comes_after_lang_and_before_the_cookie() -> None:
    accept = "en-US,en;q=0.9"
    assert i18n.choose({}, {}, accept, "zh_CN") == "zh_CN"  # over Accept-Language
    assert i18n.choose({}, {i18n.LANG_COOKIE: "en"}, None, "zh_CN") == "zh_CN"  # over the cookie
    assert i18n.choose({"lang": "en"}, {}, None, "zh_CN") == "en"  # ?lang= first
    assert i18n.choose({}, {i18n.LANG_COOKIE: "zh_CN"}, accept, None) == "zh_CN"  # as before
    assert i18n.choose({}, {}, accept, "xx") == "en"


async def _saved(gw: LiveGateway, email: str) -> Any:
    status, found = await admin_call(gw, "GET", f"/admin/users?email={email}")
    assert status == 200
    return found["data"][0]["language"]


async def test_switching_saves_the_language_for_every_device(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    gw = console_gateway
    email = new_email()
    await browser.signup(email)
    assert await _saved(gw, email) == "en"  # the language signed up in
    status, page = await browser.get("/ui/dashboard?lang=zh-CN")  # a plain link: this page only
    assert status == 200 and 'lang="zh-CN"' in page
    assert await _saved(gw, email) == "en"
    status, page = await browser.get("/ui/dashboard?lang=zh-CN&keep=1")  # the switcher's link
    assert status == 200 and 'lang="zh-CN"' in page
    assert await _saved(gw, email) == "zh_CN" and browser.cookie(i18n.LANG_COOKIE) == "zh_CN"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        laptop = Browser(gw.url, http)  # another device: no language cookie, an English browser
        english = {"Accept-Language": "en-US,en;q=0.9"}
        status, page = await laptop.get("/ui/login", headers=english)
        assert 'lang="en"' in page
        status, page = await laptop.post("/ui/login", {"email": email, "password": PASSWORD}, headers=english)
        assert status == 200 and 'lang="zh-CN"' in page  # the saved language wins
        status, page = await laptop.post("/ui/settings/language", {"language": "en"}, headers=english)
        assert status == 200 and 'lang="en"' in page and "Language saved." in page
        assert laptop.cookie(i18n.LANG_COOKIE) == "en" and await _saved(gw, email) == "en"
        status, page = await laptop.post("/ui/settings/language", {"language": "klingon"})
        assert status == 400 and 'id="f-language-error"' in page and 'aria-invalid="true"' in page
    status, page = await browser.get("/ui/settings")  # the first device follows the saved choice
    assert 'lang="en"' in page


async def test_the_user_api_reads_and_sets_the_language(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    gw = console_gateway
    await browser.signup(new_email())
    token = await make_token(browser)
    status, answer = await call(gw, token, "GET", "/api/user/self")
    assert status == 200 and answer["data"]["language"] == "en"
    status, answer = await call(gw, token, "PUT", "/api/user/self", {"language": "zh-CN"})
    assert status == 200 and answer["data"]["language"] == "zh_CN"
    status, page = await browser.get("/ui/dashboard")
    assert 'lang="zh-CN"' in page
    status, answer = await call(gw, token, "PUT", "/api/user/self", {"language": "fr"})
    assert status == 400 and "language" in answer["message"]
    status, answer = await call(gw, token, "PUT", "/api/user/self", {"language": None})
    assert status == 200 and answer["data"]["language"] is None
    async with aiohttp.ClientSession() as http, http.get(f"{gw.url}/api/openapi.json") as resp:
        doc = await resp.json()
    put = doc["paths"]["/api/user/self"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/UserSelfBody")
    assert "language" in doc["components"]["schemas"]["UserSelfBody"]["properties"]


async def test_in_a_browser_the_language_is_chosen_once_and_kept(
    chromium: Pages, console_gateway: LiveGateway
) -> None:
    base = console_gateway.url
    email = new_email()
    page: Any = await chromium.new_page()
    await sign_up(page, base, email)
    await page.goto(f"{base}/ui/settings")
    select = page.get_by_role("combobox", name="Language")
    await select.focus()
    await select.select_option("zh_CN")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # the Save button, by keyboard
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert "语言已保存" in await page.inner_text("main")
    assert await page.get_by_role("combobox", name="语言").input_value() == "zh_CN"
    await shot(page, "settings-language-zh")
    # Another browser, in English, with no cookie: signed in, the console is in Chinese.
    context = await chromium.browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    other = await context.new_page()
    await other.goto(f"{base}/ui/login")
    assert await other.evaluate("document.documentElement.lang") == "en"
    await other.fill("input[name=email]", email)
    await other.fill("input[name=password]", PASSWORD)
    await other.click("button[type=submit]")
    await other.wait_for_url(re.compile(r"/ui/dashboard$"))
    assert await other.evaluate("document.documentElement.lang") == "zh-CN"
    # The switcher in the header saves the choice too.
    await other.click("a[hreflang=en]")
    await other.wait_for_function("() => document.documentElement.lang === 'en'")
    await page.goto(f"{base}/ui/settings")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await context.close()
    assert chromium.errors == []
