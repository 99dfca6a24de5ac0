"""Small pieces the request, response and stream modules share: field checks that
raise `InvalidRequest` naming the field, ids, data URLs, usage and status mapping."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, NoReturn

from hubgate.errors import InvalidRequest
from hubgate.formats import hub
from hubgate.formats._checks import invalid as invalid
from hubgate.formats._checks import type_name as type_name

JSON = dict[str, Any]

# A reasoning item's `encrypted_content` starting with this carries Anthropic's
# `redacted_thinking.data`, so such a block survives a round trip through a
# Responses caller (who sends the item back unchanged) and reaches Anthropic again
# as redacted thinking rather than as a forged signature.
REDACTED_PREFIX = "hubgate.redacted_thinking:"

# --------------------------------------------------------------------- field checks


def fail(param: str, message: str) -> NoReturn:
    raise invalid(param, message)


def expect_dict(value: Any, param: str) -> JSON:
    if not isinstance(value, dict):
        fail(param, f"expected an object, got {type_name(value)}.")
    return value


def expect_list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        fail(param, f"expected an array, got {type_name(value)}.")
    return value


def path(where: str, key: str | int) -> str:
    """`input[2]` + `content` -> `input[2].content`; `tools` + 3 -> `tools[3]`."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def required_str(obj: JSON, key: str, where: str = "") -> str:
    value = obj.get(key)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{path(where, key)}'.", param=path(where, key))
    if not isinstance(value, str):
        fail(path(where, key), f"expected a string, got {type_name(value)}.")
    return value


def optional_str(obj: JSON, key: str, where: str = "") -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        fail(path(where, key), f"expected a string, got {type_name(value)}.")
    return value


def optional_bool(obj: JSON, key: str, where: str = "") -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        fail(path(where, key), f"expected a boolean, got {type_name(value)}.")
    return value


def optional_int(obj: JSON, key: str, where: str = "") -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        fail(path(where, key), f"expected an integer, got {type_name(value)}.")
    return value


def optional_number(obj: JSON, key: str, where: str = "") -> float | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        fail(path(where, key), f"expected a number, got {type_name(value)}.")
    return None if value is None else float(value)


# ------------------------------------------------------------------------------ ids


def new_response_id(hint: str | None = None) -> str:
    """`hint` when it already is a Responses id, else a fresh `resp_...`."""
    if hint and hint.startswith("resp_"):
        return hint
    return "resp_" + secrets.token_hex(24)


def item_id(prefix: str, response_id: str, index: int) -> str:
    """A stable output-item id (`msg_`, `rs_`, `fc_`) derived from the response id, so
    the streamed and the stored forms of one answer name their items alike."""
    digest = hashlib.sha256(f"{response_id}:{index}".encode()).hexdigest()
    return f"{prefix}_{digest[:48]}"


def reasoning_input_id(encrypted_content: str) -> str:
    """An id for a reasoning item sent back with `store: false` (the hub keeps no ids)."""
    return "rs_" + hashlib.sha256(encrypted_content.encode()).hexdigest()[:48]


# ------------------------------------------------------------------------ data URLs

_MAGIC = (("iVBOR", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"))


def split_data_url(url: str, param: str) -> tuple[str, str]:
    """`data:<media type>;base64,<data>` -> (media type, data)."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        fail(param, "expected a base64 data URL of the form 'data:<media type>;base64,<data>'.")
    media_type = head[len("data:") : -len(";base64")]
    if not media_type:
        fail(param, "the data URL has no media type.")
    return media_type, data


def data_url(media_type: str | None, data: str, *, default: str) -> str:
    return f"data:{media_type or default};base64,{data}"


def sniff_image_type(data: str) -> str:
    """Media type of base64 image data from its first bytes (PNG when unknown)."""
    return next((media for magic, media in _MAGIC if data.startswith(magic)), "image/png")


# ---------------------------------------------------------------- reasoning content


def thinking_from_encrypted(text: str, encrypted: str | None) -> hub.ThinkingPart:
    if encrypted is not None and encrypted.startswith(REDACTED_PREFIX):
        return hub.ThinkingPart(text=text, redacted=encrypted[len(REDACTED_PREFIX) :])
    return hub.ThinkingPart(text=text, signature=encrypted)


def encrypted_for(part: hub.ThinkingPart) -> str | None:
    if part.redacted is not None:
        return REDACTED_PREFIX + part.redacted
    return part.signature


def reasoning_text(item: JSON) -> str:
    """A reasoning item's readable text: its summary parts, else its reasoning_text content."""
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if texts:
                return "\n\n".join(texts)
    return ""


def call_signature(item: JSON) -> str | None:
    """Gemini's thought signature on a function call. It rides in `extra_content`, the
    convention Google's OpenAI-compatible API uses and the chat codec shares; callers
    that send output items back unchanged return it."""
    extra = item.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) else None


def signature_extra(signature: str) -> JSON:
    return {"google": {"thought_signature": signature}}


# ---------------------------------------------------------------- usage and status


def encode_usage(usage: hub.Usage) -> JSON:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _count(obj: Any, key: str) -> int:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def decode_usage(usage: Any) -> hub.Usage:
    if not isinstance(usage, dict):
        return hub.Usage()
    inputs = usage.get("input_tokens_details")
    outputs = usage.get("output_tokens_details")
    return hub.Usage(
        prompt_tokens=_count(usage, "input_tokens"),
        completion_tokens=_count(usage, "output_tokens"),
        cached_tokens=_count(inputs, "cached_tokens"),
        cache_write_tokens=_count(inputs, "cache_write_tokens"),
        reasoning_tokens=_count(outputs, "reasoning_tokens"),
    )


INCOMPLETE_REASONS = {
    hub.FinishReason.LENGTH: "max_output_tokens",
    hub.FinishReason.CONTENT_FILTER: "content_filter",
}
_FINISH_FOR_INCOMPLETE = {
    "max_output_tokens": hub.FinishReason.LENGTH,
    "content_filter": hub.FinishReason.CONTENT_FILTER,
}


def status_for(reason: hub.FinishReason) -> str:
    if reason is hub.FinishReason.ERROR:
        return "failed"
    return "incomplete" if reason in INCOMPLETE_REASONS else "completed"


def finish_for(response: JSON, *, saw_tool_call: bool) -> hub.FinishReason:
    """The hub finish reason of a final response object."""
    status = response.get("status")
    if status == "failed":
        return hub.FinishReason.ERROR
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return _FINISH_FOR_INCOMPLETE.get(str(reason), hub.FinishReason.LENGTH)
    return hub.FinishReason.TOOL_CALLS if saw_tool_call else hub.FinishReason.STOP


def error_code_for(status: int) -> str:
    """A `ResponseError.code` for an HTTP status (the SDK accepts a closed set)."""
    return "rate_limit_exceeded" if status == 429 else "server_error"


def status_for_error_code(code: Any) -> int:
    if code == "rate_limit_exceeded":
        return 429
    if code in (None, "server_error", "vector_store_timeout") or not isinstance(code, str):
        return 500
    return 400  # invalid_prompt, image errors, policy refusals
