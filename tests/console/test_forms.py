"""Sign-up and password forms: strength judged by zxcvbn (with its advice), email syntax by
email-validator, each error tied to its field; the skip link; one money format everywhere."""

from __future__ import annotations

import html
import re

import pytest

from hubgate.console import passwords
from hubgate.console.format import FILTERS
from tests.conftest import LiveGateway
from tests.console.conftest import PASSWORD, Browser, new_email
from tests.console.test_admin_pages import admin_browser
from tests.console.test_console_flows import admin_api


def field_error(text: str, field: str) -> str | None:
    found = re.search(f'<span class="field-error" id="f-{field}-error"[^>]*>([^<]*)<', text)
    if found is None:
        return None
    assert re.search(f'name="{field}"[^>]*aria-invalid="true" aria-describedby="f-{field}-error"', text)
    return html.unescape(found.group(1))


@pytest.mark.parametrize("weak", ["password123", "qwertyuiop12", "aaaaaaaaaaaaaaaa", "1234567890"])
async def test_weak_passwords_are_refused_with_advice(weak: str) -> None:
    why = await passwords.problem(weak)
    assert why is not None and why.startswith("This password is too easy to guess.") and len(why) > 40


async def test_a_password_made_of_the_email_is_weak() -> None:
    assert await passwords.problem("jonathan.mayer2024", passwords.own_words("jonathan.mayer2024@x.com"))


async def test_strong_passwords_pass() -> None:
    assert await passwords.problem(PASSWORD) is None
    assert await passwords.problem("correct horse battery staple") is None
    assert await passwords.problem("tr0ub4dor&3-never-again-" * 8) is None  # longer than zxcvbn reads


async def test_signup_refuses_weak_passwords_and_bad_addresses_by_field(browser: Browser) -> None:
    status, text = await browser.signup("foo@bar", password="password123")
    assert status == 400
    assert "period" in (field_error(text, "email") or "")
    assert "too easy to guess" in (field_error(text, "password") or "")
    assert 'value="foo@bar"' in text  # what was typed stays
    email = new_email()
    status, text = await browser.signup(email, password="password123")
    assert status == 400 and field_error(text, "email") is None
    assert "very common password" in (field_error(text, "password") or "")
    await browser.get("/ui/signup")
    status, text = await browser.post(
        "/ui/signup", {"email": email, "password": PASSWORD, "confirm": PASSWORD + "x"}
    )
    assert status == 400 and field_error(text, "confirm") == "The two passwords differ."
    status, _ = await browser.signup(email.upper())
    assert status == 200  # signed up, the address normalised
    await browser.post("/ui/logout", {})
    status, text = await browser.signup(email)
    assert status == 400 and "exists" in (field_error(text, "email") or "")


async def test_password_change_errors_by_field(browser: Browser) -> None:
    email = new_email()
    await browser.signup(email)
    await browser.get("/ui/settings")
    status, text = await browser.post(
        "/ui/settings/password", {"current": "not-it", "password": "x", "confirm": "x"}
    )
    assert status == 400 and field_error(text, "current") == "The current password is not right."
    local = email.split("@")[0]
    status, text = await browser.post(
        "/ui/settings/password", {"current": PASSWORD, "password": local + "1", "confirm": local + "1"}
    )
    assert status == 400 and "too easy to guess" in (field_error(text, "password") or "")


async def test_every_page_has_a_skip_link_to_main(browser: Browser) -> None:
    for path in ("/ui/login", "/ui/signup"):
        _, text = await browser.get(path)
        assert '<a class="skip-link" href="#main"' in text and '<main id="main"' in text
    await browser.signup(new_email())
    for path in ("/ui/dashboard", "/ui/keys", "/ui/usage", "/ui/settings"):
        _, text = await browser.get(path)
        assert '<a class="skip-link" href="#main"' in text, path


def test_one_money_format_for_balances() -> None:
    money = FILTERS["money"]  # half away from zero, to the cent: the user's and the admin's pages
    assert (money(4_995_000), money(4_994_999), money(-1_005_000), money(None)) == (
        "$5.00", "$4.99", "-$1.01", "-"
    )  # fmt: skip


async def test_user_and_admin_see_the_same_balance(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    email = new_email()
    await other_browser.signup(email)
    await admin_api(console_gateway, "POST", f"/admin/accounts/{email}/adjust", {"amount_usd": "-0.005"})
    _, text = await other_browser.get("/ui/dashboard")
    mine = re.search(r'data-testid="balance"[^>]*>([^<]+)<', text).group(1)  # type: ignore[union-attr]
    await admin_browser(browser)
    _, text = await browser.get("/ui/admin/accounts")
    while f'data-account="{email}"' not in text:  # page on to the new account
        more = re.search(r'cursor=(\d+)">Next page', text)
        assert more, "the account is not listed"
        _, text = await browser.get(f"/ui/admin/accounts?cursor={more.group(1)}")
    row = text.split(f'data-account="{email}"', 1)[1].split("</tr>", 1)[0]
    shown = re.search(r'data-testid="account-balance"[^>]*>([^<]+)<', row).group(1)  # type: ignore[union-attr]
    assert shown == mine == "$5.00"  # $4.995 both ways (the admin's page said $4.9950)
