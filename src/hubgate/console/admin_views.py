"""The admin screens: channels, models and prices, groups, accounts and console users,
redemption codes, global usage and the audit log.

Pages are read here, on the server; every change goes through the admin REST API
(`/admin/*`), called from the page by console.js with the session cookie and its CSRF
header, so the API's validation, audit trail and run-time effects apply unchanged.
Only admins see these pages: anyone else gets the plain 404 page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hubgate.admin.routes_channel_ops import usage_windows
from hubgate.admin.routes_groups import effective_groups
from hubgate.admin.routes_pricing import effective_prices
from hubgate.admin.session import SESSION, console_of, gateway
from hubgate.admin.views import price_view
from hubgate.console.usage_export import export_csv, name_rows
from hubgate.console.user_views import (
    day_start,
    last_days,
    month_start,
    usage_charts,
    usage_filter,
)
from hubgate.console.web import Handler, redirect, render, signed_in
from hubgate.metering.prices import PRICES_SOURCE_DATE
from hubgate.providers import registry
from hubgate.routing.balance import BALANCE_TYPES
from hubgate.settings import ChannelSettings
from hubgate.storage.admin_lists import (
    account_names,
    accounts_named_like,
    accounts_page,
    accounts_per_group,
    codes_page,
    users_page,
)
from hubgate.storage.admin_usage import UsageFilter, aggregate, logs_page
from hubgate.storage.audit import AuditRepository
from hubgate.storage.channels import ChannelRepository
from hubgate.storage.keys import utcnow
from hubgate.storage.secrets import SecretsUnavailable

PAGE = 50


def _cursor(request: web.Request, name: str = "cursor") -> int | None:
    text = request.query.get(name, "")
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None


def _text(request: web.Request, name: str) -> str | None:
    return request.query.get(name, "").strip() or None


# --- channels ---


@dataclass(frozen=True)
class ChannelLine:
    """One channel as the page shows it: the stored row, what is served, and its health."""

    row: Any  # ChannelRow
    running: bool
    upstream_keys: int
    health: list[dict[str, object]]
    edit: dict[str, Any] | None  # the admin-created channel's settings (no secrets) for its form

    @property
    def cooling(self) -> list[dict[str, object]]:
        return [h for h in self.health if h["state"] in ("open", "half_open")]

    @property
    def set_aside(self) -> list[dict[str, object]]:
        return [h for h in self.health if h["state"] == "disabled"]


def _edit_values(settings: ChannelSettings) -> dict[str, Any]:
    return {
        "base_url": settings.base_url or "",
        "models": " ".join(m for m in settings.models if m not in settings.model_map),
        "model_map": json.dumps(dict(settings.model_map)) if settings.model_map else "",
        "priority": settings.priority,
        "weight": settings.weight,
        "timeout_s": settings.timeout_s,
        "api_version": settings.api_version or "",
    }


async def _channels(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    snapshot = gw.health.snapshot()
    lines: list[ChannelLine] = []
    for row in await ChannelRepository(gw.engine).all():
        running = gw.channels.channel(row.name)
        edit = None
        if row.source == "admin" and gw.admin_channels is not None:
            try:
                stored = await gw.admin_channels.settings_of(row.name)
            except SecretsUnavailable:
                stored = None
            if stored is not None and stored[1] is not None:
                edit = _edit_values(stored[1])
        lines.append(ChannelLine(
            row=row, running=running is not None,
            upstream_keys=len(running.api_keys) if running is not None else 0,
            health=[h for h in snapshot if h["channel"] == row.name], edit=edit,
        ))  # fmt: skip
    return render(request, "admin/channels.html", lines=lines, types=sorted(registry.REGISTRY.names()),
                  manageable=gw.admin_channels is not None, usage=await usage_windows(gw, None),
                  balance_types=BALANCE_TYPES)  # fmt: skip


# --- models and prices ---


async def _pricing(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    table = await effective_prices(gw)
    served: dict[str, list[str]] = defaultdict(list)
    for ch in gw.channels.channels:
        for model in ch.models:
            served[model].append(ch.name)
    models = [
        (model, sorted(channels), price_view(model, *table[model]) if model in table else None)
        for model, channels in sorted(served.items())
    ]
    others = [price_view(m, p, source) for m, (p, source) in sorted(table.items()) if m not in served]
    return render(request, "admin/pricing.html", models=models, others=others,
                  builtin_as_of=PRICES_SOURCE_DATE.isoformat())  # fmt: skip


# --- groups ---


async def _groups(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    counts = await accounts_per_group(gw.engine)
    groups = [
        (name, multiplier, source, counts.get(name, 0))
        for name, (multiplier, source) in sorted((await effective_groups(gw)).items())
    ]
    unknown = sorted(set(counts) - {g[0] for g in groups})  # accounts in a group with no multiplier
    return render(request, "admin/groups.html", groups=groups, unknown=[(n, counts[n]) for n in unknown])


# --- accounts and console users ---


async def _accounts(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    group = _text(request, "group")
    records, next_cursor = await accounts_page(gw.engine, limit=PAGE, cursor=_cursor(request), group=group)
    people = await console_of(request).users.by_account({a.id for a in records})
    emails = {account_id: [u.email for u in found] for account_id, found in people.items()}
    email = _text(request, "email")
    users, next_users = await users_page(gw.engine, limit=PAGE, cursor=_cursor(request, "users_cursor"),
                                         email=email)  # fmt: skip
    names = await account_names(gw.engine, {u.account_id for u in users})
    groups = sorted((await effective_groups(gw)).keys())
    return render(
        request, "admin/accounts.html", accounts=records, emails=emails, next_cursor=next_cursor,
        group=group or "", groups=groups, users=users, names=names, next_users=next_users,
        email=email or "", viewer_id=request_viewer_id(request), request_cursor=_cursor(request),
        signup=gw.settings.console.signup,
        mail=gw.settings.console.smtp is not None,
    )  # fmt: skip


def request_viewer_id(request: web.Request) -> int:
    session = request[SESSION]
    assert session is not None  # behind `signed_in`
    return session.user.id


# --- redemption codes ---


async def _codes(request: web.Request) -> web.StreamResponse:
    batch = _text(request, "batch")
    codes, next_cursor = await codes_page(gateway(request).engine, limit=PAGE, cursor=_cursor(request),
                                          batch=batch)  # fmt: skip
    return render(request, "admin/codes.html", codes=codes, next_cursor=next_cursor, batch=batch or "",
                  now=utcnow())  # fmt: skip


# --- usage ---


@dataclass(frozen=True)
class _Named:
    """A usage group with its account id replaced by the account's name (for the charts)."""

    day: str | None
    account: str
    cost_micros: int
    total_tokens: int


async def _admin_filter(request: web.Request) -> tuple[UsageFilter, dict[str, str]]:
    """The user page's filters over every account, plus the accounts whose name contains the
    `account` text, in any case."""
    flt, chosen = await usage_filter(request, None)
    chosen["account"] = request.query.get("account", "").strip()[:64]
    if chosen["account"]:
        found = await accounts_named_like(gateway(request).engine, chosen["account"])
        flt = replace(flt, account_ids=found)  # none found: no rows
    return flt, chosen


async def _usage(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    await gw.usage.flush()  # this process's finished requests are in the page
    flt, chosen = await _admin_filter(request)
    now = utcnow()
    _groups, today = await aggregate(gw.engine, [], UsageFilter(since=day_start(now)))
    _groups, month = await aggregate(gw.engine, [], UsageFilter(since=month_start(now)))
    days = last_days(now, 30)
    since = datetime.strptime(days[0], "%Y-%m-%d").replace(tzinfo=UTC)
    charts: list[tuple[str, str, str]] = []
    for by in ("model", "channel"):
        groups, _totals = await aggregate(gw.engine, ["day", by], UsageFilter(since=since))
        charts.append((by, *usage_charts(groups, days, by)))
    groups, _totals = await aggregate(gw.engine, ["day", "account"], UsageFilter(since=since))
    names = await account_names(gw.engine, {g.account for g in groups if g.account is not None})
    named = [
        _Named(g.day, names.get(g.account, f"#{g.account}") if g.account is not None else "-",
               g.cost_micros, g.total_tokens)
        for g in groups
    ]  # fmt: skip
    charts.append(("account", *usage_charts(named, days, "account")))
    cursor = _cursor(request)
    rows, next_cursor = await logs_page(gw.engine, flt, limit=PAGE, cursor=cursor)
    await name_rows(gw.engine, rows, accounts=True)
    query = urlencode({k: v for k, v in chosen.items() if v})
    return render(
        request, "admin/usage.html", rows=rows, keys=None, admin=True, chosen=chosen,
        next_cursor=next_cursor, query=query, request_cursor=cursor, today=today, month=month,
        charts=charts,
    )  # fmt: skip


async def _usage_csv(request: web.Request) -> web.StreamResponse:
    await gateway(request).usage.flush()
    flt, _query = await _admin_filter(request)
    return await export_csv(request, gateway(request).engine, flt, "usage-all.csv", admin=True)


# --- audit log ---


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


async def _audit(request: web.Request) -> web.StreamResponse:
    action, target = _text(request, "action"), _text(request, "target")
    entries, next_cursor = await AuditRepository(gateway(request).engine).page(
        limit=PAGE, cursor=_cursor(request), action=action, target=target
    )
    query = urlencode({k: v for k, v in (("action", action), ("target", target)) if v})
    return render(request, "admin/audit.html", entries=entries, next_cursor=next_cursor, action=action or "",
                  target=target or "", query=query, pretty=_pretty,
                  request_cursor=_cursor(request))  # fmt: skip


def _admin(handler: Handler) -> Handler:
    """Admins only; anyone else signed in gets the 404 page, anyone signed out the log-in page."""
    return signed_in(handler, admin=True)


async def _root(request: web.Request) -> web.StreamResponse:
    raise redirect("/ui/admin/channels")


root = _admin(_root)
channels = _admin(_channels)
pricing = _admin(_pricing)
groups = _admin(_groups)
accounts = _admin(_accounts)
codes = _admin(_codes)
usage = _admin(_usage)
usage_csv = _admin(_usage_csv)
audit = _admin(_audit)

PAGES: list[tuple[str, str, Handler]] = [
    ("GET", "/ui/admin", root),
    ("GET", "/ui/admin/", root),
    ("GET", "/ui/admin/channels", channels),
    ("GET", "/ui/admin/pricing", pricing),
    ("GET", "/ui/admin/groups", groups),
    ("GET", "/ui/admin/accounts", accounts),
    ("GET", "/ui/admin/codes", codes),
    ("GET", "/ui/admin/usage", usage),
    ("GET", "/ui/admin/usage.csv", usage_csv),
    ("GET", "/ui/admin/audit", audit),
]
