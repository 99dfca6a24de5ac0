"""Reading request bodies within the size limit, and parsing them as JSON objects."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from hubgate.errors import InvalidRequest, PayloadTooLarge

# How deep a body may nest arrays and objects. orjson writes no deeper than 255 levels (it
# reads 1024), and the gateway writes a caller's values back a few levels down (a translated
# request, a Responses answer echoing its request), so deeper bodies could be read but not
# forwarded or answered. Real requests nest a few dozen levels at most.
MAX_DEPTH = 200


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is larger than the {limit // (1024 * 1024)} MB limit.")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused as soon as it passes `limit` bytes (never buffered past it)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            raise _too_large(limit)
    return bytes(buf)


def parse_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    # Only a body with that many brackets can nest that deep: the walk is for those alone.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise InvalidRequest(f"The request body nests arrays and objects more than {MAX_DEPTH} levels deep.")
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether `data` nests containers more than `limit` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False
