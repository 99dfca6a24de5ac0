"""Route table: every caller-facing path, also answered under the `/api` prefix."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from hubgate.errors import NotFound
from hubgate.gateway import Gateway
from hubgate.providers.base import Endpoint
from hubgate.relay import authenticate, relay
from hubgate.storage.db import ping

GATEWAY = web.AppKey("gateway", Gateway)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _relay_handler(endpoint: Endpoint) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await relay(request.app[GATEWAY], request, endpoint)

    return handle


def _model_entry(gw: Gateway, model: str, owned_by: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": gw.started_at, "owned_by": owned_by}


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    data = [_model_entry(gw, m, ch.type) for m, ch in gw.channels.models() if key.allows(m)]
    return _json({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    model = request.match_info["model"]
    route = gw.channels.resolve(model)
    if route is None or not (key.allows(model) or key.allows(route.model)):
        raise NotFound(f"The model '{model}' does not exist.", param="model", code="model_not_found")
    return _json(_model_entry(gw, model, route.channels[0].type))


async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    checks: dict[str, str] = {}
    ok = True
    try:
        await ping(gw.engine)
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"error: {type(exc).__name__}"
    if gw.redis is not None:
        try:
            await gw.redis.ping()  # type: ignore[attr-defined]
            checks["redis"] = "ok"
        except Exception as exc:
            ok = False
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "disabled"
    return _json({"status": "ready" if ok else "unavailable", **checks}, status=200 if ok else 503)


def add_routes(app: web.Application) -> None:
    chat = _relay_handler(Endpoint.CHAT)
    completions = _relay_handler(Endpoint.COMPLETIONS)
    embeddings = _relay_handler(Endpoint.EMBEDDINGS)
    for prefix in ("", "/api"):
        app.router.add_get(f"{prefix}/healthz", healthz)
        app.router.add_get(f"{prefix}/readyz", readyz)
        # `/v1/...` is the documented form; the bare form serves clients whose base URL lacks /v1.
        for v in ("/v1", ""):
            app.router.add_post(f"{prefix}{v}/chat/completions", chat)
            app.router.add_post(f"{prefix}{v}/completions", completions)
            app.router.add_post(f"{prefix}{v}/embeddings", embeddings)
            app.router.add_post(f"{prefix}{v}/engines/{{model}}/embeddings", embeddings)
            app.router.add_get(f"{prefix}{v}/models", list_models)
            app.router.add_get(f"{prefix}{v}/models/{{model:.+}}", get_model)
