"""The payment providers' callbacks: Stripe's webhook and EPay's notify.

Both are unauthenticated: the signature is the authentication. A forged or stale
signature is refused with 400 (nothing is credited); a valid notification of a payment
already credited is acknowledged again (providers retry until they get a 2xx or
`success`) and changes nothing. The PaymentService lives on the app under PAYMENTS.
"""

from __future__ import annotations

import logging
import time

import aiohttp
from aiohttp import web

from hubgate.errors import InvalidRequest, NotFound
from hubgate.gateway import GATEWAY
from hubgate.payments.service import Outcome, PaymentService, TopUpError
from hubgate.payments.stripe import SignatureError

log = logging.getLogger("hubgate.payments")

PAYMENTS = web.AppKey("payments", PaymentService)
HTTP = web.AppKey("payments_http", aiohttp.ClientSession)
MAX_NOTIFY_BYTES = 256 * 1024


def service(request: web.Request) -> PaymentService:
    return request.app[PAYMENTS]


def after_credit(request: web.Request, outcome: Outcome) -> None:
    """Admission must see a new balance at once, not after the account cache's TTL."""
    if outcome.payment is not None and outcome.credited:
        request.app[GATEWAY].billing.accounts.invalidate([outcome.payment.account_id])


async def stripe_webhook(request: web.Request) -> web.Response:
    payments = service(request)
    if payments.settings.stripe is None:
        raise NotFound("Stripe payments are not configured.")
    if (request.content_length or 0) > MAX_NOTIFY_BYTES:
        raise InvalidRequest("The event is too large.")
    payload = await request.read()  # the exact bytes: the signature covers them
    if len(payload) > MAX_NOTIFY_BYTES:
        raise InvalidRequest("The event is too large.")
    try:
        outcome = await payments.stripe_event(payload, request.headers.get("stripe-signature"), time.time())
    except SignatureError as exc:
        log.warning("stripe webhook refused: %s", exc)
        raise InvalidRequest(f"Webhook signature verification failed: {exc}.", code="bad_signature") from None
    except TopUpError as exc:
        raise InvalidRequest(f"Not a Stripe event: {exc}.") from None
    after_credit(request, outcome)
    return web.json_response({"received": True, "result": outcome.detail})


async def epay_notify(request: web.Request) -> web.Response:
    payments = service(request)
    if payments.settings.epay is None:
        raise NotFound("EPay payments are not configured.")
    params = {k: v for k, v in request.query.items()}
    if request.method == "POST":
        params |= {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    try:
        outcome = await payments.epay_notify(params)
    except TopUpError as exc:
        log.warning("epay notify refused: %s", exc)
        return web.Response(status=400, text="fail")
    after_credit(request, outcome)
    return web.Response(text="success")  # EPay retries until it reads exactly this


def sync_payments(app: web.Application) -> None:
    """The top-up service follows the run-time settings (amount limits an admin changed)."""
    if PAYMENTS in app:
        app[PAYMENTS].settings = app[GATEWAY].settings.payments


async def _start(app: web.Application) -> None:
    gw = app[GATEWAY]  # on_startup runs after the lifespan (cleanup_ctx) has made the Gateway
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    app[PAYMENTS] = PaymentService(gw.engine, gw.settings.payments, http)
    app[HTTP] = http


async def _stop(app: web.Application) -> None:
    if HTTP in app:
        await app[HTTP].close()


def add_routes(app: web.Application) -> None:
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    app.router.add_post("/api/payments/stripe/webhook", stripe_webhook)
    app.router.add_route("GET", "/api/payments/epay/notify", epay_notify)
    app.router.add_route("POST", "/api/payments/epay/notify", epay_notify)
