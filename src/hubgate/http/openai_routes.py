"""OpenAI-family routes: chat, completions, embeddings, models."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.errors import NotFound
from hubgate.formats import openai as oa
from hubgate.formats.registry import WireFormat
from hubgate.gateway import GATEWAY
from hubgate.http.body import parse_object, read_body
from hubgate.http.catalogue_routes import listed_models, model_card, served_card
from hubgate.http.common import json_response
from hubgate.http.models_list import gemini_model_list
from hubgate.http.responses_call import responses_call
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.relay.dispatch import authenticate, relay
from hubgate.storage.keys import KeyRecord


def looks_like_responses(body: dict[str, Any]) -> bool:
    return "input" in body and "messages" not in body


async def chat(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        raw = await read_body(request, gw.max_body_bytes)
        body = parse_object(raw)
        if looks_like_responses(body):  # a Responses body sent to the chat route
            return await responses_call(gw, key, body)
        info = oa.check_chat(body)
        return Call(
            WireFormat.OPENAI_CHAT, Endpoint.CHAT, body, info.model, info.stream, info.include_usage, raw=raw
        )

    return await relay(gw, request, "chat", prepare)


async def completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        raw = await read_body(request, gw.max_body_bytes)
        body = parse_object(raw)
        info = oa.check_completions(body)
        return Call(
            WireFormat.OPENAI_CHAT,
            Endpoint.COMPLETIONS,
            body,
            info.model,
            info.stream,
            info.include_usage,
            raw=raw,
        )

    return await relay(gw, request, "completions", prepare)


async def embeddings(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        raw = await read_body(request, gw.max_body_bytes)
        body = parse_object(raw)
        if "model" in request.match_info:
            body["model"] = request.match_info["model"]  # a model is never counted: raw still bounds it
        info = oa.check_embeddings(body)
        return Call(WireFormat.OPENAI_CHAT, Endpoint.EMBEDDINGS, body, info.model, False, raw=raw)

    return await relay(gw, request, "embeddings", prepare)


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    if "x-goog-api-key" in request.headers or "key" in request.query:
        return json_response(gemini_model_list(gw, key))
    data = [model_card(gw, item) for item in listed_models(gw, key)]
    return json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    model = request.match_info["model"]
    route = gw.channels.resolve(model)
    if route is None or not (key.allows(model) or key.allows(route.model)):
        raise NotFound(f"The model '{model}' does not exist.", param="model", code="model_not_found")
    return json_response(served_card(gw, model, route.model, route.channels[0].type))
