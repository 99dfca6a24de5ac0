"""`streamGenerateContent` <-> hub stream events.

Gemini streams whole GenerateContentResponse objects: with `?alt=sse` one per
`data:` event (frames end in CRLF CRLF), without it as one JSON array written out
piece by piece (`[`, chunks separated by `,\\r\\n`, `]`). There is no terminator
event: the chunk carrying `finishReason` is the last one. `usageMetadata` is
cumulative, so the last one wins. functionCall parts always arrive whole.

A mid-stream failure is a chunk `{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from hubgate.errors import BadGateway
from hubgate.formats import hub
from hubgate.formats.errors import gemini_error_chunk, grpc_status
from hubgate.formats.gemini.response import (
    candidate,
    decode_call,
    encode_call,
    new_response_id,
    signature_part,
)
from hubgate.formats.gemini.wire import (
    JSON,
    finish_from_gemini,
    finish_to_gemini,
    get,
    strip_models_prefix,
    usage_from_gemini,
    usage_to_gemini,
)

# =================================================================== decoder


class StreamDecoder:
    """A Gemini upstream's `alt=sse` stream -> hub events.

    Start comes with the first chunk; text parts are TextDeltas, `thought` parts
    ThinkingDeltas (with their signature), a signature on a text part a signature-only
    ThinkingDelta before it; each functionCall is a ToolCallStart (carrying its
    signature) and one ToolCallDelta with all of its arguments. Finish follows the
    first finishReason, UsageUpdate the latest usageMetadata. A stream that ends
    without a finishReason ends with a StreamError (Gemini always sends one).
    """

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._failed = False
        self._calls = 0
        self._usage: hub.Usage | None = None
        self._usage_sent: hub.Usage | None = None

    def feed(self, event: hub.SSEEvent) -> list[hub.StreamEvent]:
        if self._failed or not event.data.strip():
            return []
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return self._fail(502, "Gemini sent a stream chunk that is not JSON.")
        chunks = chunk if isinstance(chunk, list) else [chunk]
        events: list[hub.StreamEvent] = []
        for item in chunks:
            try:
                events.extend(self._chunk(item))
            except BadGateway as exc:  # e.g. a functionCall without a name
                events.extend(self._fail(502, exc.message))
            if self._failed:
                break
        return events

    def close(self) -> list[hub.StreamEvent]:
        if self._failed:
            return []
        events: list[hub.StreamEvent] = []
        if self._usage is not None and self._usage != self._usage_sent:
            events.append(hub.UsageUpdate(self._usage))
            self._usage_sent = self._usage
        if not self._finished:
            events.extend(self._fail(502, "The Gemini stream ended before a finishReason."))
        return events

    def _fail(self, status: int, message: str) -> list[hub.StreamEvent]:
        self._failed = True
        return [hub.StreamError(status, message)]

    def _chunk(self, chunk: object) -> list[hub.StreamEvent]:
        if not isinstance(chunk, dict):
            return self._fail(502, "Gemini sent a stream chunk that is not an object.")
        error = chunk.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            status = code if isinstance(code, int) and not isinstance(code, bool) else 500
            return self._fail(status, str(error.get("message") or "Gemini stream failed."))
        events: list[hub.StreamEvent] = []
        if not self._started:
            self._started = True
            rid, model = get(chunk, "responseId"), get(chunk, "modelVersion")
            events.append(
                hub.Start(
                    id=rid if isinstance(rid, str) and rid else new_response_id(),
                    model=strip_models_prefix(model) if isinstance(model, str) else "",
                )
            )
        candidates = get(chunk, "candidates")
        first = candidates[0] if isinstance(candidates, list) and candidates else None
        if isinstance(first, dict):
            content = get(first, "content")
            parts = get(content, "parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict):
                    events.extend(self._part(part))
            reason = get(first, "finishReason")
            if isinstance(reason, str) and not self._finished:
                self._finished = True
                events.append(hub.Finish(finish_from_gemini(reason, called_tools=self._calls > 0)))
        elif not candidates and not self._finished:
            feedback = get(chunk, "promptFeedback")
            if isinstance(feedback, dict) and get(feedback, "blockReason") is not None:
                self._finished = True
                events.append(hub.Finish(hub.FinishReason.CONTENT_FILTER))
        meta = get(chunk, "usageMetadata")
        if isinstance(meta, dict):
            self._usage = usage_from_gemini(meta)
            if self._finished and self._usage != self._usage_sent:
                events.append(hub.UsageUpdate(self._usage))
                self._usage_sent = self._usage
        return events

    def _part(self, part: JSON) -> list[hub.StreamEvent]:
        signature = get(part, "thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else None
        text = get(part, "text")
        call = get(part, "functionCall")
        if isinstance(call, dict):
            decoded = decode_call(call, signature)
            index, self._calls = self._calls, self._calls + 1
            return [
                hub.ToolCallStart(index, decoded.id, decoded.name, decoded.signature),
                hub.ToolCallDelta(index, decoded.arguments),
            ]
        if get(part, "thought") is True:
            text = text if isinstance(text, str) else ""
            return [hub.ThinkingDelta(text, signature)] if text or signature else []
        if not isinstance(text, str):
            kinds = ", ".join(sorted(part)) or "nothing"
            return self._fail(502, f"Gemini streamed a part hubgate cannot translate ({kinds}).")
        events: list[hub.StreamEvent] = []
        if signature is not None:
            events.append(hub.ThinkingDelta("", signature))
        if text:
            events.append(hub.TextDelta(text))
        return events


# =================================================================== encoder


@dataclass
class _PendingCall:
    index: int
    id: str
    name: str
    signature: str | None
    fragments: list[str] = field(default_factory=list)


class StreamEncoder:
    """hub events -> a google-genai caller's stream.

    `sse=True` writes `data: {GenerateContentResponse}\\r\\n\\r\\n` frames (what
    `?alt=sse` returns); `sse=False` writes the JSON array the endpoint returns
    without it. Text and thinking deltas go out as they come, one chunk each; a tool
    call is held until it is complete (the next ToolCallStart, Finish or close), as
    Gemini sends calls whole. The last chunk carries the finishReason, the
    usageMetadata and any calls finished by Finish. `created` is accepted for
    symmetry with the other encoders; Gemini chunks carry no timestamp.
    """

    def __init__(
        self,
        model: str,
        *,
        sse: bool = True,
        response_id: str | None = None,
        created: int | None = None,
    ) -> None:
        del created
        self._model = model
        self._sse = sse
        self._id = response_id
        self._opened = False  # JSON-array form: "[" written
        self._ended = False  # an error chunk or the final chunk was written
        self._closed = False
        self._call: _PendingCall | None = None
        self._tail: list[JSON] = []
        self._finish: str | None = None
        self._usage: hub.Usage | None = None

    def feed(self, event: hub.StreamEvent) -> bytes:
        if self._ended:
            return b""
        try:
            return self._feed(event)
        except BadGateway as exc:  # a buffered call's arguments were not a JSON object
            return self._error(502, exc.message)

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        out = b""
        if not self._ended:
            try:
                self._tail.extend(self._take_call())
                if self._tail or self._finish is not None or self._usage is not None:
                    out += self._chunk(self._tail or [{"text": ""}], finish=self._finish, final=True)
                self._ended = True
            except BadGateway as exc:
                out += self._error(502, exc.message)
        if not self._sse:
            out += b"]" if self._opened else b"[]"
        return out

    # -- helpers -------------------------------------------------------------------

    def _feed(self, event: hub.StreamEvent) -> bytes:
        if isinstance(event, hub.Start):
            if self._id is None:
                self._id = event.id
            return b""
        if isinstance(event, hub.TextDelta):
            return self._flush_call() + (self._chunk([{"text": event.text}]) if event.text else b"")
        if isinstance(event, hub.ThinkingDelta):
            return self._flush_call() + self._thinking(event)
        if isinstance(event, hub.ToolCallStart):
            out = self._flush_call()
            self._call = _PendingCall(event.index, event.id, event.name, event.signature)
            return out
        if isinstance(event, hub.ToolCallDelta):
            if self._call is not None and self._call.index == event.index:
                self._call.fragments.append(event.arguments)
            return b""
        if isinstance(event, hub.Finish):
            self._tail.extend(self._take_call())
            self._finish = finish_to_gemini(event.reason)
            return b""
        if isinstance(event, hub.UsageUpdate):
            self._usage = event.usage
            return b""
        return self._error(event.status, event.message)

    def _thinking(self, event: hub.ThinkingDelta) -> bytes:
        if event.text:
            part: JSON = {"text": event.text, "thought": True}
            if event.signature is not None:
                part["thoughtSignature"] = event.signature
            return self._chunk([part])
        if event.signature is not None:
            return self._chunk([signature_part(event.signature)])
        return b""  # Anthropic redacted thinking has no Gemini form

    def _take_call(self) -> list[JSON]:
        call, self._call = self._call, None
        if call is None:
            return []
        return [encode_call(call.id, call.name, "".join(call.fragments), call.signature)]

    def _flush_call(self) -> bytes:
        parts = self._take_call()
        return self._chunk(parts) if parts else b""

    def _chunk(self, parts: list[JSON], *, finish: str | None = None, final: bool = False) -> bytes:
        body: JSON = {"candidates": [candidate(parts, finish)]}
        if final and self._usage is not None:
            body["usageMetadata"] = usage_to_gemini(self._usage)
        body["modelVersion"] = self._model
        body["responseId"] = self._response_id()
        return self._frame(body)

    def _error(self, code: int, message: str) -> bytes:
        self._call = None  # a call cut short by the failure is not sent
        self._ended = True
        return self._frame(gemini_error_chunk(code, message, grpc_status(code)))

    def _response_id(self) -> str:
        if self._id is None:
            self._id = new_response_id()
        return self._id

    def _frame(self, body: JSON) -> bytes:
        data = orjson.dumps(body)
        if self._sse:
            return b"data: " + data + b"\r\n\r\n"
        if self._opened:
            return b",\r\n" + data
        self._opened = True
        return b"[" + data
