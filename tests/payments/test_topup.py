"""Online top-up over HTTP against the fake Stripe and the fake EPay, on SQLite and PostgreSQL:
an order is made from the console, the fake "pays" and notifies with its signature, the
account is credited once (bonus included) whatever the replays, forged notifications are
refused, refunds debit once, and `hubgate ledger check` still balances."""

from __future__ import annotations

import asyncio
import html
import re
import time
from decimal import Decimal

import aiohttp
from sqlalchemy import select

from hubgate.gateway import GATEWAY
from hubgate.storage.ledger import check_ledger
from hubgate.storage.tables import payments
from tests.console.conftest import Browser, admin_call
from tests.fakes import epay_fake
from tests.payments.conftest import Setup

PAY_LINK = re.compile(r'data-testid="pay-link">Order <code>(\w+)</code>.*?<a href="([^"]+)"')
BALANCE = re.compile(r'data-testid="balance"[^>]*>\$([\d,.]+)<')


async def balance(browser: Browser) -> Decimal:
    status, text = await browser.get("/ui/topup")
    assert status == 200
    found = BALANCE.search(text)
    assert found, text
    return Decimal(found.group(1).replace(",", ""))


async def order(browser: Browser, amount: str, method: str) -> tuple[str, str]:
    """Submit the Top-up form; the order id and the provider's payment URL the page links to."""
    await browser.get("/ui/topup")
    status, text = await browser.post("/ui/topup", {"amount": "10", "custom": amount, "method": method})
    assert status == 200, text
    found = PAY_LINK.search(text)
    assert found, text
    return found.group(1), html.unescape(found.group(2))


async def ledger_ok(setup: Setup) -> None:
    """Every account that paid balances (the database is shared with other tests, some of
    which book costs or budgets directly)."""
    engine = setup.gw.app[GATEWAY].engine
    report = await check_ledger(engine)
    async with engine.connect() as conn:
        paying = set((await conn.execute(select(payments.c.account_id).distinct())).scalars())
    accounts = [d for d in report.differences if d.subject == "account" and d.id in paying]
    assert not accounts, accounts


async def test_stripe_checkout_is_credited_once_with_its_bonus_and_refunded_once(
    setup: Setup, customer: Browser
) -> None:
    stripe = setup.stripe
    order_id, url = await order(customer, "100", "card")
    session_id = url.rsplit("/", 1)[-1]
    form = stripe.forms[-1]
    assert form["line_items[0][price_data][unit_amount]"] == "10000"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["client_reference_id"] == form["metadata[order_id]"] == order_id
    assert form["success_url"].endswith(f"/ui/topup/history?order={order_id}")

    status, body, event = await stripe.pay(session_id)
    assert (status, body["result"]) == (200, "credited")
    assert await balance(customer) == Decimal("115.00")  # 5 + 100 + 10% bonus
    status, body = await stripe.deliver(event)  # Stripe delivers again: acknowledged, not credited
    assert (status, body["result"]) == (200, "duplicate")
    assert await balance(customer) == Decimal("115.00")

    forged = {**event, "id": "evt_forged"}
    status, body = await stripe.deliver(forged, secret="whsec_not_the_secret_0123456789")
    assert status == 400 and body["error"]["code"] == "bad_signature"
    status, body = await stripe.deliver(event, timestamp=int(time.time()) - 3600)  # replayed much later
    assert status == 400 and "tolerance" in body["error"]["message"]
    async with aiohttp.ClientSession() as http, http.post(stripe.webhook_url, data=b"{}") as resp:
        assert resp.status == 400  # no Stripe-Signature at all

    status, text = await customer.get(f"/ui/topup/history?order={order_id}")
    assert status == 200 and order_id in text and ">paid<" in text and "$110.00" in text
    await ledger_ok(setup)

    status, refunded = await admin_call(setup.gw, "POST", f"/admin/payments/{order_id}/refund")
    assert status == 200, refunded
    assert refunded["status"] == "refunded" and refunded["refund_ref"].startswith("re_")
    assert refunded["credit_micros"] == 110_000_000
    assert await balance(customer) == Decimal("5.00")
    status, again = await admin_call(setup.gw, "POST", f"/admin/payments/{order_id}/refund")
    assert status == 400 and again["error"]["code"] == "not_refundable"
    assert len([r for r in stripe.refunds if r["payment_intent"] == refunded["payment_ref"]]) == 1
    await ledger_ok(setup)


async def test_epay_notify_is_verified_and_credited_once(setup: Setup, customer: Browser) -> None:
    epay = setup.epay
    order_id, url = await order(customer, "10", "alipay")
    async with aiohttp.ClientSession() as http, http.get(url) as resp:  # the customer's browser
        assert resp.status == 200, await resp.text()  # the fake checked pid and the MD5 sign
    submitted = epay.orders[order_id]
    assert (submitted["money"], submitted["type"]) == ("73.00", "alipay")  # $10 at 7.3 CNY per USD

    forged = epay.notify_params(order_id, money="0.01")
    forged["sign"] = epay_fake.md5_sign(forged, "not-the-merchant-key")
    assert await epay.notify(order_id, forged) == (400, "fail")
    tampered = {**epay.notify_params(order_id), "money": "730.00"}  # signed for 73.00
    assert await epay.notify(order_id, tampered) == (400, "fail")
    assert await balance(customer) == Decimal("5.00")

    params = epay.notify_params(order_id)  # three deliveries at once: one credit
    answers = await asyncio.gather(*(epay.notify(order_id, params) for _ in range(3)))
    assert answers == [(200, "success")] * 3
    assert await balance(customer) == Decimal("15.00")
    assert await epay.pay(order_id, post=True) == (200, "success")  # EPay retries: acknowledged only
    assert await balance(customer) == Decimal("15.00")
    await ledger_ok(setup)

    status, refunded = await admin_call(setup.gw, "POST", f"/admin/payments/{order_id}/refund")
    assert status == 200 and refunded["status"] == "refunded", refunded
    assert await balance(customer) == Decimal("5.00")
    status, listed = await admin_call(setup.gw, "GET", "/admin/payments?limit=5")
    assert status == 200 and order_id in [p["order_id"] for p in listed["data"]]
    await ledger_ok(setup)


async def test_bad_amounts_and_methods_are_refused_with_a_clear_400(setup: Setup, customer: Browser) -> None:
    await customer.get("/ui/topup")
    for amount, method, message in [
        ("0.50", "card", "the minimum top-up is $1.00"),
        ("abc", "card", "amount must be a number"),
        ("10.001", "alipay", "at most two decimals"),
        ("10", "bitcoin", "unknown payment method"),
    ]:
        status, text = await customer.post("/ui/topup", {"custom": amount, "method": method})
        assert status == 400 and message in html.unescape(text), (amount, text)
    status, text = await customer.get("/ui/topup/history")
    assert status == 200 and "No top-ups yet" in text
    notify = setup.gw.url + "/api/payments/epay/notify"
    async with aiohttp.ClientSession() as http, http.get(notify, params={"pid": "x"}) as resp:
        assert (resp.status, await resp.text()) == (400, "fail")


async def test_user_topup_api_in_new_api_shape(setup: Setup, customer: Browser) -> None:
    base = setup.gw.url + "/api/user/topup"
    http, csrf = customer.http, {"x-csrf-token": customer.csrf}
    async with http.get(base + "/info") as resp:
        info = await resp.json()
    assert resp.status == 200 and info["success"] and info["data"]["min_usd"] == "1"
    assert [m["method"] for m in info["data"]["methods"]] == ["card", "alipay", "wxpay"]
    async with http.post(base + "/pay", json={"amount": "0.5", "method": "card"}, headers=csrf) as resp:
        refused = await resp.json()
    assert resp.status == 400 and not refused["success"] and "minimum" in refused["message"]
    async with http.post(base + "/pay", json={"amount": "20", "method": "wxpay"}) as resp:
        assert resp.status == 403  # no CSRF token
    async with http.post(base + "/pay", json={"amount": "20", "method": "wxpay"}, headers=csrf) as resp:
        made = (await resp.json())["data"]
    assert resp.status == 200 and made["charge"] == "146.00" and "/submit.php?" in made["url"]
    async with http.get(made["url"]) as resp:
        assert resp.status == 200
    assert await setup.epay.pay(made["order_id"]) == (200, "success")
    async with http.get(base + "/self") as resp:
        items = (await resp.json())["data"]["items"]
    assert [(i["order_id"], i["status"], i["credit_micros"]) for i in items] == [
        (made["order_id"], "paid", 20_000_000)
    ]
    async with aiohttp.ClientSession() as anonymous, anonymous.get(base + "/info") as resp:
        assert resp.status == 401 and (await resp.json())["success"] is False
