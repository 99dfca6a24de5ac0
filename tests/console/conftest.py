"""A gateway with the console on, and a browser-like HTTP client (cookies, CSRF tokens)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hubgate.gateway import GATEWAY
from tests.conftest import LiveGateway, free_port, gateway_config, live_gateway
from tests.console.browser import chromium  # noqa: F401  (a fixture for the browser tests)
from tests.fakes.openai_upstream import FakeOpenAI

ADMIN_EMAIL = "root@example.test"
ADMIN_PASSWORD = "admin-password-0123"
PASSWORD = "user-password-0123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_config(fake: FakeOpenAI, database_url: str, **console: Any) -> dict[str, Any]:
    config = gateway_config(fake, database_url, free_port())
    config["secret_key"] = "console-tests-secret-key-0123456789"
    config["admin_key"] = "sk-admin-console-tests-0123"
    config["pricing"] = {**config.get("pricing", {}), "echo-1": {"input": 1, "output": 2}}
    config["console"] = {
        "signup": "open",
        "new_account_credit_usd": "5",
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "login_rpm": 1000,
        "signup_rpm": 1000,
        **console,
    }
    return config


@pytest.fixture(scope="session")
async def console_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    async with live_gateway(console_config(fake_openai, database_url), fake_openai) as gw:
        yield gw


@dataclass
class Browser:
    """An HTTP client that keeps cookies and reads each page's CSRF token, like a browser."""

    base: str
    http: aiohttp.ClientSession
    csrf: str = ""

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(self.base + path, **kwargs) as resp:
            text = await resp.text()
            found = CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return resp.status, text

    async def post(
        self, path: str, data: dict[str, str], *, csrf: bool = True, **kwargs: Any
    ) -> tuple[int, str]:
        if csrf:
            data = {"csrf": self.csrf, **data}
        async with self.http.post(self.base + path, data=data, **kwargs) as resp:
            text = await resp.text()
            found = CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return resp.status, text

    async def login(self, email: str, password: str) -> tuple[int, str]:
        await self.get("/ui/login")
        return await self.post("/ui/login", {"email": email, "password": password})

    async def signup(self, email: str, password: str = PASSWORD, **extra: str) -> tuple[int, str]:
        await self.get("/ui/signup")
        return await self.post(
            "/ui/signup", {"email": email, "password": password, "confirm": password, **extra}
        )

    def cookie(self, name: str) -> str | None:
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None


@pytest.fixture
async def browser(console_gateway: LiveGateway) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(console_gateway.url, http)


@pytest.fixture
async def other_browser(console_gateway: LiveGateway) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(console_gateway.url, http)


def new_email() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@example.com"


def app_of(gw: LiveGateway) -> web.Application:
    assert GATEWAY in gw.app
    return gw.app


async def admin_call(gw: LiveGateway, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The admin API with the admin key: the status and the JSON answer."""
    headers = {"Authorization": f"Bearer {gw.settings.admin_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, gw.url + path, json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)
