"""Usage: spend, tokens, requests and errors grouped by key, model, channel and day; and
the usage log itself, newest first.

Both first flush this process's pending usage rows, so an answer includes every
request this process has finished.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.admin.common import gateway, iso, json_response, money, page, parse_query
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import LogsQuery, PageQuery, UsageQuery
from hubgate.storage.admin_usage import UsageFilter, UsageGroup, aggregate, logs_page
from hubgate.storage.quarantine import quarantine_page


def group_view(g: UsageGroup, fields: list[str]) -> dict[str, Any]:
    view: dict[str, Any] = {f: getattr(g, f) for f in fields}
    view.update(
        requests=g.requests,
        errors=g.errors,
        prompt_tokens=g.prompt_tokens,
        completion_tokens=g.completion_tokens,
        total_tokens=g.total_tokens,
        cached_tokens=g.cached_tokens,
        cache_write_tokens=g.cache_write_tokens,
        reasoning_tokens=g.reasoning_tokens,
        **money("cost", g.cost_micros),
    )
    return view


async def usage_summary(request: web.Request) -> web.Response:
    gw = gateway(request)
    q = parse_query(request, UsageQuery)
    flt = UsageFilter(key=q.key, model=q.model, channel=q.channel, since=q.since, until=q.until)
    await gw.usage.flush()
    groups, totals = await aggregate(gw.engine, q.fields, flt, limit=q.limit)
    return json_response(
        {
            "object": "usage_summary",
            "group_by": q.fields,
            "since": iso(q.since),
            "until": iso(q.until),
            "data": [group_view(g, q.fields) for g in groups],
            "totals": group_view(totals, []),
        }
    )


def log_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in row.items() if k not in ("cost_micros", "created_at", "key_id", "account_id")}
    return {"created_at": iso(row["created_at"]), **view, **money("cost", int(row["cost_micros"]))}


async def usage_logs(request: web.Request) -> web.Response:
    gw = gateway(request)
    q = parse_query(request, LogsQuery)
    flt = UsageFilter(
        key=q.key, model=q.model, channel=q.channel, status=q.status, since=q.since, until=q.until
    )
    await gw.usage.flush()
    rows, nxt = await logs_page(gw.engine, flt, limit=q.limit, cursor=q.cursor)
    return json_response(page([log_view(r) for r in rows], nxt))


async def usage_quarantine(request: web.Request) -> web.Response:
    """Usage rows the database refused, newest first, each with its fields and the error."""
    gw = gateway(request)
    q = parse_query(request, PageQuery)
    await gw.usage.flush()
    rows, nxt, total = await quarantine_page(gw.engine, limit=q.limit, cursor=q.cursor)
    return json_response({**page(rows, nxt), "total": total})


ROUTES = [
    AdminRoute("GET", "/admin/usage", usage_summary,
               "Spend, tokens, requests and errors grouped by key, model, channel and/or day", "usage",
               query=UsageQuery),
    AdminRoute("GET", "/admin/usage/logs", usage_logs, "Usage rows, newest first (keyset pages)", "usage",
               query=LogsQuery),
    AdminRoute("GET", "/admin/usage/quarantine", usage_quarantine,
               "Usage rows the database refused, kept aside with the error (keyset pages)", "usage",
               query=PageQuery),
]  # fmt: skip
