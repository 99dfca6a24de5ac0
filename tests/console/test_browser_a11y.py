"""axe-core on every console page, in English and Chinese, as a visitor, a customer and an admin,
at desktop width and (the main pages) at phone width, plus a few states (refused log-in and
sign-up with their field errors, a new key's secret, two-factor set-up): any violation of impact
"serious" or "critical" fails, listed by page, language, rule and element. At phone width no page
may be wider than the screen.

The pages come from the console's routes: `test_every_page_is_visited` fails when a GET route is
neither visited here nor named as something other than a page (a redirect, a CSV file). axe-core
is the copy bundled by the `axe-playwright-python` dev dependency; without it the browser test is
skipped, and fails under CI=true."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from hubgate.console import totp
from hubgate.console.routes import PAGES
from tests.conftest import LiveGateway
from tests.console.browser import Pages
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, new_email
from tests.console.test_browser import log_in
from tests.console.test_console_flows import admin_api

# The GET routes that are not pages a person reads, and why.
NOT_PAGES = {
    "/ui": "redirects to the dashboard or to log-in",
    "/ui/": "redirects to the dashboard or to log-in",
    "/ui/admin": "redirects to the channels",
    "/ui/admin/": "redirects to the channels",
    "/ui/usage.csv": "a CSV file",
    "/ui/billing.csv": "a CSV file",
    "/ui/admin/usage.csv": "a CSV file",
    "/ui/oauth/{provider}/start": "redirects to the identity provider",
    "/ui/oauth/{provider}/callback": "redirects back from the identity provider",
}
# Route -> the address visited, by who is signed in. `{key_id}` is a key the customer made.
VISITOR = {
    "/ui/login": "/ui/login",
    "/ui/signup": "/ui/signup",
    "/ui/forgot": "/ui/forgot",
    "/ui/reset/{token}": "/ui/reset/a11y-reset-token",
    "/ui/verify/{token}": "/ui/verify/a11y-verify-token",
    "/ui/models": "/ui/models",
}
CUSTOMER = {
    "/ui/dashboard": "/ui/dashboard",
    "/ui/keys": "/ui/keys",
    "/ui/keys/{key_id}/edit": "/ui/keys/{key_id}/edit",
    "/ui/tokens": "/ui/tokens",
    "/ui/usage": "/ui/usage",
    "/ui/billing": "/ui/billing",
    "/ui/redeem": "/ui/redeem",
    "/ui/playground": "/ui/playground",
    "/ui/settings": "/ui/settings",
    "/ui/topup": "/ui/topup",
    "/ui/topup/history": "/ui/topup/history",
    "/ui/login/totp": "/ui/login/totp",  # visited in the middle of a two-factor log-in
}
ADMIN = {
    "/ui/admin/channels": "/ui/admin/channels",
    "/ui/admin/pricing": "/ui/admin/pricing",
    "/ui/admin/groups": "/ui/admin/groups",
    "/ui/admin/accounts": "/ui/admin/accounts",
    "/ui/admin/codes": "/ui/admin/codes",
    "/ui/admin/usage": "/ui/admin/usage",
    "/ui/admin/audit": "/ui/admin/audit",
    "/ui/admin/settings": "/ui/admin/settings",
    "/ui/admin/payments": "/ui/admin/payments",
    "/ui/admin/catalogue": "/ui/admin/catalogue",
}
# Also checked at phone width (390 px): axe, and nothing wider than the screen.
PHONE = ("/ui/login", "/ui/dashboard", "/ui/keys", "/ui/usage", "/ui/billing", "/ui/playground",
         "/ui/settings", "/ui/models", "/ui/admin/channels", "/ui/admin/usage")  # fmt: skip
LANGUAGES = ("en", "zh_CN")
FAILING = ("serious", "critical")


def test_every_page_is_visited() -> None:
    routes = {path for method, path, _ in PAGES if method == "GET"}
    listed = [*NOT_PAGES, *VISITOR, *CUSTOMER, *ADMIN]
    assert len(listed) == len(set(listed)), "a route is listed twice"
    assert routes - set(listed) == set(), "new console pages: add them to this test's visit lists"
    assert set(listed) - routes == set(), "gone from the console's routes: remove them here"


def axe_script() -> str:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("axe-core is required under CI=true: `make install` installs axe-playwright-python")
        pytest.skip("axe-playwright-python is not installed (make install)")
    return str(AXE_SCRIPT)


@dataclass
class Audit:
    """Runs axe on pages and keeps what fails (and, for the report, what is only moderate)."""

    script: str
    base: str
    failures: list[str] = field(default_factory=list)
    minor: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    axe_s: float = 0.0
    runs: int = 0

    async def check(self, page: Any, label: str) -> None:
        started = time.monotonic()
        await page.evaluate(self.script)
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        self.axe_s += time.monotonic() - started
        self.runs += 1
        where = f"{label} {page.url.removeprefix(self.base)}"
        for violation in result["violations"]:
            for node in violation["nodes"]:
                line = f"{where}: {violation['id']} ({violation['impact']}) at {node['target']}"
                if violation["impact"] in FAILING:
                    self.failures.append(f"{line}: {node.get('failureSummary', '')}".replace("\n", " "))
                else:
                    self.minor.add(line)

    async def visit(self, page: Any, path: str, label: str) -> None:
        response = await page.goto(self.base + path)
        assert response is not None and response.status < 500, (path, response and response.status)
        await page.wait_for_load_state("load")
        self.visited.add(label.split()[0] + " " + path)
        await self.check(page, label)

    async def phone(self, page: Any, paths: list[str], label: str) -> None:
        await page.set_viewport_size({"width": 390, "height": 844})
        for path in paths:
            await self.visit(page, path, f"{label} phone")
            overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                self.failures.append(f"{label} phone {path}: the page is {overflow} px wider than the screen")
        await page.set_viewport_size({"width": 1280, "height": 900})


async def _customer(audit: Audit, chromium: Pages, gw: LiveGateway, lang: str) -> None:
    page: Any = await chromium.new_page()
    await page.goto(f"{audit.base}/ui/login?lang={lang}")  # the language cookie, kept for every page
    for path in VISITOR.values():
        await audit.visit(page, path, f"{lang} visitor")
    await page.goto(f"{audit.base}/ui/login")
    await page.fill("input[name=email]", "nobody@example.com")
    await page.fill("input[name=password]", "not-the-password")
    await page.click("button[type=submit]")
    await page.locator("[role=alert]").first.wait_for()
    await audit.check(page, f"{lang} visitor (log-in refused)")
    await page.goto(f"{audit.base}/ui/signup")
    await page.fill("input[name=email]", "foo@bar")
    await page.fill("input[name=password]", "password123")
    await page.fill("input[name=confirm]", "password123")
    await page.click("button[type=submit]")
    await page.locator("[aria-invalid=true]").first.wait_for()  # errors on their fields
    await audit.check(page, f"{lang} visitor (sign-up refused)")
    await audit.visit(page, "/ui/no-such-page", f"{lang} visitor")

    email = new_email()
    await page.goto(f"{audit.base}/ui/signup")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))
    await page.goto(f"{audit.base}/ui/keys")
    await page.fill("input[name=name]", "a11y-key")
    await page.click("form[action='/ui/keys'] button[type=submit]")
    await page.locator("[data-testid=new-secret]").wait_for()
    secret = (await page.text_content("[data-testid=new-secret]") or "").strip()
    client = openai.AsyncOpenAI(base_url=f"{audit.base}/v1", api_key=secret, max_retries=0)
    await client.chat.completions.create(model="echo-1", messages=[{"role": "user", "content": "hi"}])
    await gw.state.usage.flush()  # a row in the usage pages
    await audit.check(page, f"{lang} customer (new key)")
    key_id = re.search(r"/ui/keys/(\d+)/edit", await page.content())
    assert key_id is not None
    for route, path in CUSTOMER.items():
        if route != "/ui/login/totp":
            await audit.visit(page, path.format(key_id=key_id.group(1)), f"{lang} customer")
    await audit.phone(page, [p for p in PHONE if p in CUSTOMER or p in VISITOR], f"{lang} customer")

    # Two-factor sign-in on (the QR code, the recovery codes), then the log-in's code page.
    await page.goto(f"{audit.base}/ui/settings")
    await page.click("form[action='/ui/settings/totp/start'] button[type=submit]")
    await page.locator("[data-testid=totp-qr] svg").wait_for()
    await audit.check(page, f"{lang} customer (TOTP set-up)")
    secret = (await page.text_content("[data-testid=totp-secret]") or "").strip()
    await page.fill("form[action='/ui/settings/totp/enable'] input[name=code]", totp.code_now(secret))
    await page.click("form[action='/ui/settings/totp/enable'] button[type=submit]")
    await page.locator("[data-testid=recovery-codes]").wait_for()
    await audit.check(page, f"{lang} customer (TOTP on)")
    await page.click("form[action='/ui/logout'] button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/login"))
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/login/totp"))
    audit.visited.add(f"{lang} /ui/login/totp")
    await audit.check(page, f"{lang} customer")
    await page.context.close()


async def _admin(audit: Audit, chromium: Pages, gw: LiveGateway, lang: str) -> None:
    page: Any = await chromium.new_page()
    await page.goto(f"{audit.base}/ui/login?lang={lang}")
    await log_in(page, audit.base, ADMIN_EMAIL, ADMIN_PASSWORD)
    for path in ADMIN.values():
        await audit.visit(page, path, f"{lang} admin")
    await audit.phone(page, [p for p in PHONE if p in ADMIN], f"{lang} admin")
    await page.context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the pages, not the storage
async def test_no_serious_accessibility_violations(chromium: Pages, console_gateway: LiveGateway) -> None:
    audit = Audit(axe_script(), console_gateway.url)
    # Something in every admin table: a redemption batch, and a call in the usage log.
    await admin_api(console_gateway, "POST", "/admin/redemption-codes",
                    {"batch": "a11y", "count": 1, "amount_usd": "1"})  # fmt: skip
    for lang in LANGUAGES:
        await _customer(audit, chromium, console_gateway, lang)
        await _admin(audit, chromium, console_gateway, lang)
    print(f"axe ran {audit.runs} times in {audit.axe_s:.1f} s")
    for note in sorted(audit.minor):
        print("axe, not failing:", note)
    assert audit.failures == [], "\n".join(audit.failures)
    expected = {f"{lang} {path}" for lang in LANGUAGES for path in [*VISITOR, *CUSTOMER, *ADMIN]}
    seen = {re.sub(r"/ui/keys/\d+/edit", "/ui/keys/{key_id}/edit", v) for v in audit.visited}
    seen = {re.sub(r"/ui/(reset|verify)/a11y-\w+-token", r"/ui/\1/{token}", v) for v in seen}
    assert expected - seen == set()
    assert [e for e in chromium.errors if "status of 40" not in e] == []
