"""`/api/user/topup*`: top-up for customers' own scripts and pages, in new-api's
`{success, message, data}` shape.

The caller is a signed-in console person (session cookie; the session's CSRF token in
`x-csrf-token` on POST). Personal access tokens (the user API) can reuse these handlers
by replacing `caller`, or call the same PaymentService.

| route | |
|---|---|
| `GET /api/user/topup/info` | methods, presets, minimum and maximum, bonus tiers |
| `POST /api/user/topup/pay` `{amount, method}` | makes an order: `{order_id, url, ...}`; pay at `url` |
| `GET /api/user/topup/self` | the caller's top-ups, newest first |
| `POST /api/user/topup` `{key}` | redeem a redemption code (new-api's meaning of this path) |
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web

from hubgate.admin.session import gateway, load_session
from hubgate.console.web import Handler
from hubgate.http.payment_routes import PAYMENTS
from hubgate.payments.service import ProviderError, TopUpError
from hubgate.storage.accounts import RedeemError
from hubgate.storage.payments import PaymentRecord
from hubgate.storage.users import User


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def answer(data: Any = None, *, status: int = 200, message: str = "") -> web.Response:
    body = {"success": status < 400, "message": message, "data": data}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def caller(request: web.Request) -> User:
    session = await load_session(request)
    if session is None or session.mfa_pending:
        raise _Refused(401, "Not signed in: log in to the console first.")
    if request.method != "GET":
        token = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
            raise _Refused(403, "Missing or wrong CSRF token (x-csrf-token).")
    return session.user


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        raise _Refused(400, "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise _Refused(400, "The body must be a JSON object.")
    return body


def payment_json(p: PaymentRecord) -> dict[str, Any]:
    return {
        "order_id": p.order_id, "provider": p.provider, "method": p.method, "status": p.status,
        "amount_micros": p.amount_micros, "bonus_micros": p.bonus_micros, "credit_micros": p.credit_micros,
        "currency": p.currency, "charge": p.charge, "created_at": p.created_at.isoformat(),
        "paid_at": p.paid_at.isoformat() if p.paid_at else None,
    }  # fmt: skip


async def info(request: web.Request) -> web.Response:
    await caller(request)
    cfg = request.app[PAYMENTS].settings
    return answer({
        "enabled": request.app[PAYMENTS].enabled,
        "methods": [{"method": m, "label": label} for m, label in request.app[PAYMENTS].methods()],
        "presets_usd": [str(v) for v in cfg.presets_usd], "min_usd": str(cfg.min_usd),
        "max_usd": str(cfg.max_usd),
        "bonus_tiers": [{"from_usd": str(t.from_usd), "percent": str(t.percent)} for t in cfg.bonus_tiers],
    })  # fmt: skip


async def pay(request: web.Request) -> web.Response:
    user = await caller(request)
    body = await _body(request)
    gw = gateway(request)
    origin = gw.settings.console.public_url or f"{request.scheme}://{request.host}"
    try:
        record, url = await request.app[PAYMENTS].create(
            account_id=user.account_id, user_id=user.id, usd=str(body.get("amount", "")),
            method=str(body.get("method", "")), base_url=origin,
        )  # fmt: skip
    except TopUpError as exc:
        raise _Refused(400, str(exc)) from None
    except ProviderError as exc:
        raise _Refused(502, f"The payment provider failed: {exc}") from None
    return answer({**payment_json(record), "url": url})


async def history(request: web.Request) -> web.Response:
    user = await caller(request)
    cursor = request.query.get("cursor", "")
    rows, nxt = await request.app[PAYMENTS].repo.page(
        account_id=user.account_id, limit=50, cursor=int(cursor) if cursor.isdigit() else None
    )
    return answer({"items": [payment_json(p) for p in rows], "next_cursor": nxt})


async def redeem(request: web.Request) -> web.Response:
    user = await caller(request)
    code = str((await _body(request)).get("key", "")).strip()
    gw = gateway(request)
    try:
        credited = await gw.accounts.redeem(code, user.account_id)
    except RedeemError as exc:
        raise _Refused(400, str(exc)) from None
    gw.billing.accounts.invalidate([user.account_id])
    return answer(credited)


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refused as exc:
            return answer(status=exc.status, message=str(exc))

    wrapped.__name__ = handler.__name__
    return wrapped


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/user/topup/info", _json_errors(info))
    r.add_post("/api/user/topup/pay", _json_errors(pay))
    r.add_get("/api/user/topup/self", _json_errors(history))
    r.add_post("/api/user/topup", _json_errors(redeem))
