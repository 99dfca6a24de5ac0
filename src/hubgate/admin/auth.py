"""The admin guard: `Authorization: Bearer <admin_key>` or `x-admin-key: <admin_key>`."""

from __future__ import annotations

import hmac

from aiohttp import web

from hubgate.errors import AuthenticationFailed, PermissionDenied
from hubgate.http.state import GATEWAY


def supplied_key(request: web.Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-admin-key") or None


def require_admin(request: web.Request) -> None:
    """Refuse unless the request carries the configured admin key (constant-time compare).

    With no `admin_key` configured the admin API is off: 403, whatever is sent.
    """
    configured = request.app[GATEWAY].settings.admin_key
    if not configured:
        raise PermissionDenied(
            "The admin API is disabled: set admin_key (or HUBGATE_ADMIN_KEY) to enable it.",
            code="admin_api_disabled",
        )
    supplied = supplied_key(request)
    if supplied is None:
        raise AuthenticationFailed(
            "Missing admin key. Pass it as 'Authorization: Bearer KEY' or 'x-admin-key: KEY'.",
            code="missing_admin_key",
        )
    if not hmac.compare_digest(supplied.encode(), configured.encode()):
        raise AuthenticationFailed("Incorrect admin key provided.", code="invalid_admin_key")
