"""How records look in admin answers and audit entries: plain JSON, money exact, no secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hubgate.admin.common import decimal_text, iso, money
from hubgate.metering.budget import counted_spend
from hubgate.metering.price import Price
from hubgate.storage.accounts import AccountRecord
from hubgate.storage.admin_lists import CodeInfo, LedgerEntry
from hubgate.storage.audit import AuditEntry
from hubgate.storage.keys import KeyRecord


def account_view(a: AccountRecord) -> dict[str, Any]:
    return {
        "object": "account",
        "id": a.id,
        "name": a.name,
        "group": a.group,
        "limited": a.limited,
        "disabled": a.disabled,
        **money("balance", a.balance_micros),
        **money("max_request_cost", a.max_request_cost_micros),
    }


def key_status(k: KeyRecord, now: datetime) -> str:
    if k.revoked_at is not None:
        return "revoked"
    if k.expires_at is not None and k.expires_at <= now:
        return "expired"
    return "active"


def key_view(k: KeyRecord, account: str | None, now: datetime) -> dict[str, Any]:
    """A key without its secret: only the display prefix ("sk-hg-abcd...") is shown."""
    period_spent = counted_spend(
        lifetime=k.spent_micros,
        period=k.budget_period,
        period_spent=k.period_spent_micros,
        period_started=k.period_started_at,
        now=now,
    )
    return {
        "object": "api_key",
        "id": k.id,
        "name": k.name,
        "prefix": k.key_prefix,
        "account": account,
        "status": key_status(k, now),
        "models": sorted(k.models) if k.models is not None else None,
        **money("budget", k.budget_micros),
        "budget_period": k.budget_period,
        **money("spent", k.spent_micros),
        **money("budget_spent", period_spent),  # what counts against the budget right now
        "rpm": k.rpm,
        "tpm": k.tpm,
        "max_concurrency": k.max_concurrency,
        "allowed_ips": list(k.allowed_ips) if k.allowed_ips is not None else None,
        "price_multiplier": decimal_text(k.price_multiplier),
        **money("max_request_cost", k.max_request_cost_micros),
        "expires_at": iso(k.expires_at),
        "revoked_at": iso(k.revoked_at),
        "source": k.source,
        "created_at": iso(k.created_at),
    }


def ledger_view(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        **money("amount", e.amount_micros),
        "kind": e.kind,
        "reference": e.reference,
        "created_at": iso(e.created_at),
    }


def code_view(c: CodeInfo) -> dict[str, Any]:
    """A redemption code by its prefix only: the code itself is shown once, at creation."""
    return {
        "id": c.id,
        "batch": c.batch,
        "prefix": c.prefix,
        **money("amount", c.amount_micros),
        "created_at": iso(c.created_at),
        "expires_at": iso(c.expires_at),
        "redeemed_at": iso(c.redeemed_at),
        "redeemed_by": c.redeemed_by,
    }


def price_view(model: str, p: Price, source: str) -> dict[str, Any]:
    """USD per 1M tokens as exact decimal strings; `source` is builtin, config or admin."""
    view: dict[str, Any] = {
        "model": model,
        "source": source,
        "input": decimal_text(p.input),
        "output": decimal_text(p.output),
        "cached_input": decimal_text(p.cached_input),
        "cache_write": decimal_text(p.cache_write),
        "cache_write_1h": decimal_text(p.cache_write_1h),
        "per_request": decimal_text(p.per_request),
        "output_thinking": decimal_text(p.output_thinking),
    }
    if p.tiers:
        view["tiers"] = [
            {"above_prompt_tokens": t.above, **price_view(model, t.price, source)} for t in p.tiers
        ]
        for tier in view["tiers"]:
            del tier["model"], tier["source"]
    return view


def audit_view(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "created_at": iso(e.created_at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "before": e.before,
        "after": e.after,
    }
