"""Online top-up payments: the list, and refunds.

A refund of a Stripe payment goes through Stripe's Refunds API (idempotent on the order);
EPay has no refund API, so its payments are marked refunded here after the merchant has
refunded them in EPay's dashboard. Either way what the payment credited (bonus included) is
debited once, in the transaction that marks it refunded.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.admin.common import audit, gateway, iso, json_response, money, page, parse_query
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import PageQuery
from hubgate.errors import BadGateway, InvalidRequest, NotFound
from hubgate.http.payment_routes import PAYMENTS
from hubgate.payments.service import ProviderError, TopUpError
from hubgate.storage.payments import PaymentRecord


class PaymentsQuery(PageQuery):
    account_id: int | None = None


def payment_view(p: PaymentRecord) -> dict[str, Any]:
    return {
        "object": "payment", "order_id": p.order_id, "account_id": p.account_id, "user_id": p.user_id,
        "provider": p.provider, "method": p.method, "status": p.status, **money("amount", p.amount_micros),
        **money("bonus", p.bonus_micros), **money("credit", p.credit_micros), "currency": p.currency,
        "charge": p.charge, "session_ref": p.session_ref, "payment_ref": p.payment_ref,
        "refund_ref": p.refund_ref, "created_at": iso(p.created_at), "paid_at": iso(p.paid_at),
        "refunded_at": iso(p.refunded_at),
    }  # fmt: skip


async def list_payments(request: web.Request) -> web.Response:
    q = parse_query(request, PaymentsQuery)
    rows, nxt = await request.app[PAYMENTS].repo.page(account_id=q.account_id, limit=q.limit, cursor=q.cursor)
    return json_response(page([payment_view(p) for p in rows], nxt))


async def refund_payment(request: web.Request) -> web.Response:
    payments = request.app[PAYMENTS]
    order_id = request.match_info["order_id"]
    before = await payments.repo.by_order(order_id)
    if before is None:
        raise NotFound(f"No payment with order id {order_id!r}.", code="payment_not_found")
    try:
        after = await payments.refund(order_id)
    except TopUpError as exc:
        raise InvalidRequest(f"Cannot refund: {exc}.", code="not_refundable") from None
    except ProviderError as exc:
        raise BadGateway(f"The refund failed at {before.provider}: {exc}.") from None
    gateway(request).billing.accounts.invalidate([after.account_id])  # admission sees the debit at once
    view = payment_view(after)
    await audit(request, "payments.refund", order_id, before=payment_view(before), after=view)
    return json_response(view)


ROUTES = [
    AdminRoute("GET", "/admin/payments", list_payments, "List online top-up payments, newest first",
               "payments", query=PaymentsQuery),
    AdminRoute("POST", "/admin/payments/{order_id}/refund", refund_payment,
               "Refund a paid top-up (Stripe through its API; EPay: mark refunded) and debit its credit",
               "payments"),
]  # fmt: skip
