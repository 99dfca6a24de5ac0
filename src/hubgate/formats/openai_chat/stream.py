"""Chat Completions chunk streams <-> hub stream events, one explicit state machine each way."""

from __future__ import annotations

from typing import Any

import orjson

from hubgate.errors import UpstreamHTTPError
from hubgate.formats import hub
from hubgate.formats.errors import openai_error_event
from hubgate.formats.openai_chat._wire import (
    FINISH_TO_WIRE,
    JSON,
    arguments_text,
    block_to_part,
    call_signature,
    chat_id,
    count,
    created_at,
    finish_from_wire,
    read_usage,
    reasoning_text,
    signature_extra,
    text_of,
    write_usage,
)

# Statuses for in-stream errors that carry an OpenAI error type but no numeric code.
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
}

DONE = b"data: [DONE]\n\n"


class StreamDecoder:
    """An OpenAI-format upstream's chunks -> hub events (choice 0; others are ignored).

    Tolerates the dialects of compatible servers: Azure's leading `choices: []`
    content-filter chunk, `reasoning` for `reasoning_content` (vLLM, OpenRouter),
    tool calls without `index`, arguments sent as an object, usage on any chunk.
    """

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._failed = False
        self._calls: dict[Any, int] = {}  # upstream key (index, else id) -> hub index
        self._call_ids: dict[Any, str] = {}
        self._call_count = 0
        self._last_key: Any = None

    def feed(self, event: hub.SSEEvent) -> list[hub.StreamEvent]:
        data = event.data.strip()
        if self._failed or not data or data == "[DONE]":
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            chunk = None
        if event.event == "error" or (isinstance(chunk, dict) and chunk.get("error")):
            return self._fail(*_error_of(chunk if isinstance(chunk, dict) else {"error": data}))
        if not isinstance(chunk, dict):
            return self._fail(502, f"The upstream sent an invalid stream chunk: {data[:200]}")
        choices = chunk.get("choices")
        choice = _first_choice(choices)
        usage = read_usage(chunk.get("usage"))
        if choice is None and usage is None:
            return []  # Azure's prompt-filter chunk, keep-alives
        out: list[hub.StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(_start_of(chunk))
        if choice is not None:
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            reason = choice.get("finish_reason")
            if reason is not None and not self._finished:
                self._finished = True
                stop = choice.get("stop_reason")  # vLLM names the stop string
                out.append(hub.Finish(finish_from_wire(reason), stop if isinstance(stop, str) else None))
        if usage is not None:
            out.append(hub.UsageUpdate(usage))
        return out

    def close(self) -> list[hub.StreamEvent]:
        """The upstream stream ended; a stream that never said why it stopped ends as a stop."""
        if self._failed or self._finished:
            return []
        self._finished = True
        return [hub.Finish(hub.FinishReason.STOP)]

    def _fail(self, status: int, message: str) -> list[hub.StreamEvent]:
        self._failed = True
        return [hub.StreamError(status, message)]

    def _delta(self, delta: JSON, out: list[hub.StreamEvent]) -> None:
        reasoning = reasoning_text(delta)
        if reasoning:
            out.append(hub.ThinkingDelta(reasoning))
        blocks = delta.get("thinking_blocks")
        for part in map(block_to_part, blocks if isinstance(blocks, list) else ()):
            if part is None:
                continue
            # LiteLLM repeats the text in the block: keep it once, from reasoning_content.
            text = "" if reasoning else part.text
            if text or part.signature is not None or part.redacted is not None:
                out.append(hub.ThinkingDelta(text, part.signature, part.redacted))
        for key in ("content", "refusal"):
            if content := text_of(delta.get(key)):
                out.append(hub.TextDelta(content))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                self._tool_call(call, out)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self._tool_call({"index": "function_call", "function": legacy}, out)

    def _tool_call(self, call: JSON, out: list[hub.StreamEvent]) -> None:
        """A new index (or a new id on a reused index) starts a call; the rest are argument fragments."""
        call_id = text_of(call.get("id"))
        index = call.get("index")
        key = index if index is not None else (call_id or self._last_key)
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        is_new = key not in self._calls or (call_id and call_id != self._call_ids.get(key))
        if is_new:
            position = self._call_count
            self._call_count += 1
            self._calls[key] = position
            self._call_ids[key] = call_id
            out.append(
                hub.ToolCallStart(
                    index=position,
                    id=call_id or f"call_{position}",
                    name=text_of(fn.get("name")),
                    signature=call_signature(call),
                )
            )
        self._last_key = key
        arguments = arguments_text(fn.get("arguments"))
        if arguments:
            out.append(hub.ToolCallDelta(self._calls[key], arguments))


def _first_choice(choices: Any) -> JSON | None:
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def _start_of(chunk: JSON) -> hub.Start:
    return hub.Start(
        id=text_of(chunk.get("id")),
        model=text_of(chunk.get("model")),
        created=count(chunk.get("created")),
    )


def _error_of(chunk: JSON) -> tuple[int, str]:
    error = chunk.get("error", chunk)
    if isinstance(error, str):
        return 500, error
    if not isinstance(error, dict):
        return 500, "The upstream reported an error."
    code = error.get("code")
    if isinstance(code, int) and 400 <= code <= 599:
        status = code
    else:
        status = _STATUS_BY_TYPE.get(text_of(error.get("type")), 500)
    return status, text_of(error.get("message")) or orjson.dumps(error).decode()


class StreamEncoder:
    """Hub events -> `chat.completion.chunk` SSE frames, as OpenAI streams them.

    Every frame is written as soon as its event arrives. Usage is the exception: the
    hub allows several updates (the last wins), so the usage chunk goes out at close(),
    after the finish chunk, when the caller asked for it (include_usage) and the
    upstream reported some. After an
    error frame nothing follows but `[DONE]`: the openai SDK raises APIError on the error
    frame and stops reading, and plain SSE readers still see the stream end cleanly.
    """

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool,
        response_id: str | None = None,
        created: int | None = None,
    ) -> None:
        self._model = model
        self._include_usage = include_usage
        self._response_id = response_id
        self._created = created
        self._head = b""  # the chunk's fixed fields, ready to prepend to each delta
        self._finished = False
        self._failed = False
        self._usage: hub.Usage | None = None

    def feed(self, event: hub.StreamEvent) -> bytes:
        if self._failed:
            return b""
        if isinstance(event, hub.Start):
            return self._start(event.id, event.created)
        if isinstance(event, hub.UsageUpdate):
            self._usage = event.usage
            return b""
        if isinstance(event, hub.StreamError):
            self._failed = True
            err = UpstreamHTTPError(event.status, event.message)
            return openai_error_event(event.message, err.openai_type, err.code)
        if isinstance(event, hub.Finish):
            if self._finished:
                return b""
            self._finished = True
            return self._start() + self._chunk({}, FINISH_TO_WIRE[event.reason])
        delta = _delta_of(event)
        return self._start() + self._chunk(delta) if delta else b""

    def close(self) -> bytes:
        if self._failed:
            return DONE
        out = self.feed(hub.Finish(hub.FinishReason.STOP))  # no-op if the stream finished
        if self._include_usage and self._usage is not None:
            usage = orjson.dumps(write_usage(self._usage))
            out += self._head + b'[],"usage":' + usage + b"}\n\n"
        return out + DONE

    def _start(self, upstream_id: str | None = None, created: int = 0) -> bytes:
        """The role chunk, once; later calls return b"" (a stream may start without Start)."""
        if self._head:
            return b""
        head = {
            "id": chat_id(self._response_id or upstream_id),
            "object": "chat.completion.chunk",
            "created": created_at(self._created, created),
            "model": self._model,
            "system_fingerprint": None,
        }
        self._head = b"data: " + orjson.dumps(head)[:-1] + b',"choices":'
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def _chunk(self, delta: JSON, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        tail = b',"usage":null}\n\n' if self._include_usage else b"}\n\n"
        return self._head + b"[" + orjson.dumps(choice) + b"]" + tail


def _delta_of(event: hub.StreamEvent) -> JSON | None:
    """The `delta` object for one content event; None when it carries nothing."""
    if isinstance(event, hub.TextDelta):
        return {"content": event.text} if event.text else None
    if isinstance(event, hub.ThinkingDelta):
        delta: JSON = {}
        if event.text:
            delta["reasoning_content"] = event.text
        if event.redacted is not None:
            delta["thinking_blocks"] = [{"type": "redacted_thinking", "data": event.redacted}]
        elif event.signature is not None:
            delta["thinking_blocks"] = [{"type": "thinking", "thinking": "", "signature": event.signature}]
        return delta or None
    if isinstance(event, hub.ToolCallStart):
        call: JSON = {
            "index": event.index,
            "id": event.id,
            "type": "function",
            "function": {"name": event.name, "arguments": ""},
        }
        if event.signature is not None:
            call["extra_content"] = signature_extra(event.signature)
        return {"tool_calls": [call]}
    if isinstance(event, hub.ToolCallDelta):
        if not event.arguments:
            return None
        return {"tool_calls": [{"index": event.index, "function": {"arguments": event.arguments}}]}
    return None
