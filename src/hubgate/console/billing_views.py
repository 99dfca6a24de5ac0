"""A customer's balance history: the credit ledger (opening credit, top-ups, redemptions,
adjustments by an administrator, refunds), paged and as CSV, and the spend of each day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from hubgate.admin.session import gateway
from hubgate.console.format import plain_dollars
from hubgate.console.i18n import _
from hubgate.console.usage_export import cell, stream_csv
from hubgate.console.user_views import last_days, viewer
from hubgate.console.web import render, signed_in
from hubgate.storage.admin_lists import LedgerEntry, ledger_page
from hubgate.storage.admin_usage import UsageFilter, aggregate
from hubgate.storage.keys import utcnow

PAGE = 50
SPEND_DAYS = 30
CSV_COLUMNS = ("created_at", "kind", "amount_usd", "reference")


def kind_label(kind: str) -> str:
    labels = {
        "initial": _("Opening credit"),
        "credit": _("Credit by an administrator"),
        "debit": _("Debit by an administrator"),
        "redeem": _("Redemption code"),
        "topup": _("Top-up"),
        "refund": _("Top-up refunded"),
    }
    return labels.get(kind, kind)


def reference(entry: LedgerEntry) -> str:
    """What the row refers to, in the customer's terms (an order, a code)."""
    ref = entry.reference or ""
    if ref.startswith("payment:"):
        return _("order %(order)s") % {"order": ref.removeprefix("payment:")}
    if ref.startswith("code:"):
        return _("code #%(id)s") % {"id": ref.removeprefix("code:")}
    return ref


def _cursor(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and int(text) > 0 else None


@signed_in
async def billing(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    account_id = viewer(request).user.account_id
    account = await gw.accounts.by_id(account_id)
    entries, next_cursor = await ledger_page(
        gw.engine, account_id, limit=PAGE, cursor=_cursor(request.query.get("cursor"))
    )
    days = last_days(utcnow(), SPEND_DAYS)
    since = datetime.strptime(days[0], "%Y-%m-%d").replace(tzinfo=UTC)
    groups, total = await aggregate(gw.engine, ["day"], UsageFilter(account_id=account_id, since=since))
    spend = sorted((g for g in groups if g.requests), key=lambda g: g.day or "", reverse=True)
    rows = [(e, kind_label(e.kind), reference(e)) for e in entries]
    return render(request, "billing.html", account=account, rows=rows, next_cursor=next_cursor,
                  spend=spend, spend_total=total, spend_days=SPEND_DAYS)  # fmt: skip


def _csv_row(e: LedgerEntry) -> list[object]:
    return [cell(e.created_at), e.kind, plain_dollars(e.amount_micros), cell(reference(e))]


@signed_in
async def billing_csv(request: web.Request) -> web.StreamResponse:
    """Every ledger row of the account, newest first, page by page."""
    engine = gateway(request).engine
    account_id = viewer(request).user.account_id

    async def pages() -> AsyncIterator[list[list[object]]]:
        cursor: int | None = None
        while True:
            entries, cursor = await ledger_page(engine, account_id, limit=1000, cursor=cursor)
            yield [
                [cell(e.created_at), e.kind, plain_dollars(e.amount_micros), cell(reference(e))]
                for e in entries
            ]
            if cursor is None:
                return

    return await stream_csv(request, "balance-history.csv", CSV_COLUMNS, pages())


PAGES = [
    ("GET", "/ui/billing", billing),
    ("GET", "/ui/billing.csv", billing_csv),
]
