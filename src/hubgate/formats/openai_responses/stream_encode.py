"""Hub stream events -> the caller's Responses API server-sent events: the full
sequence the OpenAI SDK expects, each frame with a monotonically increasing
`sequence_number`, and the final response object kept for the relay."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from hubgate.formats import hub, policy
from hubgate.formats.openai_responses._common import (
    INCOMPLETE_REASONS,
    JSON,
    REDACTED_PREFIX,
    error_code_for,
    item_id,
    new_response_id,
    status_for,
)
from hubgate.formats.openai_responses.options import ResponsesOptions
from hubgate.formats.openai_responses.response import (
    function_call_item,
    message_item,
    output_text,
    reasoning_item,
    response_object,
)
from hubgate.formats.openai_responses.tools import custom_input

__all__ = ["StreamEncoder"]


@dataclass(slots=True)
class _Item:
    """An output item being streamed."""

    kind: str  # message | reasoning | function_call | custom_tool_call
    output_index: int
    id: str
    text: str = ""  # message text, reasoning summary, or call arguments
    summary_open: bool = False
    encrypted: str | None = None
    call: hub.ToolCallStart | None = None
    done: bool = False
    final: JSON = field(default_factory=dict)


class StreamEncoder:
    """Hub stream events -> the caller's Responses SSE frames, emitted as input arrives.

    `final_response` holds the terminal response object (completed, incomplete or
    failed) once `close()` or a StreamError produced it, for the relay to store.
    """

    def __init__(
        self,
        model: str,
        *,
        response_id: str | None = None,
        created: int | None = None,
        options: ResponsesOptions | None = None,
        request: hub.Request | None = None,
    ) -> None:
        self._model = model
        self._id = response_id
        self._created = created
        self._options = options
        self._request = request
        self._seq = 0
        self._started = False
        self._ended = False
        self._items: list[_Item] = []
        self._current: _Item | None = None  # the open message or reasoning item
        self._calls: dict[int, _Item] = {}  # function-call items by hub index
        self._open_calls: list[_Item] = []
        self._finish: hub.Finish | None = None
        self._usage: hub.Usage | None = None
        self.final_response: dict[str, Any] | None = None

    # -- public ----------------------------------------------------------------------------------

    def feed(self, event: hub.StreamEvent) -> bytes:
        if self._ended:
            return b""
        frames: list[bytes] = []
        if isinstance(event, hub.Start):
            self._start(frames, event)
            return b"".join(frames)
        if not self._started:
            self._start(frames, None)
        if isinstance(event, hub.TextDelta):
            self._text(frames, event.text)
        elif isinstance(event, hub.ThinkingDelta):
            self._thinking(frames, event)
        elif isinstance(event, hub.ToolCallStart):
            self._close_current(frames)
            self._open_call(frames, event)
        elif isinstance(event, hub.ToolCallDelta):
            self._arguments(frames, event)
        elif isinstance(event, hub.Finish):
            self._finish = event
            self._close_all(
                frames,
                cut=event.reason is not hub.FinishReason.STOP
                and event.reason is not hub.FinishReason.TOOL_CALLS,
            )
        elif isinstance(event, hub.UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, hub.StreamError):
            self._close_all(None, cut=True)  # the API sends no done events for a failed stream
            error = {"code": error_code_for(event.status), "message": event.message}
            self._end(frames, "failed", error=error)
        return b"".join(frames)

    def close(self) -> bytes:
        if self._ended:
            return b""
        frames: list[bytes] = []
        if not self._started:
            self._start(frames, None)
        if self._finish is None:
            self._close_all(None, cut=True)
            error = {"code": "server_error", "message": "The stream ended before the response was complete."}
            self._end(frames, "failed", error=error)
            return b"".join(frames)
        self._close_all(frames)
        reason = self._finish.reason
        if reason is hub.FinishReason.ERROR:
            error = {"code": "server_error", "message": "The model failed to generate a response."}
            self._end(frames, "failed", error=error)
        else:
            self._end(frames, status_for(reason), INCOMPLETE_REASONS.get(reason))
        return b"".join(frames)

    # -- framing ---------------------------------------------------------------------------------

    def _emit(self, frames: list[bytes] | None, kind: str, **fields: Any) -> None:
        """Append one frame; with `frames` None only the item state is updated."""
        if frames is None:
            return
        payload = {"type": kind, **fields, "sequence_number": self._seq}
        self._seq += 1
        frames.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")

    def _response(self, status: str, **extra: Any) -> JSON:
        assert self._id is not None and self._created is not None
        output = [item.final for item in self._items if item.done] if status != "in_progress" else []
        return response_object(
            response_id=self._id,
            model=self._model,
            created=self._created,
            status=status,
            output=output,
            usage=(self._usage or hub.Usage()) if status != "in_progress" else None,
            options=self._options,
            request=self._request,
            **extra,
        )

    def _start(self, frames: list[bytes], start: hub.Start | None) -> None:
        if self._started:
            return
        self._started = True
        self._id = self._id or new_response_id(start.id if start else None)
        self._created = self._created or (start.created if start else 0) or int(time.time())
        self._emit(frames, "response.created", response=self._response("in_progress"))
        self._emit(frames, "response.in_progress", response=self._response("in_progress"))

    def _end(
        self, frames: list[bytes], status: str, incomplete: str | None = None, error: JSON | None = None
    ) -> None:
        self._ended = True
        final = self._response(status, incomplete_reason=incomplete, error=error)
        self.final_response = final
        self._emit(frames, f"response.{status}", response=final)

    # -- items -----------------------------------------------------------------------------------

    def _new_item(self, kind: str, prefix: str) -> _Item:
        assert self._id is not None
        index = len(self._items)
        item = _Item(kind=kind, output_index=index, id=item_id(prefix, self._id, index))
        self._items.append(item)
        return item

    def _added(self, frames: list[bytes], item: _Item, shape: JSON) -> None:
        self._emit(frames, "response.output_item.added", output_index=item.output_index, item=shape)

    def _text(self, frames: list[bytes], text: str) -> None:
        if not text:
            return
        item = self._current
        if item is None or item.kind != "message":
            self._close_current(frames)
            self._close_calls(frames)
            item = self._current = self._new_item("message", "msg")
            self._added(frames, item, message_item(item.id, [], status="in_progress"))
            self._emit(frames, "response.content_part.added", **self._at(item), part=output_text(""))
        item.text += text
        self._emit(frames, "response.output_text.delta", **self._at(item), delta=text, logprobs=[])

    def _thinking(self, frames: list[bytes], event: hub.ThinkingDelta) -> None:
        if event.redacted is not None:
            item = self._open_reasoning(frames, fresh=True)
            item.encrypted = REDACTED_PREFIX + event.redacted
            self._close_current(frames)
        if event.text:
            item = self._open_reasoning(frames, fresh=False)
            if not item.summary_open:
                item.summary_open = True
                part = {"type": "summary_text", "text": ""}
                self._emit(
                    frames, "response.reasoning_summary_part.added", **self._summary_at(item), part=part
                )
            item.text += event.text
            self._emit(
                frames, "response.reasoning_summary_text.delta", **self._summary_at(item), delta=event.text
            )
        if event.signature is not None:
            self._open_reasoning(frames, fresh=False).encrypted = event.signature

    def _open_reasoning(self, frames: list[bytes], *, fresh: bool) -> _Item:
        """The open reasoning item, or a new one. A block that already has its
        signature is complete: more thinking starts a new item."""
        item = self._current
        if fresh or item is None or item.kind != "reasoning" or item.encrypted is not None:
            self._close_current(frames)
            self._close_calls(frames)
            item = self._current = self._new_item("reasoning", "rs")
            self._added(frames, item, reasoning_item(item.id, "", None))
        return item

    def _open_call(self, frames: list[bytes], event: hub.ToolCallStart) -> None:
        if event.signature is not None:  # the call's signature, as a reasoning item before it
            item = self._current = self._new_item("reasoning", "rs")
            item.encrypted = event.signature
            self._added(frames, item, reasoning_item(item.id, "", None))
            self._close_current(frames)
        tool = policy.tool_named(self._request, event.name)
        custom = tool is not None and tool.custom
        item = self._new_item("custom_tool_call" if custom else "function_call", "ctc" if custom else "fc")
        item.call = event
        self._calls[event.index] = item
        self._open_calls.append(item)
        self._added(frames, item, self._call_shape(item, "in_progress"))

    def _arguments(self, frames: list[bytes], event: hub.ToolCallDelta) -> None:
        item = self._calls.get(event.index)
        if item is None or not event.arguments:
            return
        item.text += event.arguments
        if item.done:  # a late fragment: keep the stored call whole
            item.final = self._call_shape(item, "completed")
        if item.kind == "custom_tool_call":
            return  # its input is the decoded `input` field: sent whole when the call closes
        self._emit(
            frames,
            "response.function_call_arguments.delta",
            item_id=item.id,
            output_index=item.output_index,
            delta=event.arguments,
        )

    def _call_shape(self, item: _Item, status: str) -> JSON:
        assert item.call is not None
        start = item.call
        call = hub.ToolCallPart(start.id, start.name, item.text, signature=start.signature)
        return function_call_item(item.id, call, status=status, request=self._request)

    @staticmethod
    def _at(item: _Item) -> JSON:
        return {"item_id": item.id, "output_index": item.output_index, "content_index": 0}

    @staticmethod
    def _summary_at(item: _Item) -> JSON:
        return {"item_id": item.id, "output_index": item.output_index, "summary_index": 0}

    # -- closing ---------------------------------------------------------------------------------

    def _close_all(self, frames: list[bytes] | None, *, cut: bool = False) -> None:
        """Close every open item; `cut` marks them `incomplete` (the answer stopped early)."""
        self._close_current(frames, cut=cut)
        self._close_calls(frames, cut=cut)

    def _close_current(self, frames: list[bytes] | None, *, cut: bool = False) -> None:
        item, self._current = self._current, None
        if item is None:
            return
        if item.kind == "message":
            at = self._at(item)
            self._emit(frames, "response.output_text.done", **at, text=item.text, logprobs=[])
            self._emit(frames, "response.content_part.done", **at, part=output_text(item.text))
            item.final = message_item(item.id, [item.text], "incomplete" if cut else "completed")
        else:
            if item.summary_open:
                at = self._summary_at(item)
                self._emit(frames, "response.reasoning_summary_text.done", **at, text=item.text)
                part = {"type": "summary_text", "text": item.text}
                self._emit(frames, "response.reasoning_summary_part.done", **at, part=part)
            item.final = reasoning_item(item.id, item.text, item.encrypted)
        self._done(frames, item)

    def _close_calls(self, frames: list[bytes] | None, *, cut: bool = False) -> None:
        for item in self._open_calls:
            at = {"item_id": item.id, "output_index": item.output_index}
            if item.kind == "custom_tool_call":
                text = custom_input(item.text)
                self._emit(frames, "response.custom_tool_call_input.delta", **at, delta=text)
                self._emit(frames, "response.custom_tool_call_input.done", **at, input=text)
            else:
                self._emit(frames, "response.function_call_arguments.done", **at, arguments=item.text)
            item.final = self._call_shape(item, "incomplete" if cut else "completed")
            self._done(frames, item)
        self._open_calls.clear()

    def _done(self, frames: list[bytes] | None, item: _Item) -> None:
        item.done = True
        self._emit(frames, "response.output_item.done", output_index=item.output_index, item=item.final)
