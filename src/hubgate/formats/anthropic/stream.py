"""Anthropic Messages SSE streams <-> hub stream events: two explicit state machines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from hubgate.formats import hub
from hubgate.formats.errors import anthropic_error_event, anthropic_type

from ._shared import (
    ERROR_STATUS,
    JSON,
    dump_input,
    finish_from_wire,
    message_id,
    stop_reason_to_wire,
    usage_from_wire,
    usage_to_wire,
)

_MERGED_USAGE_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

# ===================================================================== upstream -> hub


class StreamDecoder:
    """Anthropic SSE events -> hub events.

    Usage: `message_start` carries the input side, `message_delta` the cumulative
    output count and (on the current API) final input/cache counts, so the two are
    merged field by field, as the SDK does. Tool calls are numbered among tool_use
    blocks only. `ping`, citations and unknown events or blocks are ignored."""

    def __init__(self) -> None:
        self._tools: dict[int, int] = {}  # content block index -> hub tool-call index
        self._usage: JSON = {}
        self._finished = False
        self._stopped = False
        self._failed = False

    def feed(self, event: hub.SSEEvent) -> list[hub.StreamEvent]:
        if self._failed or event.event == "ping":
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return self._fail(502, "Anthropic sent a stream event that is not JSON")
        if not isinstance(data, dict):
            return self._fail(502, "Anthropic sent a stream event that is not an object")
        kind = event.event or data.get("type")
        if kind == "message_start":
            return self._message_start(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self._stopped = True
            return []
        if kind == "error":
            error = _obj(data, "error")
            status = ERROR_STATUS.get(str(error.get("type")), 500)
            return self._fail(status, str(error.get("message") or "Anthropic stream failed"))
        return []  # content_block_stop, and event kinds added after this was written

    def close(self) -> list[hub.StreamEvent]:
        if self._failed or self._finished:
            return []
        if self._stopped:
            self._finished = True
            return [hub.Finish(hub.FinishReason.STOP)]
        return self._fail(502, "The Anthropic stream ended before the message was complete.")

    def _fail(self, status: int, message: str) -> list[hub.StreamEvent]:
        self._failed = True
        return [hub.StreamError(status, message)]

    def _message_start(self, data: JSON) -> list[hub.StreamEvent]:
        message = _obj(data, "message")
        out: list[hub.StreamEvent] = [
            hub.Start(id=str(message.get("id") or ""), model=str(message.get("model") or ""))
        ]
        usage = message.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)
            out.append(hub.UsageUpdate(usage_from_wire(self._usage)))
        return out

    def _block_start(self, data: JSON) -> list[hub.StreamEvent]:
        block = data.get("content_block")
        index = data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            return []
        kind = block.get("type")
        text = block.get(kind) if kind in ("text", "thinking") else None
        if kind == "text" and isinstance(text, str) and text:
            return [hub.TextDelta(text)]
        if kind == "thinking":
            signature = block.get("signature")
            if text or signature:
                return [hub.ThinkingDelta(text=str(text or ""), signature=str(signature or "") or None)]
        if kind == "redacted_thinking":
            return [hub.ThinkingDelta(redacted=str(block.get("data") or ""))]
        if kind == "tool_use":
            tool_index = self._tools[index] = len(self._tools)
            out: list[hub.StreamEvent] = [
                hub.ToolCallStart(tool_index, str(block.get("id") or ""), str(block.get("name") or ""))
            ]
            if isinstance(block.get("input"), dict) and block["input"]:
                out.append(hub.ToolCallDelta(tool_index, dump_input(block["input"])))
            return out
        return []

    def _block_delta(self, data: JSON) -> list[hub.StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [hub.TextDelta(str(delta["text"]))]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [hub.ThinkingDelta(text=str(delta["thinking"]))]
        if kind == "signature_delta" and delta.get("signature"):
            return [hub.ThinkingDelta(signature=str(delta["signature"]))]
        if kind == "input_json_delta" and delta.get("partial_json"):
            tool_index = self._tools.get(data.get("index", -1))
            if tool_index is not None:
                return [hub.ToolCallDelta(tool_index, str(delta["partial_json"]))]
        return []

    def _message_delta(self, data: JSON) -> list[hub.StreamEvent]:
        out: list[hub.StreamEvent] = []
        delta = _obj(data, "delta")
        if delta.get("stop_reason") is not None and not self._finished:
            self._finished = True
            sequence = delta.get("stop_sequence")
            out.append(
                hub.Finish(
                    finish_from_wire(delta["stop_reason"]), sequence if isinstance(sequence, str) else None
                )
            )
        usage = data.get("usage")
        if isinstance(usage, dict):
            # cumulative totals: overwrite, but keep message_start's value for a field left out
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            out.append(hub.UsageUpdate(usage_from_wire(self._usage)))
        return out


# ======================================================================= hub -> caller

BlockKind = Literal["text", "thinking", "tool_use"]


@dataclass(slots=True)
class _OpenBlock:
    index: int
    kind: BlockKind
    signed: bool = False  # a thinking block that got its signature takes no more text


class StreamEncoder:
    """Hub events -> Anthropic SSE frames, in the real API's order: message_start,
    content blocks (start / deltas / stop, increasing `index`; the first start is
    followed by a `ping`, as the API does), then one message_delta with the stop
    reason and usage, then message_stop. Frames go out as soon as their event
    arrives; only the stop reason waits for the usage, which the hub sends after it.

    `created` is accepted for a uniform signature; Anthropic messages carry no time."""

    def __init__(self, model: str, *, response_id: str | None = None, created: int | None = None) -> None:
        self._model = model
        self._id = response_id
        self._started = False
        self._done = False
        self._ping_sent = False
        self._next_index = 0
        self._open: _OpenBlock | None = None
        self._tool_blocks: dict[int, int] = {}  # hub tool-call index -> content block index
        self._usage: hub.Usage | None = None
        self._finish: hub.Finish | None = None

    def feed(self, event: hub.StreamEvent) -> bytes:
        if self._done:
            return b""
        if isinstance(event, hub.UsageUpdate):
            self._usage = event.usage
            return b""
        if isinstance(event, hub.StreamError):
            self._done = True
            return anthropic_error_event(event.message, anthropic_type(event.status))
        out = self._ensure_started(event.id if isinstance(event, hub.Start) else None)
        if isinstance(event, hub.TextDelta):
            out += self._text(event.text)
        elif isinstance(event, hub.ThinkingDelta):
            out += self._thinking(event)
        elif isinstance(event, hub.ToolCallStart):
            if event.signature:  # Gemini's call signature: a signed empty thinking block (see response.py)
                out += self._thinking(hub.ThinkingDelta(signature=event.signature))
            out += self._close_block()
            out += self._open_block(
                "tool_use", {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            )
            self._tool_blocks[event.index] = self._next_index - 1
        elif isinstance(event, hub.ToolCallDelta):
            out += self._tool_arguments(event)
        elif isinstance(event, hub.Finish):
            out += self._close_block()
            self._finish = event
        return out

    def close(self) -> bytes:
        if self._done:
            return b""
        out = self._ensure_started(None) + self._close_block()
        if not self._ping_sent:
            out += _PING
        finish = self._finish or hub.Finish(hub.FinishReason.STOP)
        stop_sequence = finish.stop_sequence if finish.reason is hub.FinishReason.STOP else None
        delta = {
            "stop_reason": stop_reason_to_wire(finish.reason, stop_sequence),
            "stop_sequence": stop_sequence,
            "stop_details": None,
        }
        usage = usage_to_wire(self._usage or hub.Usage())
        out += _frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        out += _frame("message_stop", {"type": "message_stop"})
        self._done = True
        return out

    # -- pieces ---------------------------------------------------------------------------------------

    def _ensure_started(self, upstream_id: str | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        usage = usage_to_wire(self._usage) if self._usage is not None else usage_to_wire(hub.Usage())
        message: JSON = {
            "id": message_id(self._id or upstream_id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": usage,
        }
        return _frame("message_start", {"type": "message_start", "message": message})

    def _open_block(self, kind: BlockKind, content_block: JSON) -> bytes:
        self._open = _OpenBlock(self._next_index, kind)
        self._next_index += 1
        payload = {"type": "content_block_start", "index": self._open.index, "content_block": content_block}
        out = _frame("content_block_start", payload)
        if not self._ping_sent:
            self._ping_sent = True
            out += _PING
        return out

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open.index, None
        return _frame("content_block_stop", {"type": "content_block_stop", "index": index})

    def _delta(self, index: int, delta: JSON) -> bytes:
        return _frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _text(self, text: str) -> bytes:
        if not text:
            return b""  # never open an empty text block
        out = b""
        if self._open is None or self._open.kind != "text":
            out += self._close_block() + self._open_block("text", {"type": "text", "text": ""})
        assert self._open is not None
        return out + self._delta(self._open.index, {"type": "text_delta", "text": text})

    def _thinking(self, event: hub.ThinkingDelta) -> bytes:
        out = b""
        if event.redacted is not None:
            out += self._close_block() + self._open_block(
                "thinking", {"type": "redacted_thinking", "data": event.redacted}
            )
            return out + self._close_block()
        if not event.text and not event.signature:
            return b""
        if self._open is None or self._open.kind != "thinking" or self._open.signed:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out += self._close_block() + self._open_block("thinking", block)
        assert self._open is not None
        if event.text:
            out += self._delta(self._open.index, {"type": "thinking_delta", "thinking": event.text})
        if event.signature:
            out += self._delta(self._open.index, {"type": "signature_delta", "signature": event.signature})
            self._open.signed = True
        return out

    def _tool_arguments(self, event: hub.ToolCallDelta) -> bytes:
        index = self._tool_blocks.get(event.index)
        if index is None or not event.arguments:
            return b""
        # Upstreams send one call's arguments after another; should one interleave, the
        # fragment still goes to its own block index (the SDK accumulates by index).
        return self._delta(index, {"type": "input_json_delta", "partial_json": event.arguments})


def _obj(data: JSON, key: str) -> JSON:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _frame(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


_PING = _frame("ping", {"type": "ping"})
