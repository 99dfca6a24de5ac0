"""Health of the running gateway, and the audit log of admin changes."""

from __future__ import annotations

import time

from aiohttp import web

from hubgate.admin.common import gateway, json_response, page, parse_query
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import AuditQuery
from hubgate.admin.views import audit_view
from hubgate.storage.audit import AuditRepository
from hubgate.storage.db import ping


async def health(request: web.Request) -> web.Response:
    gw = gateway(request)
    database = "ok"
    try:
        await ping(gw.engine)
    except Exception as exc:  # reported, not raised: this is what health is for
        database = f"error: {type(exc).__name__}"
    ok = database == "ok"
    return json_response(
        {
            "status": "ok" if ok else "degraded",
            "database": database,
            "database_backend": gw.engine.dialect.name,
            "usage_pending": gw.usage.pending,
            "usage_written": gw.usage.written,
            "usage_dropped": gw.usage.dropped,
            "usage_quarantined": gw.usage.quarantined,  # this process's, since it started
            "usage_lag_s": round(gw.usage.lag_s(), 3),
            "channels": len(gw.channels.channels),
            "started_at": gw.started_at,
            "uptime_s": int(time.time()) - gw.started_at,
        },
        status=200 if ok else 503,
    )


async def list_audit(request: web.Request) -> web.Response:
    q = parse_query(request, AuditQuery)
    entries, nxt = await AuditRepository(gateway(request).engine).page(
        limit=q.limit, cursor=q.cursor, action=q.action, target=q.target
    )
    return json_response(page([audit_view(e) for e in entries], nxt))


ROUTES = [
    AdminRoute("GET", "/admin/health", health, "Database reachability and the usage writer's backlog",
               "system"),
    AdminRoute("GET", "/admin/audit", list_audit, "The audit log of admin changes, newest first", "system",
               query=AuditQuery),
]  # fmt: skip
