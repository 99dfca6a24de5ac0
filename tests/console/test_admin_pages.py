"""The admin screens: only admins see them; they call the admin API with the session cookie
and its CSRF header (refused without it), and the audit log names the console admin.
Reset links and invites made by an admin work once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.conftest import LiveGateway, live_gateway
from tests.console.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    Browser,
    console_config,
    new_email,
)
from tests.fakes.openai_upstream import FakeOpenAI

ADMIN_PAGES = (
    "/ui/admin/channels",
    "/ui/admin/pricing",
    "/ui/admin/groups",
    "/ui/admin/accounts",
    "/ui/admin/codes",
    "/ui/admin/usage",
    "/ui/admin/audit",
)


async def api(
    browser: Browser, method: str, path: str, body: Any = None, *, csrf: bool = True
) -> tuple[int, Any]:
    """The admin API as console.js calls it: the session cookie, and the CSRF header."""
    headers = {"x-csrf-token": browser.csrf} if csrf else {}
    async with browser.http.request(method, browser.base + path, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def admin_browser(browser: Browser) -> Browser:
    status, text = await browser.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert status == 200 and 'class="admin-link"' in text, text[:500]
    return browser


async def test_admin_pages_for_admins_only(browser: Browser, other_browser: Browser) -> None:
    await admin_browser(browser)
    for path in ADMIN_PAGES:
        status, text = await browser.get(path)
        assert status == 200, (path, text[:800])
        assert 'aria-current="page"' in text and "style=" not in text and "<script>" not in text
    status, text = await browser.get("/ui/admin")
    assert status == 200 and 'data-testid="channels-table"' in text
    status, text = await browser.get("/ui/admin/usage?account=no-such-account&model=x&since=2020-01-01")
    assert status == 200 and "No requests match." in text
    async with browser.http.get(browser.base + "/ui/admin/usage.csv?model=x") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert (await resp.text()).startswith("created_at,request_id")

    status, _ = await other_browser.signup(new_email())
    assert status == 200
    for path in (*ADMIN_PAGES, "/ui/admin/usage.csv"):
        status, text = await other_browser.get(path)
        assert status == 404, path
        assert "No such page." in text and 'class="admin-link"' not in text
    status, body = await api(other_browser, "GET", "/admin/channels")
    assert status == 401, body  # a normal user's session is no admin credential

    async with aiohttp.ClientSession() as anonymous, anonymous.get(browser.base + ADMIN_PAGES[0]) as resp:
        assert resp.status == 200 and resp.url.path == "/ui/login"


async def test_channels_through_the_api_with_the_session(browser: Browser) -> None:
    await admin_browser(browser)
    status, page = await browser.get("/ui/admin/channels")
    assert status == 200 and 'data-testid="channel-create"' in page
    name = f"ui-echo-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "type": "echo", "models": [f"{name}-model"], "priority": 1, "weight": 2}

    status, refused = await api(browser, "POST", "/admin/channels", body, csrf=False)
    assert status == 403 and refused["error"]["code"] == "csrf_failed"
    async with browser.http.post(
        browser.base + "/admin/channels", json=body, headers={"x-csrf-token": "forged"}
    ) as resp:
        assert resp.status == 403

    status, created = await api(browser, "POST", "/admin/channels", body)
    assert status == 201, created
    try:
        status, tested = await api(browser, "POST", f"/admin/channels/{name}/test")
        assert status == 200 and tested["ok"] is True and isinstance(tested["latency_ms"], int)

        status, page = await browser.get("/ui/admin/channels")
        row = page.split(f'data-channel="{name}"', 1)[1].split("</tr>", 1)[0]
        assert 'data-testid="channel-test"' in row and 'data-testid="channel-delete"' in row
        assert 'data-testid="channel-edit"' in row and f"{name}-model" in row
        assert ">enabled<" in row and "ms" in row.split('data-testid="channel-last-test"', 1)[1]

        status, switched = await api(browser, "PATCH", f"/admin/channels/{name}", {"enabled": False})
        assert status == 200 and switched["enabled"] is False and switched["running"] is False
        status, page = await browser.get("/ui/admin/channels")
        row = page.split(f'data-channel="{name}"', 1)[1].split("</tr>", 1)[0]
        assert ">disabled<" in row and 'data-testid="channel-enable"' in row

        status, page = await browser.get(f"/ui/admin/audit?target={name}")
        assert f"console:{ADMIN_EMAIL}" in page
        assert "channels.create" in page and "channels.test" in page and "channels.update" in page
        status, entries = await api(browser, "GET", f"/admin/audit?target={name}")
        assert {e["actor"] for e in entries["data"]} == {f"console:{ADMIN_EMAIL}"}
    finally:
        status, _ = await api(browser, "DELETE", f"/admin/channels/{name}")
        assert status == 200


async def test_other_admin_forms_post_what_the_api_expects(browser: Browser) -> None:
    """Spot checks that the pages' forms carry the API's field names and URLs."""
    await admin_browser(browser)
    _, page = await browser.get("/ui/admin/pricing")
    assert 'data-url="/admin/pricing/echo-1"' in page and 'name="cached_input"' in page
    _, page = await browser.get("/ui/admin/groups")
    assert 'data-url="/admin/groups/default"' in page and 'name="multiplier"' in page
    _, page = await browser.get("/ui/admin/accounts")
    assert '/adjust"' in page and 'name="amount_usd"' in page and 'data-url="/admin/invites"' in page
    assert ADMIN_EMAIL in page

    batch = f"ui-batch-{uuid.uuid4().hex[:8]}"
    status, made = await api(
        browser, "POST", "/admin/redemption-codes", {"batch": batch, "count": 2, "amount_usd": "1.5"}
    )
    assert status == 201 and len(made["codes"]) == 2
    _, page = await browser.get(f"/ui/admin/codes?batch={batch}")
    assert page.count(f"?batch={batch}") >= 2 and "$1.50" in page
    assert made["codes"][0] not in page  # codes are shown once, by the API answer only


async def test_reset_link_flow(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    await admin_browser(browser)
    email = new_email()
    status, _ = await other_browser.signup(email)
    assert status == 200
    status, found = await api(browser, "GET", f"/admin/users?email={email}")
    assert status == 200 and len(found["data"]) == 1
    user_id = found["data"][0]["id"]
    _, page = await browser.get("/ui/admin/accounts")
    assert f'data-url="/admin/users/{user_id}/reset-link"' in page

    status, link = await api(browser, "POST", f"/admin/users/{user_id}/reset-link")
    assert status == 201, link
    reset_path = urlsplit(link["reset_url"]).path
    assert link["reset_url"] == console_gateway.url + reset_path

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        phone = Browser(console_gateway.url, http)
        status, _ = await phone.get(reset_path)
        assert status == 200
        new_password = "a-new-password-4567"
        status, text = await phone.post(reset_path, {"password": new_password, "confirm": new_password})
        assert status == 200 and "Your password is changed" in text
        await phone.get(reset_path)
        status, text = await phone.post(reset_path, {"password": new_password, "confirm": new_password})
        assert status == 400 and "not valid" in text  # a link works once

        status, text = await other_browser.get("/ui/dashboard")
        assert "<h1>Log in</h1>" in text  # the reset ended the old session
        status, text = await phone.login(email, PASSWORD)
        assert status == 401
        status, text = await phone.login(email, new_password)
        assert status == 200 and "<h1>Dashboard</h1>" in text

    status, entries = await api(browser, "GET", f"/admin/audit?action=users.reset_link&target={email}")
    assert entries["data"][0]["actor"] == f"console:{ADMIN_EMAIL}"
    assert reset_path.rsplit("/", 1)[1] not in str(entries)


async def test_disabling_a_user_ends_their_session(browser: Browser, other_browser: Browser) -> None:
    await admin_browser(browser)
    email = new_email()
    await other_browser.signup(email)
    _, found = await api(browser, "GET", f"/admin/users?email={email}")
    user_id = found["data"][0]["id"]
    status, view = await api(browser, "PATCH", f"/admin/users/{user_id}", {"disabled": True})
    assert status == 200 and view["disabled"] is True
    _, text = await other_browser.get("/ui/dashboard")
    assert "<h1>Log in</h1>" in text
    _, me = await api(browser, "GET", f"/admin/users?email={ADMIN_EMAIL}")
    status, err = await api(browser, "PATCH", f"/admin/users/{me['data'][0]['id']}", {"role": "user"})
    assert status == 400, err  # an admin cannot demote themselves from the console


@pytest.fixture(scope="module")
async def invite_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    async with live_gateway(console_config(fake_openai, database_url, signup="invite"), fake_openai) as gw:
        yield gw


async def test_invite_flow(invite_gateway: LiveGateway) -> None:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin_http,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as guest_http,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as late_http,
    ):
        admin = await admin_browser(Browser(invite_gateway.url, admin_http))
        _, page = await admin.get("/ui/admin/accounts")
        assert 'data-testid="signup-mode">invite<' in page
        status, invite = await api(admin, "POST", "/admin/invites", {"expires_in_hours": 2})
        assert status == 201, invite
        signup_url = urlsplit(invite["signup_url"])
        assert signup_url.path == "/ui/signup" and signup_url.query == f"invite={invite['invite']}"

        guest = Browser(invite_gateway.url, guest_http)
        status, text = await guest.signup(new_email())
        assert status == 400 and "invite code is not valid" in text
        status, text = await guest.get(f"{signup_url.path}?{signup_url.query}")
        assert status == 200 and invite["invite"] in text
        status, text = await guest.signup(new_email(), invite=invite["invite"])
        assert status == 200 and "<h1>Dashboard</h1>" in text

        late = Browser(invite_gateway.url, late_http)
        status, text = await late.signup(new_email(), invite=invite["invite"])
        assert status == 400 and "invite code is not valid" in text  # one use only

        status, entries = await api(admin, "GET", "/admin/audit?action=invites.create")
        assert entries["data"][0]["actor"] == f"console:{ADMIN_EMAIL}"
        assert invite["invite"] not in str(entries)
