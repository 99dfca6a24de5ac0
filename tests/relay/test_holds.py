"""Holds through a live gateway (SQLite: in memory; PostgreSQL without Redis: leases), and
`hubgate ledger check` on both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from hubgate.cli import app as cli
from hubgate.metering.hold import tokens
from hubgate.storage.tables import accounts, api_keys, usage_logs
from tests.conftest import IN_CI, PG_ADMIN_DSN, LiveGateway, _pg_admin, _pg_available, live_gateway, pg_url
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

PRICE = {"input": 1000, "output": 2000}  # micro-dollars a token: 1000 in, 2000 out
BODY: dict[str, Any] = {"model": "h-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
HOLD = (
    tokens(BODY, json.dumps(BODY).encode()).prompt_tokens * 1000 + 5 * 2000
)  # what one request holds (as aiohttp sends it)


def config(database_url: str, fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "channels": [
            {"name": "h-main", "type": "openai", "base_url": fake.base_url, "api_key": DEFAULT_API_KEY,
             "models": ["h-model", "h-slow"], "model_map": {"h-model": "gpt-4o-mini", "h-slow": "slow"}},
        ],
        "pricing": {"gpt-4o-mini": PRICE, "slow": PRICE},
        **extra,
    }  # fmt: skip


async def chat(http: aiohttp.ClientSession, url: str, secret: str, body: dict[str, Any] = BODY) -> int:
    async with http.post(
        f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"}, json=body
    ) as resp:
        await resp.read()
        return resp.status


async def one_answer_cost(http: aiohttp.ClientSession, url: str, secret: str) -> int:
    """What one BODY answer costs (its usage at PRICE)."""
    async with http.post(
        f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"}, json=BODY
    ) as resp:
        usage = (await resp.json())["usage"]
    cost = int(usage["prompt_tokens"]) * 1000 + int(usage["completion_tokens"]) * 2000
    assert 0 < cost <= HOLD  # the fake honours max_tokens here: its answer fits its hold
    return cost


@pytest.fixture
async def holds_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    async with live_gateway(config(database_url, fake_openai), fake_openai) as gw:
        yield gw


async def test_concurrent_requests_never_overspend_a_small_balance(holds_gateway: LiveGateway) -> None:
    gw = holds_gateway
    _, free = await gw.new_key()  # the default account: no limit
    async with aiohttp.ClientSession() as http:
        cost = await one_answer_cost(http, gw.url, free)
        affordable = 10
        account = await gw.state.accounts.create(
            f"h-{uuid.uuid4().hex[:8]}", credit_micros=affordable * cost + cost // 2
        )
        name, secret = await gw.new_key(account_id=account.id)
        stream = dict(BODY, stream=True)
        statuses = await asyncio.gather(
            *(chat(http, gw.url, secret, stream if i % 2 else BODY) for i in range(100))
        )
        served = statuses.count(200)
        assert set(statuses) <= {200, 402}
        assert 1 <= served <= affordable
        for _ in range(20):  # more, one at a time, until the balance is spent
            if await chat(http, gw.url, secret) != 200:
                break
    rows = await gw.usage_rows(name)
    billed = [r["cost_micros"] for r in rows if r["status"] == 200]
    assert len(billed) <= affordable and sum(billed) <= affordable * cost + cost // 2
    async with gw.state.engine.connect() as conn:
        balance, leased = (
            await conn.execute(
                select(accounts.c.balance_micros, accounts.c.leased_micros).where(accounts.c.id == account.id)
            )
        ).one()
    assert balance >= 0 and balance - leased >= 0
    assert balance == affordable * cost + cost // 2 - sum(billed)


async def test_a_request_over_the_balance_is_refused_before_it_goes_upstream(
    holds_gateway: LiveGateway,
) -> None:
    gw = holds_gateway
    account = await gw.state.accounts.create(f"h-{uuid.uuid4().hex[:8]}", credit_micros=100_000_000)
    name, secret = await gw.new_key(account_id=account.id)
    huge = {"model": "h-model", "messages": [{"role": "user", "content": "word " * 30_000}], "max_tokens": 5}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"}, json=huge
        ) as resp:
            assert resp.status == 402  # 150k tokens held at $1000/M: more than $100
            body = await resp.json()
        assert (
            body["error"]["code"] == "insufficient_quota" and "may cost up to $" in body["error"]["message"]
        )
        assert await chat(http, gw.url, secret) == 200  # a small one still fits
    rows = await gw.usage_rows(name)
    assert [r["status"] for r in rows] == [402, 200] and rows[0]["channel"] is None  # never sent


# --- hubgate ledger check ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: the ledger check reads every account in it."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    problem = asyncio.run(_pg_available())
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is required under CI: {problem}")
        pytest.skip(problem)
    name = f"hubgate_ledger_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _ledger(database_url: str) -> tuple[int, dict[str, Any]]:
    """The real command, in a thread (it runs its own event loop)."""
    env = {"HUBGATE_DATABASE_URL": database_url}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["ledger", "check", "--json"], env=env)
    return result.exit_code, json.loads(result.output)


async def test_ledger_check_passes_then_catches_a_corrupted_balance(
    fresh_database: str, fake_openai: FakeOpenAI
) -> None:
    async with live_gateway(config(fresh_database, fake_openai), fake_openai) as gw:
        account = await gw.state.accounts.create("ledger-acct", credit_micros=5_000_000)
        _, secret = await gw.new_key(account_id=account.id, budget_micros=3_000_000)
        async with aiohttp.ClientSession() as http:
            assert await chat(http, gw.url, secret) == 200
            assert await chat(http, gw.url, secret) == 200
        await gw.state.usage.flush()
        key_id = (await gw.state.key_repo.by_account(account.id))[0].id
    code, report = await _ledger(fresh_database)
    assert code == 0 and report["ok"] is True and report["differences"] == []
    assert report["accounts"] >= 2 and report["keys"] == 1

    from hubgate.storage.db import create_engine

    engine = create_engine(fresh_database)
    async with engine.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account.id)
            .values(balance_micros=accounts.c.balance_micros + 7)
        )
        await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(leased_micros=5))
        logged = (await conn.execute(select(usage_logs.c.cost_micros))).scalars().all()
        assert len(logged) == 2 and all(c > 0 for c in logged)
    await engine.dispose()
    code, report = await _ledger(fresh_database)
    assert code == 1 and report["ok"] is False
    found = {(d["subject"], d["check"], d["stored"] - d["expected"]) for d in report["differences"]}
    assert found == {("account", "balance", 7), ("key", "leased", 5)}


async def test_an_answer_over_its_hold_is_charged_in_full_and_the_next_is_refused(
    holds_gateway: LiveGateway,
) -> None:
    gw = holds_gateway
    # The fake upstream answers 4 tokens whatever the cap. The escaped "é" (aiohttp sends
    # "\u00e9") makes the hold the walk's figure, not the body's length: under the cost.
    ignored = dict(BODY, max_tokens=1, messages=[{"role": "user", "content": "é"}])
    hold = tokens(ignored, json.dumps(ignored).encode()).prompt_tokens * 1000 + 1 * 2000
    account = await gw.state.accounts.create(f"h-{uuid.uuid4().hex[:8]}", credit_micros=hold)
    name, secret = await gw.new_key(account_id=account.id)
    async with aiohttp.ClientSession() as http:
        assert await chat(http, gw.url, secret, ignored) == 200
        assert await chat(http, gw.url, secret, ignored) == 402  # nothing left to hold
    (row, refused) = await gw.usage_rows(name)
    assert row["cost_micros"] > hold and refused["status"] == 402  # the actual cost, not the hold
    record = await gw.state.accounts.by_id(account.id)
    assert record is not None and record.balance_micros == hold - row["cost_micros"] < 0


# --- max_request_cost_usd: the key's, else its account's, else the global setting ----------


async def test_max_request_cost_caps_an_uncapped_hold_per_key_then_per_account(
    database_url: str, fake_openai: FakeOpenAI
) -> None:
    admin_key = "sk-admin-caps-0123456789"
    admin = {"Authorization": f"Bearer {admin_key}"}
    uncapped = {"model": "h-model", "messages": [{"role": "user", "content": "hi"}]}  # no max_tokens
    async with (
        live_gateway(
            config(database_url, fake_openai, admin_key="sk-admin-caps-0123456789"), fake_openai
        ) as gw,
        aiohttp.ClientSession() as http,
    ):
        account = f"cap-{uuid.uuid4().hex[:8]}"

        async def admin_call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with http.request(method, f"{gw.url}{path}", headers=admin, json=body) as resp:
                assert resp.status in (200, 201), await resp.text()
                return dict(await resp.json())

        made = await admin_call("POST", "/admin/accounts", {"name": account, "credit_usd": "1"})
        assert made["max_request_cost_usd"] is None
        key = await admin_call("POST", "/admin/keys", {"name": f"k-{account}", "account": account})
        secret, key_path = key["secret"], f"/admin/keys/k-{account}"
        # The model's whole maximum output at $2000/M is far over $1: refused before upstream.
        assert await chat(http, gw.url, secret, uncapped) == 402
        patched = await admin_call("PATCH", key_path, {"max_request_cost_usd": "0.5"})
        assert patched["max_request_cost_micros"] == 500_000
        assert await chat(http, gw.url, secret, uncapped) == 200  # held at most $0.50
        await admin_call("PATCH", key_path, {"max_request_cost_usd": None})
        assert await chat(http, gw.url, secret, uncapped) == 402
        view = await admin_call("PATCH", f"/admin/accounts/{account}", {"max_request_cost_usd": "0.25"})
        assert view["max_request_cost_micros"] == 250_000
        assert await chat(http, gw.url, secret, uncapped) == 200  # the account's cap applies
        # A request naming its own output limit is held at that, whatever the cap.
        assert await chat(http, gw.url, secret) == 200
