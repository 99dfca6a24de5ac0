"""Chat Completions `chat.completion` answer <-> hub.Response, and upstream error text."""

from __future__ import annotations

from typing import Any

import orjson

from hubgate.formats import hub
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
    text_of,
    thinking_blocks,
    write_call,
    write_usage,
)


def decode_response(body: JSON) -> hub.Response:
    """An upstream's `chat.completion` as a hub Response (first choice; refusals read as text)."""
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    parts = message_parts(message) if isinstance(message, dict) else []
    stop_reason = choice.get("stop_reason")  # vLLM: the stop string that ended the answer
    return hub.Response(
        id=text_of(body.get("id")),
        model=text_of(body.get("model")),
        parts=tuple(parts),
        finish_reason=finish_from_wire(choice.get("finish_reason")),
        usage=read_usage(body.get("usage")) or hub.Usage(),
        stop_sequence=stop_reason if isinstance(stop_reason, str) else None,
        created=count(body.get("created")),
    )


def message_parts(message: JSON) -> list[hub.Part]:
    """Reasoning, then text and refusal, then tool calls: the order the model produced them."""
    parts: list[hub.Part] = []
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        parts += [p for p in map(block_to_part, blocks) if p is not None]
    elif text := reasoning_text(message):
        parts.append(hub.ThinkingPart(text))
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append(hub.TextPart(content))
    elif isinstance(content, list):  # Mistral and a few others answer with parts
        parts += [
            hub.TextPart(item["text"])
            for item in content
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
        ]
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(hub.TextPart(refusal))
    calls = message.get("tool_calls")
    for k, call in enumerate(calls if isinstance(calls, list) else ()):
        if isinstance(call, dict) and isinstance(call.get("function"), dict):
            parts.append(_call_part(call, call["function"], f"call_{k}"))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        parts.append(_call_part({}, legacy, "call_fn_0"))
    return parts


def _call_part(call: JSON, fn: JSON, fallback_id: str) -> hub.ToolCallPart:
    return hub.ToolCallPart(
        id=text_of(call.get("id")) or fallback_id,
        name=text_of(fn.get("name")),
        arguments=arguments_text(fn.get("arguments")) or "{}",
        signature=call_signature(call),
    )


def encode_response(resp: hub.Response, model: str) -> JSON:
    """A `chat.completion` as OpenAI sends it; reasoning rides in `reasoning_content` and
    `thinking_blocks`, the fields OpenAI-compatible servers use (OpenAI has none)."""
    texts = [p.text for p in resp.parts if isinstance(p, hub.TextPart)]
    thinking = [p for p in resp.parts if isinstance(p, hub.ThinkingPart)]
    calls = [p for p in resp.parts if isinstance(p, hub.ToolCallPart)]
    message: JSON = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = [write_call(call) for call in calls]
    if thinking:
        message["reasoning_content"] = "".join(p.text for p in thinking)
        message["thinking_blocks"] = thinking_blocks(thinking)
    return {
        "id": chat_id(resp.id),
        "object": "chat.completion",
        "created": created_at(resp.created),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_TO_WIRE[resp.finish_reason],
            }
        ],
        "usage": write_usage(resp.usage),
        "system_fingerprint": None,
    }


def decode_error(status: int, body: bytes) -> str:
    """The message of an OpenAI-shaped error (`{"error": {"message": ...}}` and common
    variants), else the body's text, else the status."""
    try:
        obj: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, list) and obj:  # Gemini's compat layer wraps the error in a list
        obj = obj[0]
    if isinstance(obj, dict):
        error = obj.get("error", obj)
        if isinstance(error, str) and error:
            return error
        if isinstance(error, dict):
            for key in ("message", "detail"):
                if isinstance(error.get(key), str) and error[key]:
                    return str(error[key])
    text = body.decode("utf-8", "replace").strip()
    return text or f"HTTP {status}"
