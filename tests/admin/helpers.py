"""The admin API of a live gateway as tests call it, and the names the tests share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai

from tests.conftest import LiveGateway

ADMIN_KEY = "admin-test-key-0123456789abcdef"
# USD per 1M tokens, large so every token costs whole micro-dollars.
PRICE = {"input": 1000, "cached_input": 500, "output": 2000}
# Served by the channel under its own name upstream, so only an admin price can price it.
PRICED_MODEL = "adm-priced-model"
HELLO = [{"role": "user", "content": "hi there"}]
REDEEM = "/v1/dashboard/redeem"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Admin:
    """The admin API of a live gateway, called over HTTP."""

    live: LiveGateway
    key: str = ADMIN_KEY

    @property
    def url(self) -> str:
        return self.live.url

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body) of one request, with the admin key unless `headers` is given."""
        sent = {"authorization": f"Bearer {self.key}"} if headers is None else headers
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, json=json, data=data, headers=sent) as resp,
        ):
            body = await resp.json(content_type=None)
            return resp.status, body

    async def ok(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        got, body = await self.call(method, path, json=json)
        assert got == status, (got, body)
        return body

    async def account(self, credit_usd: str = "10", **fields: Any) -> str:
        name = unique("acct")
        await self.ok("POST", "/admin/accounts", {"name": name, "credit_usd": credit_usd, **fields}, 201)
        return name

    async def new_key(self, **fields: Any) -> tuple[str, str]:
        """A fresh key made through the API: (name, secret)."""
        name = unique("key")
        body = await self.ok("POST", "/admin/keys", {"name": name, **fields}, 201)
        return name, body["secret"]

    async def codes(self, count: int = 1, amount_usd: Any = 1, **fields: Any) -> list[str]:
        """A fresh batch of redemption codes."""
        body = {"batch": unique("batch"), "count": count, "amount_usd": amount_usd, **fields}
        return list((await self.ok("POST", "/admin/redemption-codes", body, 201))["codes"])

    def client(self, secret: str) -> openai.AsyncOpenAI:
        return self.live.client(secret)

    async def ask(self, secret: str, model: str = "gpt-4o-mini") -> Any:
        # max_tokens: the hold (its maximum cost) must fit the small budgets these tests set.
        return await self.client(secret).chat.completions.create(model=model, messages=HELLO, max_tokens=50)  # type: ignore[arg-type]
