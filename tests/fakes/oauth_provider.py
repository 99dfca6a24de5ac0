"""A fake sign-in provider speaking both GitHub's OAuth endpoints and OpenID Connect.

``/authorize`` signs in whoever :attr:`FakeOAuth.person` is (no login form) and sends
the browser back with a one-time code bound to the client, the redirect URI and the
PKCE challenge; ``/token`` checks all of them (and the client secret) before giving
an access token. GitHub callers then read ``/user`` and ``/user/emails``; OpenID
Connect callers read ``/.well-known/openid-configuration`` and ``/userinfo``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes._server import FakeServer, json_response

CLIENT_ID = "hubgate-console"
CLIENT_SECRET = "fake-oauth-client-secret"


@dataclass
class Person:
    subject: str
    email: str | None
    verified: bool = True
    login: str = "someone"


@dataclass
class _Grant:
    person: Person
    redirect_uri: str
    challenge: str


@dataclass
class FakeOAuth(FakeServer):
    base_path = ""
    record_all = False
    person: Person = field(default_factory=lambda: Person("1001", "octo@example.test"))
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, Person] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/userinfo", self.userinfo)
        app.router.add_get("/user", self.github_user)
        app.router.add_get("/user/emails", self.github_emails)

    async def discovery(self, request: web.Request) -> web.Response:
        root = self.root_url
        return json_response({
            "issuer": root,
            "authorization_endpoint": f"{root}/authorize",
            "token_endpoint": f"{root}/token",
            "userinfo_endpoint": f"{root}/userinfo",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        })  # fmt: skip

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return json_response({"error": "invalid_request"}, 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return json_response({"error": "invalid_request", "error_description": "PKCE required"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = _Grant(self.person, q["redirect_uri"], q["code_challenge"])
        back = {"code": code, "state": q.get("state", "")}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(back)}")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = self.codes.pop(str(form.get("code", "")), None)  # one use
        problems = []
        if grant is None:
            problems.append("unknown or used code")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            problems.append("bad client credentials")
        if grant is not None and form.get("redirect_uri") != grant.redirect_uri:
            problems.append("redirect_uri differs")
        verifier = str(form.get("code_verifier", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is not None and digest != grant.challenge:
            problems.append("PKCE verifier does not match")
        if problems or grant is None:
            self.refusals.extend(problems)
            return json_response({"error": "invalid_grant", "error_description": "; ".join(problems)}, 400)
        access = secrets.token_urlsafe(16)
        self.tokens[access] = grant.person
        return json_response({"access_token": access, "token_type": "bearer", "scope": "openid email"})

    def _person(self, request: web.Request) -> Person:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        person = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if person is None:
            raise web.HTTPUnauthorized()
        return person

    async def userinfo(self, request: web.Request) -> web.Response:
        p = self._person(request)
        info: dict[str, Any] = {"sub": p.subject, "name": p.login}
        if p.email is not None:
            info.update(email=p.email, email_verified=p.verified)
        return json_response(info)

    async def github_user(self, request: web.Request) -> web.Response:
        p = self._person(request)
        return json_response({"id": int(p.subject), "login": p.login, "email": None})

    async def github_emails(self, request: web.Request) -> web.Response:
        p = self._person(request)
        if p.email is None:
            return json_response([])
        return json_response([
            {"email": f"noreply-{p.subject}@users.example.test", "primary": False, "verified": True},
            {"email": p.email, "primary": True, "verified": p.verified},
        ])  # fmt: skip
