"""Field checks, usage, stop reasons and ids shared by the request, response and stream codecs."""

from __future__ import annotations

import secrets
import string
from typing import Any

import orjson

from hubgate.errors import InvalidRequest
from hubgate.formats import hub

JSON = dict[str, Any]

MIN_THINKING_BUDGET = 1024  # Anthropic's floor for thinking.budget_tokens

# ------------------------------------------------------------------ field checks
#
# Errors name the field the way Anthropic's own 400s do: `messages.1.content.0.text`.


def child(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


def _type_name(value: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}
    return (
        "null" if value is None else kinds.get(type(value), "a number" if isinstance(value, float) else "?")
    )


def _wrong(path: str, value: Any, expected: str) -> InvalidRequest:
    return fail(path, f"Input should be {expected}, got {_type_name(value)}")


def as_dict(value: Any, path: str) -> JSON:
    if not isinstance(value, dict):
        raise _wrong(path, value, "an object")
    return value


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _wrong(path, value, "a string")
    return value


def req_str(obj: JSON, key: str, path: str) -> str:
    if key not in obj or obj[key] is None:
        raise fail(child(path, key), "Field required")
    return as_str(obj[key], child(path, key))


def opt_str(obj: JSON, key: str, path: str) -> str | None:
    value = obj.get(key)
    return None if value is None else as_str(value, child(path, key))


def opt_int(obj: JSON, key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(child(path, key), value, "a valid integer")
    return value


def opt_number(obj: JSON, key: str, path: str, low: float, high: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(child(path, key), value, "a valid number")
    if not low <= value <= high:
        raise fail(child(path, key), f"Input should be between {low:g} and {high:g}")
    return float(value)


def opt_bool(obj: JSON, key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _wrong(child(path, key), value, "a valid boolean")
    return value


def opt_list(obj: JSON, key: str, path: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _wrong(child(path, key), value, "a valid list")
    return value


def opt_dict(obj: JSON, key: str, path: str) -> JSON | None:
    value = obj.get(key)
    return None if value is None else as_dict(value, child(path, key))


# ----------------------------------------------------------------------- tool input
#
# Hub tool-call arguments are a JSON string; Anthropic's `input` is an object.


def dump_input(value: Any) -> str:
    return orjson.dumps(value).decode()


def load_input(arguments: str) -> JSON | None:
    """The arguments string as an object, or None when it is not a JSON object."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------- usage


def _count(usage: JSON, key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_wire(usage: JSON) -> hub.Usage:
    """Anthropic usage -> hub. `input_tokens` excludes cache reads and writes; the hub's
    prompt_tokens counts everything the model read, so the three are added."""
    read = _count(usage, "cache_read_input_tokens")
    write = _count(usage, "cache_creation_input_tokens")
    details = usage.get("output_tokens_details")
    thinking = _count(details, "thinking_tokens") if isinstance(details, dict) else 0
    ttl = usage.get("cache_creation")
    write_1h = min(write, _count(ttl, "ephemeral_1h_input_tokens")) if isinstance(ttl, dict) else 0
    return hub.Usage(
        prompt_tokens=_count(usage, "input_tokens") + read + write,
        completion_tokens=_count(usage, "output_tokens"),
        cached_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=thinking,
    )


def usage_to_wire(usage: hub.Usage) -> JSON:
    """Hub usage -> Anthropic: `input_tokens` is what is left once cache reads and writes
    are taken out (never negative); `cache_creation` carries the 1-hour share of writes."""
    uncached = max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens)
    wire: JSON = {
        "input_tokens": uncached,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    }
    if usage.cache_write_1h_tokens:
        wire["cache_creation"] = {
            "ephemeral_5m_input_tokens": usage.cache_write_tokens - usage.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": usage.cache_write_1h_tokens,
        }
    if usage.reasoning_tokens:
        wire["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return wire


# --------------------------------------------------------------------- stop reasons

_FROM_STOP_REASON = {
    "end_turn": hub.FinishReason.STOP,
    "stop_sequence": hub.FinishReason.STOP,
    "pause_turn": hub.FinishReason.STOP,
    "max_tokens": hub.FinishReason.LENGTH,
    "model_context_window_exceeded": hub.FinishReason.LENGTH,
    "tool_use": hub.FinishReason.TOOL_CALLS,
    "refusal": hub.FinishReason.CONTENT_FILTER,
}

_TO_STOP_REASON = {
    hub.FinishReason.STOP: "end_turn",
    hub.FinishReason.LENGTH: "max_tokens",
    hub.FinishReason.TOOL_CALLS: "tool_use",
    hub.FinishReason.CONTENT_FILTER: "refusal",
    hub.FinishReason.ERROR: "end_turn",
}


def finish_from_wire(stop_reason: Any) -> hub.FinishReason:
    """Unknown or missing reasons (a future value, a null) read as a natural stop."""
    if not isinstance(stop_reason, str):
        return hub.FinishReason.STOP
    return _FROM_STOP_REASON.get(stop_reason, hub.FinishReason.STOP)


def stop_reason_to_wire(reason: hub.FinishReason, stop_sequence: str | None) -> str:
    if reason is hub.FinishReason.STOP and stop_sequence is not None:
        return "stop_sequence"
    return _TO_STOP_REASON[reason]


# --------------------------------------------------------------------------- errors

# Anthropic's error `type` -> the HTTP status it stands for (used for `event: error`
# inside a stream, which carries no status of its own).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# ------------------------------------------------------------------------------ ids

_ALNUM = string.ascii_letters + string.digits


def message_id(raw: str | None) -> str:
    """An id in Anthropic's `msg_...` form: kept when it already is one, otherwise the
    upstream's id behind the prefix (so logs still match), or a fresh one."""
    if raw and raw.startswith("msg_"):
        return raw
    tail = "".join(c for c in raw or "" if c in _ALNUM or c in "-_")
    return "msg_" + (tail or "".join(secrets.choice(_ALNUM) for _ in range(24)))
