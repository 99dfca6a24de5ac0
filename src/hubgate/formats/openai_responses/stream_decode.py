"""An upstream's Responses API server-sent events -> hub stream events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hubgate.formats import hub
from hubgate.formats.openai_responses._common import (
    JSON,
    REDACTED_PREFIX,
    call_signature,
    decode_usage,
    finish_for,
    reasoning_text,
    status_for_error_code,
)

__all__ = ["StreamDecoder"]


@dataclass(slots=True)
class _Call:
    index: int  # among function calls, as the hub counts them
    arguments: str = ""


class StreamDecoder:
    """Upstream Responses events -> hub stream events."""

    def __init__(self) -> None:
        self._started = False
        self._done = False
        self._calls: dict[int, _Call] = {}  # by output_index
        self._call_ids: dict[str, int] = {}  # item id -> output_index
        self._seen: set[int] = set()  # output indexes of items already handled
        self._text_items: set[int] = set()  # message items whose text was streamed
        self._thinking_items: set[int] = set()  # reasoning items whose text was streamed

    def feed(self, event: hub.SSEEvent) -> list[hub.StreamEvent]:
        if self._done:
            return []
        data = event.data.strip()
        if not data or data == "[DONE]":
            return []
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            self._done = True
            return [hub.StreamError(502, "The upstream sent an event that is not a JSON object.")]
        kind = payload.get("type") or event.event
        out: list[hub.StreamEvent] = []
        if not self._started and kind != "error":
            self._start(payload.get("response"), out)
        handler = self._HANDLERS.get(str(kind))
        if handler is not None:
            handler(self, payload, out)
        return out

    def close(self) -> list[hub.StreamEvent]:
        if self._done:
            return []
        self._done = True
        return [hub.StreamError(502, "The upstream stream ended before the response was complete.")]

    # -- handlers --------------------------------------------------------------------------------

    def _start(self, response: Any, out: list[hub.StreamEvent]) -> None:
        self._started = True
        response = response if isinstance(response, dict) else {}
        created = response.get("created_at")
        out.append(
            hub.Start(
                id=str(response.get("id") or ""),
                model=str(response.get("model") or ""),
                created=int(created) if isinstance(created, int | float) else 0,
            )
        )

    def _item_added(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        item, index = payload.get("item"), payload.get("output_index")
        if not isinstance(item, dict) or not isinstance(index, int):
            return
        self._seen.add(index)
        if item.get("type") == "function_call":
            self._open_call(index, item, out)

    def _open_call(self, index: int, item: JSON, out: list[hub.StreamEvent]) -> _Call:
        call = self._calls[index] = _Call(index=len(self._calls))
        if isinstance(item.get("id"), str):
            self._call_ids[item["id"]] = index
        call_id, name = str(item.get("call_id") or ""), str(item.get("name") or "")
        out.append(hub.ToolCallStart(call.index, call_id, name, signature=call_signature(item)))
        self._catch_up(call, item.get("arguments"), out)
        return call

    def _catch_up(self, call: _Call, arguments: Any, out: list[hub.StreamEvent]) -> None:
        """Emit whatever part of the full `arguments` was not streamed as deltas."""
        if (
            isinstance(arguments, str)
            and arguments.startswith(call.arguments)
            and arguments != call.arguments
        ):
            out.append(hub.ToolCallDelta(call.index, arguments[len(call.arguments) :]))
            call.arguments = arguments

    def _find_call(self, payload: JSON) -> _Call | None:
        index = payload.get("output_index")
        if not isinstance(index, int) or index not in self._calls:
            index = self._call_ids.get(str(payload.get("item_id")))
        return self._calls.get(index) if index is not None else None

    def _arguments_delta(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        call, delta = self._find_call(payload), payload.get("delta")
        if call is not None and isinstance(delta, str) and delta:
            call.arguments += delta
            out.append(hub.ToolCallDelta(call.index, delta))

    def _arguments_done(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        call = self._find_call(payload)
        if call is not None:
            self._catch_up(call, payload.get("arguments"), out)

    def _text_delta(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        delta, index = payload.get("delta"), payload.get("output_index")
        if isinstance(index, int):
            self._text_items.add(index)
        if isinstance(delta, str) and delta:
            out.append(hub.TextDelta(delta))

    def _thinking_delta(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        delta, index = payload.get("delta"), payload.get("output_index")
        if isinstance(index, int):
            self._thinking_items.add(index)
        if isinstance(delta, str) and delta:
            out.append(hub.ThinkingDelta(text=delta))

    def _summary_part_added(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        summary_index = payload.get("summary_index")
        if isinstance(summary_index, int) and summary_index > 0:
            out.append(hub.ThinkingDelta(text="\n\n"))  # as decode_response joins summary parts

    def _item_done(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        item, index = payload.get("item"), payload.get("output_index")
        if isinstance(item, dict) and isinstance(index, int):
            self._finish_item(index, item, out)

    def _finish_item(self, index: int, item: JSON, out: list[hub.StreamEvent]) -> None:
        """An item is complete: emit what its deltas did not carry (some upstreams
        send whole items only), and the reasoning signature, which only comes here."""
        self._seen.add(index)
        kind = item.get("type")
        if kind == "function_call":
            call = self._calls.get(index) or self._open_call(index, item, out)
            self._catch_up(call, item.get("arguments"), out)
        elif kind == "message" and index not in self._text_items:
            self._text_items.add(index)
            for part in item.get("content") or []:
                if not isinstance(part, dict):
                    continue
                text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
                if isinstance(text, str) and text:
                    out.append(hub.TextDelta(text))
        elif kind == "reasoning":
            if index not in self._thinking_items:
                self._thinking_items.add(index)
                text = reasoning_text(item)
                if text:
                    out.append(hub.ThinkingDelta(text=text))
            encrypted = item.get("encrypted_content")
            if isinstance(encrypted, str) and encrypted.startswith(REDACTED_PREFIX):
                out.append(hub.ThinkingDelta(redacted=encrypted[len(REDACTED_PREFIX) :]))
            elif isinstance(encrypted, str):
                out.append(hub.ThinkingDelta(signature=encrypted))

    def _completed(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        response = payload.get("response")
        response = response if isinstance(response, dict) else {}
        output = response.get("output")
        for index, item in enumerate(output if isinstance(output, list) else []):
            if index not in self._seen and isinstance(item, dict):
                self._finish_item(index, item, out)
        self._done = True
        reason = finish_for(response, saw_tool_call=bool(self._calls))
        if reason is hub.FinishReason.ERROR:
            self._failed(payload, out)
            return
        out.append(hub.Finish(reason))
        if response.get("usage") is not None:
            out.append(hub.UsageUpdate(decode_usage(response["usage"])))

    def _failed(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        self._done = True
        response = payload.get("response")
        error = response.get("error") if isinstance(response, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message") or "The upstream failed to generate a response."
        out.append(hub.StreamError(status_for_error_code(error.get("code")), str(message)))

    def _error(self, payload: JSON, out: list[hub.StreamEvent]) -> None:
        self._done = True
        nested = payload.get("error")
        error = nested if isinstance(nested, dict) else payload
        message = error.get("message") or "The upstream stream failed."
        out.append(hub.StreamError(status_for_error_code(error.get("code")), str(message)))

    _HANDLERS = {
        "response.output_item.added": _item_added,
        "response.output_item.done": _item_done,
        "response.output_text.delta": _text_delta,
        "response.refusal.delta": _text_delta,
        "response.reasoning_summary_part.added": _summary_part_added,
        "response.reasoning_summary_text.delta": _thinking_delta,
        "response.reasoning_text.delta": _thinking_delta,
        "response.function_call_arguments.delta": _arguments_delta,
        "response.function_call_arguments.done": _arguments_done,
        "response.completed": _completed,
        "response.incomplete": _completed,
        "response.failed": _failed,
        "error": _error,
    }
