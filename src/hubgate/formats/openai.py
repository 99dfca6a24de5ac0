"""OpenAI Chat Completions / Completions / Embeddings: request checks and usage.

Same-format traffic is forwarded as it came, so this module only checks what the
gateway relies on (model, stream flags, field types the upstream would reject
anyway) and reads usage; it never rebuilds a body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from hubgate.errors import InvalidRequest
from hubgate.formats._checks import invalid as _invalid
from hubgate.formats._checks import type_name
from hubgate.formats.hub import Usage

CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(slots=True, unsafe_hash=True)  # not frozen: made per request
class RequestInfo:
    model: str
    stream: bool
    include_usage: bool


def _expect(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> None:
    if name in body and body[name] is not None:
        value = body[name]
        bad_bool = isinstance(value, bool) and bool not in kinds
        if bad_bool or not isinstance(value, kinds):
            raise _invalid(name, f"expected {what}, got {type_name(value)}.")


_NUMBER, _INTEGER = ((int, float), "a number"), ((int,), "an integer")
# The common parameters whose type is checked, with what each must be.
_CHECKED: dict[str, tuple[tuple[type, ...], str]] = {
    "stream": ((bool,), "a boolean"),
    "stream_options": ((dict,), "an object"),
    **dict.fromkeys(("temperature", "top_p", "presence_penalty", "frequency_penalty"), _NUMBER),
    **dict.fromkeys(("max_tokens", "max_completion_tokens", "n", "seed"), _INTEGER),
    "user": ((str,), "a string"),
}


_CHAT_CHECKED = {
    **_CHECKED,
    "tools": ((list,), "an array"),
    "tool_choice": ((str, dict), "a string or an object"),
    "response_format": ((dict,), "an object"),
}


def _common(
    body: dict[str, Any], model_override: str | None = None, checked: dict[str, Any] = _CHECKED
) -> RequestInfo:
    model = model_override if model_override is not None else body.get("model")
    if model is None:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", f"expected a non-empty string, got {type_name(model)}.")
    for name in body:  # a dozen top-level names at most; one or two of them checked
        kinds = checked.get(name)
        if kinds is not None:
            _expect(body, name, *kinds)
    stream = body.get("stream") is True
    options = body.get("stream_options") or {}
    include_usage = options.get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise _invalid("stream_options.include_usage", f"expected a boolean, got {type_name(include_usage)}.")
    return RequestInfo(model=model, stream=stream, include_usage=include_usage is True)


def check_chat(body: dict[str, Any]) -> RequestInfo:
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(messages, list):
        raise _invalid("messages", f"expected an array, got {type_name(messages)}.")
    if not messages:
        raise _invalid("messages", "empty array. Expected an array with minimum length 1.")
    for i, message in enumerate(messages):  # the error's path is formatted only for an error
        if not isinstance(message, dict):
            raise _invalid(f"messages[{i}]", f"expected an object, got {type_name(message)}.")
        role = message.get("role")
        if not isinstance(role, str):  # a role added later passes through; translation drops it
            raise _invalid(f"messages[{i}].role", f"expected one of {', '.join(sorted(CHAT_ROLES))}.")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _invalid(
                f"messages[{i}].content", f"expected a string or an array, got {type_name(content)}."
            )
    return _common(body, checked=_CHAT_CHECKED)


def check_completions(body: dict[str, Any]) -> RequestInfo:
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
    if not isinstance(prompt, str | list):
        raise _invalid("prompt", f"expected a string or an array, got {type_name(prompt)}.")
    return _common(body)


def check_embeddings(body: dict[str, Any], model_override: str | None = None) -> RequestInfo:
    value = body.get("input")
    if value is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if isinstance(value, str):
        pass
    elif isinstance(value, list):
        if not value:
            raise _invalid("input", "empty array. Expected an array with minimum length 1.")
        for i, item in enumerate(value):
            ok = isinstance(item, str | int | list) and not isinstance(item, bool)
            if not ok:
                raise _invalid(f"input[{i}]", f"expected a string or tokens, got {type_name(item)}.")
    else:
        raise _invalid("input", f"expected a string or an array, got {type_name(value)}.")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise _invalid("encoding_format", "expected 'float' or 'base64'.")
    _expect(body, "dimensions", (int,), "an integer")
    if isinstance(body.get("dimensions"), int) and body["dimensions"] < 1:
        raise _invalid("dimensions", "expected a positive integer.")
    info = _common(body, model_override)
    return RequestInfo(model=info.model, stream=False, include_usage=False)


def parse_usage(usage: Any) -> Usage | None:
    """Read an OpenAI `usage` object (prompt_tokens already includes cached tokens)."""
    if not isinstance(usage, dict):
        return None
    # Each count a positive int, else 0 (`type(...) is int`: not a bool, not a float),
    # checked inline: four calls of a helper were a tenth of this function's cost.
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    out_details = usage.get("completion_tokens_details")
    reasoning = out_details.get("reasoning_tokens") if isinstance(out_details, dict) else None
    return Usage(
        prompt_tokens=prompt if type(prompt) is int and prompt > 0 else 0,
        completion_tokens=completion if type(completion) is int and completion > 0 else 0,
        cached_tokens=cached if type(cached) is int and cached > 0 else 0,
        reasoning_tokens=reasoning if type(reasoning) is int and reasoning > 0 else 0,
    )


def usage_from_body(raw: bytes) -> tuple[dict[str, Any], Usage | None]:
    """Parse a non-streamed JSON answer; raises ValueError when it is not a JSON object."""
    obj = orjson.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj, parse_usage(obj.get("usage"))


@dataclass(frozen=True, slots=True)
class ChunkUsage:
    usage: Usage
    usage_only: bool  # the extra final chunk that include_usage adds (no choices)


_USAGE = b'"usage"'


def sse_data(event: bytes) -> bytes | None:
    """The data payload of one SSE event (lines joined), or None if it has none."""
    parts = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    if not parts:
        return None
    return b"\n".join(parts)


def chunk_usage(event: bytes) -> ChunkUsage | None:
    """Usage carried by one streamed chunk, found without parsing chunks that have none.

    With include_usage every chunk carries `"usage": null`; only the byte scan runs
    for those, the JSON parse runs for the one chunk that counts.
    """
    at = event.find(_USAGE)
    if at < 0:
        return None
    rest = event[at + len(_USAGE) :].lstrip(b" \t:")
    if rest.startswith(b"null"):
        return None
    data = sse_data(event)
    if data is None:
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    usage = parse_usage(obj.get("usage"))
    if usage is None:
        return None
    return ChunkUsage(usage=usage, usage_only=not obj.get("choices"))


def plausible_event(event: bytes) -> bool:
    """A cheap structural check of one forwarded SSE event: a JSON object, [DONE], or
    a comment/field line. Catches garbage without parsing every chunk."""
    if event.startswith((b":", b"event:", b"id:", b"retry:")):
        return True
    if not event.startswith(b"data:"):
        return False
    body = event[5:].strip()
    return body == b"[DONE]" or (body.startswith(b"{") and body.endswith(b"}"))


_NULL_USAGE = (b',"usage":null', b', "usage": null')


def drop_null_usage(event: bytes) -> bytes:
    """Remove the `"usage": null` that include_usage adds to every chunk, for a caller
    that never asked for usage (so its chunks look as OpenAI would send them)."""
    for pattern in _NULL_USAGE:
        if pattern in event:
            return event.replace(pattern, b"", 1)
    return event


# Events that are each one `data:` line holding a JSON object, and at most one [DONE]
# last: what OpenAI sends.
_DATA_EVENTS = re.compile(rb"(?:data:[ \t]*\{[^\n]*\}[ \t]*\n\n)*(?:data:[ \t]*\[DONE\][ \t]*\n\n)?")
_USAGE_KEY = re.compile(rb'"usage"[ \t]*:[ \t]*(null)?')  # its group: a null one
_SET_USAGE = re.compile(rb'"usage"[ \t]*:(?![ \t]*null)')  # the others, skipped in C
# The `"usage": null` that include_usage puts last in every chunk, where it ends its
# event: raw quotes and a raw newline never occur inside a JSON string, so this is the
# top-level key (OpenAI's compact form, then the spaced one of Python's json.dumps).
_NULL_TAILS = (b',"usage":null}\n\n', b', "usage": null}\n\n')


@dataclass(slots=True)
class Batch:
    """The complete events of one network chunk, checked and usage found in one go."""

    data: bytes  # what goes to the caller (usage-only chunk and null usages dropped if asked)
    final: bool  # it ends with `data: [DONE]`
    usage: Usage | None


def whole_events(whole: bytes, strip_usage: bool) -> Batch | None:
    """`plausible_event`, `chunk_usage` and `drop_null_usage` over a chunk's complete events
    at once, at C speed, in as few passes over the bytes as there can be (each pass costs
    3-7 us on a 6 kB chunk); None when they are not all plain one-line data events (or
    carry usage other than as OpenAI does), for the event-by-event path to decide."""
    if not whole or _DATA_EVENTS.fullmatch(whole) is None:
        return None
    final = False
    if whole.rstrip(b" \t\n").endswith(b"]"):  # the last event is [DONE] (a JSON one ends in `}`)
        last = whole.rfind(b"\n\n", 0, len(whole) - 2) + 2  # 1 when there is one event: none before
        final = len(whole) - (0 if last == 1 else last) < 24  # as the event-by-event path judges it
    if strip_usage:
        stripped = whole.replace(_NULL_TAILS[0], b"}\n\n")
        whole = stripped if len(stripped) < len(whole) else whole.replace(_NULL_TAILS[1], b"}\n\n")
    usage: Usage | None = None
    cut: tuple[int, int] | None = None
    for match in _stripped_usage_keys(whole) if strip_usage else _SET_USAGE.finditer(whole):
        at = match.start()
        if match.lastindex is not None:  # a null usage the strip left (`_USAGE_KEY`'s group)
            if whole[at - 2 : at].endswith((b",", b", ")):
                return None  # one `drop_null_usage` takes that the tails did not: event by event
            continue
        if usage is not None:
            return None  # more than one usage: event by event
        start = whole.rfind(b"\n\n", 0, at) + 2
        start = 0 if start == 1 else start
        end = whole.find(b"\n\n", match.end()) + 2
        found = chunk_usage(whole[start:end])
        if found is None:
            return None
        usage = found.usage
        if strip_usage and found.usage_only:
            cut = (start, end)
    if cut is not None:
        whole = whole[: cut[0]] + whole[cut[1] :]
    return Batch(whole, final, usage)


def _stripped_usage_keys(whole: bytes) -> Iterator[re.Match[bytes]]:
    """The `"usage":` keys left once the null ones are stripped (the one with the usage,
    nearly always): found with bytes.find, which skips the bytes between them several
    times faster than the regex engine's scan."""
    at = whole.find(_USAGE)
    while at >= 0:
        match = _USAGE_KEY.match(whole, at)
        if match is not None:
            yield match
        at = whole.find(_USAGE, at + len(_USAGE))
