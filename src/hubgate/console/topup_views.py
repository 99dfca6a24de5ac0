"""Top-up screens: buy credit online (Stripe or EPay), the viewer's top-up history, and the
admin's list of every payment with its refund button.

The form's POST makes the order and answers 303 back to /ui/topup, which shows the link to
the provider's payment page once: the console's CSP (`form-action 'self'`) forbids a form
from redirecting to another site, a link the customer follows does not.
"""

from __future__ import annotations

from aiohttp import web

from hubgate.admin.session import SESSION, gateway
from hubgate.console.i18n import _
from hubgate.console.web import Handler, flash_to, form, limit, render, signed_in, take_flash
from hubgate.http.payment_routes import PAYMENTS
from hubgate.payments.service import PaymentService, ProviderError, TopUpError
from hubgate.storage.payments import PaymentRecord
from hubgate.storage.users import Session

PAGE = 50


def _service(request: web.Request) -> PaymentService:
    return request.app[PAYMENTS]


def _viewer(request: web.Request) -> Session:
    session = request[SESSION]
    assert session is not None  # behind `signed_in`
    return session


def _cursor(request: web.Request) -> int | None:
    text = request.query.get("cursor", "")
    return int(text) if text.isdigit() else None


async def _page(request: web.Request, *, status: int = 200, error: str | None = None,
                chosen: dict[str, str] | None = None) -> web.Response:  # fmt: skip
    payments = _service(request)
    account = await gateway(request).accounts.by_id(_viewer(request).user.account_id)
    flash = take_flash(request)
    return render(
        request, "topup.html", status=status, account=account, error=error, settings=payments.settings,
        methods=payments.methods(), enabled=payments.enabled, chosen=chosen or {},
        pay_url=flash.get("pay_url"), order=flash.get("order"), page_path="/ui/topup",
    )  # fmt: skip


@signed_in
async def topup_form(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@signed_in
async def topup(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    await limit(request, "topup", gw.settings.console.login_rpm)
    data = await form(request)
    amount = (data.get("custom") or "").strip() or (data.get("amount") or "").strip()
    method = data.get("method", "")
    user = _viewer(request).user
    origin = f"{request.scheme}://{request.host}"
    try:
        record, url = await _service(request).create(
            account_id=user.account_id, user_id=user.id, usd=amount, method=method,
            base_url=gw.settings.console.public_url or origin,
        )  # fmt: skip
    except TopUpError as exc:
        return await _page(
            request,
            status=400,
            error=_("Could not start the top-up: %(reason)s.") % {"reason": exc},
            chosen=data,
        )
    except ProviderError as exc:
        return await _page(
            request,
            status=502,
            error=_("The payment provider failed: %(reason)s.") % {"reason": exc},
            chosen=data,
        )
    return flash_to(request, "/ui/topup", pay_url=url, order=record.order_id)


@signed_in
async def history(request: web.Request) -> web.StreamResponse:
    account_id = _viewer(request).user.account_id
    rows, next_cursor = await _service(request).repo.page(
        account_id=account_id, limit=PAGE, cursor=_cursor(request)
    )
    highlight = request.query.get("order")
    return render(request, "topup_history.html", rows=rows, next_cursor=next_cursor, highlight=highlight,
                  admin=False)  # fmt: skip


async def admin_payments(request: web.Request) -> web.StreamResponse:
    rows, next_cursor = await _service(request).repo.page(limit=PAGE, cursor=_cursor(request))
    names = {a.id: a.name for a in await gateway(request).accounts.all()} if rows else {}
    return render(request, "admin/payments.html", rows=rows, next_cursor=next_cursor, names=names,
                  refundable=_refundable)  # fmt: skip


def _refundable(row: PaymentRecord) -> bool:
    return row.status == "paid"


PAGES: list[tuple[str, str, Handler]] = [
    ("GET", "/ui/topup", topup_form),
    ("POST", "/ui/topup", topup),
    ("GET", "/ui/topup/history", history),
    ("GET", "/ui/admin/payments", signed_in(admin_payments, admin=True)),
]
