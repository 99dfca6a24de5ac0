"""Key self-service for callers, in OpenAI's legacy dashboard shapes, so existing
balance-checking clients work against hubgate unchanged.

- `GET /v1/dashboard/billing/subscription`: the key's limit (`hard_limit_usd`).
- `GET /v1/dashboard/billing/usage?start_date=&end_date=`: the key's spend per day, in
  cents, as OpenAI's legacy endpoint reported it.
- `POST /v1/dashboard/redeem {"code"}`: credit a redemption code to the key's account.

Clients show `hard_limit_usd - total_usage / 100` as what is left, so the hard limit
is the key's spend plus what it may still spend (its budget, or its account's balance).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from hubgate.admin.common import json_response, money, parse_body, parse_query
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import BillingUsageQuery, Redeem
from hubgate.errors import InvalidRequest
from hubgate.gateway import GATEWAY
from hubgate.relay.dispatch import authenticate
from hubgate.storage.accounts import RedeemError
from hubgate.storage.admin_usage import UsageFilter, aggregate
from hubgate.storage.audit import AuditRepository

UNLIMITED_USD = 100_000_000.0  # what an unlimited key reports, as one-api / new-api do
MAX_RANGE_DAYS = 366


def _usd_number(micros: int) -> float:
    """The wire shape wants numbers; convert the exact amount once, at the edge."""
    return float(Decimal(micros).scaleb(-6))


def _cents(micros: int) -> float:
    return float(Decimal(micros).scaleb(-4))


async def subscription(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    account = await gw.billing.accounts.get(gw.billing.account_id(key))
    spent = key.spent_micros + gw.billing.pending_keys.get(key.id, 0)
    left: list[int] = []
    if key.budget_micros is not None:
        left.append(key.budget_micros - spent)
    balance: int | None = None
    if account is not None and account.limited:
        balance = account.balance_micros - gw.billing.pending_accounts.get(account.id, 0)
        left.append(balance)
    hard = _usd_number(spent + max(0, min(left))) if left else UNLIMITED_USD
    return json_response(
        {
            "object": "billing_subscription",
            "has_payment_method": True,
            "canceled": False,
            "canceled_at": None,
            "delinquent": None,
            "access_until": int(key.expires_at.timestamp()) if key.expires_at is not None else 0,
            "soft_limit_usd": hard,
            "hard_limit_usd": hard,
            "system_hard_limit_usd": hard,
            "plan": {"title": "hubgate", "id": "hubgate"},
            "account_name": account.name if account is not None else None,
            "po_number": None,
            "billing_email": None,
            "tax_ids": None,
            "billing_address": None,
            "business_address": None,
            # Exact amounts, for clients that know hubgate.
            "hubgate": {
                "key_name": key.name,
                **money("spent", spent),
                **money("budget", key.budget_micros),
                "budget_period": key.budget_period,
                **money("balance", balance),
            },
        }
    )


async def usage(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    today = datetime.now(UTC).date()
    q = parse_query(request, BillingUsageQuery)
    start = q.start_date or today.replace(day=1)
    end = q.end_date or today + timedelta(days=1)  # exclusive, as OpenAI's was
    if end <= start:
        raise InvalidRequest("'end_date' must be after 'start_date'.", param="end_date")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidRequest(f"The date range may span at most {MAX_RANGE_DAYS} days.", param="end_date")
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    groups, totals = await aggregate(
        gw.engine, ["day", "model"], UsageFilter(key=key.name, since=since, until=until)
    )
    per_day: dict[str, list[dict[str, Any]]] = {}
    for g in groups:
        if g.cost_micros:
            per_day.setdefault(g.day or "", []).append(
                {"name": g.model or "unknown", "cost": _cents(g.cost_micros)}
            )
    daily_costs = []
    for offset in range((end - start).days):
        day = start + timedelta(days=offset)
        stamp = datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp()
        daily_costs.append({"timestamp": stamp, "line_items": per_day.get(day.isoformat(), [])})
    return json_response(
        {"object": "list", "daily_costs": daily_costs, "total_usage": _cents(totals.cost_micros)}
    )


async def redeem(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    body = await parse_body(request, Redeem)
    account = await gw.accounts.by_id(gw.billing.account_id(key))
    if account is None or not account.limited:
        raise InvalidRequest(
            "This key's account has no balance limit, so a redemption code would add nothing.",
            param="code",
            code="account_unlimited",
        )
    try:
        amount = await gw.accounts.redeem(body.code.strip(), account.id)
    except RedeemError as exc:
        raise InvalidRequest(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", param="code",
                             code="invalid_redemption_code") from None  # fmt: skip
    gw.billing.accounts.invalidate([account.id])
    after = await gw.accounts.by_id(account.id)
    balance = after.balance_micros if after is not None else account.balance_micros + amount
    await AuditRepository(gw.engine).record(
        f"key:{key.name}",
        "codes.redeem",
        account.name,
        before=money("balance", account.balance_micros),
        after={**money("amount", amount), **money("balance", balance)},
    )
    return json_response(
        {
            "object": "redemption",
            "account": account.name,
            **money("amount", amount),
            **money("balance", balance),
        }
    )


DOC_ROUTES = [
    AdminRoute("GET", "/v1/dashboard/billing/subscription", subscription,
               "The caller's limit, OpenAI legacy shape (also under /api and without /v1)", "self-service",
               auth="api_key"),
    AdminRoute("GET", "/v1/dashboard/billing/usage", usage,
               "The caller's spend per day in cents, OpenAI legacy shape", "self-service",
               query=BillingUsageQuery, auth="api_key"),
    AdminRoute("POST", "/v1/dashboard/redeem", redeem, "Credit a redemption code to the caller's account",
               "self-service", body=Redeem, auth="api_key"),
]  # fmt: skip


def add_routes(app: web.Application) -> None:
    """Register under `/v1` and bare, each also under the `/api` prefix."""
    for prefix in ("", "/api"):
        for route in DOC_ROUTES:
            for path in (route.path, route.path.removeprefix("/v1")):
                app.router.add_route(route.method, prefix + path, route.handler)
