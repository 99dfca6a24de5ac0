"""The OpenAI Responses API (`POST /v1/responses`) as a hub codec.

Both directions: OpenAI-SDK callers of `client.responses.create(...)` reaching any
upstream (`decode_request`, `encode_response`, `StreamEncoder`), and any caller
reaching an upstream that speaks the Responses API (`encode_request`,
`decode_response`, `StreamDecoder`). Pure code, no I/O.

Mapping in brief:
- input items -> hub messages: reasoning, assistant text and function calls of one
  turn form one assistant message; consecutive function_call_output items one tool
  message; `instructions` and system/developer messages -> `Request.system`.
- reasoning items <-> ThinkingPart: summary text <-> text, `encrypted_content` <->
  signature (Anthropic redacted thinking travels as `encrypted_content` with a
  `hubgate.redacted_thinking:` prefix). A tool call's own signature (Gemini's, on
  its functionCall) also goes out as a reasoning item just before the call, its only
  slot that callers such as Codex send back (`extra_content` on the call is not);
  `sealed.restore` puts it back on the call.
- the state fields (store, previous_response_id, metadata, ...) are not hub fields:
  `request_options(body)` reads them for the relay, which keeps conversations itself
  and sends upstreams `store: false`.
- tools: see `tools.py` (namespace tools flattened and named back, custom tools as
  one-input functions, web search hosted, other hosted tools dropped and named). File
  ids, item references, hosted-tool items, unknown parts and fields, and OpenAI's own
  encrypted reasoning are dropped and named (`hub.Request.dropped`); conversations and
  prompt templates are refused with a 400 naming the field.

Modules: `options` (state fields), `request` (`check_request`: what the route checks;
caller body -> hub), `request_encode`
(hub -> upstream body), `response` (response objects both ways, errors),
`stream_decode` / `stream_encode` (server-sent events both ways).
"""

from hubgate.formats.openai_responses.options import ResponsesOptions, input_items, request_options
from hubgate.formats.openai_responses.request import (
    RequestInfo,
    check_input_type,
    check_model,
    check_request,
    decode_request,
)
from hubgate.formats.openai_responses.request_encode import encode_request
from hubgate.formats.openai_responses.response import decode_error, decode_response, encode_response
from hubgate.formats.openai_responses.stream_decode import StreamDecoder
from hubgate.formats.openai_responses.stream_encode import StreamEncoder

__all__ = [
    "RequestInfo",
    "ResponsesOptions",
    "StreamDecoder",
    "StreamEncoder",
    "check_input_type",
    "check_model",
    "check_request",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "input_items",
    "request_options",
]
