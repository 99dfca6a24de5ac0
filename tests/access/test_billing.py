"""Budgets, balances, redemption codes and the ledger invariant, on SQLite and PostgreSQL.

The invariant: for every key, spent == sum of its usage-log costs; for every account,
balance == sum of its ledger rows - sum of its usage-log costs. Exactly, always.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from sqlalchemy import func, select, update

from hubgate.settings import parse_settings
from hubgate.storage.tables import accounts, api_keys, credit_ledger, usage_logs
from tests.conftest import LiveGateway, _serve, free_port
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

# USD per 1M tokens, large so every token costs whole micro-dollars.
PRICE = {"input": 1000, "cached_input": 500, "output": 2000}


@pytest.fixture(scope="session")
async def billing_gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    config: dict[str, Any] = {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 0,
        "channels": [
            {"name": "b-dead", "type": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
             "api_key": "sk-dead", "models": ["p-failover"], "priority": 5},
            {"name": "b-main", "type": "openai", "base_url": fake_openai.base_url, "api_key": DEFAULT_API_KEY,
             "models": ["p-model", "p-failover", "p-slow", "p-fail", "p-cached", "p-nousage", "p-late"],
             "model_map": {"p-model": "gpt-4o-mini", "p-failover": "gpt-4o-mini", "p-slow": "slow-stream",
                           "p-fail": "fail-500", "p-cached": "cached-gpt", "p-nousage": "no-usage",
                           "p-late": "slow"}},
        ],
        "pricing": {"gpt-4o-mini": PRICE, "slow-stream": PRICE, "cached-gpt": PRICE, "no-usage": PRICE,
                    "slow": PRICE},
        "groups": {"default": 1.0, "vip": 0.5},
        "accounts": [{"name": f"acct-{uuid.uuid4().hex[:6]}", "balance_usd": 100, "group": "vip"}],
    }  # fmt: skip
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield LiveGateway(url=url, app=app, settings=settings, fake=fake_openai)
    finally:
        await runner.cleanup()


async def _account(gw: LiveGateway, credit_micros: int, group: str = "default") -> int:
    record = await gw.state.accounts.create(
        f"a-{uuid.uuid4().hex[:8]}", group=group, credit_micros=credit_micros
    )
    return record.id


async def _key(gw: LiveGateway, **fields: Any) -> tuple[str, str]:
    return await gw.new_key(**fields)


def _chat(gw: LiveGateway, secret: str) -> openai.AsyncOpenAI:
    return gw.client(secret)


async def _ask_hold(gw: LiveGateway) -> int:
    """What one `_ask` holds: the length of the body the SDK sends (it has no media and no
    escapes, so its bytes bound its prompt) at 1000, plus max_tokens=50 at 2000 micro-dollars
    a token. It costs far less. The bytes are the SDK's own, read from one request."""
    _, secret = await _key(gw)
    raw = await gw.client(secret).chat.completions.with_raw_response.create(
        model="p-model", messages=[{"role": "user", "content": "hi there"}], max_tokens=50
    )
    sent = raw.http_request.content
    assert b"\\u" not in sent and b"url" not in sent
    return len(sent) * 1000 + 50 * 2000


async def _ask(client: openai.AsyncOpenAI, model: str = "p-model") -> Any:
    return await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi there"}], max_tokens=50
    )


async def test_cost_is_exact_integer_micro_dollars(billing_gateway: LiveGateway) -> None:
    name, secret = await _key(billing_gateway)
    reply = await _ask(_chat(billing_gateway, secret))
    (row,) = await billing_gateway.usage_rows(name)
    u = reply.usage
    # 1000 USD/1M input = 1000 micro-dollars a token; 2000 for output.
    assert row["cost_micros"] == u.prompt_tokens * 1000 + u.completion_tokens * 2000
    cached_name, cached_secret = await _key(billing_gateway)
    reply = await _ask(_chat(billing_gateway, cached_secret), "p-cached")
    (row,) = await billing_gateway.usage_rows(cached_name)
    cached = reply.usage.prompt_tokens_details.cached_tokens
    assert cached > 0
    expected = (
        (reply.usage.prompt_tokens - cached) * 1000 + cached * 500 + reply.usage.completion_tokens * 2000
    )
    assert row["cost_micros"] == expected


async def test_group_multiplier_applies(billing_gateway: LiveGateway) -> None:
    account_id = await _account(billing_gateway, 10_000_000, group="vip")
    name, secret = await _key(billing_gateway, account_id=account_id)
    reply = await _ask(_chat(billing_gateway, secret))
    (row,) = await billing_gateway.usage_rows(name)
    full = reply.usage.prompt_tokens * 1000 + reply.usage.completion_tokens * 2000
    assert row["cost_micros"] == full // 2 and row["account_id"] == account_id


async def test_key_budget_refuses_with_402_in_each_callers_shape(billing_gateway: LiveGateway) -> None:
    name, secret = await _key(billing_gateway, budget_micros=await _ask_hold(billing_gateway))
    await _ask(_chat(billing_gateway, secret))  # its hold fits the budget exactly
    with pytest.raises(openai.APIStatusError) as info:  # refused at once, before the usage flush:
        await _ask(_chat(billing_gateway, secret))  # what is left cannot cover another hold
    assert info.value.status_code == 402
    assert info.value.body["code"] == "insufficient_quota"  # type: ignore[index]
    ant = anthropic.AsyncAnthropic(base_url=billing_gateway.url, api_key=secret, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as ainfo:
        await ant.messages.create(
            model="p-model", max_tokens=100, messages=[{"role": "user", "content": "x"}]
        )
    assert ainfo.value.status_code == 402
    assert ainfo.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{billing_gateway.url}/v1beta/models/p-model:generateContent",
            headers={"x-goog-api-key": secret},
            json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]},
        ) as resp,
    ):
        assert resp.status == 402
        assert (await resp.json())["error"]["status"] == "RESOURCE_EXHAUSTED"
    rows = await billing_gateway.usage_rows(name)
    assert [r["status"] for r in rows] == [200, 402, 402, 402]
    assert [r["cost_micros"] > 0 for r in rows] == [True, False, False, False]


async def test_account_balance_refuses_with_402(billing_gateway: LiveGateway) -> None:
    account_id = await _account(billing_gateway, 10)  # ten micro-dollars: not one hold's worth
    _, secret = await _key(billing_gateway, account_id=account_id)
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(_chat(billing_gateway, secret))
    assert info.value.status_code == 402
    hold = await _ask_hold(billing_gateway)
    await billing_gateway.state.accounts.adjust(account_id, hold - 10, reference="test top-up")
    await billing_gateway.state.billing.balance_changed(account_id)
    await _ask(_chat(billing_gateway, secret))  # exactly one hold's worth
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(_chat(billing_gateway, secret))
    assert info.value.status_code == 402
    # A top-up lets the account through again.
    await billing_gateway.state.usage.flush()
    await billing_gateway.state.accounts.adjust(account_id, 50_000_000, reference="test top-up")
    billing_gateway.state.billing.accounts.invalidate()
    await _ask(_chat(billing_gateway, secret))


async def test_redemption_code_is_redeemed_exactly_once(billing_gateway: LiveGateway) -> None:
    repo = billing_gateway.state.accounts
    (code,) = await repo.create_codes(f"batch-{uuid.uuid4().hex[:6]}", 1, 5_000_000)
    account_ids = [await _account(billing_gateway, 0) for _ in range(8)]
    results = await asyncio.gather(*(repo.redeem(code, a) for a in account_ids), return_exceptions=True)
    assert sum(1 for r in results if r == 5_000_000) == 1
    assert sum(1 for r in results if isinstance(r, Exception)) == 7
    balances = [(await repo.by_id(a)).balance_micros for a in account_ids]  # type: ignore[union-attr]
    assert sorted(balances) == [0] * 7 + [5_000_000]


async def test_ledger_invariant_under_concurrency(billing_gateway: LiveGateway) -> None:
    gw = billing_gateway
    account_id = await _account(gw, 1_000_000_000)
    keys = [await _key(gw, account_id=account_id) for _ in range(3)]

    async def plain(secret: str) -> None:
        await _ask(_chat(gw, secret))

    async def failover(secret: str) -> None:
        await _ask(_chat(gw, secret), "p-failover")

    async def failing(secret: str) -> None:
        with pytest.raises(openai.InternalServerError):
            await _ask(_chat(gw, secret), "p-fail")

    async def stream(secret: str) -> None:
        chunks = await _chat(gw, secret).chat.completions.create(
            model="p-model", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
        async for _ in chunks:
            pass

    async def cut_off(secret: str) -> None:
        chunks = await _chat(gw, secret).chat.completions.create(
            model="p-slow", messages=[{"role": "user", "content": "x"}], stream=True
        )
        async for _ in chunks:
            break
        await chunks.close()

    work = [plain, failover, failing, stream, cut_off]
    jobs = [work[i % len(work)](keys[i % len(keys)][1]) for i in range(40)]
    await asyncio.gather(*jobs)
    for _ in range(100):  # cut-off streams finish their bookkeeping (an estimate, off the loop)
        await gw.state.usage.flush()
        async with gw.state.engine.connect() as conn:
            logged = await conn.execute(
                select(func.count()).where(usage_logs.c.key_name.in_([n for n, _ in keys]))
            )
            if logged.scalar_one() >= 40:
                break
        await asyncio.sleep(0.1)
    async with gw.state.engine.connect() as conn:
        for name, _ in keys:
            spent, period = (
                await conn.execute(
                    select(api_keys.c.spent_micros, api_keys.c.period_spent_micros).where(
                        api_keys.c.name == name
                    )
                )
            ).one()
            logged = (
                await conn.execute(select(func.coalesce(func.sum(usage_logs.c.cost_micros), 0)).where(
                    usage_logs.c.key_name == name))
            ).scalar_one()  # fmt: skip
            assert spent == logged == period and spent > 0
        balance = (
            await conn.execute(select(accounts.c.balance_micros).where(accounts.c.id == account_id))
        ).scalar_one()
        ledger, logs = credit_ledger.c, usage_logs.c
        credits = (
            await conn.execute(select(func.sum(ledger.amount_micros)).where(ledger.account_id == account_id))
        ).scalar_one()
        costs = (
            await conn.execute(select(func.sum(logs.cost_micros)).where(logs.account_id == account_id))
        ).scalar_one()
        assert balance == credits - costs
        statuses = [
            r[0]
            for r in await conn.execute(
                select(usage_logs.c.status).where(usage_logs.c.key_name.in_([n for n, _ in keys]))
            )
        ]
    assert len(statuses) == 40  # one row per request, none lost, none doubled
    assert statuses.count(500) == 8 and statuses.count(499) == 8


async def test_budget_period_rolls_over(billing_gateway: LiveGateway) -> None:
    gw = billing_gateway
    name, secret = await _key(gw, budget_micros=10**12, budget_period="daily")
    await _ask(_chat(gw, secret))
    await gw.state.usage.flush()
    async with gw.state.engine.begin() as conn:
        # Pretend the recorded spend happened in an earlier period.
        from datetime import UTC, datetime

        await conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name)
            .values(period_started_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    await _ask(_chat(gw, secret))
    rows = await gw.usage_rows(name)
    async with gw.state.engine.connect() as conn:
        spent, period = (
            await conn.execute(
                select(api_keys.c.spent_micros, api_keys.c.period_spent_micros).where(api_keys.c.name == name)
            )
        ).one()
    assert spent == rows[0]["cost_micros"] + rows[1]["cost_micros"]
    assert period == rows[1]["cost_micros"]  # the new day counts only its own spend


async def _wait_rows(gw: LiveGateway, name: str, count: int = 1) -> list[dict[str, Any]]:
    """Rows that need an estimate are recorded once the count is done (off the request path)."""
    for _ in range(100):
        rows = await gw.usage_rows(name)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"no usage row for {name}")


async def test_missing_usage_is_estimated_with_the_real_tokenizer(billing_gateway: LiveGateway) -> None:
    from hubgate.metering.tokenizer import count_tokens_sync

    name, secret = await _key(billing_gateway)
    chunks = await _chat(billing_gateway, secret).chat.completions.create(
        model="p-nousage", messages=[{"role": "user", "content": "hi there"}], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    (row,) = await _wait_rows(billing_gateway, name)
    assert row["estimated"] is True and row["status"] == 200
    assert row["completion_tokens"] == count_tokens_sync(text, "no-usage") > 0
    assert row["prompt_tokens"] > 0
    assert row["cost_micros"] == row["prompt_tokens"] * 1000 + row["completion_tokens"] * 2000


async def test_cut_off_stream_bills_only_what_was_delivered(billing_gateway: LiveGateway) -> None:
    from hubgate.metering.tokenizer import count_tokens_sync

    name, secret = await _key(billing_gateway)
    chunks = await _chat(billing_gateway, secret).chat.completions.create(
        model="p-slow", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen = ""
    async for chunk in chunks:
        seen += chunk.choices[0].delta.content or "" if chunk.choices else ""
        if seen:
            break
    await chunks.close()
    (row,) = await _wait_rows(billing_gateway, name)
    assert row["status"] == 499 and row["estimated"] is True
    # Only what reached the caller (a chunk or two of a 20-chunk answer) is billed.
    assert 0 < row["completion_tokens"] <= count_tokens_sync(seen, "slow-stream") + 2
    assert row["completion_tokens"] < 15


async def test_stream_aborted_before_any_output_bills_nothing(billing_gateway: LiveGateway) -> None:
    name, secret = await _key(billing_gateway)
    fake, asked = billing_gateway.fake, len(billing_gateway.fake.requests)
    call = asyncio.create_task(
        _chat(billing_gateway, secret).chat.completions.create(
            model="p-late", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    # The caller hangs up once the upstream has the request (it answers `slow` after 3 s), not
    # after a short client timeout: a stalled loop could fire that before hubgate read the request.
    for _ in range(200):
        if any(r.json and r.json.get("model") == "slow" for r in fake.requests[asked:]):
            break
        await asyncio.sleep(0.02)
    else:
        call.cancel()
        raise AssertionError("the upstream never got the request")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    (row,) = await _wait_rows(billing_gateway, name)
    assert row["status"] == 499
    assert (row["completion_tokens"], row["cost_micros"], row["estimated"]) == (0, 0, False)


async def test_key_ip_allow_list(billing_gateway: LiveGateway) -> None:
    _, inside = await _key(billing_gateway, allowed_ips=["127.0.0.0/8"])
    await _ask(_chat(billing_gateway, inside))
    _, outside = await _key(billing_gateway, allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    with pytest.raises(openai.PermissionDeniedError) as info:
        await _ask(_chat(billing_gateway, outside))
    assert info.value.body["code"] == "ip_not_allowed"  # type: ignore[index]
