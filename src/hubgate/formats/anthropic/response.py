"""Anthropic `message` objects <-> hub.Response, and Anthropic's error shape."""

from __future__ import annotations

from typing import Any

import orjson

from hubgate.errors import BadGateway
from hubgate.formats import hub

from ._shared import (
    JSON,
    dump_input,
    finish_from_wire,
    load_input,
    message_id,
    stop_reason_to_wire,
    usage_from_wire,
    usage_to_wire,
)


def decode_response(body: JSON) -> hub.Response:
    """An upstream `message` -> hub. Block types the hub has no place for (server tool
    results, future kinds) are skipped; text never is."""
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, list):
        raise BadGateway("Anthropic answer has no content array")
    parts = [p for block in content if (p := decode_block(block)) is not None]
    usage = body.get("usage")
    stop_sequence = body.get("stop_sequence")
    return hub.Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=tuple(parts),
        finish_reason=finish_from_wire(body.get("stop_reason")),
        usage=usage_from_wire(usage) if isinstance(usage, dict) else hub.Usage(),
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
    )


def decode_block(block: Any) -> hub.Part | None:
    """One content block of an answer -> a hub part (None for empty text or a kind
    the hub does not carry)."""
    if not isinstance(block, dict):
        raise BadGateway("Anthropic answer has a content block that is not an object")
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return hub.TextPart(text) if isinstance(text, str) and text else None
    if kind == "thinking":
        return hub.ThinkingPart(
            text=str(block.get("thinking") or ""), signature=str(block.get("signature") or "") or None
        )
    if kind == "redacted_thinking":
        return hub.ThinkingPart(redacted=str(block.get("data") or ""))
    if kind == "tool_use":
        tool_input = block.get("input")
        return hub.ToolCallPart(
            id=str(block.get("id") or ""),
            name=str(block.get("name") or ""),
            arguments=dump_input(tool_input if isinstance(tool_input, dict) else {}),
        )
    return None


def encode_response(resp: hub.Response, model: str) -> JSON:
    """Hub -> a `message` object exactly as Anthropic returns it."""
    stop_sequence = resp.stop_sequence if resp.finish_reason is hub.FinishReason.STOP else None
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [b for p in resp.parts for b in encode_blocks(p)],
        "stop_reason": stop_reason_to_wire(resp.finish_reason, stop_sequence),
        "stop_sequence": stop_sequence,
        "stop_details": None,
        "usage": usage_to_wire(resp.usage),
    }


def encode_blocks(part: hub.Part) -> list[JSON]:
    """One answer part -> its content blocks; never an empty text block.

    Thinking without a signature (another vendor's reasoning) gets an empty one, which
    the SDK accepts and the request decoder drops if the caller sends it back. A tool
    call's own signature (Gemini's thoughtSignature) travels as a signed, empty thinking
    block just before the tool_use: sent back, it becomes a ThinkingPart right before
    the call, which the Gemini codec puts back on the functionCall."""
    if isinstance(part, hub.TextPart):
        return [{"type": "text", "text": part.text}] if part.text else []
    if isinstance(part, hub.ThinkingPart):
        if part.redacted is not None:
            return [{"type": "redacted_thinking", "data": part.redacted}]
        return [{"type": "thinking", "thinking": part.text, "signature": part.signature or ""}]
    if isinstance(part, hub.ToolCallPart):
        tool_input = load_input(part.arguments)
        if tool_input is None:
            raise BadGateway(f"tool call '{part.id}' has arguments that are not a JSON object")
        call = {"type": "tool_use", "id": part.id, "name": part.name, "input": tool_input}
        if part.signature:
            return [{"type": "thinking", "thinking": "", "signature": part.signature}, call]
        return [call]
    raise BadGateway(f"an answer cannot carry {part.kind} content")


def decode_error(status: int, body: bytes) -> str:
    """The message of Anthropic's `{"type": "error", "error": {"type", "message"}}`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace").strip()
        return text[:500] if text else f"Anthropic answered HTTP {status}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return f"Anthropic answered HTTP {status}"
