"""Small pieces of the Gemini wire shared by the request, response and stream codecs.

The REST API speaks proto3 JSON: field names are lowerCamelCase, but the server
also accepts the original snake_case names, and the google-genai SDK really sends
some of them (it dumps nested pydantic objects such as `thinking_config`,
`inline_data.mime_type`, `function_declarations[].parameters_json_schema` without
renaming). Every read therefore goes through `get`, which tries both spellings.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from hubgate.formats._checks import invalid as invalid
from hubgate.formats._checks import type_name as type_name
from hubgate.formats.hub import FinishReason, Part, ThinkingPart, Usage

JSON = dict[str, Any]

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """`mimeType` -> `mime_type`."""
    return _CAMEL_HUMP.sub("_", name).lower()


def get(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]` under its camelCase or snake_case spelling (None when absent)."""
    value = obj.get(name)
    if value is None:
        value = obj.get(snake(name))
    return value


def has(obj: Mapping[str, Any], name: str) -> bool:
    return name in obj or snake(name) in obj


def expect_object(value: Any, param: str) -> JSON:
    if not isinstance(value, dict):
        raise invalid(param, f"expected an object, got {type_name(value)}.")
    return value


def expect_list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(param, f"expected an array, got {type_name(value)}.")
    return value


def expect_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid(param, f"expected a string, got {type_name(value)}.")
    return value


def expect_int(value: Any, param: str) -> int:
    """An integer (an int64, as in Gemini's protos); such fields may arrive as decimal strings."""
    decimal = isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value) is not None
    whole = isinstance(value, float) and value.is_integer()
    if not (decimal or whole or (isinstance(value, int) and not isinstance(value, bool))):
        raise invalid(param, f"expected an integer, got {type_name(value)}.")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise invalid(param, "expected a 64-bit integer, got a number out of range.")
    return number


def expect_number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(param, f"expected a number, got {type_name(value)}.")
    return float(value)


def expect_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(param, f"expected a boolean, got {type_name(value)}.")
    return value


# ---------------------------------------------------------------------- thoughts


def add_thinking(out: list[Part], text: str, signature: str | None) -> None:
    """Append a thought, merging it into the previous unsigned ThinkingPart (Gemini
    streams one thought over several parts and signs the last)."""
    if not text and signature is None:
        return
    last = out[-1] if out else None
    if isinstance(last, ThinkingPart) and last.signature is None and last.redacted is None:
        out[-1] = ThinkingPart(last.text + text, signature)
    else:
        out.append(ThinkingPart(text, signature))


# ---------------------------------------------------------------------------- base64


def std_base64(value: str) -> str:
    """URL-safe base64 -> standard base64 (the SDK sends bytes fields URL-safe).

    Gemini accepts either alphabet; other upstreams (Anthropic signatures, OpenAI
    data URLs) need the standard one. Standard base64 passes through unchanged.
    """
    if "-" in value or "_" in value:
        return value.replace("-", "+").replace("_", "/")
    return value


# ------------------------------------------------------------------ finish reasons

_FINISH_FROM_GEMINI: dict[str, FinishReason] = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
    "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "IMAGE_RECITATION": FinishReason.CONTENT_FILTER,
}

_FINISH_TO_GEMINI: dict[FinishReason, str] = {
    FinishReason.STOP: "STOP",
    FinishReason.TOOL_CALLS: "STOP",  # Gemini has no tool-call reason: calls end with STOP
    FinishReason.LENGTH: "MAX_TOKENS",
    FinishReason.CONTENT_FILTER: "SAFETY",
    FinishReason.ERROR: "OTHER",
}


def finish_from_gemini(reason: str, *, called_tools: bool) -> FinishReason:
    """Gemini `finishReason` -> hub. STOP after functionCall parts means TOOL_CALLS;
    MALFORMED_FUNCTION_CALL, OTHER, LANGUAGE and unknown reasons are ERROR."""
    hub = _FINISH_FROM_GEMINI.get(reason, FinishReason.ERROR)
    if hub is FinishReason.STOP and called_tools:
        return FinishReason.TOOL_CALLS
    return hub


def finish_to_gemini(reason: FinishReason) -> str:
    return _FINISH_TO_GEMINI[reason]


# ------------------------------------------------------------------------- usage


def _count(meta: Mapping[str, Any], name: str) -> int:
    value = get(meta, name)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value


def usage_from_gemini(meta: Mapping[str, Any]) -> Usage:
    """`usageMetadata` -> hub usage. promptTokenCount already includes the cached
    tokens; thoughtsTokenCount is reported apart from candidatesTokenCount, so it is
    added to completion_tokens; toolUsePromptTokenCount (server-side tools) is input."""
    thoughts = _count(meta, "thoughtsTokenCount")
    return Usage(
        prompt_tokens=_count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount"),
        completion_tokens=_count(meta, "candidatesTokenCount") + thoughts,
        cached_tokens=_count(meta, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def usage_to_gemini(usage: Usage) -> JSON:
    meta: JSON = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": max(usage.completion_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.total_tokens,
    }
    if usage.cached_tokens:
        meta["cachedContentTokenCount"] = usage.cached_tokens
    if usage.reasoning_tokens:
        meta["thoughtsTokenCount"] = usage.reasoning_tokens
    return meta


# --------------------------------------------------------------------- call ids
#
# Gemini may leave functionCall.id out. The codecs then make one up, in a shape they
# recognise, so that encode_request can leave it out again: Gemini gets back exactly
# what it sent (ids it issued, and ids from other formats, are sent as `id`).

_SYNTHETIC_ID = re.compile(r"call_(\d+|gemini_[0-9a-f]{16})")


def request_call_id(n: int) -> str:
    """The stable id of the n-th id-less functionCall in a request's history."""
    return f"call_{n}"


def response_call_id() -> str:
    """A fresh id for an id-less functionCall in an answer (unique across turns)."""
    return f"call_gemini_{secrets.token_hex(8)}"


def is_synthetic_call_id(call_id: str) -> bool:
    return _SYNTHETIC_ID.fullmatch(call_id) is not None


def strip_models_prefix(name: str) -> str:
    return name.removeprefix("models/")


# ------------------------------------------------------------------- media types

_EXTENSION_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
}


def guess_media_type(url: str) -> str | None:
    """The media type a URL's file extension stands for (None when unknown)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    tail = path.rsplit("/", 1)[-1]
    if "." not in tail:
        return None
    return _EXTENSION_TYPES.get(tail.rsplit(".", 1)[-1].lower())
