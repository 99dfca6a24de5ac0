"""The user API (`/api/...`): a customer's own keys, usage and balance, authenticated by a
personal access token, on new-api's paths and `{success, message, data}` shapes."""

from __future__ import annotations

from aiohttp import web

from hubgate.http.user_api.common import authenticate, user_api
from hubgate.http.user_api.openapi import openapi
from hubgate.http.user_api.routes import ROUTES


def add_routes(router: web.UrlDispatcher) -> None:
    for route in ROUTES:
        handler = user_api(route.handler)
        router.add_route(route.method, route.path, handler)
        if route.path.endswith("/"):  # new-api's router answers /api/token as /api/token/
            router.add_route(route.method, route.path.rstrip("/"), handler)
    router.add_get("/api/openapi.json", openapi)


__all__ = ["ROUTES", "add_routes", "authenticate", "user_api"]
