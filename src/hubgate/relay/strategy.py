"""Pass through or translate: decided once per attempt (`choose`), then followed by every
step of that attempt (upstream endpoint, body, stream, JSON answer).

Pass-through: the caller's body goes upstream with only the model changed and the
answer's bytes come back as they are (usage read on the way). Translate: the body is
decoded to the hub request and encoded for the upstream, and the answer (a stream,
event by event) is decoded and re-encoded in the caller's format. Embeddings and
rerank map between their own families' shapes (embeddings.py, rerank.py).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from hubgate.errors import BadGateway, InvalidRequest
from hubgate.formats import hub, names, sealed
from hubgate.formats import openai as oa
from hubgate.formats.registry import WireFormat, codec, stream_encoder
from hubgate.providers.base import (
    MEDIA_ENDPOINTS,
    VIDEO_ENDPOINTS,
    Endpoint,
    UpstreamInvalid,
    UpstreamResponse,
)
from hubgate.relay import embeddings, rerank, streaming
from hubgate.relay.call import Attempt, Call, drop_headers, meter, public_name
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.relay")

GENERATING = (Endpoint.CHAT, Endpoint.GENERATE, Endpoint.COMPACT)
PASSED_THROUGH = MEDIA_ENDPOINTS | VIDEO_ENDPOINTS  # OpenAI-format channels only, bodies as they are


class PassThrough:
    """Same format on both sides: forward, rewriting only the model."""

    translated = False

    def endpoint(self, call: Call) -> Endpoint:
        return call.endpoint

    def body(self, call: Call, attempt: Attempt) -> bytes:
        return orjson.dumps(call.forwarded_body(attempt.upstream_model))

    async def stream(
        self,
        request: web.Request,
        call: Call,
        attempt: Attempt,
        resp: UpstreamResponse,
        row: UsageRow,
        started: float,
    ) -> web.StreamResponse:
        if call.fmt is WireFormat.OPENAI_CHAT:
            public = public_name(call, attempt)
            rename = names.stream_rename(call.fmt, public) if public is not None else None
            return await streaming.passthrough_openai(request, call, resp, row, started, rename)
        return await streaming.relay_stream(request, call, attempt, resp, row, started, encoder=None)

    def answer(self, call: Call, attempt: Attempt, obj: dict[str, Any], row: UsageRow) -> dict[str, Any]:
        """The upstream's answer object itself, its usage metered."""
        if call.endpoint is Endpoint.COMPACT:
            meter(row, _responses_usage(obj.get("usage")))
        elif attempt.wire is WireFormat.OPENAI_CHAT:
            meter(row, oa.parse_usage(obj.get("usage")))
            if row.prompt_tokens == row.completion_tokens == 0 and call.endpoint is Endpoint.CHAT:
                call.delivered.add_response(codec(WireFormat.OPENAI_CHAT).decode_response(obj))
        else:
            decoded = codec(attempt.wire).decode_response(obj)
            meter(row, decoded.usage)
            call.delivered.add_response(decoded)
        return obj


class Translate:
    """Different formats: through the hub request and response."""

    translated = True

    def endpoint(self, call: Call) -> Endpoint:
        return Endpoint.GENERATE if call.endpoint in GENERATING else call.endpoint

    def body(self, call: Call, attempt: Attempt) -> bytes:
        req = sealed.restore(call.hub_request(), attempt.wire)
        drops: list[hub.Drop] = []
        body = codec(attempt.wire).encode_request(req, attempt.upstream_model, drops=drops)
        call.dropped, call.dropped_to = (*req.dropped, *drops), attempt.wire
        return orjson.dumps(body)

    async def stream(
        self,
        request: web.Request,
        call: Call,
        attempt: Attempt,
        resp: UpstreamResponse,
        row: UsageRow,
        started: float,
    ) -> web.StreamResponse:
        encoder = stream_encoder(
            call.fmt,
            call.model,
            include_usage=call.include_usage,
            gemini_sse=call.event_stream(),
            **call.encoder_options(),
        )
        return await streaming.relay_stream(request, call, attempt, resp, row, started, encoder=encoder)

    def answer(self, call: Call, attempt: Attempt, obj: dict[str, Any], row: UsageRow) -> dict[str, Any]:
        """The upstream's answer re-encoded in the caller's format, its usage metered."""
        decoded = codec(attempt.wire).decode_response(obj)
        meter(row, decoded.usage)
        call.delivered.add_response(decoded)
        decoded = sealed.seal_response(decoded, attempt.wire, call.fmt)
        if call.answer_override is not None:
            return call.answer_override(decoded)
        return codec(call.fmt).encode_response(decoded, call.model, **call.encoder_options())


Strategy = PassThrough | Translate
PASS_THROUGH = PassThrough()
TRANSLATE = Translate()


def choose(call: Call, wire: WireFormat) -> Strategy:
    """Whether the body can pass through unchanged (but for the model) to this wire."""
    if call.endpoint is Endpoint.EMBEDDINGS:
        same = embeddings.family(wire) == embeddings.family(call.fmt)
    elif call.endpoint is Endpoint.COMPACT:
        same = wire is WireFormat.OPENAI_RESPONSES
    elif call.endpoint in (Endpoint.COMPLETIONS, Endpoint.COUNT_TOKENS) or call.endpoint in PASSED_THROUGH:
        same = True
    else:
        same = wire is call.fmt and (call.event_stream() or not call.stream)
    return PASS_THROUGH if same else TRANSLATE


def upstream_body(call: Call, attempt: Attempt, strategy: Strategy) -> bytes:
    """The request body for this attempt's upstream."""
    call.dropped, call.dropped_to = (), None  # this attempt's, not an earlier channel's
    try:
        if call.endpoint is Endpoint.RERANK:
            return rerank.upstream_body(call, attempt)
        if call.endpoint is Endpoint.EMBEDDINGS:
            return embeddings.upstream_body(call, attempt)
        return strategy.body(call, attempt)
    except orjson.JSONEncodeError as exc:  # orjson writes at most 255 levels (it reads 1024)
        log.info("request body not serializable for upstream: %s", exc)
        raise InvalidRequest(
            "The request body cannot be forwarded: it is nested too deeply or holds a number out of range."
        ) from exc


async def json_back(
    call: Call, attempt: Attempt, strategy: Strategy, resp: UpstreamResponse, row: UsageRow
) -> web.Response:
    """The upstream's JSON answer for the caller. A body that is not valid for the
    upstream's API raises UpstreamInvalid: nothing was sent, so the next channel may try."""
    raw = await resp.read()
    try:
        obj = orjson.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        answer = _answer(call, attempt, strategy, obj, row)
        if answer is not obj:  # translated or reshaped: otherwise the bytes pass as they are
            obj, raw = answer, orjson.dumps(answer)
        elif call.endpoint is not Endpoint.COUNT_TOKENS and (public := public_name(call, attempt)):
            raw = _renamed(call, obj, raw, public)
    except (ValueError, KeyError, TypeError, AttributeError, BadGateway) as exc:
        raise UpstreamInvalid("JSON body") from exc
    call.reached = True
    if call.on_complete is not None:
        await call.on_complete(obj)  # may fill in state fields (Responses' store, previous id)
        raw = orjson.dumps(obj)
    row.status = 200
    return web.Response(body=raw, status=200, content_type="application/json", headers=drop_headers(call))


def _renamed(call: Call, obj: dict[str, Any], raw: bytes, public: str) -> bytes:
    """A passed-through answer naming the caller's model: the field set in `obj` (what a
    Responses caller stores) and rewritten in `raw`, its other bytes untouched."""
    rename = names.answer_rename(call.fmt, public)
    if isinstance(obj.get(rename.field), str):
        obj[rename.field] = public
    return rename.apply(raw)


def _answer(
    call: Call, attempt: Attempt, strategy: Strategy, obj: dict[str, Any], row: UsageRow
) -> dict[str, Any]:
    if call.endpoint is Endpoint.COUNT_TOKENS:
        return obj  # nothing generated, nothing to meter
    if call.endpoint is Endpoint.RERANK:
        return rerank.answer(call, attempt, obj, row)
    if call.endpoint is Endpoint.EMBEDDINGS:
        answer, usage = embeddings.answer(call, attempt, obj)
        meter(row, usage)
        return answer
    return strategy.answer(call, attempt, obj, row)


def _responses_usage(usage: Any) -> hub.Usage | None:
    """A Responses-API usage object (compaction answers are not response objects)."""
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details") or {}
    return hub.Usage(
        prompt_tokens=int(usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )
