"""The user API over HTTP, as a customer's script uses it: a personal access token made in
the console, then new-api's paths and `{success, message, data}` answers (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import openai
import pytest

from hubgate.http.user_api.routes import ROUTES
from hubgate.storage.user_tokens import UserTokenRepository
from tests.conftest import LiveGateway
from tests.console.conftest import Browser, new_email

TOKEN = re.compile(r'data-testid="new-token">([^<]+)<')
REVOKE = re.compile(r'action="/ui/tokens/(\d+)/revoke"')


async def make_token(browser: Browser, name: str = "script", **fields: str) -> str:
    await browser.get("/ui/tokens")
    status, text = await browser.post("/ui/tokens", {"name": name, **fields})
    assert status == 200, text
    found = TOKEN.search(text)
    assert found, text
    return found.group(1)


async def call(
    gw: LiveGateway, token: str, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    """A call the way new-api's clients make it: bearer token, JSON in and out."""
    sent = {"Authorization": f"Bearer {token}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, gw.url + path, json=body, headers=sent) as resp,
    ):
        answer = await resp.json(content_type=None)
        assert isinstance(answer, dict) and isinstance(answer["success"], bool), answer
        assert answer["success"] is (resp.status < 300), (resp.status, answer)
        return resp.status, answer


async def signed_up(browser: Browser) -> str:
    """A new user's personal access token."""
    await browser.signup(new_email())
    return await make_token(browser)


async def test_token_lifecycle_self_and_new_api_user_header(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    gw = console_gateway
    email = new_email()
    await browser.signup(email)
    token = await make_token(browser, "billing script", expires_days="30")
    assert token.startswith("hgu-")
    _, page = await browser.get("/ui/tokens")
    assert token not in page and "billing script" in page  # shown once, at creation only

    status, answer = await call(gw, token, "GET", "/api/user/self")
    assert status == 200 and answer["message"] == ""
    me = answer["data"]
    assert me["email"] == email and me["role"] == 1
    assert me["balance_usd"] == "5.000000" and me["quota"] == 2_500_000  # 500,000 quota per USD
    assert (await call(gw, token, "GET", "/api/user/self", New_Api_User=str(me["id"])))[0] == 200
    status, answer = await call(gw, token, "GET", "/api/user/self", New_Api_User=str(me["id"] + 1))
    assert status == 401 and "New-Api-User" in answer["message"]
    for bad in ("hgu-not-a-token", ""):
        assert (await call(gw, bad, "GET", "/api/user/self"))[0] == 401
    tokens = UserTokenRepository(gw.state.engine)
    _, expired = await tokens.create(me["id"], "old", datetime.now(UTC) - timedelta(seconds=1))
    status, answer = await call(gw, expired, "GET", "/api/user/self")
    assert status == 401 and "expired" in answer["message"]

    _, page = await browser.get("/ui/tokens")
    assert "-</td>" not in page.split("billing script", 1)[1].split("</tr>", 1)[0]  # last used is shown
    token_id = REVOKE.search(page).group(1)  # type: ignore[union-attr]
    await other_browser.signup(new_email())
    await other_browser.get("/ui/tokens")
    status, _ = await other_browser.post(f"/ui/tokens/{token_id}/revoke", {})
    assert status == 404  # another user's token is not theirs to revoke
    status, _ = await browser.post("/ui/tokens", {"name": "forged"}, csrf=False)
    assert status == 403  # a form without the session's CSRF token makes nothing
    assert (await call(gw, token, "GET", "/api/user/self"))[0] == 200
    status, _ = await browser.post(f"/ui/tokens/{token_id}/revoke", {})
    assert status == 200
    status, answer = await call(gw, token, "GET", "/api/user/self")
    assert status == 401 and "revoked" in answer["message"]


async def test_keys_through_the_token_routes(browser: Browser, console_gateway: LiveGateway) -> None:
    gw = console_gateway
    token = await signed_up(browser)
    body = {
        "name": "ci-bot", "expired_time": -1, "remain_quota": 500_000, "unlimited_quota": False,
        "model_limits_enabled": True, "model_limits": ["gpt-4o-mini"], "allow_ips": "127.0.0.1, 10.0.0.0/8",
        "group": "default",
    }  # fmt: skip
    status, answer = await call(gw, token, "POST", "/api/token/", body)
    assert status == 201
    key = answer["data"]
    secret, key_id = key["key"], key["id"]
    assert secret.startswith("sk-") and key["name"] == "ci-bot" and key["status"] == 1
    assert key["budget_usd"] == "1.000000" and key["remain_quota"] == 500_000 and not key["unlimited_quota"]
    assert key["models"] == ["gpt-4o-mini"] and key["model_limits"] == "gpt-4o-mini"
    assert key["allowed_ips"] == ["127.0.0.1/32", "10.0.0.0/8"] and key["expired_time"] == -1

    client = openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=secret, max_retries=0)
    await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    status, answer = await call(gw, token, "GET", "/api/token/?p=1&page_size=10")
    assert answer["data"]["total"] == 1 and answer["data"]["page_size"] == 10
    assert answer["data"]["items"][0]["key"] != secret  # the secret is never shown again
    assert (await call(gw, token, "GET", "/api/token"))[1]["data"]["total"] == 1  # without the slash too
    assert [k["id"] for k in (await call(gw, token, "GET", "/api/token/search?keyword=ci"))[1]["data"]] == [
        key_id
    ]
    assert (await call(gw, token, "GET", "/api/token/search?keyword=nope"))[1]["data"] == []
    assert (await call(gw, token, "GET", f"/api/token/{key_id}"))[1]["data"]["name"] == "ci-bot"

    change = {"id": key_id, "rpm": 30, "tpm": 9000, "budget_usd": "2.5", "budget_period": "monthly",
              "expires_at": "2099-01-01T00:00:00Z", "models": None}  # fmt: skip
    status, answer = await call(gw, token, "PUT", "/api/token/", change)
    assert status == 200, answer
    key = answer["data"]
    assert (key["rpm"], key["tpm"], key["budget_usd"], key["budget_period"]) == (
        30,
        9000,
        "2.500000",
        "monthly",
    )
    assert key["models"] is None and key["expired_time"] == 4070908800 and key["state"] == "active"

    status, answer = await call(gw, token, "PUT", "/api/token/?status_only=true", {"id": key_id, "status": 2})
    assert answer["data"]["status"] == 2
    with pytest.raises(openai.AuthenticationError):  # disabled: refused at once
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    status, answer = await call(gw, token, "PUT", "/api/token/?status_only=true", {"id": key_id, "status": 1})
    assert answer["data"]["status"] == 1
    await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])

    # Usage rows and totals of the caller's account.
    for _ in range(60):
        status, answer = await call(gw, token, "GET", "/api/log/self?p=1&page_size=5&token_name=ci-bot")
        if answer["data"]["total"] >= 2:
            break
        await asyncio.sleep(0.1)
    rows = answer["data"]["items"]
    assert answer["data"]["total"] == 2 and rows[0]["token_name"] == "ci-bot"
    assert rows[0]["model_name"] == "gpt-4o-mini" and rows[0]["type"] == 2 and rows[0]["prompt_tokens"] > 0
    assert int(rows[0]["cost_micros"]) >= 0 and rows[0]["quota"] == int(rows[0]["cost_micros"]) // 2
    assert (await call(gw, token, "GET", "/api/log/self?model_name=none"))[1]["data"]["total"] == 0
    stat = (await call(gw, token, "GET", "/api/log/self/stat"))[1]["data"]
    assert stat["requests"] == 2 and stat["rpm"] == 2 and stat["tpm"] > 0
    ledger = (await call(gw, token, "GET", "/api/user/ledger"))[1]["data"]
    assert ledger["total"] >= 1 and ledger["items"][-1]["amount_usd"] == "5.000000"

    status, _ = await call(gw, token, "DELETE", f"/api/token/{key_id}")
    assert status == 200
    assert (await call(gw, token, "GET", f"/api/token/{key_id}"))[0] == 404
    # A deleted key's id is never handed out again (usage and the ledger refer to it).
    status, answer = await call(gw, token, "POST", "/api/token/", {"name": "after-delete"})
    assert status == 201 and answer["data"]["id"] != key_id
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


async def test_refusals_in_the_envelope(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    gw = console_gateway
    token = await signed_up(browser)
    other = await signed_up(other_browser)
    status, answer = await call(gw, token, "POST", "/api/token/", {"name": "mine"})
    assert status == 201
    mine = answer["data"]["id"]
    for method, path, body in (
        ("GET", f"/api/token/{mine}", None),
        ("DELETE", f"/api/token/{mine}", None),
        ("PUT", "/api/token/", {"id": mine, "rpm": 1}),
    ):
        status, answer = await call(gw, other, method, path, body)
        assert status == 403 and "another user" in answer["message"]
    assert (await call(gw, token, "GET", f"/api/token/{mine}"))[1]["data"]["rpm"] is None  # unchanged
    assert (await call(gw, token, "GET", "/api/token/99999999"))[0] == 404
    assert (await call(gw, token, "GET", "/api/token/abc"))[0] == 400
    bad = [
        ({"name": "mine"}, 409, "already"),
        ({}, 400, "name"),
        ({"name": "has space"}, 400, "name"),
        ({"name": "x1", "allow_ips": "not-an-ip"}, 400, "allowed_ips"),
        ({"name": "x2", "rpm": 0}, 400, "rpm"),
        ({"name": "x3", "remain_quota": -5}, 400, "remain_quota"),
        ({"name": "x4", "expired_time": "soon"}, 400, "expired_time"),
        ({"name": "x6", "expired_time": 10**14}, 400, "expired_time"),
        ({"name": "x7", "model_limits": [{"a": 1}]}, 400, "models"),
        ({"name": "x5", "price_multiplier": "0.1"}, 400, "price_multiplier"),  # admin-only
    ]
    for body, want, word in bad:
        status, answer = await call(gw, token, "POST", "/api/token/", body)
        assert (status, word in answer["message"]) == (want, True), (body, answer)
    status, answer = await call(gw, token, "PUT", "/api/token/?status_only=true", {"id": mine, "status": 7})
    assert status == 400 and "status" in answer["message"]
    assert (await call(gw, token, "GET", "/api/log/self?p=0"))[0] == 400
    assert (await call(gw, token, "GET", "/api/log/self?end_timestamp=99999999999999"))[0] == 400
    assert (await call(gw, token, "GET", "/api/token/%C2%B2"))[0] == 400  # a superscript two is no id


async def test_openapi_documents_every_route(console_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{console_gateway.url}/api/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["summary"] and str(route.status) in op["responses"] and "401" in op["responses"]
    create = doc["paths"]["/api/token/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["$ref"].endswith("/KeyCreateBody") and "KeyCreateBody" in doc["components"]["schemas"]
