"""Personal access tokens for the user API: list, create (the secret is shown once), revoke."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web

from hubgate.admin.session import gateway
from hubgate.console.i18n import _
from hubgate.console.user_views import not_found, viewer
from hubgate.console.web import flash_to, form, redirect, render, signed_in, take_flash
from hubgate.storage.keys import utcnow
from hubgate.storage.user_tokens import UserTokenRepository

NAME = re.compile(r"^[A-Za-z0-9 _.-]{1,40}$")
EXPIRY_DAYS = ("", "7", "30", "90", "365")  # "": never


def _repo(request: web.Request) -> UserTokenRepository:
    return UserTokenRepository(gateway(request).engine)


async def _page(request: web.Request, status: int = 200, **context: object) -> web.Response:
    tokens = await _repo(request).of_user(viewer(request).user.id)
    now = utcnow()
    context.setdefault("error", None)
    context.setdefault("created", None)
    return render(request, "tokens.html", status=status, tokens=[(t, t.usable(now)) for t in tokens],
                  user_id=viewer(request).user.id, page_path="/ui/tokens", **context)  # fmt: skip


@signed_in
async def tokens(request: web.Request) -> web.StreamResponse:
    created = take_flash(request).get("created")
    return await _page(request, created=tuple(created) if isinstance(created, list) else None)


@signed_in
async def create_token(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    name = data.get("name", "").strip()
    days = data.get("expires_days", "")
    if not NAME.match(name):
        return await _page(
            request, status=400, error=_("Name: use 1 to 40 letters, digits, spaces, '.', '_' or '-'.")
        )
    if days not in EXPIRY_DAYS:
        return await _page(request, status=400, error=_("Expiry: choose one of the offered choices."))
    expires = utcnow() + timedelta(days=int(days)) if days else None
    token, secret = await _repo(request).create(viewer(request).user.id, name, expires)
    return flash_to(request, "/ui/tokens", created=[token.name, secret])  # shown once, by the GET


@signed_in
async def revoke_token(request: web.Request) -> web.StreamResponse:
    token_id = request.match_info["token_id"]
    if not token_id.isdigit() or not await _repo(request).revoke(viewer(request).user.id, int(token_id)):
        return not_found(request, _("No such token."))
    raise redirect("/ui/tokens")
