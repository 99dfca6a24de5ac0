"""Gemini routes: `models/{model}:{action}` under /v1beta and /v1, and the model list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.errors import NotFound
from hubgate.formats import embeddings as emb
from hubgate.formats import gemini
from hubgate.formats.registry import WireFormat, codec
from hubgate.gateway import GATEWAY, Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.http.common import json_response
from hubgate.http.models_list import gemini_model, gemini_model_list
from hubgate.metering.estimate import request_tokens
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call, GeminiCall
from hubgate.relay.dispatch import authenticate, relay
from hubgate.storage.keys import KeyRecord

GENERATE_ACTIONS = {"generateContent": False, "streamGenerateContent": True}


def _model(request: web.Request) -> str:
    return request.match_info["model"].removeprefix("models/")


async def model_action(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    action = request.match_info["action"]
    model = _model(request)
    if action in GENERATE_ACTIONS:
        stream = GENERATE_ACTIONS[action]

        async def prepare(key: KeyRecord) -> Call:
            raw = await read_body(request, gw.max_body_bytes)
            body = parse_object(raw)
            gemini.check_contents(body)
            body.pop("model", None)
            sse = request.query.get("alt") == "sse"
            return GeminiCall(WireFormat.GEMINI, Endpoint.GENERATE, body, model, stream, raw=raw, sse=sse)

        return await relay(gw, request, "generate_content", prepare)
    if action == "countTokens":
        return await relay(gw, request, "count_tokens", _count_tokens_prepare(gw, request, model))
    if action in ("embedContent", "batchEmbedContents"):
        single = action == "embedContent"

        async def prepare_embed(key: KeyRecord) -> Call:
            body = parse_object(await read_body(request, gw.max_body_bytes))
            batch = emb.gemini_single_to_batch(body, model) if single else body
            emb.check_gemini_batch(batch)
            return GeminiCall(
                WireFormat.GEMINI, Endpoint.EMBEDDINGS, batch, model, False, embed_single=single
            )

        return await relay(gw, request, "embeddings", prepare_embed)
    raise NotFound(f"Method '{action}' is not supported for models/{model}.")


def _count_tokens_prepare(gw: Gateway, request: web.Request, model: str) -> Any:
    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        # countTokens takes `contents` or a whole `generateContentRequest`.
        inner = body.get("generateContentRequest")
        generate_body = dict(inner) if isinstance(inner, dict) else {"contents": body.get("contents") or []}
        gemini.check_contents(generate_body)
        call = GeminiCall(WireFormat.GEMINI, Endpoint.COUNT_TOKENS, body, model, False)

        async def estimate() -> web.StreamResponse:
            hub_req = codec(WireFormat.GEMINI).decode_request(dict(generate_body, model=model))
            return json_response({"totalTokens": request_tokens(hub_req)})

        call.fallback = estimate
        return call

    return prepare


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    return json_response(gemini_model_list(gw, key))


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    model = _model(request)
    route = gw.channels.resolve(model)
    if route is None or not (key.allows(model) or key.allows(route.model)):
        raise NotFound(f"models/{model} is not found.")
    return json_response(gemini_model(model, route.channels[0].type))
