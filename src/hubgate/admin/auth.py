"""The admin guard: `Authorization: Bearer <admin_key>` or `x-admin-key: <admin_key>`, or the
session of a console admin (the console's admin screens call this API from the browser)."""

from __future__ import annotations

import hmac

from aiohttp import web

from hubgate.admin.session import CONSOLE, load_session
from hubgate.errors import AuthenticationFailed, PermissionDenied
from hubgate.gateway import GATEWAY

ACTOR = web.RequestKey("admin_actor", str)  # who the audit log names for this request


def supplied_key(request: web.Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-admin-key") or None


async def require_admin(request: web.Request) -> None:
    """Refuse unless the request carries the configured admin key (constant-time compare) or
    comes from a console admin's session (with its CSRF token when it changes anything).

    With no `admin_key` configured the key form is off: 403, whatever key is sent.
    """
    supplied = supplied_key(request)
    if supplied is None and await _console_admin(request):
        return
    configured = request.app[GATEWAY].settings.admin_key
    if not configured:
        raise PermissionDenied(
            "The admin API is disabled: set admin_key (or HUBGATE_ADMIN_KEY) to enable it.",
            code="admin_api_disabled",
        )
    if supplied is None:
        raise AuthenticationFailed(
            "Missing admin key. Pass it as 'Authorization: Bearer KEY' or 'x-admin-key: KEY'.",
            code="missing_admin_key",
        )
    if not hmac.compare_digest(supplied.encode(), configured.encode()):
        raise AuthenticationFailed("Incorrect admin key provided.", code="invalid_admin_key")


async def _console_admin(request: web.Request) -> bool:
    if CONSOLE not in request.app:
        return False
    session = await load_session(request)
    if session is None or session.mfa_pending or not session.user.is_admin:
        return False
    if request.method not in ("GET", "HEAD"):
        token = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
            raise PermissionDenied("Missing or wrong CSRF token (x-csrf-token).", code="csrf_failed")
    request[ACTOR] = f"console:{session.user.email}"
    return True
