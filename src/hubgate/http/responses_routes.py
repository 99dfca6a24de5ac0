"""OpenAI Responses routes. hubgate keeps the conversation state itself, whatever the
upstream speaks: previous_response_id is resolved from our database and the full
input goes upstream with `store: false`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.errors import InvalidRequest, NotFound
from hubgate.formats import openai as oa
from hubgate.formats import openai_responses as responses_codec
from hubgate.formats.openai_responses import compaction
from hubgate.formats.registry import WireFormat
from hubgate.gateway import GATEWAY, Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.http.common import json_response
from hubgate.http.responses_call import responses_call
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.relay.dispatch import authenticate, relay
from hubgate.storage.keys import KeyRecord


async def create(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        if "messages" in body and "input" not in body:  # a Chat body sent to the Responses route
            info = oa.check_chat(body)
            return Call(
                WireFormat.OPENAI_CHAT, Endpoint.CHAT, body, info.model, info.stream, info.include_usage
            )
        return await responses_call(gw, key, body)

    return await relay(gw, request, "responses", prepare)


async def _stored(request: web.Request) -> tuple[Gateway, KeyRecord, str]:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    return gw, key, request.match_info["response_id"]


def _missing(response_id: str) -> NotFound:
    return NotFound(f"No response found with id '{response_id}'.", param="response_id")


async def retrieve(request: web.Request) -> web.Response:
    gw, key, response_id = await _stored(request)
    stored = await gw.responses.get(response_id, key.id)
    if stored is None:
        raise _missing(response_id)
    return json_response(stored.response)


async def delete(request: web.Request) -> web.Response:
    gw, key, response_id = await _stored(request)
    if not await gw.responses.delete(response_id, key.id):
        raise _missing(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


async def cancel(request: web.Request) -> web.Response:
    gw, key, response_id = await _stored(request)
    if await gw.responses.get(response_id, key.id) is None:
        raise _missing(response_id)
    raise InvalidRequest("Only responses created with background=true can be cancelled.")


async def compact(request: web.Request) -> web.StreamResponse:
    """Compact a conversation: natively on a Responses channel, by a model-written
    summary on any other (see formats/openai_responses/compaction.py)."""
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        body = parse_object(await read_body(request, gw.max_body_bytes))
        model = responses_codec.check_model(body)
        responses_codec.check_input_type(body)
        items = responses_codec.input_items(body)
        previous_id = body.get("previous_response_id")
        if previous_id is not None:
            previous = await gw.responses.get(str(previous_id), key.id)
            if previous is None:
                raise InvalidRequest(
                    f"Previous response with id '{previous_id}' not found.", param="previous_response_id"
                )
            items = [*previous.conversation, *items]
        if not items:
            raise InvalidRequest("Nothing to compact: give 'input' or 'previous_response_id'.", param="input")
        upstream: dict[str, Any] = {"model": model, "input": items}
        if isinstance(body.get("instructions"), str):
            upstream["instructions"] = body["instructions"]
        call = Call(WireFormat.OPENAI_RESPONSES, Endpoint.COMPACT, upstream, model, False)
        conversation = responses_codec.decode_request(upstream)
        call.hub_override = compaction.summary_request(conversation)
        call.answer_override = lambda answer: compaction.compacted(answer, items, model)
        return call

    return await relay(gw, request, "compact", prepare)
