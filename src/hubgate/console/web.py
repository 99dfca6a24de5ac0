"""What every console page shares: templates, security headers, the session cookie, the
signed-in viewer, CSRF checks and per-address limits on the sign-in forms.

Sessions live in the database (`ui_sessions`, by digest), so a log-out or a disabled
user takes effect on every replica at once. The cookie is HttpOnly and SameSite=Lax,
and Secure (with the `__Host-` prefix) whenever the console is served over https.
Every state-changing request carries the session's CSRF token, as a form field or
the `x-csrf-token` header. Before sign-in, forms use a double-submit token instead.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from hubgate.access.network import client_ip
from hubgate.admin.session import SESSION, Console, console_of, cookie_name, gateway, load_session, secure
from hubgate.console import i18n
from hubgate.console.i18n import N_, _
from hubgate.errors import RateLimited
from hubgate.gateway import Gateway
from hubgate.storage.secrets import SecretBox, SecretsUnavailable
from hubgate.storage.users import Session, User, UserRepository, new_token

PRE_COOKIE = "hubgate_pre"  # double-submit CSRF token for the forms shown before sign-in
FLASH_COOKIE = "hubgate_flash"  # what a form's POST tells the page it redirects to (sealed, once)
FLASH_TTL_S = 300
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


LANGUAGES: web.AppKey[dict[str, i18n.Language]] = web.AppKey("console_languages", dict)  # loaded at start
PRE_TOKEN = web.RequestKey("console_pre_token", str)
FLASH_TAKEN = web.RequestKey("console_flash_taken", bool)  # the page read the flash: clear its cookie


def _load_assets() -> dict[str, tuple[bytes, str, str]]:
    types = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png"}
    out: dict[str, tuple[bytes, str, str]] = {}
    for entry in resources.files("hubgate.console").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if suffix in types:
            body = entry.read_bytes()
            out[entry.name] = (body, types[suffix], hashlib.sha256(body).hexdigest()[:12])
    return out


def make_console(gw: Gateway) -> Console:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hubgate.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        enable_async=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
    )
    flash_key = "hubgate-flash-v1:" + (gw.settings.secret_key or new_token())
    users, box = UserRepository(gw.engine), SecretBox(gw.settings.secret_key)
    console = Console(users, box, env, SecretBox(flash_key), _load_assets())
    env.globals["asset"] = lambda name: f"/ui/static/{name}?v={console.assets[name][2]}"
    from hubgate.console import format as fmt  # filters: money, dates, numbers

    env.filters.update(fmt.FILTERS)
    return console


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """The page; `page_path` names the page a form's answer belongs to (the navigation's current
    item), when it is not the request's path."""
    session = request.get(SESSION)
    context.setdefault("path", context.pop("page_path", None) or request.path)
    context.setdefault("site", gateway(request).settings.console)  # site name, announcement (run-time)
    language = i18n.current()
    others = {k: v for k, v in request.query.items() if k not in ("lang", i18n.SAVE_PARAM)}
    switch = [  # the switcher's links also save the choice as a signed-in viewer's language
        (
            code,
            i18n.NAMES[code],
            i18n.TAGS[code],
            request.path + "?" + urlencode({**others, "lang": i18n.TAGS[code], i18n.SAVE_PARAM: "1"}),
        )
        for code in i18n.LOCALES
    ]
    page = (
        console_of(request)
        .templates.get_template(template)
        .render(
            viewer=session.user if session is not None and not session.mfa_pending else None,
            csrf=session.csrf_token if session is not None else request.get(PRE_TOKEN, ""),
            lang=language.tag,
            lang_code=language.code,
            languages=switch,
            js_catalogue=i18n.js_catalogue(),
            **context,
        )
    )
    resp = web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
    resp.headers.update(SECURITY_HEADERS)
    if request.get(FLASH_TAKEN):
        resp.del_cookie(FLASH_COOKIE, path="/ui")
    return resp


def redirect(location: str) -> web.HTTPSeeOther:
    """To raise: leaves a handler at once."""
    exc = web.HTTPSeeOther(location)
    exc.headers.update(SECURITY_HEADERS)
    return exc


def go(location: str) -> web.Response:
    """To return: a 303 that can still carry cookies."""
    return web.Response(status=303, headers={**SECURITY_HEADERS, "location": location})


async def sign_in(request: web.Request, user: User, target: str) -> web.StreamResponse:
    """End whatever session the browser had and issue a new one (fixation-proof)."""
    users = console_of(request).users
    presented = request.cookies.get(cookie_name(request))
    if presented:
        await users.end_session(presented)
    pending = user.totp_secret_enc is not None
    token, _session = await users.start_session(
        user.id,
        ttl=timedelta(minutes=10) if pending else session_ttl(request),
        ip=request.remote,
        user_agent=request.headers.get("user-agent"),
        mfa_pending=pending,
    )
    resp = go("/ui/login/totp?next=" + target if pending else target)
    set_session_cookie(request, resp, token)
    if not pending:
        await users.login_succeeded(user.id)
    return resp


# --- Post/Redirect/Get: a form's POST answers 303, and tells the next page what happened ---


def _flash_owner(request: web.Request, csrf: str | None = None) -> str:
    session = request.get(SESSION)
    if csrf is None:
        csrf = session.csrf_token if session is not None else ""
    return hashlib.sha256(csrf.encode()).hexdigest()[:16]


def flash_to(
    request: web.Request, location: str, *, for_csrf: str | None = None, **data: Any
) -> web.Response:
    """A 303 to `location` whose page shows `data` once (a notice, a new key's secret...).

    The data rides in a sealed, HttpOnly cookie bound to the session and read by the next
    page only, so a reload of that page neither re-sends the form nor shows it again.
    `for_csrf`: the session it is for, when the answer starts a new one (a log-in)."""
    resp = go(location)
    payload = {"data": data, "exp": int(time.time()) + FLASH_TTL_S, "owner": _flash_owner(request, for_csrf)}
    resp.set_cookie(
        FLASH_COOKIE, console_of(request).flash_box.seal(payload), path="/ui", httponly=True,
        samesite="Lax", secure=secure(request), max_age=FLASH_TTL_S,
    )  # fmt: skip
    return resp


def take_flash(request: web.Request) -> dict[str, Any]:
    """What the form that redirected here said (empty if nothing, expired or not this session's);
    the page rendered next clears the cookie."""
    sealed = request.cookies.get(FLASH_COOKIE)
    if not sealed:
        return {}
    request[FLASH_TAKEN] = True
    try:
        payload = console_of(request).flash_box.open(sealed)
    except SecretsUnavailable:
        return {}
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return {}
    if int(payload.get("exp", 0)) < time.time() or payload.get("owner") != _flash_owner(request):
        return {}
    return dict(payload["data"])


# --- cookies ---


def set_session_cookie(request: web.Request, resp: web.StreamResponse, token: str) -> None:
    ttl = gateway(request).settings.console.session_ttl_hours * 3600
    resp.set_cookie(
        cookie_name(request), token, path="/", httponly=True, samesite="Lax", secure=secure(request),
        max_age=int(ttl),
    )  # fmt: skip


def remember_language(request: web.Request, resp: web.StreamResponse, code: str) -> None:
    """The language cookie: the console's language in this browser, signed in or not."""
    resp.set_cookie(i18n.LANG_COOKIE, code, path="/", max_age=i18n.LANG_COOKIE_MAX_AGE,
                    samesite="Lax", secure=secure(request))  # fmt: skip


def clear_session_cookie(request: web.Request, resp: web.StreamResponse) -> None:
    resp.del_cookie(cookie_name(request), path="/")


def session_ttl(request: web.Request) -> timedelta:
    return timedelta(hours=gateway(request).settings.console.session_ttl_hours)


# --- CSRF ---


async def form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def form_list(request: web.Request, name: str) -> list[str]:
    """Every value of a field sent several times (checkboxes of one name)."""
    data = await request.post()
    return [v for v in data.getall(name, []) if isinstance(v, str)]


def check_csrf(request: web.Request, session: Session | None, submitted: str | None) -> None:
    """Refuse a state-changing request whose token does not match (403 page).

    With no `session`, the sign-in forms' double-submit token is expected, or the token of
    the session the browser already has (a signed-in person may log in again)."""
    expected = [session.csrf_token] if session is not None else [request.cookies.get(PRE_COOKIE, "")]
    if session is None and request.get(SESSION) is not None:
        current = request[SESSION]
        assert current is not None
        expected.append(current.csrf_token)
    if not submitted or not any(e and hmac.compare_digest(e, submitted) for e in expected):
        raise web.HTTPForbidden(
            text=_("The form expired or did not come from this site: reload the page and try again."),
            headers=SECURITY_HEADERS,
        )


def pre_session_token(request: web.Request, resp: web.StreamResponse | None = None) -> str:
    """The double-submit token for a form shown before sign-in (set as a cookie if new)."""
    token = request.cookies.get(PRE_COOKIE) or request.get(PRE_TOKEN) or new_token()
    request[PRE_TOKEN] = token
    if resp is not None:
        resp.set_cookie(
            PRE_COOKIE, token, path="/ui", httponly=True, samesite="Strict", secure=secure(request)
        )
    return token


# --- per-address limits on the sign-in forms ---


TOO_MANY = {  # by the limited action
    "login": N_("Too many login attempts from %(address)s; try again in %(retry)s s."),
    "signup": N_("Too many signup attempts from %(address)s; try again in %(retry)s s."),
    "reset": N_("Too many reset attempts from %(address)s; try again in %(retry)s s."),
    "redeem": N_("Too many redeem attempts from %(address)s; try again in %(retry)s s."),
    "topup": N_("Too many topup attempts from %(address)s; try again in %(retry)s s."),
    "": N_("Too many attempts from %(address)s; try again in %(retry)s s."),
}


async def limit(request: web.Request, action: str, per_minute: int) -> None:
    gw = gateway(request)
    address = client_ip(request, gw.trusted_proxies) or "unknown"
    ok, retry = await gw.limiter.store.bucket_take(
        f"ui:{action}:{address}", per_minute / 60.0, per_minute, time.time()
    )
    if not ok:
        message = _(TOO_MANY.get(action, TOO_MANY[""]))
        raise RateLimited(message % {"address": address, "retry": retry}, retry_after=retry)


# --- guards ---

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def signed_in(handler: Handler, *, admin: bool = False) -> Handler:
    """Serve `handler` only to a signed-in viewer (an admin if `admin`); others go to the log-in page.
    Every POST must carry the session's CSRF token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await load_session(request)
        if session is None or session.mfa_pending:
            raise redirect("/ui/login?next=" + request.path if request.method == "GET" else "/ui/login")
        if admin and not session.user.is_admin:
            return render(request, "error.html", status=404, title=_("Not found"), message=_("No such page."))
        if request.method != "GET":
            submitted = request.headers.get("x-csrf-token")
            if submitted is None and request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                submitted = (await form(request)).get("csrf")
            check_csrf(request, session, submitted)
        return await handler(request)

    guarded.__name__ = handler.__name__
    return guarded
