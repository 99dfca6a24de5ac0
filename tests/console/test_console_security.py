"""The console's defences: CSRF, one account never sees another's resources, session
fixation, log-in limits and lock-out, log-out, and passwords kept out of the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import LiveGateway, live_gateway
from tests.console.conftest import PASSWORD, Browser, console_config, new_email
from tests.console.test_console_flows import create_key
from tests.fakes.openai_upstream import FakeOpenAI


async def test_state_changes_need_the_csrf_token(browser: Browser) -> None:
    await browser.signup(new_email())
    status, text = await browser.post("/ui/keys", {"name": "no-token"}, csrf=False)
    assert status == 403 and "did not come from this site" in text
    status, _ = await browser.post("/ui/keys", {"name": "bad-token", "csrf": "forged"}, csrf=False)
    assert status == 403
    _, text = await browser.get("/ui/keys")
    assert "no-token" not in text and "bad-token" not in text
    status, _ = await browser.post("/ui/logout", {}, csrf=False)
    assert status == 403
    # The admin API through a session needs the header too (a plain user is not an admin anyway).
    async with browser.http.post(browser.base + "/admin/keys", json={"name": "x"}) as resp:
        assert resp.status in (401, 403)


async def test_log_in_and_sign_up_forms_need_their_token(browser: Browser) -> None:
    status, _ = await browser.post("/ui/login", {"email": "a@b.c", "password": "x"}, csrf=False)
    assert status == 403
    await browser.get("/ui/signup")
    status, _ = await browser.post(
        "/ui/signup", {"email": new_email(), "password": PASSWORD, "confirm": PASSWORD, "csrf": "guess"},
        csrf=False,
    )  # fmt: skip
    assert status == 403


async def test_another_accounts_resources_are_not_found(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    await browser.signup(new_email())
    secret = await create_key(browser, "mine")
    from hubgate.storage.keys import hash_key

    key = await console_gateway.state.key_repo.by_hash(hash_key(secret))
    assert key is not None
    await other_browser.signup(new_email())
    status, text = await other_browser.post(f"/ui/keys/{key.id}/revoke", {})
    assert status == 404
    assert (await console_gateway.state.key_repo.by_hash(hash_key(secret))).revoked_at is None  # type: ignore[union-attr]
    _, text = await other_browser.get("/ui/keys")
    assert "mine" not in text
    body = {"key_id": key.id, "model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-csrf-token": other_browser.csrf}
    async with other_browser.http.post(
        other_browser.base + "/ui/playground/chat", json=body, headers=headers
    ) as resp:
        assert resp.status == 404
    # The owner's requests never show in the other account's log, even filtered by that key id.
    import openai

    client = openai.AsyncOpenAI(base_url=f"{console_gateway.url}/v1", api_key=secret, max_retries=0)
    await client.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "secret talk"}]
    )
    await console_gateway.state.usage.flush()
    _, text = await other_browser.get(f"/ui/usage?key={key.id}")
    assert "No requests match" in text
    _, text = await other_browser.get("/ui/usage")
    assert "No requests match" in text
    for path in ("/ui/admin/channels", "/ui/admin/accounts"):
        status, _ = await other_browser.get(path)
        assert status == 404  # admin screens do not exist for users


async def test_log_in_issues_a_new_session_id(browser: Browser) -> None:
    email = new_email()
    await browser.signup(email)
    signed_up = browser.cookie("hubgate_session")
    assert signed_up
    url = aiohttp.client.URL(browser.base)
    status, text = await browser.login(email, PASSWORD)  # presenting the sign-up session
    assert status == 200 and "Dashboard" in text
    second = browser.cookie("hubgate_session")
    assert second not in (None, signed_up)
    # An attacker plants a session id of their choosing before the victim logs in.
    browser.http.cookie_jar.update_cookies({"hubgate_session": "attacker-chosen"}, url)
    status, text = await browser.login(email, PASSWORD)
    assert status == 200 and "Dashboard" in text
    assert browser.cookie("hubgate_session") not in (None, "attacker-chosen", signed_up, second)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for stale in ("attacker-chosen", signed_up):  # the presented session ended at log-in
            http.cookie_jar.update_cookies({"hubgate_session": stale}, url)
            async with http.get(browser.base + "/ui/dashboard", allow_redirects=False) as resp:
                assert resp.status == 303, stale


async def test_the_session_cookie_is_locked_down(console_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        b = Browser(console_gateway.url, http)
        await b.get("/ui/signup")
        fields = {"csrf": b.csrf, "email": new_email(), "password": PASSWORD, "confirm": PASSWORD}
        async with http.post(b.base + "/ui/signup", data=fields, allow_redirects=False) as resp:
            assert resp.status == 303
            header = next(v for v in resp.headers.getall("set-cookie") if v.startswith("hubgate_session="))
            assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
            assert "secure" not in header.lower()  # plain http on loopback
            assert resp.headers["x-frame-options"] == "DENY"
        headers = {"x-forwarded-proto": "https"}  # not trusted: this client is no configured proxy
        async with http.get(b.base + "/ui/dashboard", headers=headers) as resp:
            assert resp.status == 200
            assert "default-src 'self'" in resp.headers["content-security-policy"]


async def test_log_out_ends_the_session_everywhere(browser: Browser) -> None:
    await browser.signup(new_email())
    token = browser.cookie("hubgate_session")
    await browser.get("/ui/dashboard")
    status, text = await browser.post("/ui/logout", {})
    assert status == 200 and "Log in" in text
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        http.cookie_jar.update_cookies({"hubgate_session": token}, aiohttp.client.URL(browser.base))
        async with http.get(browser.base + "/ui/dashboard", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["location"].startswith("/ui/login")


async def test_repeated_failures_lock_the_account(browser: Browser, other_browser: Browser) -> None:
    email = new_email()
    await other_browser.signup(email)
    for _ in range(5):
        status, text = await browser.login(email, "wrong-password-123")
        assert status == 401 and "Incorrect email or password" in text
    status, text = await browser.login(email, PASSWORD)
    assert status == 423 and "locked" in text
    status, text = await browser.login("nobody-" + email, "whatever-123")
    assert status == 401  # unknown emails look like wrong passwords


async def test_open_redirects_are_not_followed(browser: Browser) -> None:
    email = new_email()
    await browser.signup(email)
    await browser.post("/ui/logout", {})
    await browser.get("/ui/login?next=//evil.example/")
    async with browser.http.post(
        browser.base + "/ui/login",
        data={"csrf": browser.csrf, "email": email, "password": PASSWORD, "next": "//evil.example/"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303 and resp.headers["location"] == "/ui/dashboard"


@pytest.fixture
async def strict_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    config = console_config(fake_openai, database_url, login_rpm=3, signup="closed")
    async with live_gateway(config, fake_openai) as gw:
        yield gw


async def test_log_in_attempts_are_limited_per_address(strict_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        b = Browser(strict_gateway.url, http)
        statuses = [(await b.login("someone@example.test", "wrong-password-1"))[0] for _ in range(5)]
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
        status, text = await b.get("/ui/signup")
        assert status == 404 and "Sign-up is closed" in text


async def test_passwords_never_reach_the_logs(browser: Browser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    email = new_email()
    secret_password = "Never-Log-Me-7731"
    await browser.signup(email, secret_password)
    await browser.post("/ui/logout", {})
    await browser.login(email, "Wrong-Guess-7731")
    await browser.login(email, secret_password)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert email in logged  # the log does say who
    assert not re.search(r"Never-Log-Me|Wrong-Guess", logged)
