"""Sign-in through GitHub OAuth or an OpenID Connect issuer (authorization code + PKCE).

The browser leaves with a random `state` and a PKCE verifier kept in a short-lived
HttpOnly cookie; the callback must bring the same state back. The code is exchanged
server-side and the person is read from the provider's user-info endpoint (over TLS,
with the fresh access token), so no ID-token signature needs checking here.

An identity is linked to a user once (`user_identities`). A first sign-in with a
*verified* email that belongs to an existing user links to that user; otherwise it
creates a new user when sign-up is open, and is refused when it is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from hubgate.admin.session import console_of, gateway, secure
from hubgate.console import i18n
from hubgate.console.i18n import _
from hubgate.console.users import confirmed, create_user
from hubgate.console.web import render, sign_in
from hubgate.settings import GITHUB_URLS, OAuthSettings
from hubgate.storage.users import User

log = logging.getLogger("hubgate.console")

STATE_COOKIE = "hubgate_oauth"
TIMEOUT = aiohttp.ClientTimeout(total=15)


class OAuthFailed(Exception):
    """The provider did not give us a usable identity; the message is for the person."""


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    userinfo: str


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str | None  # verified only
    name: str | None


def providers(request: web.Request) -> list[tuple[str, str]]:
    """(name, button label) of every configured provider, for the log-in page."""
    return [
        (p.name, p.label or _("Continue with %(provider)s") % {"provider": p.name})
        for p in gateway(request).settings.console.oauth
    ]


def _provider(request: web.Request) -> OAuthSettings:
    name = request.match_info["provider"]
    for p in gateway(request).settings.console.oauth:
        if p.name == name:
            return p
    raise web.HTTPNotFound()


def callback_url(request: web.Request, provider: OAuthSettings) -> str:
    base = gateway(request).settings.console.public_url
    if base is None:
        base = f"{'https' if secure(request) else 'http'}://{request.host}"
    return f"{base.rstrip('/')}/ui/oauth/{provider.name}/callback"


async def endpoints(http: aiohttp.ClientSession, p: OAuthSettings) -> Endpoints:
    if p.kind == "github":
        return Endpoints(p.authorize_url or GITHUB_URLS[0], p.token_url or GITHUB_URLS[1],
                         p.userinfo_url or GITHUB_URLS[2])  # fmt: skip
    found: dict[str, Any] = {}
    if None in (p.authorize_url, p.token_url, p.userinfo_url):
        assert p.issuer is not None  # settings require one or the other
        found = await _json(http.get(p.issuer.rstrip("/") + "/.well-known/openid-configuration"))
    try:
        return Endpoints(
            p.authorize_url or str(found["authorization_endpoint"]),
            p.token_url or str(found["token_endpoint"]),
            p.userinfo_url or str(found["userinfo_endpoint"]),
        )
    except KeyError as exc:
        raise OAuthFailed(
            _("The provider's discovery document lacks %(field)s.") % {"field": exc.args[0]}
        ) from None


async def _json(request: Any) -> Any:
    async with request as resp:
        if resp.status >= 400:
            raise OAuthFailed(_("The sign-in provider answered %(status)s.") % {"status": resp.status})
        try:
            return await resp.json(content_type=None)
        except ValueError:
            raise OAuthFailed(_("The sign-in provider's answer was not JSON.")) from None


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def start(request: web.Request) -> web.StreamResponse:
    p = _provider(request)
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    scopes = p.scopes or (
        ("read:user", "user:email") if p.kind == "github" else ("openid", "email", "profile")
    )
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        try:
            ep = await endpoints(http, p)
        except (OAuthFailed, aiohttp.ClientError, TimeoutError) as exc:
            return _failed(request, exc)
    query = {
        "client_id": p.client_id,
        "redirect_uri": callback_url(request, p),
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    resp = web.Response(status=303, headers={"location": f"{ep.authorize}?{urlencode(query)}"})
    resp.set_cookie(STATE_COOKIE, f"{p.name}.{state}.{verifier}", path="/ui/oauth", httponly=True,
                    samesite="Lax", secure=secure(request), max_age=600)  # fmt: skip
    return resp


async def callback(request: web.Request) -> web.StreamResponse:
    p = _provider(request)
    name, _dot, rest = request.cookies.get(STATE_COOKIE, "").partition(".")
    state, _dot2, verifier = rest.partition(".")
    returned = request.query.get("state", "")
    if name != p.name or not state or not hmac.compare_digest(state, returned):
        return _failed(request, OAuthFailed(_("The sign-in expired or did not start here; try again.")))
    if "error" in request.query or "code" not in request.query:
        reason = request.query.get("error_description") or request.query.get("error") or "no code"
        return _failed(
            request,
            OAuthFailed(_("The provider did not sign you in (%(reason)s).") % {"reason": reason[:200]}),
        )
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            ep = await endpoints(http, p)
            token = await _exchange(http, p, ep, request.query["code"], verifier, callback_url(request, p))
            identity = await (_github if p.kind == "github" else _oidc)(http, ep, token)
        user = await _user_for(request, p, identity)
    except (OAuthFailed, aiohttp.ClientError, TimeoutError) as exc:
        return _failed(request, exc)
    resp = await sign_in(request, user, "/ui/dashboard")
    resp.del_cookie(STATE_COOKIE, path="/ui/oauth")
    log.info("console log-in through %s: %s", p.name, user.email)
    return resp


async def _exchange(
    http: aiohttp.ClientSession, p: OAuthSettings, ep: Endpoints, code: str, verifier: str, redirect_uri: str
) -> str:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": p.client_id,
        "client_secret": p.client_secret,
        "code_verifier": verifier,
    }
    answer = await _json(http.post(ep.token, data=form, headers={"accept": "application/json"}))
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise OAuthFailed(_("The provider gave no access token."))
    return token


async def _github(http: aiohttp.ClientSession, ep: Endpoints, token: str) -> Identity:
    headers = {"authorization": f"Bearer {token}", "accept": "application/vnd.github+json"}
    user = await _json(http.get(ep.userinfo, headers=headers))
    if not isinstance(user, dict) or user.get("id") is None:
        raise OAuthFailed(_("GitHub did not say who you are."))
    emails = await _json(http.get(ep.userinfo.rstrip("/") + "/emails", headers=headers))
    verified = (
        [e for e in emails if isinstance(e, dict) and e.get("verified")] if isinstance(emails, list) else []
    )
    primary = next((e for e in verified if e.get("primary")), verified[0] if verified else None)
    email = str(primary["email"]).lower() if primary and primary.get("email") else None
    return Identity(str(user["id"]), email, user.get("login"))


async def _oidc(http: aiohttp.ClientSession, ep: Endpoints, token: str) -> Identity:
    info = await _json(http.get(ep.userinfo, headers={"authorization": f"Bearer {token}"}))
    if not isinstance(info, dict) or not info.get("sub"):
        raise OAuthFailed(_("The provider did not say who you are."))
    email = info.get("email") if info.get("email_verified") is True else None
    return Identity(str(info["sub"]), str(email).lower() if email else None, info.get("name"))


async def _user_for(request: web.Request, p: OAuthSettings, identity: Identity) -> User:
    users = console_of(request).users
    user = await users.by_identity(p.name, identity.subject)
    if user is None and identity.email is not None:
        user = await users.by_email(identity.email)
        if user is not None:
            await users.link_identity(p.name, identity.subject, user.id)
    if user is None:
        cfg = gateway(request).settings.console
        if cfg.signup != "open":
            raise OAuthFailed(_("No account here matches that sign-in, and sign-up is not open."))
        if identity.email is None:
            raise OAuthFailed(_("The provider shared no verified email address; one is needed to sign up."))
        user = await create_user(
            gateway(request).engine, cfg, identity.email, None, role="user", language=i18n.current().code
        )
        await users.link_identity(p.name, identity.subject, user.id)
    if user.disabled:
        raise OAuthFailed(_("This account is disabled. Ask an administrator."))
    if user.email_verified_at is None and identity.email == user.email:
        await confirmed(gateway(request), users, user.id)  # the provider has verified the address
    return user


def _failed(request: web.Request, exc: BaseException) -> web.Response:
    message = str(exc) if isinstance(exc, OAuthFailed) else _("The sign-in provider could not be reached.")
    log.info("console OAuth sign-in failed: %s", message)
    resp = render(request, "error.html", status=400, title=_("Sign-in failed"), message=message)
    resp.del_cookie(STATE_COOKIE, path="/ui/oauth")
    return resp


__all__ = ["callback", "providers", "start"]
