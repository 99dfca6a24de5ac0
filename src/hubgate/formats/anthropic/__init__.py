"""Anthropic Messages API (`POST /v1/messages`) codec: used by Anthropic-SDK callers
reaching any upstream, and by any caller reaching an Anthropic upstream.

    check_request                        `request_check.py` (what the route checks)
    decode_request / encode_request      `request_decode.py` / `request_encode.py`
    decode_response / encode_response    `response.py`
    StreamDecoder / StreamEncoder        `stream.py`
    decode_error                         `response.py`

Mapping decisions (what cannot map one to one, and what was chosen):

- Empty text blocks are dropped on decode (Anthropic rejects them) and never emitted;
  a message left without content is dropped. `cache_control` is accepted and ignored.
- A user message holding tool_result blocks becomes a hub `tool` message, followed by
  a `user` message for its other blocks. On encode, consecutive same-role turns are
  merged (a `tool` message is a user turn) and tool_result blocks lead their turn.
- Thinking parts without a signature are not sent to Anthropic (it rejects them);
  redacted thinking is sent back as `redacted_thinking`. A tool call's own signature
  (Gemini's thoughtSignature) reaches Anthropic callers as a signed, empty thinking
  block just before the tool_use, and comes back as a ThinkingPart before the call
  (where the Gemini codec looks for it); it is not sent to Anthropic upstreams.
- Translation policy (README): the server web search (`web_search_*`) is a hub hosted
  tool, sent to Anthropic upstreams as `web_search_20250305`; other server tools,
  Files-API sources, search results, document `context`, block types added later and
  unknown top-level fields are dropped and named (`hub.Request.dropped`); only
  malformed input is a 400. `system`/`developer` messages inside `messages` (Claude
  Code's system reminders) become hub system messages in place; the encoder appends
  them to `system`.
- `thinking`: enabled -> Reasoning(budget_tokens); adaptive -> Reasoning(effort from
  `output_config.effort`, else none: "model decides"); disabled -> Effort.NONE; types
  added later are dropped and named. Back:
  a budget (or effort via `hub.budget_for`, at least 1024) -> enabled, with max_tokens
  raised above the budget when needed; budget -1 or nothing set -> adaptive;
  Effort.NONE / budget 0 -> disabled. `include_thoughts=False` -> `display: omitted`.
- With thinking on, Anthropic rejects temperature, top_k and a top_p below 0.95: those
  are left out. With a forced tool (`any` / `tool`) it rejects thinking: it is left out.
- temperature is clamped to Anthropic's 0..1 (OpenAI callers may send up to 2): a
  sampling knob is not worth a failed request. seed and the penalties have no
  Anthropic counterpart and are not sent.
- response_format json_schema -> `output_config.format` (structured outputs, Claude
  4.5 and later); json_object has no native form -> an instruction appended to system.
- Usage: hub prompt_tokens = input_tokens + cache reads + cache writes; back,
  input_tokens = prompt - cached - cache writes (never negative).
- Streams: the encoder sends `ping` right after the first content_block_start, as the
  API does, and the single message_delta at the end carries the stop reason and the
  full usage (input and cache counts too, which the current API and SDK merge).

Model-specific limits (Opus 4.7+ refusing temperature or budget_tokens, older models
lacking structured outputs or adaptive thinking) are the provider's business, not the
wire format's.
"""

from .request_check import RequestInfo, check_request
from .request_decode import decode_request
from .request_encode import encode_request
from .response import decode_error, decode_response, encode_response
from .stream import StreamDecoder, StreamEncoder

__all__ = [
    "RequestInfo",
    "StreamDecoder",
    "StreamEncoder",
    "check_request",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]
