"""Pieces of the Chat Completions wire shape shared by requests, responses and streams."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson

from hubgate.errors import InvalidRequest
from hubgate.formats import hub
from hubgate.formats.openai import parse_usage

JSON = dict[str, Any]


def invalid(param: str, message: str) -> InvalidRequest:
    """A 400 naming the field, worded like OpenAI's own errors."""
    return InvalidRequest(f"Invalid '{param}': {message}", param=param)


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)


FINISH_FROM_WIRE: dict[str, hub.FinishReason] = {
    "stop": hub.FinishReason.STOP,
    "length": hub.FinishReason.LENGTH,
    "tool_calls": hub.FinishReason.TOOL_CALLS,
    "function_call": hub.FinishReason.TOOL_CALLS,
    "content_filter": hub.FinishReason.CONTENT_FILTER,
    "error": hub.FinishReason.ERROR,  # OpenRouter
}

# Chat has no "error" finish reason (the SDK's types reject one): a hub ERROR ends as "stop".
FINISH_TO_WIRE: dict[hub.FinishReason, str] = {
    hub.FinishReason.STOP: "stop",
    hub.FinishReason.LENGTH: "length",
    hub.FinishReason.TOOL_CALLS: "tool_calls",
    hub.FinishReason.CONTENT_FILTER: "content_filter",
    hub.FinishReason.ERROR: "stop",
}

CHAT_ID_PREFIX = "chatcmpl-"


def finish_from_wire(value: Any) -> hub.FinishReason:
    """Map a wire finish_reason; unknown values (vLLM's "abort", ...) count as a plain stop."""
    return (
        FINISH_FROM_WIRE.get(value, hub.FinishReason.STOP)
        if isinstance(value, str)
        else hub.FinishReason.STOP
    )


def chat_id(value: str | None) -> str:
    """An id that looks like OpenAI's (`chatcmpl-...`), keeping the upstream's id inside it."""
    if not value:
        return CHAT_ID_PREFIX + uuid.uuid4().hex
    return value if value.startswith(CHAT_ID_PREFIX) else CHAT_ID_PREFIX + value


def created_at(*candidates: int | None) -> int:
    """The first positive timestamp given, else now."""
    for value in candidates:
        if value:
            return value
    return int(time.time())


def text_of(value: Any) -> str:
    """A string field, or "" when it is missing or not a string."""
    return value if isinstance(value, str) else ""


def count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def read_usage(raw: Any) -> hub.Usage | None:
    """An OpenAI `usage` object with its details; DeepSeek's cache-hit count as a fallback."""
    usage = parse_usage(raw)
    if usage is None:
        return None
    prompt = raw.get("prompt_tokens_details")
    written = count(prompt.get("cache_write_tokens")) if isinstance(prompt, dict) else 0
    completion = raw.get("completion_tokens_details")
    reasoning = count(completion.get("reasoning_tokens")) if isinstance(completion, dict) else 0
    cached = usage.cached_tokens or count(raw.get("prompt_cache_hit_tokens"))
    return replace(usage, cached_tokens=cached, cache_write_tokens=written, reasoning_tokens=reasoning)


def write_usage(usage: hub.Usage) -> JSON:
    """OpenAI's usage object; `cache_write_tokens` (a newer detail) only when there were any."""
    prompt: JSON = {"cached_tokens": usage.cached_tokens, "audio_tokens": 0}
    if usage.cache_write_tokens:
        prompt["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# ------------------------------------------------------------------ data URLs


def split_data_url(url: str) -> tuple[str, str] | None:
    """(media_type, base64 data) of a base64 `data:` URL, None for anything else."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url[5:].partition(",")
    params = header.split(";")
    if not comma or params[-1] != "base64":
        return None
    return params[0] or "application/octet-stream", data


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


# --------------------------------------------------------- reasoning, signatures
#
# OpenAI's own Chat API never returns reasoning. OpenAI-compatible servers do, in
# two conventions kept here side by side: `reasoning_content` (DeepSeek, vLLM,
# LiteLLM; vLLM and OpenRouter also say `reasoning`) holds the text, and LiteLLM's
# `thinking_blocks` carries Anthropic's blocks with their signatures.


def thinking_blocks(parts: Iterable[hub.ThinkingPart]) -> list[JSON]:
    blocks: list[JSON] = []
    for part in parts:
        if part.redacted is not None:
            blocks.append({"type": "redacted_thinking", "data": part.redacted})
        else:
            block: JSON = {"type": "thinking", "thinking": part.text}
            if part.signature is not None:
                block["signature"] = part.signature
            blocks.append(block)
    return blocks


def needs_blocks(parts: Iterable[hub.ThinkingPart]) -> bool:
    """Blocks are only worth sending when they carry more than the text."""
    return any(p.signature is not None or p.redacted is not None for p in parts)


def reasoning_text(obj: JSON) -> str:
    return text_of(obj.get("reasoning_content")) or text_of(obj.get("reasoning"))


def block_to_part(block: Any) -> hub.ThinkingPart | None:
    """One thinking block, or None when it is not one we know."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "redacted_thinking" and isinstance(block.get("data"), str):
        return hub.ThinkingPart(redacted=block["data"])
    if kind == "thinking":
        text = block.get("thinking")
        signature = block.get("signature")
        return hub.ThinkingPart(
            text=text if isinstance(text, str) else "",
            signature=signature if isinstance(signature, str) else None,
        )
    return None


def call_signature(call: JSON) -> str | None:
    """Gemini's thought signature on a tool call (Google's `extra_content` convention)."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) else None


def signature_extra(signature: str) -> JSON:
    return {"google": {"thought_signature": signature}}


def arguments_text(value: Any) -> str:
    """Tool-call arguments as a JSON string (a few servers send an object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return ""


def write_call(call: hub.ToolCallPart) -> JSON:
    """A tool call on the wire; a Gemini signature rides along in `extra_content`."""
    wire: JSON = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if call.signature is not None:
        wire["extra_content"] = signature_extra(call.signature)
    return wire
