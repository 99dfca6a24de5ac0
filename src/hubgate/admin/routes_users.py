"""Console users: list them, change their role or switch them off, make password-reset
links for them, and make sign-up invites.

Secrets are shown once, in the answer that makes them: a reset link or an invite code is
stored only as a digest and never written to the audit log.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import Any

from aiohttp import web

from hubgate.admin.common import (
    audit,
    gateway,
    iso,
    json_response,
    page,
    parse_body,
    parse_query,
)
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import InviteCreate, ResetLinkCreate, UserPatch, UsersQuery
from hubgate.admin.session import SESSION, secure
from hubgate.errors import InvalidRequest, NotFound
from hubgate.jobs.mail import invite_mail, reset_mail, send
from hubgate.settings import SmtpSettings
from hubgate.storage.admin_lists import account_names, users_page
from hubgate.storage.keys import utcnow
from hubgate.storage.users import RESET_TTL, User, UserRepository


def user_view(u: User, account: str | None) -> dict[str, Any]:
    """A console user without secrets: no password hash, no TOTP secret (only whether it is on)."""
    return {
        "object": "user",
        "id": u.id,
        "email": u.email,
        "role": u.role,
        "account_id": u.account_id,
        "account": account,
        "disabled": u.disabled,
        "totp": u.totp_secret_enc is not None,
        "has_password": u.password_hash is not None,
        "email_verified": u.email_verified_at is not None,
        "language": u.language,
        "locked_until": iso(u.locked_until),
        "created_at": iso(u.created_at),
        "last_login_at": iso(u.last_login_at),
    }


def site_url(request: web.Request, path: str) -> str:
    """`path` as an absolute URL of this site: under `console.public_url` when set, else on
    the host the request came to, https when the console treats the request as such."""
    base = gateway(request).settings.console.public_url
    if base is None:
        base = f"{'https' if secure(request) else request.scheme}://{request.host}"
    return base.rstrip("/") + path


def _console_user_id(request: web.Request) -> int | None:
    """The console admin making this request, if it comes from a console session."""
    session = request.get(SESSION)
    return session.user.id if session is not None else None


def _user_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or int(text) >= 2**31:  # ids are 32-bit integers on every backend
        raise InvalidRequest(f"Invalid path parameter 'id': {text!r} is not a user id.", param="id")
    return int(text)


async def _find(request: web.Request) -> User:
    user_id = _user_id(request)
    user = await UserRepository(gateway(request).engine).by_id(user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.", param="id", code="user_not_found")
    return user


async def _view(request: web.Request, user: User) -> dict[str, Any]:
    names = await account_names(gateway(request).engine, {user.account_id})
    return user_view(user, names.get(user.account_id))


async def list_users(request: web.Request) -> web.Response:
    gw = gateway(request)
    q = parse_query(request, UsersQuery)
    account_id: int | None = None
    if q.account is not None:
        record = await gw.accounts.by_name(q.account)
        if record is None:
            return json_response(page([], None))
        account_id = record.id
    found, nxt = await users_page(gw.engine, limit=q.limit, cursor=q.cursor, email=q.email,
                                  account_id=account_id)  # fmt: skip
    names = await account_names(gw.engine, {u.account_id for u in found})
    return json_response(page([user_view(u, names.get(u.account_id)) for u in found], nxt))


async def get_user(request: web.Request) -> web.Response:
    return json_response(await _view(request, await _find(request)))


async def patch_user(request: web.Request) -> web.Response:
    body = await parse_body(request, UserPatch)
    before = await _find(request)
    if before.id == _console_user_id(request) and (body.role == "user" or body.disabled):
        raise InvalidRequest(
            "You cannot take your own admin role away or disable yourself; ask another admin.",
            param="role" if body.role == "user" else "disabled",
        )
    values: dict[str, object] = {}
    if body.role is not None and body.role != before.role:
        values["role"] = body.role
    if body.disabled is not None and body.disabled != before.disabled:
        values["disabled"] = body.disabled
    if not values:  # nothing changed, nothing to audit
        return json_response(await _view(request, before))
    users = UserRepository(gateway(request).engine)
    await users.update(before.id, **values)
    if values.get("disabled"):
        await users.end_sessions(before.id)  # a disabled user is signed out everywhere at once
    after = await _find(request)
    view = await _view(request, after)
    await audit(request, "users.update", before.email, before=await _view(request, before), after=view)
    return json_response(view)


def _smtp(request: web.Request, param: str) -> SmtpSettings:
    cfg = gateway(request).settings.console.smtp
    if cfg is None:
        raise InvalidRequest("This gateway sends no email: configure console.smtp first.", param=param)
    return cfg


async def _mail(cfg: SmtpSettings, to: str, subject: str, body: str) -> dict[str, Any]:
    """Send now (the admin waits to see whether it went); the link is in the answer either way."""
    try:
        await send(cfg, to, subject, body)
    except (OSError, smtplib.SMTPException) as exc:
        return {"emailed_to": None, "email_error": f"{type(exc).__name__}: {exc}"}
    return {"emailed_to": to, "email_error": None}


async def reset_link(request: web.Request) -> web.Response:
    """A one-time link to set a new password, valid one hour; shown once (and mailed on request)."""
    body = await parse_body(request, ResetLinkCreate, optional=True)
    user = await _find(request)
    if user.disabled:
        raise InvalidRequest(f"User {user.email} is disabled; enable them first.", param="id")
    smtp = _smtp(request, "send_email") if body.send_email else None
    token = await UserRepository(gateway(request).engine).create_reset(user.id, ttl=RESET_TTL)
    expires = utcnow() + RESET_TTL
    url = site_url(request, f"/ui/reset/{token}")
    written = gateway(request).mail_language(user.language)  # the reader's saved language, else English
    mailed = await _mail(smtp, user.email, *reset_mail(site_url(request, ""), url, written)) if smtp else {}
    await audit(request, "users.reset_link", user.email,
                after={"user_id": user.id, "expires_at": iso(expires), **mailed})  # fmt: skip
    return json_response(
        {
            "object": "password_reset",
            "user_id": user.id,
            "email": user.email,
            "reset_url": url,
            "expires_at": iso(expires),
            **mailed,
        },
        status=201,
    )


async def create_invite(request: web.Request) -> web.Response:
    """A one-time sign-up code and the sign-up link that carries it; shown once (and mailed to
    `email` when given)."""
    body = await parse_body(request, InviteCreate)
    smtp = _smtp(request, "email") if body.email is not None else None
    ttl = timedelta(hours=body.expires_in_hours) if body.expires_in_hours is not None else None
    code = await UserRepository(gateway(request).engine).create_invite(_console_user_id(request), ttl=ttl)
    expires = iso(utcnow() + ttl) if ttl is not None else None
    url = site_url(request, f"/ui/signup?invite={code}")
    mailed = {}
    if smtp is not None and body.email is not None:
        mailed = await _mail(smtp, body.email, *invite_mail(site_url(request, ""), url, expires))
    await audit(request, "invites.create", None, after={"expires_at": expires, **mailed})  # never the code
    return json_response(
        {"object": "invite", "invite": code, "signup_url": url, "expires_at": expires, **mailed}, status=201
    )


ROUTES = [
    AdminRoute("GET", "/admin/users", list_users,
               "List console users (never their passwords or TOTP secrets)", "users", query=UsersQuery),
    AdminRoute("GET", "/admin/users/{id:[^/]+}", get_user, "Read a console user", "users"),
    AdminRoute("PATCH", "/admin/users/{id:[^/]+}", patch_user,
               "Change a console user's role or switch them off (ends their sessions)", "users",
               body=UserPatch),
    AdminRoute("POST", "/admin/users/{id:[^/]+}/reset-link", reset_link,
               "Make a one-time password-reset link for a console user (valid 1 hour, shown once; "
               "mailed to them with send_email)", "users", body=ResetLinkCreate, status=201),
    AdminRoute("POST", "/admin/invites", create_invite,
               "Make a one-time sign-up invite code and link (shown once; mailed with email)", "users",
               body=InviteCreate,
               status=201),
]  # fmt: skip
