"""A fake Stripe: Checkout Sessions, payment, signed webhook events and refunds.

Speaks Stripe's wire format: form-encoded requests with nested keys, the secret key as a
Bearer token (401 otherwise), `Idempotency-Key` replays, JSON objects with `object` names,
errors as `{"error": {"type", "message", "code"}}`. "Paying" a session (:meth:`pay`, or a
browser GET of the session's `url`) marks it paid with a new PaymentIntent and POSTs a
`checkout.session.completed` event to :attr:`webhook_url`, signed like Stripe:
`Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(whsec, "<t>.<body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._server import FakeServer, json_response

SECRET_KEY = "sk_test_fake_0123456789abcdef"
WEBHOOK_SECRET = "whsec_fake_0123456789abcdef0123"


def _error(
    status: int, message: str, code: str | None = None, kind: str = "invalid_request_error"
) -> web.Response:
    return json_response({"error": {"type": kind, "message": message, "code": code}}, status)


def stripe_signature(secret: str, timestamp: int, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass
class FakeStripe(FakeServer):
    base_path = ""
    record_all = False
    webhook_url: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {amount, currency, refunded}
    refunds: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)  # every accepted session request
    _replays: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/checkout/sessions", self.create_session)
        app.router.add_post("/v1/refunds", self.create_refund)
        app.router.add_get("/c/pay/{session_id}", self.checkout_page)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(key, SECRET_KEY)

    async def create_session(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "Invalid API Key provided.", kind="invalid_request_error")
        replay = self._replays.get("cs:" + request.headers.get("idempotency-key", "-"))
        if replay is not None:
            return json_response(replay)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        item = "line_items[0][price_data]"
        for name in ("mode", "success_url", f"{item}[currency]", f"{item}[unit_amount]",
                     f"{item}[product_data][name]", "line_items[0][quantity]"):  # fmt: skip
            if not form.get(name):
                return _error(400, f"Missing required param: {name}.", "parameter_missing")
        if form["mode"] != "payment":
            return _error(400, "Invalid mode.", "parameter_invalid_string")
        if not form[f"{item}[unit_amount]"].isdigit() or int(form[f"{item}[unit_amount]"]) < 50:
            return _error(
                400, "The Checkout Session's total amount must be at least 50 cents.", "amount_too_small"
            )
        self.forms.append(form)
        session_id = "cs_test_" + secrets.token_hex(16)
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
            "url": f"{self.root_url}/c/pay/{session_id}", "payment_status": "unpaid", "payment_intent": None,
            "amount_total": int(form[f"{item}[unit_amount]"]) * int(form["line_items[0][quantity]"]),
            "currency": form[f"{item}[currency]"], "client_reference_id": form.get("client_reference_id"),
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "success_url": form["success_url"], "cancel_url": form.get("cancel_url"), "livemode": False,
        }  # fmt: skip
        self.sessions[session_id] = session
        if request.headers.get("idempotency-key"):
            self._replays["cs:" + request.headers["idempotency-key"]] = session
        return json_response(session)

    async def create_refund(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "Invalid API Key provided.")
        replay = self._replays.get("re:" + request.headers.get("idempotency-key", "-"))
        if replay is not None:
            return json_response(replay)
        form = await request.post()
        intent = self.intents.get(str(form.get("payment_intent", "")))
        if intent is None:
            return _error(400, f"No such payment_intent: '{form.get('payment_intent')}'", "resource_missing")
        if intent["refunded"]:
            return _error(400, "Charge has already been refunded.", "charge_already_refunded")
        intent["refunded"] = True
        refund = {"id": "re_" + secrets.token_hex(12), "object": "refund", "amount": intent["amount"],
                  "currency": intent["currency"], "payment_intent": form["payment_intent"],
                  "status": "succeeded"}  # fmt: skip
        self.refunds.append(refund)
        if request.headers.get("idempotency-key"):
            self._replays["re:" + request.headers["idempotency-key"]] = refund
        return json_response(refund)

    def complete(self, session_id: str) -> dict[str, Any]:
        """The customer paid: the session is complete, with a PaymentIntent; its event."""
        session = self.sessions[session_id]
        if session["payment_intent"] is None:
            intent = "pi_" + secrets.token_hex(12)
            self.intents[intent] = {"amount": session["amount_total"], "currency": session["currency"],
                                    "refunded": False}  # fmt: skip
            session.update(status="complete", payment_status="paid", payment_intent=intent)
        return {
            "id": "evt_" + secrets.token_hex(12), "object": "event", "api_version": "2024-06-20",
            "created": int(time.time()), "livemode": False, "type": "checkout.session.completed",
            "data": {"object": dict(session)},
        }  # fmt: skip

    async def deliver(
        self, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> tuple[int, Any]:
        """POST the event to the webhook, signed; the status and JSON answer."""
        payload = json.dumps(event).encode()
        header = stripe_signature(secret, int(time.time()) if timestamp is None else timestamp, payload)
        headers = {"content-type": "application/json; charset=utf-8", "stripe-signature": header}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.webhook_url, data=payload, headers=headers) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    async def pay(self, session_id: str) -> tuple[int, Any, dict[str, Any]]:
        event = self.complete(session_id)
        status, body = await self.deliver(event)
        return status, body, event

    async def checkout_page(self, request: web.Request) -> web.StreamResponse:
        session = self.sessions.get(request.match_info["session_id"])
        if session is None:
            raise web.HTTPNotFound()
        await self.pay(session["id"])
        raise web.HTTPSeeOther(session["success_url"])
