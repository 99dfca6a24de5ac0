"""One gateway with both payment providers configured, against the fake Stripe and EPay,
shared by the payments tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import LiveGateway, live_gateway
from tests.console.browser import chromium  # noqa: F401  (a fixture for the browser test)
from tests.console.conftest import Browser, console_config, new_email
from tests.fakes import epay_fake, stripe_fake
from tests.fakes.epay_fake import FakeEpay
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.stripe_fake import FakeStripe


class Setup:
    def __init__(self, gw: LiveGateway, stripe: FakeStripe, epay: FakeEpay) -> None:
        self.gw, self.stripe, self.epay = gw, stripe, epay


@pytest.fixture(scope="package")
async def setup(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[Setup]:
    async with FakeStripe() as stripe, FakeEpay() as epay:
        config = console_config(fake_openai, database_url)
        config["payments"] = {
            "stripe": {"secret_key": stripe_fake.SECRET_KEY, "webhook_secret": stripe_fake.WEBHOOK_SECRET,
                       "api_base": stripe.root_url},
            "epay": {"url": epay.root_url, "pid": epay_fake.PID, "key": epay_fake.KEY,
                     "exchange_rate": "7.3"},
            "min_usd": "1",
            "bonus_tiers": [{"from_usd": "100", "percent": "10"}, {"from_usd": "500", "percent": "15"}],
        }  # fmt: skip
        async with live_gateway(config, fake_openai) as gw:
            stripe.webhook_url = gw.url + "/api/payments/stripe/webhook"
            yield Setup(gw, stripe, epay)


@pytest.fixture
async def customer(setup: Setup) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = Browser(setup.gw.url, http)
        status, _ = await browser.signup(new_email())  # $5 of sign-up credit
        assert status == 200
        yield browser
