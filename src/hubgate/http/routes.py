"""Route table: every caller-facing path, also answered under the `/api` prefix."""

from __future__ import annotations

from aiohttp import web

from hubgate.admin import router as admin  # admin API + /v1/dashboard self-service
from hubgate.gateway import GATEWAY
from hubgate.http import anthropic_routes, gemini_routes, media_routes, openai_routes, responses_routes
from hubgate.http.catalogue_routes import add_routes as add_catalogue_routes
from hubgate.http.common import json_response
from hubgate.http.metrics import metrics_endpoint
from hubgate.http.payment_routes import add_routes as add_payment_routes
from hubgate.http.realtime import realtime
from hubgate.http.rerank_routes import add_routes as add_rerank_routes
from hubgate.http.user_api import add_routes as add_user_api_routes
from hubgate.http.video_routes import add_routes as add_video_routes
from hubgate.storage.db import ping

__all__ = ["GATEWAY", "add_routes"]


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


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
    # Usage rows waiting too long mean the database refuses or cannot keep up: billing lags.
    lag, limit = gw.usage.lag_s(), gw.settings.usage_max_lag_s
    if lag > limit:
        ok = False
        checks["usage"] = (
            f"error: the oldest unwritten usage row is {lag:.0f} s old (usage_max_lag_s: {limit:g})"
        )
    else:
        checks["usage"] = "ok"
    return json_response({"status": "ready" if ok else "unavailable", **checks}, status=200 if ok else 503)


def add_routes(app: web.Application) -> None:
    r = app.router
    admin.add_routes(app)  # /admin/* (SPEC §6) and /v1/dashboard/* (key self-service)
    add_payment_routes(app)  # /api/payments/*: Stripe's webhook, EPay's notify
    add_catalogue_routes(app)  # /api/pricing: the public price list
    add_user_api_routes(r)  # /api/user/self, /api/token/, /api/log/self ...: the user API
    for prefix in ("", "/api"):
        add_rerank_routes(r, prefix)  # /v1/rerank, /v2/rerank (Cohere / Jina)
        r.add_get(f"{prefix}/healthz", healthz)
        r.add_get(f"{prefix}/readyz", readyz)
        r.add_get(f"{prefix}/metrics", metrics_endpoint)  # observability: Prometheus, unauthenticated
        r.add_get(f"{prefix}/v1/realtime", realtime)  # OpenAI Realtime API: a proxied WebSocket
        # `/v1/...` is the documented form; the bare form serves clients whose base URL lacks /v1.
        for v in ("/v1", ""):
            r.add_post(f"{prefix}{v}/chat/completions", openai_routes.chat)
            r.add_post(f"{prefix}{v}/completions", openai_routes.completions)
            r.add_post(f"{prefix}{v}/embeddings", openai_routes.embeddings)
            r.add_post(f"{prefix}{v}/engines/{{model}}/embeddings", openai_routes.embeddings)
            r.add_get(f"{prefix}{v}/models", openai_routes.list_models)
            r.add_post(f"{prefix}{v}/responses", responses_routes.create)
            r.add_post(f"{prefix}{v}/responses/compact", responses_routes.compact)
            r.add_get(f"{prefix}{v}/responses/{{response_id}}", responses_routes.retrieve)
            r.add_delete(f"{prefix}{v}/responses/{{response_id}}", responses_routes.delete)
            r.add_post(f"{prefix}{v}/responses/{{response_id}}/cancel", responses_routes.cancel)
        media_routes.add_routes(r, prefix)  # moderations, images, audio
        add_video_routes(r, prefix)  # video tasks (OpenAI Videos API and the generic shape)
        for path in anthropic_routes.MESSAGES_PATHS:
            r.add_post(f"{prefix}{path}", anthropic_routes.messages)
            r.add_post(f"{prefix}{path}/count_tokens", anthropic_routes.count_tokens)
        for version in ("/v1beta", "/v1"):
            r.add_post(f"{prefix}{version}/models/{{model:[^:]+}}:{{action}}", gemini_routes.model_action)
        r.add_get(f"{prefix}/v1beta/models", gemini_routes.list_models)
        r.add_get(f"{prefix}/v1beta/models/{{model:[^:]+}}", gemini_routes.get_model)
        r.add_get(f"{prefix}/v1/models/{{model:.+}}", openai_routes.get_model)
        r.add_get(f"{prefix}/models/{{model:.+}}", openai_routes.get_model)
