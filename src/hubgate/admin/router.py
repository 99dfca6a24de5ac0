"""Wires the admin API into an application: the guarded routes, their OpenAPI document,
and the start-up step that applies stored group and price overrides to Billing."""

from __future__ import annotations

from aiohttp import web

from hubgate.admin import (
    dashboard_routes,
    openapi,
    routes_accounts,
    routes_catalogue,
    routes_channel_ops,
    routes_channels,
    routes_codes,
    routes_groups,
    routes_keys,
    routes_pricing,
    routes_settings,
    routes_system,
    routes_usage,
    routes_users,
)
from hubgate.admin.auth import require_admin
from hubgate.admin.registry import AdminRoute, Handler
from hubgate.admin.routes_payments import ROUTES as PAYMENT_ROUTES
from hubgate.errors import GatewayError
from hubgate.formats.errors import Family
from hubgate.gateway import GATEWAY, REQUEST_ID
from hubgate.http.middleware import error_response
from hubgate.metering.prices import price_from_settings
from hubgate.storage.groups import GroupRepository
from hubgate.storage.prices_store import PriceOverrideRepository

ROUTES: list[AdminRoute] = [
    *routes_system.ROUTES,
    *routes_settings.ROUTES,
    *routes_accounts.ROUTES,
    *routes_codes.ROUTES,
    *routes_groups.ROUTES,
    *routes_keys.ROUTES,
    *routes_channel_ops.ROUTES,  # /admin/channels/bulk before /admin/channels/{name}
    *routes_channels.ROUTES,
    *routes_pricing.ROUTES,
    *routes_catalogue.ROUTES,
    *routes_usage.ROUTES,
    *routes_users.ROUTES,
    *PAYMENT_ROUTES,
    *openapi.ROUTES,
]


def _guarded(route: AdminRoute) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            if route.auth == "admin":
                await require_admin(request)
            return await route.handler(request)
        except GatewayError as err:
            # Always OpenAI's shape here: a model name such as "x:free" in the path must not
            # make the edge pick Gemini's.
            return error_response(err, Family.OPENAI, request[REQUEST_ID])

    handler.__name__ = route.handler.__name__
    handler.__doc__ = route.handler.__doc__
    return handler


async def apply_stored_overrides(app: web.Application) -> None:
    """Apply group multipliers and prices set through the admin API to the running Billing."""
    gw = app[GATEWAY]
    for name, multiplier in (await GroupRepository(gw.engine).all()).items():
        routes_groups.apply_group(gw, name, multiplier)
    for model, price in (await PriceOverrideRepository(gw.engine).all()).items():
        routes_pricing.apply_price(gw, model, price_from_settings(price))


def add_routes(app: web.Application) -> None:
    """Register `/admin/*` and the callers' `/v1/dashboard/*` routes."""
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guarded(route))
    dashboard_routes.add_routes(app)
    app[openapi.OPENAPI] = openapi.build_openapi([*ROUTES, *dashboard_routes.DOC_ROUTES])
    # on_startup runs after the lifespan (cleanup_ctx) has created the Gateway.
    app.on_startup.append(apply_stored_overrides)
