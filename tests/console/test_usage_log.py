"""The usage log as people read it: the admin's has account, channel and error columns and
finds accounts by part of their name; keys appear by the name their owner gave them; the
CSV files carry those names and dollars."""

from __future__ import annotations

import csv
import io
import re
import uuid

import openai
import pytest

from tests.conftest import LiveGateway
from tests.console.conftest import Browser
from tests.console.test_admin_pages import admin_browser
from tests.console.test_console_flows import create_key


async def _csv(browser: Browser, path: str) -> list[dict[str, str]]:
    async with browser.http.get(browser.base + path) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        return list(csv.DictReader(io.StringIO(await resp.text())))


async def test_usage_rows_name_accounts_keys_channels_and_errors(
    browser: Browser, other_browser: Browser, console_gateway: LiveGateway
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"Mixed-{tag}@example.com"
    await other_browser.signup(email)
    secret = await create_key(other_browser, "copyme")
    client = openai.AsyncOpenAI(base_url=f"{console_gateway.url}/v1", api_key=secret, max_retries=0)
    await client.chat.completions.create(model="echo-1", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="fail-500", messages=[{"role": "user", "content": "x"}])
    await console_gateway.state.usage.flush()

    # The user's own log and CSV: the key by its name, costs in dollars.
    _, text = await other_browser.get("/ui/usage")
    assert "copyme" in text and "-copyme" not in text
    rows = await _csv(other_browser, "/ui/usage.csv")
    assert {r["key"] for r in rows} == {"copyme"} and "cost_micros" not in rows[0]
    ok = next(r for r in rows if r["status"] == "200")
    assert re.fullmatch(r"0\.\d{6}", ok["cost_usd"]) and float(ok["cost_usd"]) > 0

    # The admin's log: found by part of the account's name in another case.
    await admin_browser(browser)
    _, text = await browser.get(f"/ui/admin/usage?account={tag.upper()}")
    table = text.split('data-testid="usage-table"', 1)[1]
    for header in ("<th>Account</th>", "<th>Channel</th>", "<th>Error</th>"):
        assert header in table
    cells = re.findall(r'data-testid="usage-(account|key|channel|error)"[^>]*>(.*?)</td>', table, re.S)
    assert {v for k, v in cells if k == "account"} == {email.lower()}
    assert {v for k, v in cells if k == "key"} == {"copyme"}
    assert {"echo", "main"} <= {v for k, v in cells if k == "channel"}
    assert any(k == "error" and v.strip() for k, v in cells)  # the failed call says why
    _, none = await browser.get("/ui/admin/usage?account=no-such-" + tag)
    assert "No requests match." in none

    rows = await _csv(browser, f"/ui/admin/usage.csv?account={tag}")
    assert len(rows) == 2 and {r["account"] for r in rows} == {email.lower()}
    assert {r["key"] for r in rows} == {"copyme"} and all(r["key_name"].endswith("-copyme") for r in rows)
    ok = next(r for r in rows if r["status"] == "200")
    assert int(ok["cost_micro_usd"]) == round(float(ok["cost_usd"]) * 1_000_000)
    assert next(r for r in rows if r["status"] != "200")["error"]
