"""Reading multipart/form-data uploads within the size limit.

The parts are read in order with aiohttp's streaming reader, chunk by chunk, each
into one buffer that is later handed, uncopied, to the upstream's multipart writer
(`providers/http.py`). So an upload is held in memory once, and only up to
`max_body_mb`: the reader refuses it with 413 as soon as it passes the limit. It is
buffered rather than piped straight upstream because the relay may have to send it
again, to the next channel, when the first one fails before answering.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, hdrs, web

from hubgate.errors import InvalidRequest, PayloadTooLarge
from hubgate.providers.base import FormPart

_CHUNK = 64 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is larger than the {limit // (1024 * 1024)} MB limit.")


async def read_form(request: web.Request, limit: int) -> list[FormPart]:
    """Every part of the body in the caller's order; 413 once the parts pass `limit` bytes."""
    if request.content_type != "multipart/form-data":
        raise InvalidRequest(
            f"This endpoint expects a multipart/form-data body, not '{request.content_type}'."
        )
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    parts: list[FormPart] = []
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InvalidRequest("Nested multipart bodies are not supported.")
            if not part.name:
                raise InvalidRequest("Every part of a multipart body needs a name (Content-Disposition).")
            buf = bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _too_large(limit)
                buf += chunk
            parts.append(FormPart(part.name, buf, part.filename, part.headers.get(hdrs.CONTENT_TYPE)))
    except (ValueError, AssertionError, RuntimeError) as exc:  # aiohttp's words for a malformed body
        raise InvalidRequest(f"The multipart body could not be read: {exc}") from exc
    return parts


def text_fields(parts: list[FormPart]) -> dict[str, str]:
    """The small parts that are not files, decoded (the last wins when a name repeats)."""
    return {
        p.name: bytes(p.value).decode("utf-8", "replace")
        for p in parts
        if p.filename is None and len(p.value) <= _CHUNK
    }
