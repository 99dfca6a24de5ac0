"""The console's sign-in session as the admin API and the console both read it: the console
state on the app, the viewer of a request (from the session cookie) and whether the request
counts as https. The admin API accepts a console admin's session; the console pages build on
this module (console imports admin, never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jinja2
from aiohttp import web

from hubgate.access.network import client_ip
from hubgate.gateway import GATEWAY, Gateway
from hubgate.storage.secrets import SecretBox
from hubgate.storage.users import Session, UserRepository


@dataclass
class Console:
    """The console's state, made once per application."""

    users: UserRepository
    box: SecretBox
    templates: jinja2.Environment
    flash_box: SecretBox  # seals the flash cookie (from secret_key, else a key of this process)
    assets: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)  # name -> body, type, version


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)
SESSION: web.RequestKey[Session | None] = web.RequestKey("console_session")  # the viewer, once resolved


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def secure(request: web.Request) -> bool:
    mode = gateway(request).settings.console.cookie_secure
    if mode != "auto":
        return mode == "always"
    if request.secure:
        return True
    gw = gateway(request)
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded == "https" and client_ip(request, gw.trusted_proxies) != request.remote


def cookie_name(request: web.Request) -> str:
    return "__Host-hubgate" if secure(request) else "hubgate_session"


async def load_session(request: web.Request) -> Session | None:
    if SESSION in request:
        return request[SESSION]
    token = request.cookies.get(cookie_name(request))
    session = await console_of(request).users.session(token) if token else None
    request[SESSION] = session
    return session
