"""A Responses body made into a Call: checked, its stored history resolved. Shared by the
Responses route and the chat route (which accepts a Responses body sent to it)."""

from __future__ import annotations

from typing import Any

from hubgate.errors import InvalidRequest
from hubgate.formats import openai_responses as responses_codec
from hubgate.formats.registry import WireFormat
from hubgate.gateway import Gateway
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.storage.keys import KeyRecord


async def responses_call(gw: Gateway, key: KeyRecord, body: dict[str, Any]) -> Call:
    """Check a Responses body and resolve its stored history into a ready Call."""
    info = responses_codec.check_request(body)
    model, stream, options = info.model, info.stream, info.options
    previous_id = options.previous_response_id
    items = responses_codec.input_items(body)
    if previous_id is not None:
        previous = await gw.responses.get(previous_id, key.id)
        if previous is None:
            raise InvalidRequest(
                f"Previous response with id '{previous_id}' not found.", param="previous_response_id"
            )
        items = [*previous.conversation, *items]
    upstream = {k: v for k, v in body.items() if k not in ("previous_response_id", "background")}
    upstream["input"] = items
    upstream["store"] = False
    call = Call(WireFormat.OPENAI_RESPONSES, Endpoint.GENERATE, upstream, model, stream)
    call.encode_extras = {"options": options}
    if options.store:

        async def save(response: dict[str, Any]) -> None:
            response["previous_response_id"] = previous_id
            response["store"] = True
            await gw.responses.save(key_id=key.id, model=model, input_items=items, response=response)

        call.on_complete = save
    return call
