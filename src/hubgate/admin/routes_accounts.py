"""Accounts: list, create, read, change, credit or debit, and their ledger."""

from __future__ import annotations

from aiohttp import web

from hubgate.admin.common import (
    Conflict,
    audit,
    gateway,
    json_response,
    page,
    parse_body,
    parse_query,
)
from hubgate.admin.registry import AdminRoute
from hubgate.admin.routes_groups import require_group
from hubgate.admin.schemas import AccountAdjust, AccountCreate, AccountPatch, AccountsQuery, PageQuery
from hubgate.admin.views import account_view, ledger_view
from hubgate.errors import NotFound
from hubgate.gateway import Gateway
from hubgate.settings import usd_to_micros
from hubgate.storage.accounts import AccountExists, AccountRecord
from hubgate.storage.admin_lists import accounts_page, ledger_page


async def find_account(gw: Gateway, name: str, param: str = "name") -> AccountRecord:
    record = await gw.accounts.by_name(name)
    if record is None:
        raise NotFound(f"No account named '{name}'.", param=param, code="account_not_found")
    return record


async def list_accounts(request: web.Request) -> web.Response:
    q = parse_query(request, AccountsQuery)
    records, nxt = await accounts_page(gateway(request).engine, limit=q.limit, cursor=q.cursor, group=q.group)
    return json_response(page([account_view(a) for a in records], nxt))


async def create_account(request: web.Request) -> web.Response:
    body = await parse_body(request, AccountCreate)
    gw = gateway(request)
    await require_group(gw, body.group)
    try:
        record = await gw.accounts.create(
            body.name,
            group=body.group,
            limited=body.limited,
            credit_micros=usd_to_micros(body.credit_usd),
            source="admin",
            max_request_cost_micros=(
                usd_to_micros(body.max_request_cost_usd) if body.max_request_cost_usd is not None else None
            ),
        )
    except AccountExists:
        raise Conflict(f"An account named '{body.name}' already exists.", param="name") from None
    view = account_view(record)
    await audit(request, "accounts.create", record.name, after=view)
    return json_response(view, status=201)


async def get_account(request: web.Request) -> web.Response:
    record = await find_account(gateway(request), request.match_info["name"])
    return json_response(account_view(record))


async def patch_account(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, AccountPatch)
    before = await find_account(gw, request.match_info["name"])
    values: dict[str, object] = {}
    if body.group is not None:
        await require_group(gw, body.group)
        values["group_name"] = body.group
    if body.disabled is not None:
        values["disabled"] = body.disabled
    if body.limited is not None:
        values["limited"] = body.limited
    if "max_request_cost_usd" in body.model_fields_set:
        cap = body.max_request_cost_usd
        values["max_request_cost_micros"] = usd_to_micros(cap) if cap is not None else None
    if not values:  # nothing sent, nothing changed, nothing to audit
        return json_response(account_view(before))
    await gw.accounts.update(before.id, **values)
    gw.billing.accounts.invalidate([before.id])  # admission sees the change at once
    after = await find_account(gw, before.name)
    await audit(
        request, "accounts.update", before.name, before=account_view(before), after=account_view(after)
    )
    return json_response(account_view(after))


async def adjust_account(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, AccountAdjust)
    before = await find_account(gw, request.match_info["name"])
    amount = usd_to_micros(body.amount_usd)
    after = await gw.accounts.adjust(before.id, amount, reference=body.reference)
    await gw.billing.balance_changed(before.id)  # every replica's holds see it at once
    await audit(
        request,
        "accounts.adjust",
        before.name,
        before=account_view(before),
        after={**account_view(after), "amount_micros": amount, "reference": body.reference},
    )
    return json_response(account_view(after))


async def account_ledger(request: web.Request) -> web.Response:
    gw = gateway(request)
    record = await find_account(gw, request.match_info["name"])
    q = parse_query(request, PageQuery)
    entries, nxt = await ledger_page(gw.engine, record.id, limit=q.limit, cursor=q.cursor)
    return json_response(page([ledger_view(e) for e in entries], nxt))


ROUTES = [
    AdminRoute("GET", "/admin/accounts", list_accounts, "List accounts", "accounts", query=AccountsQuery),
    AdminRoute("POST", "/admin/accounts", create_account, "Create an account", "accounts",
               body=AccountCreate, status=201),
    AdminRoute("GET", "/admin/accounts/{name}", get_account, "Read an account", "accounts"),
    AdminRoute("PATCH", "/admin/accounts/{name}", patch_account,
               "Change an account's group, disabled or limited flag", "accounts", body=AccountPatch),
    AdminRoute("POST", "/admin/accounts/{name}/adjust", adjust_account,
               "Credit (positive) or debit (negative) an account", "accounts", body=AccountAdjust),
    AdminRoute("GET", "/admin/accounts/{name}/ledger", account_ledger,
               "An account's credit ledger, newest first", "accounts", query=PageQuery),
]  # fmt: skip
