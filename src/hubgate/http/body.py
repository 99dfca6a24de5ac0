"""Reading request bodies within the size limit, and parsing them as JSON objects."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from hubgate.errors import InvalidRequest, PayloadTooLarge


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
    return data
