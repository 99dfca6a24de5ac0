"""Anthropic Messages routes: /v1/messages (and the path variants clients use), count_tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.errors import InvalidRequest
from hubgate.formats.registry import WireFormat, codec
from hubgate.gateway import GATEWAY
from hubgate.http.body import parse_object, read_body
from hubgate.http.openai_routes import json_response
from hubgate.metering.estimate import request_tokens
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.relay.dispatch import relay
from hubgate.storage.keys import KeyRecord

# Every path that means POST /v1/messages (base URLs with an extra /v1 or /openai).
MESSAGES_PATHS = ("/v1/messages", "/openai/v1/messages", "/v1/v1/messages", "/openai/v1/v1/messages")


def _check(body: dict[str, Any], *, need_max_tokens: bool) -> tuple[str, bool]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required (a non-empty string).", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Field required (an array of messages).", param="messages")
    if need_max_tokens:
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequest("max_tokens: Field required (a positive integer).", param="max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream: Input should be a valid boolean.", param="stream")
    return model, stream


async def messages(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        model, stream = _check(body, need_max_tokens=True)
        return Call(WireFormat.ANTHROPIC, Endpoint.GENERATE, body, model, stream)

    return await relay(gw, request, "messages", prepare)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """Counted by an Anthropic channel when the model has one, estimated otherwise."""
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        model, _ = _check(body, need_max_tokens=False)
        call = Call(WireFormat.ANTHROPIC, Endpoint.COUNT_TOKENS, body, model, False)

        async def estimate() -> web.StreamResponse:
            # A count body has no max_tokens; the decoder wants one above any thinking budget.
            hub_req = codec(WireFormat.ANTHROPIC).decode_request({"max_tokens": 2**31, **body})
            return json_response({"input_tokens": request_tokens(hub_req)})

        call.fallback = estimate
        return call

    return await relay(gw, request, "count_tokens", prepare)
