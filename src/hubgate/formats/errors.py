"""Each caller family's error shapes, in one place: the JSON body of an error answer
(`error_body`, used by the HTTP edge) and the error event that ends a stream already
under way (`stream_error_frame` for the relay; the `*_error_event` pieces for the
codecs' stream encoders). `hubgate.errors` holds the error tree; this module renders it.

    family      JSON body                                   in a stream
    OpenAI      {"error": {message, type, param, code}}     data: {"error": {...}}
    Anthropic   {"type": "error", "error": {type, message}}  event: error + the same body
    Gemini      {"error": {code, message, status}}          a chunk of the same shape
    Responses   OpenAI's body                               event: error {type, code, message, param}
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson

from hubgate.errors import GatewayError
from hubgate.formats.registry import WireFormat


class Family(Enum):
    """The API family a caller speaks; decides the error shape."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# Gemini's `status` beside an HTTP code, as the gateway's own error answers give it ...
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# ... and as Gemini's own gRPC mapping gives it for an upstream error relayed in a translated
# stream (they differ at 402, 413 and 502; kept apart so that neither answer changes).
GRPC_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def anthropic_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "api_error")


def grpc_status(code: int) -> str:
    """The `status` string Gemini pairs with an HTTP code."""
    return GRPC_STATUS.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION")


def _anthropic(etype: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message}}


def error_body(err: GatewayError, family: Family) -> bytes:
    """An error answer's body in the caller's API family."""
    body: dict[str, Any]
    if family is Family.ANTHROPIC:
        body = _anthropic(anthropic_type(err.status), err.message)
    elif family is Family.GEMINI:
        status = _GEMINI_STATUS.get(err.status, "INTERNAL" if err.status >= 500 else "FAILED_PRECONDITION")
        body = {"error": {"code": err.status, "message": err.message, "status": status}}
    else:
        body = {
            "error": {"message": err.message, "type": err.openai_type, "param": err.param, "code": err.code}
        }
    return orjson.dumps(body)


def openai_error_event(message: str, etype: str = "upstream_error", code: str | None = None) -> bytes:
    """An error inside an OpenAI Chat stream (the SDK raises APIError on it)."""
    payload = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def anthropic_error_event(message: str, etype: str) -> bytes:
    """An `error` event inside an Anthropic Messages stream."""
    return b"event: error\ndata: " + orjson.dumps(_anthropic(etype, message)) + b"\n\n"


def gemini_error_chunk(code: int, message: str, status: str) -> dict[str, Any]:
    """The chunk that ends a Gemini stream in error (framed by the caller: SSE or JSON array)."""
    return {"error": {"code": code, "message": message, "status": status}}


def stream_error_frame(fmt: WireFormat, status: int, message: str) -> bytes:
    """An error delivered inside an already-started stream, in the caller's format: the
    relay's answer when the upstream stream breaks or turns invalid after bytes went out."""
    if fmt is WireFormat.ANTHROPIC:
        return anthropic_error_event(message, "api_error")
    if fmt is WireFormat.GEMINI:
        chunk = gemini_error_chunk(status, message, "DEADLINE_EXCEEDED" if status == 504 else "UNAVAILABLE")
        return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"
    if fmt is WireFormat.OPENAI_RESPONSES:
        payload = {"type": "error", "code": "upstream_error", "message": message, "param": None}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
    return openai_error_event(message)
