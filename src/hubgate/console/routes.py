"""Wires the console into the application: pages under /ui, its static files, and the
start-up step that creates the configured admin."""

from __future__ import annotations

import logging

from aiohttp import web

from hubgate.admin.session import CONSOLE, console_of, cookie_name, load_session
from hubgate.console import (
    admin_settings_views,
    admin_views,
    auth_views,
    billing_views,
    catalogue_views,
    i18n,
    key_views,
    oauth,
    playground,
    settings_views,
    token_views,
    user_views,
)
from hubgate.console.i18n import N_, _
from hubgate.console.topup_api import add_routes as add_topup_api
from hubgate.console.topup_views import PAGES as TOPUP_PAGES
from hubgate.console.web import LANGUAGES, SECURITY_HEADERS, Handler, make_console, remember_language, render
from hubgate.errors import GatewayError, RateLimited
from hubgate.gateway import GATEWAY

log = logging.getLogger("hubgate.console")
# The reasons of the HTTP errors a page may show, for the catalogue (titled in the viewer's language).
REASONS = {403: N_("Forbidden"), 404: N_("Not Found"), 405: N_("Method Not Allowed"),
           413: N_("Request Entity Too Large")}  # fmt: skip


def _localized(handler: Handler) -> Handler:
    """The request in its language (`?lang=`, the signed-in user's saved one, the cookie,
    Accept-Language); a `?lang=` is kept in the language cookie for the next pages, and, from
    the switcher's links (`&keep=1`), saved as the signed-in user's language."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        languages = request.app[LANGUAGES]
        session = await load_session(request) if cookie_name(request) in request.cookies else None
        user = session.user if session is not None and not session.mfa_pending else None
        code = i18n.choose(request.query, request.cookies, request.headers.get("accept-language"),
                           user.language if user is not None else None)  # fmt: skip
        i18n.activate(languages[code])
        switched = i18n.normalize(request.query.get("lang")) is not None
        keep = switched and request.query.get(i18n.SAVE_PARAM) == "1"  # the switcher's links
        if keep and user is not None and user.language != code:
            await console_of(request).users.update(user.id, language=code)
        resp = await handler(request)
        if switched and not resp.prepared:
            remember_language(request, resp, code)
        return resp

    wrapped.__name__ = handler.__name__
    return wrapped


def _html_errors(handler: Handler) -> Handler:
    """Errors on a page are pages too (the playground's JSON call keeps the API's JSON errors)."""

    @_localized
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRedirection as exc:  # returned, not raised: the API edge renders raised ones as errors
            return web.Response(status=exc.status, headers=exc.headers)
        except web.HTTPException as exc:
            title = _(exc.reason) if exc.status in REASONS else exc.reason
            return render(request, "error.html", status=exc.status, title=title, message=_(exc.text or ""))
        except GatewayError as err:
            resp = render(request, "error.html", status=err.status, title=_("Something went wrong"),
                          message=_(err.message))  # fmt: skip
            if isinstance(err, RateLimited) and err.retry_after is not None:
                resp.headers["retry-after"] = str(err.retry_after)
            return resp

    wrapped.__name__ = handler.__name__
    return wrapped


async def static(request: web.Request) -> web.StreamResponse:
    found = console_of(request).assets.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, content_type, version = found
    cache = "public, max-age=31536000, immutable" if request.query.get("v") == version else "no-cache"
    return web.Response(body=body, headers={"content-type": content_type, "cache-control": cache,
                                            "x-content-type-options": "nosniff"})  # fmt: skip


async def not_found(request: web.Request) -> web.StreamResponse:
    return render(request, "error.html", status=404, title=_("Not found"), message=_("No such page."))


PAGES: list[tuple[str, str, Handler]] = [
    ("GET", "/ui", auth_views.root),
    ("GET", "/ui/", auth_views.root),
    ("GET", "/ui/login", auth_views.login_form),
    ("POST", "/ui/login", auth_views.login),
    ("GET", "/ui/login/totp", auth_views.totp_form),
    ("POST", "/ui/login/totp", auth_views.totp_submit),
    ("POST", "/ui/logout", auth_views.logout),
    ("GET", "/ui/signup", auth_views.signup_form),
    ("POST", "/ui/signup", auth_views.signup),
    ("GET", "/ui/forgot", auth_views.forgot),
    ("POST", "/ui/forgot", auth_views.forgot_submit),
    ("POST", "/ui/verify/resend", auth_views.verify_resend),
    ("GET", "/ui/verify/{token}", auth_views.verify_form),
    ("POST", "/ui/verify/{token}", auth_views.verify),
    ("GET", "/ui/oauth/{provider}/start", oauth.start),
    ("GET", "/ui/oauth/{provider}/callback", oauth.callback),
    ("GET", "/ui/reset/{token}", auth_views.reset_form),
    ("POST", "/ui/reset/{token}", auth_views.reset),
    ("GET", "/ui/dashboard", user_views.dashboard),
    ("GET", "/ui/keys", user_views.keys),
    ("POST", "/ui/keys", user_views.create_key),
    ("POST", "/ui/keys/{key_id}/revoke", user_views.revoke_key),
    *key_views.PAGES,  # edit, disable, enable, delete
    ("GET", "/ui/tokens", token_views.tokens),  # personal access tokens for the user API
    ("POST", "/ui/tokens", token_views.create_token),
    ("POST", "/ui/tokens/{token_id}/revoke", token_views.revoke_token),
    ("GET", "/ui/usage", user_views.usage),
    ("GET", "/ui/usage.csv", user_views.usage_csv),
    *billing_views.PAGES,  # /ui/billing: the balance history
    ("GET", "/ui/redeem", user_views.redeem_form),
    ("POST", "/ui/redeem", user_views.redeem),
    ("GET", "/ui/playground", playground.page),
    ("GET", "/ui/settings", settings_views.settings_page),
    ("POST", "/ui/settings/password", settings_views.change_password),
    ("POST", "/ui/settings/language", settings_views.change_language),
    ("POST", "/ui/settings/totp/start", settings_views.totp_start),
    ("POST", "/ui/settings/totp/enable", settings_views.totp_enable),
    ("POST", "/ui/settings/totp/recovery", settings_views.totp_recovery),
    ("POST", "/ui/settings/totp/disable", settings_views.totp_disable),
    *admin_views.PAGES,
    *admin_settings_views.PAGES,  # /ui/admin/settings: run-time system settings
    *TOPUP_PAGES,  # /ui/topup, /ui/topup/history, /ui/admin/payments
    *catalogue_views.PAGES,  # /ui/models (public) and /ui/admin/catalogue
]


async def _startup(app: web.Application) -> None:
    languages = app[LANGUAGES] = i18n.load_languages()
    # Mail sent below the console (the admin API's) is written in its reader's saved language.
    app[GATEWAY].mail_language = lambda code: i18n.translator_for(languages, code)
    app[CONSOLE] = make_console(app[GATEWAY])  # the configured admin is made by bootstrap.apply_config


def add_routes(app: web.Application) -> None:
    app.on_startup.append(_startup)
    r = app.router
    for method, path, handler in PAGES:
        r.add_route(method, path, _html_errors(handler))
    r.add_post(
        "/ui/playground/chat", _localized(playground.chat)
    )  # JSON in, an SSE stream or a JSON error out
    r.add_get("/ui/static/{name}", static)
    add_topup_api(app)  # /api/user/topup*: JSON for the signed-in customer
    r.add_route("*", "/ui/{tail:.*}", _html_errors(not_found))


__all__ = ["SECURITY_HEADERS", "add_routes"]
