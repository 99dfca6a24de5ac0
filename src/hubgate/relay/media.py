"""The OpenAI media family on the relay: moderations, images and audio.

Caller and upstream speak the same API, so nothing is translated: a JSON body goes
upstream with only its model changed, a multipart upload is rebuilt part by part
over the buffers the edge read once (see `http/multipart.py`), and the answer comes
back as it is, with its content type (speech chunk by chunk, as it arrives).

Metering reads what the answer reports, in these units (`billing.charge` prices them):

- images: every `data[]` item is a unit priced at the model's `per_request` (the
  per-image price); a model without one is priced by the `usage` tokens GPT Image
  models report.
- transcriptions and translations: `usage` tokens when reported (a streamed
  transcription, `stream=true`, is relayed event by event as it arrives and reports
  them in its `transcript.text.done` event); otherwise seconds
  (`usage.seconds`, or verbose_json's `duration`), rounded up, each priced at
  `per_request`; otherwise unpriced (cost 0, logged).
- speech: the input's characters are counted as prompt tokens, so `input` in the
  model's price is USD per 1M characters (how OpenAI prices tts-1).
- moderations: nothing (they are free upstream); the row still records the call.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
from aiohttp import web

from hubgate.formats.names import answer_rename
from hubgate.formats.registry import WireFormat
from hubgate.formats.sse import EventSplitter, parse_event
from hubgate.gateway import REQUEST_ID
from hubgate.providers.base import (
    Endpoint,
    FormPart,
    UpstreamConnectError,
    UpstreamInvalid,
    UpstreamReadTimeout,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.relay.call import Attempt, Call, public_name
from hubgate.relay.streaming import Relayed
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.relay")

IMAGES = frozenset({Endpoint.IMAGES_GENERATIONS, Endpoint.IMAGES_EDITS, Endpoint.IMAGES_VARIATIONS})
AUDIO_TEXT = frozenset({Endpoint.AUDIO_TRANSCRIPTIONS, Endpoint.AUDIO_TRANSLATIONS})


@dataclass
class MediaCall(Call):
    """A call whose body is a multipart upload: `body` holds its text fields (for
    reading), `form` every part in the caller's order (for sending)."""

    form: tuple[FormPart, ...] = ()


def upstream_request(call: Call, attempt: Attempt, request: UpstreamRequest) -> UpstreamRequest:
    """The provider's request adjusted for media: no SSE `accept`, and an upload sent
    as multipart with its model part set to the upstream model."""
    dropped = {"accept"} if not isinstance(call, MediaCall) else {"accept", "content-type"}
    headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
    if not isinstance(call, MediaCall):
        return replace(request, headers=headers)
    model = FormPart("model", attempt.upstream_model.encode())
    parts = [model if p.name == "model" else p for p in call.form]
    if not any(p.name == "model" for p in call.form):
        parts.insert(0, model)  # a defaulted model (variations) is named explicitly upstream
    return replace(request, headers=headers, body=b"", form=tuple(parts))


async def answer(
    request: web.Request, call: Call, attempt: Attempt, resp: UpstreamResponse, row: UsageRow, started: float
) -> web.StreamResponse:
    """The upstream's successful answer for the caller, metered; a JSON answer's `model`
    (moderations) names the caller's model. A JSON answer that is not JSON raises
    UpstreamInvalid: nothing was sent, so the next channel may try."""
    content_type = resp.headers.get("content-type", "application/json")
    if call.endpoint is Endpoint.AUDIO_SPEECH:
        return await _stream_back(request, call, resp, row, started)
    if call.endpoint in AUDIO_TEXT and content_type.startswith("text/event-stream"):
        return await _stream_back(request, call, resp, row, started, events=_TranscriptEvents(row))
    raw = await resp.read()
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise UpstreamInvalid("JSON body") from exc
        _meter(call, row, obj)
        public = public_name(call, attempt)
        if public is not None:
            raw = answer_rename(WireFormat.OPENAI_CHAT, public).apply(raw)
    elif call.endpoint in AUDIO_TEXT:  # text, srt, vtt: nothing to meter by
        _unpriced(row)
    call.reached = True
    row.status = 200
    return web.Response(body=raw, status=200, headers={"content-type": content_type})


def _meter(call: Call, row: UsageRow, obj: dict[str, Any]) -> None:
    found = obj.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    if call.endpoint in IMAGES:
        data = obj.get("data")
        row.units = len(data) if isinstance(data, list) else 0
        row.unit = "image" if row.units else None
        _tokens(row, usage)
    elif call.endpoint in AUDIO_TEXT:
        if usage.get("type") == "duration":
            _seconds(row, usage.get("seconds"))
        elif usage:
            _tokens(row, usage)
        else:
            _seconds(row, obj.get("duration"))
        if row.units == 0 and row.prompt_tokens == row.completion_tokens == 0:
            _unpriced(row)


def _tokens(row: UsageRow, usage: dict[str, Any]) -> None:
    """Images and audio report Responses-style usage (input/output tokens)."""
    details = usage.get("input_tokens_details") or usage.get("input_token_details") or {}
    row.prompt_tokens = _int(usage.get("input_tokens"))
    row.completion_tokens = _int(usage.get("output_tokens"))
    row.cached_tokens = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0


def _seconds(row: UsageRow, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        row.units = math.ceil(value)
        row.unit = "second"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _unpriced(row: UsageRow) -> None:
    log.info("request %s: the upstream reported neither usage nor duration; logged at cost 0", row.request_id)


class _TranscriptEvents:
    """Reads a streamed transcription as it passes: `transcript.text.done` carries the usage."""

    def __init__(self, row: UsageRow) -> None:
        self._row = row
        self._splitter = EventSplitter()

    def feed(self, chunk: bytes) -> None:
        for raw in self._splitter.feed(chunk):
            event = parse_event(raw)
            if event is None or '"transcript.text.done"' not in event.data:
                continue
            try:
                obj = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            usage = obj.get("usage") if isinstance(obj, dict) else None
            if isinstance(usage, dict):
                _tokens(self._row, usage)

    def finish(self) -> None:
        if self._row.prompt_tokens == self._row.completion_tokens == 0:
            _unpriced(self._row)


async def _stream_back(
    request: web.Request,
    call: Call,
    resp: UpstreamResponse,
    row: UsageRow,
    started: float,
    events: _TranscriptEvents | None = None,
) -> web.StreamResponse:
    """Speech audio, or a transcription's events, go to the caller chunk by chunk as they
    arrive (`events` reads the transcription's usage on the way). A break before the
    first byte is the relay's to retry; after it, the caller's connection is cut so a
    truncated answer never looks complete."""
    out = web.StreamResponse(
        status=200,
        headers={
            "content-type": resp.headers.get("content-type", "application/octet-stream"),
            "x-request-id": request[REQUEST_ID],
        },
    )
    async with Relayed(resp, row) as relayed:
        try:
            async for chunk in resp.iter_chunks():
                if not out.prepared:
                    await _start(request, call, out, row, started)
                if events is not None:
                    events.feed(chunk)
                await out.write(chunk)
            if not out.prepared:
                await _start(request, call, out, row, started)
            if events is not None:
                events.finish()
            row.status = 200
            relayed.finished()
        except (UpstreamConnectError, UpstreamReadTimeout) as exc:
            if not out.prepared:
                raise
            row.status = 504 if isinstance(exc, UpstreamReadTimeout) else 502
            row.error = f"the upstream {'transcription' if events else 'audio'} stream broke: {exc}"[:500]
            await call.finished()
            if request.transport is not None:
                request.transport.close()
            return out
        await call.finished()  # billed and journaled before the body's end
        await out.write_eof()
    return out


async def _start(
    request: web.Request, call: Call, out: web.StreamResponse, row: UsageRow, started: float
) -> None:
    await out.prepare(request)
    call.reached = True
    row.ttfb_ms = int((time.perf_counter() - started) * 1000)
    if call.endpoint is Endpoint.AUDIO_SPEECH:
        text = call.body.get("input")
        row.prompt_tokens = len(text) if isinstance(text, str) else 0  # characters, see the module doc
        row.units, row.unit = row.prompt_tokens, "character"  # (priced as input; per_request if set)
