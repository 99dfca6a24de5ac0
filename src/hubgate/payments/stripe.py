"""Stripe: Checkout Sessions and refunds over its REST API, and webhook signatures.

Requests are form-encoded with nested keys (`line_items[0][price_data][currency]`) and
authenticated by the secret key as a Bearer token. Webhook events carry a
`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]` header, where each v1 is
HMAC-SHA256(webhook secret, "<t>.<raw body>"); the timestamp must be recent.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp

TOLERANCE_S = 300


class StripeError(Exception):
    """Stripe refused a request or could not be reached."""


class SignatureError(ValueError):
    """The Stripe-Signature header is missing, malformed, stale or does not match."""


def compute_signature(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, payload: bytes) -> str:
    return f"t={timestamp},v1={compute_signature(secret, timestamp, payload)}"


def verify_signature(payload: bytes, header: str | None, secret: str, now: float) -> None:
    """Raise SignatureError unless one v1 signature of `header` signs `payload` within the tolerance."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed timestamp in Stripe-Signature") from None
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("Stripe-Signature has no timestamp or no v1 signature")
    expected = compute_signature(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError("no Stripe-Signature v1 signature matches the payload")
    if abs(now - timestamp) > TOLERANCE_S:
        raise SignatureError("the Stripe-Signature timestamp is outside the tolerance")


def checkout_form(
    *, order_id: str, name: str, currency: str, unit_amount: int, success_url: str, cancel_url: str
) -> dict[str, str]:
    """The form fields of POST /v1/checkout/sessions for one line item priced inline."""
    return {
        "mode": "payment",
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": order_id,
        "metadata[order_id]": order_id,
        "payment_intent_data[metadata][order_id]": order_id,
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": currency,
        "line_items[0][price_data][unit_amount]": str(unit_amount),
        "line_items[0][price_data][product_data][name]": name,
    }


class StripeClient:
    def __init__(self, http: aiohttp.ClientSession, api_base: str, secret_key: str) -> None:
        self._http = http
        self._base = api_base.rstrip("/")
        self._key = secret_key

    async def _post(self, path: str, form: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key}", "Idempotency-Key": idempotency_key}
        try:
            async with self._http.post(self._base + path, data=form, headers=headers) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise StripeError(f"Stripe could not be reached: {type(exc).__name__}") from exc
        if status >= 400 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise StripeError(f"Stripe answered {status}: {message or 'no message'}")
        return body

    async def create_checkout_session(self, form: dict[str, str], order_id: str) -> dict[str, Any]:
        session = await self._post("/v1/checkout/sessions", form, f"checkout-{order_id}")
        if not isinstance(session.get("id"), str) or not isinstance(session.get("url"), str):
            raise StripeError("Stripe's Checkout Session has no id or url")
        return session

    async def refund(self, payment_intent: str, order_id: str) -> dict[str, Any]:
        refund = await self._post("/v1/refunds", {"payment_intent": payment_intent}, f"refund-{order_id}")
        if refund.get("status") in ("failed", "canceled"):
            raise StripeError(f"Stripe's refund is {refund.get('status')}")
        return refund
