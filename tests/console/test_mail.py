"""Mail from the console (`console.smtp`), through a fake SMTP relay that insists on
STARTTLS (a certificate made here, trusted through `ca_file`) and AUTH: a forgotten
password is reset from a mailed link; unknown addresses get the same answer and no
mail; one address gets at most three mails an hour; admins mail invites and reset
links and see when a mail could not be sent; without `smtp` nothing pretends to mail."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from hubgate.settings import ConfigError, parse_settings
from tests.conftest import LiveGateway, free_port, live_gateway
from tests.console.browser import Pages, shot
from tests.console.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    Browser,
    admin_call,
    console_config,
    new_email,
)
from tests.console.test_browser import log_in
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.smtp_server import FakeSMTP, Received

PUBLIC = "https://gw.example.test"
LINK = re.compile(r"https://gw\.example\.test(/ui/\S+)")
SMTP_USER, SMTP_PASSWORD = "mailer", "mail-password-0123"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), the relay's and the trusted CA."""
    where = tmp_path_factory.mktemp("smtp-tls")
    crt, key = where / "relay.crt", where / "relay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


@pytest.fixture(scope="module")
async def relay(cert: tuple[Path, Path]) -> AsyncIterator[FakeSMTP]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    async with FakeSMTP(username=SMTP_USER, password=SMTP_PASSWORD, tls=context, require_tls=True) as smtp:
        yield smtp


def smtp_config(port: int, ca_file: Path, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "from_address": "hubgate <noreply@gw.example.test>",
        "ca_file": str(ca_file),
        **extra,
    }


@pytest.fixture(scope="module")
async def mail_gateway(
    database_url: str, fake_openai: FakeOpenAI, relay: FakeSMTP, cert: tuple[Path, Path]
) -> AsyncIterator[LiveGateway]:
    config = console_config(
        fake_openai, database_url, public_url=PUBLIC, reset_rpm=1000, smtp=smtp_config(relay.port, cert[0])
    )
    async with live_gateway(config, fake_openai) as gw:
        yield gw


@pytest.fixture
async def visitor(mail_gateway: LiveGateway) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(mail_gateway.url, http)


async def no_more_mail(relay: FakeSMTP, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await relay.next_message(within_s=seconds)


def link_in(mail: Received) -> str:
    body = mail.message.get_content()
    found = LINK.search(body)
    assert found, body
    return found.group(1)


async def test_a_forgotten_password_is_reset_from_a_mailed_link(visitor: Browser, relay: FakeSMTP) -> None:
    email = new_email()
    status, _ = await visitor.signup(email)
    assert status == 200
    await visitor.post("/ui/logout", {})

    status, page = await visitor.get("/ui/forgot")
    assert status == 200 and 'action="/ui/forgot"' in page
    status, page = await visitor.post("/ui/forgot", {"email": email.upper()})
    assert status == 200 and 'data-testid="forgot-sent"' in page

    mail = await relay.next_message()
    assert mail.rcpt_to == [email] and mail.message["To"] == email
    assert mail.tls and mail.user == SMTP_USER  # STARTTLS, certificate checked, then AUTH
    assert mail.message["Subject"] == "Reset your password"
    assert mail.message["From"] == "hubgate <noreply@gw.example.test>" and mail.message["Message-ID"]
    path = link_in(mail)  # on public_url, never on the Host header the request carried
    assert path.startswith("/ui/reset/")

    status, page = await visitor.get(path)
    assert status == 200 and "password" in page
    new_password = "brand-new-password-0123"
    status, page = await visitor.post(path, {"password": new_password, "confirm": new_password})
    assert status == 200 and "Your password is changed" in page
    status, page = await visitor.post(path, {"password": new_password, "confirm": new_password})
    assert status == 400  # the link works once
    status, page = await visitor.login(email, PASSWORD)
    assert "/ui/logout" not in page  # the old password is gone
    status, page = await visitor.login(email, new_password)
    assert status == 200 and "/ui/logout" in page


async def test_unknown_addresses_get_the_same_answer_and_no_mail(visitor: Browser, relay: FakeSMTP) -> None:
    await visitor.get("/ui/forgot")
    status, page = await visitor.post("/ui/forgot", {"email": "nobody-here@example.test"})
    assert status == 200 and 'data-testid="forgot-sent"' in page
    await no_more_mail(relay)
    status, page = await visitor.post("/ui/forgot", {"email": "not an address"})
    assert status == 400 and "Enter the email address" in page
    status, _ = await visitor.post("/ui/forgot", {"email": "x@example.test"}, csrf=False)
    assert status == 403  # the form's CSRF token is required


async def test_one_address_gets_at_most_three_mails_an_hour(visitor: Browser, relay: FakeSMTP) -> None:
    email = new_email()
    await visitor.signup(email)
    await visitor.post("/ui/logout", {})
    await visitor.get("/ui/forgot")
    for _ in range(5):
        status, page = await visitor.post("/ui/forgot", {"email": email})
        assert status == 200 and 'data-testid="forgot-sent"' in page  # the same answer every time
    got = [await relay.next_message() for _ in range(3)]
    assert all(m.rcpt_to == [email] for m in got)
    await no_more_mail(relay)


async def test_admins_mail_invites_and_reset_links(
    mail_gateway: LiveGateway, visitor: Browser, relay: FakeSMTP
) -> None:
    invited = new_email()
    status, invite = await admin_call(mail_gateway, "POST", "/admin/invites", {"email": invited})
    assert status == 201 and invite["emailed_to"] == invited and invite["email_error"] is None
    mail = await relay.next_message()
    assert (
        mail.rcpt_to == [invited] and mail.message["Subject"] == "You are invited to https://gw.example.test"
    )
    assert link_in(mail) == urlsplit(invite["signup_url"]).path + "?" + urlsplit(invite["signup_url"]).query

    email = new_email()
    await visitor.signup(email)
    status, found = await admin_call(mail_gateway, "GET", f"/admin/users?email={email}")
    user_id = found["data"][0]["id"]
    reset_path = f"/admin/users/{user_id}/reset-link"
    status, link = await admin_call(mail_gateway, "POST", reset_path, {"send_email": True})
    assert status == 201 and link["emailed_to"] == email
    assert link_in(await relay.next_message()) == urlsplit(link["reset_url"]).path
    status, link = await admin_call(mail_gateway, "POST", reset_path)
    assert status == 201 and "emailed_to" not in link  # not asked to mail it: nothing sent
    await no_more_mail(relay, 0.3)
    status, err = await admin_call(mail_gateway, "POST", "/admin/invites", {"email": "not-an-address"})
    assert status == 400 and err["error"]["param"] == "email"


async def test_admins_see_when_a_mail_could_not_be_sent(
    database_url: str, fake_openai: FakeOpenAI, relay: FakeSMTP, cert: tuple[Path, Path]
) -> None:
    dead = smtp_config(free_port(), cert[0])  # nothing listens there
    wrong = smtp_config(relay.port, cert[0], password="not-the-password-0")
    for smtp, error in ((dead, "ConnectionRefusedError"), (wrong, "SMTPAuthenticationError")):
        config = console_config(fake_openai, database_url, public_url=PUBLIC, smtp=smtp)
        async with live_gateway(config, fake_openai) as gw:
            status, invite = await admin_call(gw, "POST", "/admin/invites", {"email": new_email()})
        assert status == 201 and invite["emailed_to"] is None, invite  # the link is still given
        assert invite["email_error"].startswith(error) and invite["signup_url"].startswith(PUBLIC)
    await no_more_mail(relay, 0.3)


async def test_without_smtp_nothing_pretends_to_mail(console_gateway: LiveGateway, browser: Browser) -> None:
    status, page = await browser.get("/ui/forgot")
    assert status == 200 and "sends no email" in page and 'action="/ui/forgot"' not in page
    status, _ = await browser.post("/ui/forgot", {"email": new_email()})
    assert status == 404
    status, err = await admin_call(console_gateway, "POST", "/admin/invites", {"email": new_email()})
    assert status == 400 and err["error"]["param"] == "email" and "console.smtp" in err["error"]["message"]


def test_smtp_needs_public_url() -> None:
    smtp = {"host": "mail.example.test", "from_address": "noreply@example.test"}
    with pytest.raises(ConfigError, match="public_url"):
        parse_settings({"console": {"smtp": smtp}}, env={})
    settings = parse_settings({"console": {"smtp": smtp, "public_url": PUBLIC}}, env={})
    assert settings.console.smtp is not None and settings.console.smtp.security == "starttls"
    assert settings.console.smtp.port == 587


async def test_the_relay_speaks_smtp_to_the_standard_library(
    relay: FakeSMTP, cert: tuple[Path, Path]
) -> None:
    """The fake against Python's own SMTP client, outside the gateway: plain AUTH refused
    before STARTTLS, a dot-leading line survives DATA."""
    import smtplib

    from hubgate.jobs.mail import deliver, message
    from hubgate.settings import SmtpSettings

    def plain_login() -> None:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=5) as smtp:
            smtp.ehlo()
            smtp.login(SMTP_USER, SMTP_PASSWORD)

    with pytest.raises(smtplib.SMTPException):
        await asyncio.to_thread(plain_login)
    cfg = SmtpSettings.model_validate(smtp_config(relay.port, cert[0]))
    await asyncio.to_thread(deliver, cfg, message(cfg, "a@example.test", "dots", ".starts with a dot\nend\n"))
    mail = await relay.next_message()
    assert mail.message.get_content() == ".starts with a dot\nend\n"


async def test_the_admin_screen_offers_mail_when_smtp_is_set(visitor: Browser, browser: Browser) -> None:
    for who, mail in ((visitor, True), (browser, False)):  # mail_gateway, then the one without smtp
        status, page = await who.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert status == 200
        status, page = await who.get("/ui/admin/accounts")
        assert status == 200
        assert ('data-testid="user-mail-reset-link"' in page) is mail
        assert ('data-testid="invite-email"' in page) is mail
        assert ("this gateway sends no email" in page) is not mail


# --- console.verify_email: sign-ups confirm their address before they log in ---


@pytest.fixture(scope="module")
async def verify_gateway(
    database_url: str, fake_openai: FakeOpenAI, relay: FakeSMTP, cert: tuple[Path, Path]
) -> AsyncIterator[LiveGateway]:
    config = console_config(
        fake_openai, database_url, public_url=PUBLIC, reset_rpm=1000, verify_email=True,
        smtp=smtp_config(relay.port, cert[0]),
    )  # fmt: skip
    async with live_gateway(config, fake_openai) as gw:
        yield gw


@pytest.fixture
async def newcomer(verify_gateway: LiveGateway) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(verify_gateway.url, http)


async def balance(gw: LiveGateway, email: str) -> str:
    status, account = await admin_call(gw, "GET", f"/admin/accounts/{email}")
    assert status == 200, account
    return str(account["balance_usd"])


async def test_a_sign_up_confirms_its_address_before_logging_in(
    verify_gateway: LiveGateway, newcomer: Browser, relay: FakeSMTP
) -> None:
    email = new_email()
    status, page = await newcomer.signup(email)
    assert status == 200 and 'data-testid="verify-sent"' in page
    status, page = await newcomer.get("/ui/dashboard")
    assert "/ui/logout" not in page  # no session yet
    assert await balance(verify_gateway, email) == "0.000000"  # the credit waits for the confirmation
    mail = await relay.next_message()
    assert mail.rcpt_to == [email] and mail.message["Subject"] == "Confirm your email address"
    path = link_in(mail)
    assert path.startswith("/ui/verify/")

    status, page = await newcomer.login(email, PASSWORD)
    assert (
        status == 403 and "Confirm your email address first" in page and 'data-testid="verify-resend"' in page
    )
    status, page = await newcomer.get(path)  # opening the link (a mail scanner might) changes nothing
    assert status == 200 and 'data-testid="verify-confirm"' in page
    status, page = await newcomer.login(email, PASSWORD)
    assert status == 403
    status, page = await newcomer.get(path)
    status, page = await newcomer.post(path, {})
    assert status == 200 and "/ui/logout" in page  # confirmed and logged in
    assert await balance(verify_gateway, email) == "5.000000"
    status, found = await admin_call(verify_gateway, "GET", f"/admin/users?email={email}")
    assert found["data"][0]["email_verified"] is True

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        again = Browser(verify_gateway.url, http)
        await again.get(path)
        status, page = await again.post(path, {})
        assert status == 400 and "not valid" in page  # once only; and no second credit
        status, page = await again.login(email, PASSWORD)
        assert status == 200 and "/ui/logout" in page
    assert await balance(verify_gateway, email) == "5.000000"


async def test_the_confirmation_link_is_mailed_again_on_request(newcomer: Browser, relay: FakeSMTP) -> None:
    email = new_email()
    await newcomer.signup(email)
    first = link_in(await relay.next_message())
    status, page = await newcomer.login(email, PASSWORD)
    assert status == 403
    status, page = await newcomer.post("/ui/verify/resend", {"email": email})
    assert status == 200 and 'data-testid="verify-sent"' in page
    second = link_in(await relay.next_message())
    assert second != first
    await newcomer.get(second)
    status, page = await newcomer.post(second, {})
    assert status == 200 and "/ui/logout" in page
    status, page = await newcomer.post("/ui/verify/resend", {"email": email})
    assert status == 200  # the same answer, but a confirmed address gets no more links
    await no_more_mail(relay)


async def test_a_password_reset_from_the_mail_also_confirms(
    verify_gateway: LiveGateway, newcomer: Browser, relay: FakeSMTP
) -> None:
    email = new_email()
    await newcomer.signup(email)
    await relay.next_message()  # the confirmation link, not used
    await newcomer.get("/ui/forgot")
    await newcomer.post("/ui/forgot", {"email": email})
    path = link_in(await relay.next_message())
    assert path.startswith("/ui/reset/")
    await newcomer.get(path)
    new_password = "another-password-0123"
    status, page = await newcomer.post(path, {"password": new_password, "confirm": new_password})
    assert status == 200 and "Your password is changed" in page
    status, page = await newcomer.login(email, new_password)
    assert status == 200 and "/ui/logout" in page
    assert await balance(verify_gateway, email) == "5.000000"


def test_verify_email_needs_smtp() -> None:
    with pytest.raises(ConfigError, match="verify_email needs smtp"):
        parse_settings({"console": {"verify_email": True, "public_url": PUBLIC}}, env={})


async def test_in_a_browser_confirm_a_sign_up_and_mail_an_invite(
    chromium: Pages, verify_gateway: LiveGateway, relay: FakeSMTP
) -> None:
    base = verify_gateway.url
    page: Any = await chromium.new_page()
    email = new_email()
    await page.goto(f"{base}/ui/signup")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await page.click("button[type=submit]")
    await page.locator("[data-testid=verify-sent]").wait_for()
    await shot(page, "20-verify-sent")
    await page.goto(base + link_in(await relay.next_message()))
    await page.click("[data-testid=verify-confirm]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))
    assert await page.text_content("[data-testid=balance]") == "$5.00"

    admin: Any = await chromium.new_page()
    await log_in(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await admin.goto(f"{base}/ui/admin/accounts?email={email}")
    row = admin.locator(f"[data-testid=user-row][data-email='{email}']")
    await row.locator("[data-testid=user-mail-reset-link]").click()
    await admin.wait_for_function("() => /Mailed to/.test(document.body.innerText)")
    assert link_in(await relay.next_message()).startswith("/ui/reset/")
    invited = new_email()
    await admin.fill("[data-testid=invite-email]", invited)
    await admin.locator("[data-testid=invite-form] button[type=submit]").click()
    result = admin.locator("[data-testid=invite-result]")
    await result.wait_for(state="visible")
    await admin.wait_for_function(
        "() => /Mailed to/.test(document.querySelector('[data-testid=invite-result]').textContent)"
    )
    await shot(admin, "21-admin-invite-mailed")
    assert (await relay.next_message()).rcpt_to == [invited]
    assert chromium.errors == []


async def test_the_reset_mail_is_in_the_readers_language(visitor: Browser, relay: FakeSMTP) -> None:
    email = new_email()
    await visitor.get("/ui/signup?lang=zh-CN")
    await visitor.signup(email)  # in Chinese: their saved language
    await visitor.post("/ui/logout", {})
    await visitor.get("/ui/forgot?lang=zh-CN")
    status, page = await visitor.post("/ui/forgot", {"email": email})
    assert status == 200 and "重置链接正在发往该邮箱" in page
    mail = await relay.next_message()
    assert mail.rcpt_to == [email] and mail.message["Subject"] == "重置你的密码"
    assert "一小时内有效" in mail.message.get_content() and link_in(mail).startswith("/ui/reset/")


async def test_mail_from_the_admin_api_is_in_the_recipients_saved_language(
    mail_gateway: LiveGateway, visitor: Browser, relay: FakeSMTP
) -> None:
    """The admin's request is in English; the mail follows the reader's saved language."""
    chinese, english = new_email(), new_email()
    await visitor.get("/ui/signup?lang=zh-CN")
    await visitor.signup(chinese)  # signed up in Chinese: saved as theirs
    await visitor.post("/ui/logout", {})
    await visitor.get("/ui/signup?lang=en")
    await visitor.signup(english)
    for email, subject, words in ((chinese, "重置你的密码", "一小时内有效"),
                                  (english, "Reset your password", "within one hour")):  # fmt: skip
        status, found = await admin_call(mail_gateway, "GET", f"/admin/users?email={email}")
        user = found["data"][0]
        status, link = await admin_call(
            mail_gateway, "POST", f"/admin/users/{user['id']}/reset-link", {"send_email": True}
        )
        assert status == 201 and link["emailed_to"] == email
        mail = await relay.next_message()
        assert mail.rcpt_to == [email] and mail.message["Subject"] == subject, user["language"]
        assert words in mail.message.get_content() and link_in(mail) == urlsplit(link["reset_url"]).path
    # Saved language over the asking page's: a Chinese reader asking from an English page.
    await visitor.post("/ui/logout", {})
    await visitor.get("/ui/forgot?lang=en")
    await visitor.post("/ui/forgot", {"email": chinese})
    assert (await relay.next_message()).message["Subject"] == "重置你的密码"


async def _drain(relay: FakeSMTP) -> list[Received]:
    """Every mail that arrives until the relay is quiet (other accounts may be low too)."""
    got: list[Received] = []
    while True:
        try:
            got.append(await relay.next_message(within_s=1.0))
        except TimeoutError:
            return got


async def test_a_low_balance_is_mailed_once_in_the_readers_language(
    mail_gateway: LiveGateway, visitor: Browser, relay: FakeSMTP
) -> None:
    from hubgate.jobs.low_balance import mail_low_balances

    gw, email = mail_gateway, new_email()
    await visitor.get("/ui/signup?lang=zh-CN")
    await visitor.signup(email)  # $5 of credit, Chinese saved
    try:
        status, _ = await admin_call(gw, "PATCH", "/admin/settings", {"low_balance_usd": "1"})
        assert status == 200
        await mail_low_balances(gw.state)
        assert not [m for m in await _drain(relay) if m.rcpt_to == [email]]  # $5 is not low
        status, _ = await admin_call(gw, "POST", f"/admin/accounts/{email}/adjust", {"amount_usd": "-4.5"})
        assert status == 200
        await mail_low_balances(gw.state)
        mine = [m for m in await _drain(relay) if m.rcpt_to == [email]]
        assert len(mine) == 1 and mine[0].message["Subject"] == "你在 https://gw.example.test 的余额不足"
        body = mine[0].message.get_content()
        assert "$0.50" in body and "$1.00" in body and "https://gw.example.test/ui/dashboard" in body
        await mail_low_balances(gw.state)  # told once per fall
        assert not [m for m in await _drain(relay) if m.rcpt_to == [email]]
        await admin_call(gw, "POST", f"/admin/accounts/{email}/adjust", {"amount_usd": "2"})
        await mail_low_balances(gw.state)  # back above: told again at the next fall
        await admin_call(gw, "POST", f"/admin/accounts/{email}/adjust", {"amount_usd": "-2"})
        await mail_low_balances(gw.state)
        assert len([m for m in await _drain(relay) if m.rcpt_to == [email]]) == 1
    finally:
        await admin_call(gw, "PATCH", "/admin/settings", {"low_balance_usd": None})
