"""Rerank routes: `POST /v1/rerank` (Cohere v1 / Jina shape) and `POST /v2/rerank` (Cohere v2)."""

from __future__ import annotations

from aiohttp import web

from hubgate.formats import rerank as rr
from hubgate.formats.registry import WireFormat
from hubgate.gateway import GATEWAY
from hubgate.http.body import parse_object, read_body
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call, RerankCall
from hubgate.relay.dispatch import relay
from hubgate.relay.rerank import check_channels
from hubgate.storage.keys import KeyRecord


async def _rerank(request: web.Request, shape: rr.Shape) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        req = rr.decode_request(body, shape)
        # The shapes travel in `rerank`; errors render OpenAI-shaped, by path, like every /v1 route.
        call = Call(
            WireFormat.OPENAI_CHAT, Endpoint.RERANK, body, req.model, False, rerank=RerankCall(shape, req)
        )
        route = gw.channels.resolve(req.model)
        if route is not None:
            check_channels(call, route.channels)
        return call

    return await relay(gw, request, "rerank", prepare)


async def rerank_v1(request: web.Request) -> web.StreamResponse:
    return await _rerank(request, rr.Shape.V1)


async def rerank_v2(request: web.Request) -> web.StreamResponse:
    return await _rerank(request, rr.Shape.COHERE_V2)


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """The rerank routes under `prefix` ("" or "/api"); `/rerank` is the bare v1 form."""
    router.add_post(f"{prefix}/v1/rerank", rerank_v1)
    router.add_post(f"{prefix}/rerank", rerank_v1)
    router.add_post(f"{prefix}/v2/rerank", rerank_v2)
