"""A customer edits, disables, enables and deletes their own keys in the console (issue 16)."""

from __future__ import annotations

import html
import re

import openai
import pytest

from tests.conftest import LiveGateway
from tests.console.conftest import Browser, new_email
from tests.console.test_console_flows import _digest, create_key


def _client(gw: LiveGateway, secret: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=secret, max_retries=0)


async def _chat(gw: LiveGateway, secret: str) -> str:
    answer = await _client(gw, secret).chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "ping"}]
    )
    return answer.choices[0].message.content or ""


async def test_a_key_is_edited_disabled_enabled_and_deleted(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    await browser.signup(new_email())
    secret = await create_key(browser, "editable", rpm="5")
    key = await console_gateway.state.key_repo.by_hash(_digest(secret))
    assert key is not None and key.rpm == 5
    status, text = await browser.get(f"/ui/keys/{key.id}/edit")
    assert status == 200 and 'value="editable"' in text and 'value="5"' in text
    # A bad value is refused by the shared validation, tied to its field, the rest kept.
    status, text = await browser.post(f"/ui/keys/{key.id}/edit", {"name": "editable", "tpm": "-3"})
    assert status == 400 and 'id="f-tpm-error"' in text and "whole number" in text
    changes = {"name": "renamed", "budget_usd": "1.5", "budget_period": "daily", "models": "echo-1",
               "rpm": "", "tpm": "9000", "max_concurrency": "4", "allowed_ips": "127.0.0.1/32, ::1",
               "expires": "2099-01-31"}  # fmt: skip
    status, text = await browser.post(f"/ui/keys/{key.id}/edit", changes)
    assert status == 200 and "“renamed” saved" in html.unescape(text)  # back on the list (PRG)
    after = await console_gateway.state.key_repo.by_id(key.id)
    assert after is not None
    assert (after.budget_micros, after.budget_period, after.models, after.rpm, after.tpm) == (
        1_500_000, "daily", frozenset({"echo-1"}), None, 9000)  # fmt: skip
    assert list(after.allowed_ips or ()) == ["127.0.0.1/32", "::1/128"] and after.expires_at.year == 2099  # type: ignore[union-attr]
    assert after.max_concurrency == 4
    assert "ping" in await _chat(console_gateway, secret)  # renamed, still the same secret
    # Another account's key is not there for the neighbour.
    await other_browser.signup(new_email())
    for path in ("edit", "disable", "enable", "delete"):
        status, _ = await other_browser.post(f"/ui/keys/{key.id}/{path}", {"name": "stolen"})
        assert status == 404, path
    status, text = await browser.post(f"/ui/keys/{key.id}/disable", {})
    assert status == 200 and 'data-testid="enable-key-renamed"' in text
    with pytest.raises(openai.AuthenticationError):
        await _chat(console_gateway, secret)
    status, text = await browser.post(f"/ui/keys/{key.id}/enable", {})
    assert status == 200 and 'data-testid="disable-key-renamed"' in text
    assert "ping" in await _chat(console_gateway, secret)
    status, text = await browser.post(f"/ui/keys/{key.id}/delete", {})
    assert status == 200 and "“renamed” deleted" in html.unescape(text)
    assert not re.search(r"data-testid=\"edit-key-renamed\"", text)
    assert await console_gateway.state.key_repo.by_id(key.id) is None
    with pytest.raises(openai.AuthenticationError):
        await _chat(console_gateway, secret)


async def test_renaming_onto_another_key_is_refused(browser: Browser, console_gateway: LiveGateway) -> None:
    await browser.signup(new_email())
    await create_key(browser, "first")
    secret = await create_key(browser, "second")
    key = await console_gateway.state.key_repo.by_hash(_digest(secret))
    assert key is not None
    await browser.get(f"/ui/keys/{key.id}/edit")
    status, text = await browser.post(f"/ui/keys/{key.id}/edit", {"name": "first"})
    assert status == 409 and "already have a key" in text


async def test_the_balance_history_shows_the_ledger_and_daily_spend(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    from tests.console.test_console_flows import admin_api

    email = new_email()
    await browser.signup(email)
    secret = await create_key(browser, "spender")
    await _chat(console_gateway, secret)
    await console_gateway.state.usage.flush()
    (user,) = (await admin_api(console_gateway, "GET", f"/admin/users?email={email}"))["data"]
    account = user["account"]
    await admin_api(console_gateway, "POST", f"/admin/accounts/{account}/adjust",
                    {"amount_usd": "-0.5", "reference": "=goodwill"})  # fmt: skip
    status, text = await browser.get("/ui/billing")
    assert status == 200
    text = html.unescape(text)
    assert text.count('data-testid="ledger-row"') == 2
    assert "Opening credit" in text and "+$5.00" in text and "Debit by an administrator" in text
    assert "-$0.50" in text and "=goodwill" in text
    spend = text[text.index('data-testid="spend-table"') :]
    assert "<td>20" in spend and "No requests yet" not in spend
    async with browser.http.get(browser.base + "/ui/billing.csv") as resp:
        assert resp.status == 200 and resp.headers["content-type"].startswith("text/csv")
        lines = (await resp.text()).splitlines()
    assert lines[0] == "created_at,kind,amount_usd,reference"
    assert lines[1].split(",")[1:] == ["debit", "-0.500000", "'=goodwill"]  # no formula in a spreadsheet
    assert lines[2].split(",")[1:] == ["initial", "5.000000", ""]
