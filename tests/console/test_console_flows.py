"""The console's user flows over HTTP: sign-up, keys used with the openai SDK, the usage log
and its CSV, redeeming a code, the playground stream, two-factor sign-in."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import openai
import pytest

from hubgate.console import totp
from tests.conftest import LiveGateway
from tests.console.conftest import ADMIN_PASSWORD, PASSWORD, Browser, admin_call, new_email

SECRET = re.compile(r'data-testid="new-secret">([^<]+)<')
BALANCE = re.compile(r'data-testid="balance"[^>]*>([^<]+)<')


async def create_key(browser: Browser, name: str, **fields: str) -> str:
    await browser.get("/ui/keys")
    status, text = await browser.post("/ui/keys", {"name": name, **fields})
    assert status == 200, text
    found = SECRET.search(text)
    assert found, text
    return found.group(1)


async def admin_api(gw: LiveGateway, method: str, path: str, body: Any = None) -> Any:
    """The admin API's answer to a call that must succeed."""
    status, answer = await admin_call(gw, method, path, body)
    assert status < 300, answer
    return answer


async def test_a_new_account_gets_its_credit_and_a_dashboard(browser: Browser) -> None:
    status, text = await browser.signup(new_email())
    assert status == 200
    assert BALANCE.search(text).group(1) == "$5.00"  # type: ignore[union-attr]
    assert "No requests yet" in text


async def test_a_console_key_works_with_the_openai_sdk_and_shows_in_the_log(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    await browser.signup(new_email())
    secret = await create_key(browser, "sdk-app", budget_usd="2", models="echo-1, gpt-4o-mini")
    _, text = await browser.get("/ui/keys")
    assert secret not in text  # shown once, at creation only
    assert "sdk-app" in text and "echo-1, gpt-4o-mini" in text
    client = openai.AsyncOpenAI(base_url=f"{console_gateway.url}/v1", api_key=secret, max_retries=0)
    answer = await client.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "hello console"}]
    )
    assert "hello console" in (answer.choices[0].message.content or "")
    with pytest.raises(openai.PermissionDeniedError):  # the key's model list is enforced
        await client.embeddings.create(model="echo-embed", input="x")
    await console_gateway.state.usage.flush()
    _, text = await browser.get("/ui/usage")
    assert "echo-1" in text and "sdk-app" in text
    _, text = await browser.get("/ui/usage?model=echo-1&status=200")
    assert text.count("<tr") >= 2
    async with browser.http.get(browser.base + "/ui/usage.csv?model=echo-1") as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert len(rows) == 1 and rows[0]["model"] == "echo-1" and rows[0]["status"] == "200"
    assert float(rows[0]["cost_usd"]) > 0 and rows[0]["key"] == "sdk-app"
    _, text = await browser.get("/ui/dashboard")
    assert 'data-testid="spend-chart"' in text and "<rect" in text and "echo-1" in text


async def test_revoking_a_key_stops_it_at_once(browser: Browser, console_gateway: LiveGateway) -> None:
    await browser.signup(new_email())
    secret = await create_key(browser, "short-lived")
    key = await console_gateway.state.key_repo.by_hash(_digest(secret))
    assert key is not None
    status, _ = await browser.post(f"/ui/keys/{key.id}/revoke", {})
    assert status == 200  # followed the redirect back to the list
    console_gateway.state.keys.invalidate()
    client = openai.AsyncOpenAI(base_url=f"{console_gateway.url}/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="echo-1", messages=[{"role": "user", "content": "x"}])


def _digest(secret: str) -> str:
    from hubgate.storage.keys import hash_key

    return hash_key(secret)


async def test_bad_key_forms_are_refused_with_a_reason(browser: Browser) -> None:
    await browser.signup(new_email())
    for fields, field, reason in (
        ({"name": "bad name!"}, "name", "letters, digits"),
        ({"name": "ok", "budget_usd": "ten"}, "budget_usd", "Enter an amount in dollars"),
        ({"name": "ok", "budget_usd": "-1"}, "budget_usd", "of 0 or more"),
        ({"name": "ok", "rpm": "0"}, "rpm", "whole number of 1 or more"),
        ({"name": "ok", "expires": "2001-01-01"}, "expires", "in the future"),
        ({"name": "ok", "allowed_ips": "10.0.0.0/33"}, "allowed_ips", "10.0.0.0/33"),
    ):
        status, text = await browser.post("/ui/keys", fields)
        assert status == 400, (fields, text[-800:])
        # The message is tied to its field: aria-invalid, and aria-describedby naming it.
        message = re.search(f'<span class="field-error" id="f-{field}-error"[^>]*>([^<]*)<', text)
        assert message and reason in html.unescape(message.group(1)), (fields, text[-1500:])
        assert re.search(f'name="{field}"[^>]*aria-invalid="true" aria-describedby="f-{field}-error"', text)
    await create_key(browser, "twice")
    status, text = await browser.post("/ui/keys", {"name": "twice"})
    assert status == 409 and "already have a key" in text


async def test_redeeming_a_code_credits_the_balance_once(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    await browser.signup(new_email())
    (code,) = (await admin_api(console_gateway, "POST", "/admin/redemption-codes",
                               {"batch": "console", "count": 1, "amount_usd": "3"}))["codes"]  # fmt: skip
    await browser.get("/ui/redeem")
    status, text = await browser.post("/ui/redeem", {"code": code})
    assert status == 200 and "$3.00 added" in text
    assert BALANCE.search(text).group(1) == "$8.00"  # type: ignore[union-attr]
    status, text = await browser.post("/ui/redeem", {"code": code})
    assert status == 400 and "already been used" in text
    assert BALANCE.search(text).group(1) == "$8.00"  # type: ignore[union-attr]


async def test_the_playground_streams_an_answer_billed_to_the_chosen_key(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    await browser.signup(new_email())
    await create_key(browser, "play")
    _, text = await browser.get("/ui/playground")
    key_id = int(re.search(r'<option value="(\d+)" data-models', text).group(1))  # type: ignore[union-attr]
    body = {
        "key_id": key_id,
        "model": "echo-1",
        "messages": [{"role": "user", "content": "stream me please"}],
    }
    headers = {"x-csrf-token": browser.csrf}
    async with browser.http.post(browser.base + "/ui/playground/chat", json=body, headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = (await resp.read()).decode()
    assert raw.rstrip().endswith("data: [DONE]")
    text_out = "".join(re.findall(r'"content":"([^"]*)"', raw))
    assert "stream me please" in text_out
    async with browser.http.post(browser.base + "/ui/playground/chat", json=body) as resp:
        assert resp.status == 403  # no CSRF header
    await console_gateway.state.usage.flush()
    _, text = await browser.get("/ui/usage")
    assert "play" in text and "stream" in text


async def test_two_factor_sign_in(browser: Browser, other_browser: Browser) -> None:
    email = new_email()
    await browser.signup(email)
    await browser.get("/ui/settings")
    status, text = await browser.post("/ui/settings/totp/start", {})
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', text).group(1)  # type: ignore[union-attr]
    status, text = await browser.post("/ui/settings/totp/enable", {"secret": secret, "code": "000000"})
    assert status == 400
    status, text = await browser.post(
        "/ui/settings/totp/enable", {"secret": secret, "code": totp.code_now(secret)}
    )
    assert status == 200 and "Two-factor sign-in is on" in text
    status, text = await other_browser.login(email, PASSWORD)
    assert status == 200 and "Two-factor code" in text
    status, _ = await other_browser.get("/ui/dashboard", allow_redirects=False)
    assert status == 303  # the password alone does not sign in
    status, text = await other_browser.post("/ui/login/totp", {"code": "123456", "next": "/ui/dashboard"})
    assert status == 401
    status, text = await other_browser.post(
        "/ui/login/totp", {"code": totp.code_now(secret), "next": "/ui/keys"}
    )
    assert status == 200 and "Your keys" in text


async def test_the_configured_admin_can_log_in(browser: Browser) -> None:
    status, text = await browser.login("ROOT@example.test", ADMIN_PASSWORD)
    assert status == 200 and "Dashboard" in text and "/ui/admin/channels" in text
