"""Gemini `generateContent` / `streamGenerateContent` (generativelanguage v1beta REST).

The codec interface every translating format implements (see `hubgate.formats`):

    check_contents(body)                      what the route checks (same-format traffic too)
    decode_request(body) -> hub.Request       google-genai caller -> hub ("model" injected from the URL)
    encode_request(req, model) -> dict        hub -> a Gemini upstream's body (model goes in the URL)
    decode_response(body) -> hub.Response     a Gemini upstream's answer -> hub
    encode_response(resp, model) -> dict      hub -> a google-genai caller's answer
    StreamDecoder                             a Gemini upstream's `alt=sse` stream -> hub events
    StreamEncoder(model, sse=True)            hub events -> `alt=sse` frames, or the JSON-array stream
    decode_error(status, body) -> str         the message of Gemini's error body

plus `sanitize_schema` (JSON Schema -> Gemini's OpenAPI subset). The mapping
decisions are documented in `request_decode`, `request_encode`, `response` and
`stream`.
"""

from hubgate.formats.gemini.request_decode import check_contents, decode_request
from hubgate.formats.gemini.request_encode import encode_request
from hubgate.formats.gemini.response import decode_error, decode_response, encode_response
from hubgate.formats.gemini.schema import sanitize_schema, to_json_schema
from hubgate.formats.gemini.stream import StreamDecoder, StreamEncoder

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "check_contents",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "sanitize_schema",
    "to_json_schema",
]
