"""Anthropic Messages routes: /v1/messages (and the path variants clients use), count_tokens."""

from __future__ import annotations

from aiohttp import web

from hubgate.formats import anthropic
from hubgate.formats.registry import WireFormat, codec
from hubgate.gateway import GATEWAY
from hubgate.http.body import parse_object, read_body
from hubgate.http.common import json_response
from hubgate.metering.estimate import request_tokens
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.relay.dispatch import relay
from hubgate.storage.keys import KeyRecord

# Every path that means POST /v1/messages (base URLs with an extra /v1 or /openai).
MESSAGES_PATHS = ("/v1/messages", "/openai/v1/messages", "/v1/v1/messages", "/openai/v1/v1/messages")


async def messages(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        raw = await read_body(request, gw.max_body_bytes)
        body = parse_object(raw)
        info = anthropic.check_request(body)
        return Call(WireFormat.ANTHROPIC, Endpoint.GENERATE, body, info.model, info.stream, raw=raw)

    return await relay(gw, request, "messages", prepare)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """Counted by an Anthropic channel when the model has one, estimated otherwise."""
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        info = anthropic.check_request(body, need_max_tokens=False)
        call = Call(WireFormat.ANTHROPIC, Endpoint.COUNT_TOKENS, body, info.model, False)

        async def estimate() -> web.StreamResponse:
            # A count body has no max_tokens; the decoder wants one above any thinking budget.
            hub_req = codec(WireFormat.ANTHROPIC).decode_request({"max_tokens": 2**31, **body})
            return json_response({"input_tokens": request_tokens(hub_req)})

        call.fallback = estimate
        return call

    return await relay(gw, request, "count_tokens", prepare)
