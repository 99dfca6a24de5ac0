"""What the gateway checks of a caller's Messages body before it goes anywhere: the fields
it relies on (model, messages, max_tokens, stream). Same-format traffic is forwarded as it
came, so the route calls this; `decode_request` calls it too, so the rules live once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubgate.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class RequestInfo:
    model: str
    stream: bool


def check_request(body: dict[str, Any], *, need_max_tokens: bool = True) -> RequestInfo:
    """Raise InvalidRequest naming the field (Anthropic's `field: why` message); a
    count_tokens body has no max_tokens (`need_max_tokens=False`)."""
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
    return RequestInfo(model, stream)
