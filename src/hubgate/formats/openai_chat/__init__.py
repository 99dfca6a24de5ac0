"""The OpenAI Chat Completions codec: hub <-> `/v1/chat/completions` bodies and streams.

Used both ways: an OpenAI-SDK caller reaching another upstream (decode_request,
encode_response, StreamEncoder) and any caller reaching an OpenAI-format upstream
(encode_request, decode_response, StreamDecoder).

Reasoning travels in the fields OpenAI-compatible servers use, since OpenAI's own
Chat API has none: `reasoning_content` (text) and LiteLLM's `thinking_blocks`
(Anthropic blocks with signatures); Gemini thought signatures on tool calls ride in
`extra_content.google.thought_signature`, Google's own compat convention.
"""

from hubgate.formats.openai_chat.request_decode import (
    HANDLED_FIELDS,
    IGNORED_FIELDS,
    decode_request,
)
from hubgate.formats.openai_chat.request_encode import encode_request
from hubgate.formats.openai_chat.response import decode_error, decode_response, encode_response
from hubgate.formats.openai_chat.stream import StreamDecoder, StreamEncoder

__all__ = [
    "HANDLED_FIELDS",
    "IGNORED_FIELDS",
    "StreamDecoder",
    "StreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]
