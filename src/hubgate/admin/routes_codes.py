"""Redemption codes: batches are created here (the codes are shown once) and listed by
prefix only; callers redeem them at `POST /v1/dashboard/redeem`."""

from __future__ import annotations

from aiohttp import web

from hubgate.admin.common import audit, gateway, iso, json_response, money, page, parse_body, parse_query
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import CodesCreate, CodesQuery
from hubgate.admin.views import code_view
from hubgate.settings import usd_to_micros
from hubgate.storage.admin_lists import codes_page


async def create_codes(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, CodesCreate)
    amount = usd_to_micros(body.amount_usd)
    codes = await gw.accounts.create_codes(body.batch, body.count, amount, expires_at=body.expires_at)
    summary = {"batch": body.batch, "count": body.count, **money("amount", amount),
               "expires_at": iso(body.expires_at)}  # fmt: skip
    await audit(request, "codes.create", body.batch, after=summary)  # never the codes themselves
    return json_response({"object": "redemption_code_batch", **summary, "codes": codes}, status=201)


async def list_codes(request: web.Request) -> web.Response:
    q = parse_query(request, CodesQuery)
    infos, nxt = await codes_page(gateway(request).engine, limit=q.limit, cursor=q.cursor, batch=q.batch)
    return json_response(page([code_view(c) for c in infos], nxt))


ROUTES = [
    AdminRoute("POST", "/admin/redemption-codes", create_codes,
               "Create a batch of one-time codes (returned once, stored hashed)", "redemption codes",
               body=CodesCreate, status=201),
    AdminRoute("GET", "/admin/redemption-codes", list_codes,
               "List codes by prefix, with who redeemed them and when", "redemption codes", query=CodesQuery),
]  # fmt: skip
