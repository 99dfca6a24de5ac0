"""The top-up service: orders, the provider round trips, the exactly-once credit, refunds.

Created once per application (state on the app object); the console, the webhook routes,
the admin API and the user API call it. Crediting goes through `PaymentRepository.credit`,
which books the ledger row in the transaction that marks the payment paid.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.payments import epay, stripe
from hubgate.payments.amounts import AmountError, Quote, parse_usd, quote
from hubgate.settings import PaymentSettings
from hubgate.storage.payments import PaymentRecord, PaymentRepository, RefundRefused

log = logging.getLogger("hubgate.payments")

STRIPE_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
METHOD_LABELS = {"card": "Card (Stripe)", "alipay": "Alipay", "wxpay": "WeChat Pay", "qqpay": "QQ Pay"}


class TopUpError(Exception):
    """The customer's request is wrong (amount, method): a 400 with this message."""


class ProviderError(Exception):
    """The payment provider refused or failed: a 502 with this message."""


class NotConfigured(TopUpError):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    credited: bool
    detail: str  # credited | duplicate | ignored: <why>
    payment: PaymentRecord | None = None


class PaymentService:
    def __init__(self, engine: AsyncEngine, settings: PaymentSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.repo = PaymentRepository(engine)
        self._http = http

    @property
    def enabled(self) -> bool:
        return self.settings.stripe is not None or self.settings.epay is not None

    def methods(self) -> list[tuple[str, str]]:
        """(method, label) the customer may choose: card through Stripe, the EPay types."""
        found = [("card", METHOD_LABELS["card"])] if self.settings.stripe is not None else []
        if self.settings.epay is not None:
            found += [(t, METHOD_LABELS[t]) for t in self.settings.epay.types]
        return found

    def quote(self, usd_text: str | Decimal, method: str) -> Quote:
        try:
            usd = parse_usd(usd_text)
            if method == "card" and self.settings.stripe is not None:
                return quote(
                    self.settings, usd, self.settings.stripe.currency, self.settings.stripe.exchange_rate
                )
            if self.settings.epay is not None and method in self.settings.epay.types:
                return quote(self.settings, usd, "cny", self.settings.epay.exchange_rate)
        except AmountError as exc:
            raise TopUpError(str(exc)) from None
        choices = ", ".join(m for m, _ in self.methods()) or "none configured"
        raise NotConfigured(f"unknown payment method {method!r} (choose: {choices})")

    async def create(
        self, *, account_id: int, user_id: int | None, usd: str | Decimal, method: str, base_url: str
    ) -> tuple[PaymentRecord, str]:
        """Make the order and return it with the URL the customer is sent to, to pay."""
        priced = self.quote(usd, method)
        base = (self.settings.public_url or base_url).rstrip("/")
        order_id = "hgp" + secrets.token_hex(12)
        provider = "stripe" if method == "card" else "epay"
        record = await self.repo.create(
            order_id=order_id, account_id=account_id, user_id=user_id, provider=provider, method=method,
            amount_micros=priced.amount_micros, bonus_micros=priced.bonus_micros, currency=priced.currency,
            charge=f"{priced.charge:.2f}",
        )  # fmt: skip
        name = f"hubgate credit ${priced.amount_micros / 1e6:.2f}"
        if provider == "stripe":
            return record, await self._stripe_session(record, priced, name, base)
        assert self.settings.epay is not None
        cfg = self.settings.epay
        url = epay.submit_url(
            cfg.url, pid=cfg.pid, key=cfg.key, pay_type=method, order_id=order_id, name=name,
            money=record.charge, notify_url=f"{base}/api/payments/epay/notify",
            return_url=f"{base}/ui/topup/history?order={order_id}",
        )  # fmt: skip
        return record, url

    async def _stripe_session(self, record: PaymentRecord, priced: Quote, name: str, base: str) -> str:
        cfg = self.settings.stripe
        assert cfg is not None
        form = stripe.checkout_form(
            order_id=record.order_id, name=name, currency=priced.currency, unit_amount=priced.charge_minor,
            success_url=f"{base}/ui/topup/history?order={record.order_id}", cancel_url=f"{base}/ui/topup",
        )  # fmt: skip
        client = stripe.StripeClient(self._http, cfg.api_base, cfg.secret_key)
        try:
            session = await client.create_checkout_session(form, record.order_id)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        await self.repo.set_session(record.order_id, str(session["id"]))
        return str(session["url"])

    # --- the providers' notifications ---

    async def stripe_event(self, payload: bytes, signature: str | None, now: float) -> Outcome:
        """A webhook delivery; raises stripe.SignatureError (forged) or TopUpError (not an event)."""
        cfg = self.settings.stripe
        if cfg is None:
            raise NotConfigured("Stripe is not configured")
        stripe.verify_signature(payload, signature, cfg.webhook_secret, now)
        try:
            event = json.loads(payload)
        except ValueError:
            raise TopUpError("the event is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise TopUpError("the event has no data object")
        if event.get("type") not in STRIPE_EVENTS:
            return Outcome(False, f"ignored: event type {event.get('type')!r}")
        session = event["data"].get("object")
        if not isinstance(session, dict):
            raise TopUpError("the event has no data.object")
        return await self._stripe_paid(session)

    async def _stripe_paid(self, session: Mapping[str, Any]) -> Outcome:
        metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
        order_id = str(session.get("client_reference_id") or (metadata or {}).get("order_id") or "")
        record = await self.repo.by_order(order_id)
        if record is None or record.provider != "stripe" or record.session_ref != session.get("id"):
            return Outcome(False, "ignored: not a session of ours")
        if session.get("payment_status") != "paid":
            return Outcome(False, f"ignored: payment_status {session.get('payment_status')!r}", record)
        expected = int(Decimal(record.charge).scaleb(2))
        if session.get("amount_total") != expected or session.get("currency") != record.currency:
            paid = (session.get("amount_total"), session.get("currency"))
            log.error("stripe %s: paid %r, not %s %s", session.get("id"), paid, expected, record.currency)
            return Outcome(False, "ignored: the amount paid differs from the order", record)
        intent = session.get("payment_intent")  # an id, or the object when expanded
        payment_ref = str((intent.get("id") if isinstance(intent, dict) else intent) or session["id"])
        return await self._credit(record, payment_ref)

    async def epay_notify(self, params: Mapping[str, str]) -> Outcome:
        """A notify call; raises TopUpError when its signature or merchant id is wrong."""
        cfg = self.settings.epay
        if cfg is None:
            raise NotConfigured("EPay is not configured")
        if params.get("pid") != cfg.pid or not epay.verify(params, cfg.key):
            raise TopUpError("bad EPay signature")
        if params.get("trade_status") != epay.PAID:
            return Outcome(False, f"ignored: trade_status {params.get('trade_status')!r}")
        record = await self.repo.by_order(params.get("out_trade_no", ""))
        if record is None or record.provider != "epay":
            return Outcome(False, "ignored: not an order of ours")
        try:
            paid = Decimal(params.get("money", ""))
        except InvalidOperation:
            paid = Decimal(-1)
        if paid != Decimal(record.charge):
            log.error(
                "epay order %s paid %r, expected %s", record.order_id, params.get("money"), record.charge
            )
            return Outcome(False, "ignored: the amount paid differs from the order", record)
        return await self._credit(record, params.get("trade_no") or record.order_id)

    async def _credit(self, record: PaymentRecord, payment_ref: str) -> Outcome:
        if await self.repo.credit(record.order_id, payment_ref):
            log.info("payment %s credited %d micros to account %d", record.order_id, record.credit_micros,
                     record.account_id)  # fmt: skip
            return Outcome(True, "credited", await self.repo.by_order(record.order_id))
        return Outcome(False, "duplicate", await self.repo.by_order(record.order_id))

    # --- refunds ---

    async def refund(self, order_id: str) -> PaymentRecord:
        """Refund a paid payment and debit what it credited, once. Raises TopUpError or ProviderError."""
        try:
            record = await self.repo.claim_refund(order_id)
        except RefundRefused as exc:
            raise TopUpError(str(exc)) from None
        refund_ref = "manual"  # EPay has no refund API: the merchant refunds in its dashboard
        if record.provider == "stripe":
            cfg = self.settings.stripe
            try:
                if cfg is None or record.payment_ref is None:
                    raise stripe.StripeError("Stripe is not configured")
                client = stripe.StripeClient(self._http, cfg.api_base, cfg.secret_key)
                refund_ref = str((await client.refund(record.payment_ref, order_id)).get("id", ""))
            except stripe.StripeError as exc:
                await self.repo.release_refund(order_id)
                raise ProviderError(str(exc)) from exc
        await self.repo.finish_refund(order_id, refund_ref)
        found = await self.repo.by_order(order_id)
        assert found is not None
        return found
