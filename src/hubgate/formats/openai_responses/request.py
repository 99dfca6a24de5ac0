"""A caller's `POST /v1/responses` body -> hub.Request (400 naming the field on bad input)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hubgate.errors import InvalidRequest
from hubgate.formats import hub
from hubgate.formats.openai_responses._common import (
    JSON,
    call_signature,
    expect_dict,
    expect_list,
    fail,
    optional_bool,
    optional_int,
    optional_number,
    optional_str,
    path,
    reasoning_text,
    required_str,
    split_data_url,
    thinking_from_encrypted,
)
from hubgate.formats.openai_responses.compaction import unseal
from hubgate.formats.openai_responses.options import ResponsesOptions, request_options
from hubgate.formats.openai_responses.tools import ToolNames, decode_tool_choice, decode_tools

__all__ = ["decode_request"]

# Fields that change what the model reads and that no other upstream can honour.
_UNSUPPORTED_FIELDS = {
    "conversation": "conversations are not supported by this gateway; use previous_response_id or send "
    "the whole input.",
    "prompt": "prompt templates are not supported by this gateway; send the prompt as input.",
}
_EFFORTS = {
    "none": hub.Effort.NONE,
    "minimal": hub.Effort.MINIMAL,
    "low": hub.Effort.LOW,
    "medium": hub.Effort.MEDIUM,
    "high": hub.Effort.HIGH,
    # Levels beyond the hub's scale map to its top.
    "xhigh": hub.Effort.HIGH,
    "max": hub.Effort.HIGH,
}
_SUMMARIES = ("auto", "concise", "detailed")
# Read, or handled by the gateway itself (state, echo); any other top-level field is
# dropped and named (include, prompt_cache_key, client_metadata, service_tier, ...).
_READ_FIELDS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "text",
        "reasoning",
        "user",
        "stream",
        "store",
        "previous_response_id",
        "metadata",
        "truncation",
        "background",
    }
)
# OpenAI's own encrypted reasoning (a Fernet token): only an OpenAI Responses upstream
# can read it. Signatures of other upstreams that hubgate carried in encrypted_content
# look different and are passed back to their upstream.
_OPENAI_ENCRYPTED = "gAAAAA"
_IMAGE_DETAILS = ("auto", "low", "high", "original")


class _Conversation:
    """Builds hub messages from input items, merging what belongs to one turn:
    reasoning, assistant text and function calls form one assistant message;
    consecutive function_call_output items form one tool message."""

    def __init__(self, names: ToolNames, drops: list[hub.Drop]) -> None:
        self.system: list[hub.TextPart] = []
        self.messages: list[hub.Message] = []
        self.names = names
        self.drops = drops
        self._call_names: dict[str, str] = {}

    def add(self, role: str, parts: list[hub.Part]) -> None:
        if role in ("user", "system"):
            if parts:
                self.messages.append(hub.Message(role, tuple(parts)))  # type: ignore[arg-type]
            return
        for part in parts:
            if isinstance(part, hub.ToolCallPart):
                self._call_names[part.id] = part.name
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role:
            self.messages[-1] = hub.Message(last.role, last.parts + tuple(parts))
        elif role == "assistant":
            self.messages.append(hub.Message("assistant", tuple(parts)))
        else:
            self.messages.append(hub.Message("tool", tuple(parts)))

    def call_name(self, call_id: str) -> str | None:
        return self._call_names.get(call_id)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the relay needs of a checked Responses body."""

    model: str
    stream: bool
    options: ResponsesOptions


def check_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    return model


def check_input_type(body: dict[str, Any]) -> None:
    if body.get("input") is not None and not isinstance(body["input"], str | list):
        raise InvalidRequest("Invalid 'input': expected a string or an array of input items.", param="input")


def check_request(body: dict[str, Any]) -> RequestInfo:
    """What the gateway checks of a caller's Responses body before it goes anywhere (the
    route calls this for same-format traffic, forwarded as it came; `decode_request` too)."""
    model = check_model(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("Invalid 'stream': expected a boolean.", param="stream")
    options = request_options(body)
    if "input" not in body and options.previous_response_id is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if not isinstance(body.get("input", []), str | list):
        raise InvalidRequest("Invalid 'input': expected a string or an array of input items.", param="input")
    return RequestInfo(model, stream, options)


def decode_request(body: dict[str, Any]) -> hub.Request:
    """A caller's Responses body -> hub.Request (400 naming the field on bad input)."""
    body = expect_dict(body, "body")
    info = check_request(body)
    model, options = info.model, info.options
    for name, why in _UNSUPPORTED_FIELDS.items():
        if body.get(name) is not None:
            fail(name, why)
    drops = [hub.Drop(str(k)) for k in body if k not in _READ_FIELDS and k not in _UNSUPPORTED_FIELDS]
    names = ToolNames()
    tools, hosted = decode_tools(body.get("tools"), names, drops)

    conv = _Conversation(names, drops)
    if options.instructions:
        conv.system.append(hub.TextPart(options.instructions))
    raw = body.get("input")
    if raw is None:
        pass  # checked: the history comes from previous_response_id
    elif isinstance(raw, str):
        conv.add("user", [hub.TextPart(raw)])
    else:
        for i, item in enumerate(expect_list(raw, "input")):
            _decode_item(conv, expect_dict(item, f"input[{i}]"), f"input[{i}]")

    return hub.Request(
        model=model,
        messages=tuple(conv.messages),
        system=tuple(conv.system),
        tools=tools,
        hosted_tools=hosted,
        tool_choice=decode_tool_choice(body.get("tool_choice"), tools, drops),
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls"),
        max_tokens=optional_int(body, "max_output_tokens"),
        temperature=optional_number(body, "temperature"),
        top_p=optional_number(body, "top_p"),
        response_format=_decode_text(body.get("text"), drops),
        reasoning=_decode_reasoning(body.get("reasoning"), drops),
        user=optional_str(body, "user"),
        stream=info.stream,
        dropped=tuple(drops),
    )


def _decode_item(conv: _Conversation, item: JSON, where: str) -> None:
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"
    if kind == "message":
        _decode_message(conv, item, where)
    elif kind in ("function_call", "custom_tool_call"):
        namespace = optional_str(item, "namespace", where)
        name = conv.names.name_for(namespace, required_str(item, "name", where))
        if kind == "custom_tool_call":
            arguments = orjson.dumps({"input": required_str(item, "input", where)}).decode()
        else:
            arguments = required_str(item, "arguments", where)
        call_id = required_str(item, "call_id", where)
        conv.add("assistant", [hub.ToolCallPart(call_id, name, arguments, signature=call_signature(item))])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        call_id = required_str(item, "call_id", where)
        content = _decode_tool_output(conv, item.get("output"), path(where, "output"))
        result = hub.ToolResultPart(tool_call_id=call_id, content=content, name=conv.call_name(call_id))
        conv.add("tool", [result])
    elif kind == "reasoning":
        thinking = _decode_reasoning_item(conv, item, where)
        if thinking is not None:
            conv.add("assistant", [thinking])
    elif kind == "compaction":
        summary = unseal(required_str(item, "encrypted_content", where))
        if summary is None:
            fail(
                path(where, "encrypted_content"),
                "this compaction item was made by an OpenAI Responses upstream and can only be sent to one.",
            )
        conv.add("user", [hub.TextPart(f"Summary of the earlier conversation:\n{summary}")])
    else:
        # item references, hosted tool calls (web_search_call, local_shell_call, mcp_call...)
        # and their outputs: nothing another upstream could read.
        conv.drops.append(hub.Drop(where, str(kind or "untyped"), "item"))


def _decode_message(conv: _Conversation, item: JSON, where: str) -> None:
    role = item.get("role")
    content = item.get("content")
    where_content = path(where, "content")
    if role in ("system", "developer"):
        texts = _texts(conv, content, where_content, ("input_text",))
        if conv.messages:  # after the conversation started: kept in place
            conv.add("system", list(texts))
        else:
            conv.system.extend(texts)
    elif role == "assistant":
        conv.add(
            "assistant", list(_texts(conv, content, where_content, ("output_text", "refusal", "input_text")))
        )
    elif role == "user":
        if isinstance(content, str):
            conv.add("user", [hub.TextPart(content)])
        else:
            parts = expect_list(content, where_content)
            decoded = [
                _user_part(conv, expect_dict(p, path(where_content, j)), path(where_content, j))
                for j, p in enumerate(parts)
            ]
            conv.add("user", [p for p in decoded if p is not None])
    elif role is None:
        raise InvalidRequest(f"Missing required parameter: '{where}.role'.", param=f"{where}.role")
    else:
        conv.drops.append(hub.Drop(where, str(role), "message"))


def _texts(conv: _Conversation, content: Any, where: str, kinds: tuple[str, ...]) -> list[hub.TextPart]:
    """Text-only message content (system, developer and assistant messages); other
    parts are dropped and named."""
    if isinstance(content, str):
        return [hub.TextPart(content)]
    texts = []
    for j, part in enumerate(expect_list(content, where)):
        part = expect_dict(part, path(where, j))
        kind = part.get("type")
        if kind not in kinds:
            conv.drops.append(hub.Drop(path(where, j), str(kind), "content"))
            continue
        key = "refusal" if kind == "refusal" else "text"
        texts.append(hub.TextPart(required_str(part, key, path(where, j))))
    return texts


def _user_part(conv: _Conversation, part: JSON, where: str) -> hub.Part | None:
    kind = part.get("type")
    if kind == "input_text":
        return hub.TextPart(required_str(part, "text", where))
    if kind == "input_image":
        return _image(conv, part, where)
    if kind == "input_file":
        name = optional_str(part, "filename", where)
        file_data = optional_str(part, "file_data", where)
        if file_data is not None:
            if file_data.startswith("data:"):
                media_type, data = split_data_url(file_data, path(where, "file_data"))
                return hub.DocumentPart(data=data, media_type=media_type, name=name)
            guessed = "application/pdf" if (name or "").lower().endswith(".pdf") else None
            return hub.DocumentPart(data=file_data, media_type=guessed, name=name)
        file_url = optional_str(part, "file_url", where)
        if file_url is None:  # a file id names a file stored at OpenAI
            conv.drops.append(hub.Drop(where, "input_file", "content"))
            return None
        return hub.DocumentPart(url=file_url, name=name)
    conv.drops.append(hub.Drop(where, str(kind), "content"))
    return None


def _image(conv: _Conversation, part: JSON, where: str) -> hub.ImagePart | None:
    if part.get("image_url") is None:  # a file id names a file stored at OpenAI
        conv.drops.append(hub.Drop(where, "input_image", "content"))
        return None
    url = required_str(part, "image_url", where)
    detail = optional_str(part, "detail", where)
    if detail is not None and detail not in _IMAGE_DETAILS:
        fail(path(where, "detail"), f"expected one of 'auto', 'low', 'high', 'original', got '{detail}'.")
    detail = None if detail == "auto" else detail
    if url.startswith("data:"):
        media_type, data = split_data_url(url, path(where, "image_url"))
        return hub.ImagePart(data=data, media_type=media_type, detail=detail)
    return hub.ImagePart(url=url, detail=detail)


def _decode_tool_output(
    conv: _Conversation, output: Any, where: str
) -> tuple[hub.TextPart | hub.ImagePart, ...]:
    if isinstance(output, str):
        return (hub.TextPart(output),) if output else ()
    parts: list[hub.TextPart | hub.ImagePart] = []
    for j, part in enumerate(expect_list(output, where)):
        part = expect_dict(part, path(where, j))
        kind = part.get("type")
        if kind == "input_text":
            parts.append(hub.TextPart(required_str(part, "text", path(where, j))))
        elif kind == "input_image":
            image = _image(conv, part, path(where, j))
            if image is not None:
                parts.append(image)
        else:
            conv.drops.append(hub.Drop(path(where, j), str(kind), "content"))
    return tuple(parts)


def _decode_reasoning_item(conv: _Conversation, item: JSON, where: str) -> hub.ThinkingPart | None:
    for key in ("summary", "content"):
        if item.get(key) is not None:
            for j, part in enumerate(expect_list(item[key], path(where, key))):
                required_str(expect_dict(part, path(path(where, key), j)), "text", path(path(where, key), j))
    encrypted = optional_str(item, "encrypted_content", where)
    if encrypted is not None and encrypted.startswith(_OPENAI_ENCRYPTED):
        # Only an OpenAI Responses upstream reads it, and that one gets the body as it came.
        conv.drops.append(hub.Drop(path(where, "encrypted_content"), "reasoning", "item"))
        encrypted = None
    text = reasoning_text(item)
    if not text and encrypted is None:
        return None  # an empty summary of reasoning the upstream kept to itself
    return thinking_from_encrypted(text, encrypted)


def _decode_text(text: Any, drops: list[hub.Drop]) -> hub.ResponseFormat | None:
    if text is None:
        return None
    drops += [hub.Drop(f"text.{k}") for k in expect_dict(text, "text") if k != "format"]  # verbosity
    fmt = text.get("format")
    if fmt is None:
        return None
    fmt = expect_dict(fmt, "text.format")
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return hub.ResponseFormat(kind)
    if kind == "json_schema":
        schema = fmt.get("schema")
        if schema is None:
            raise InvalidRequest(
                "Missing required parameter: 'text.format.schema'.", param="text.format.schema"
            )
        return hub.ResponseFormat(
            "json_schema",
            schema=expect_dict(schema, "text.format.schema"),
            name=required_str(fmt, "name", "text.format"),
            strict=optional_bool(fmt, "strict", "text.format"),
        )
    drops.append(hub.Drop("text.format", str(kind)))
    return None


def _decode_reasoning(reasoning: Any, drops: list[hub.Drop]) -> hub.Reasoning | None:
    if reasoning is None:
        return None
    reasoning = expect_dict(reasoning, "reasoning")
    effort = optional_str(reasoning, "effort", "reasoning")
    if effort is not None and effort not in _EFFORTS:
        drops.append(hub.Drop("reasoning.effort", effort))
        effort = None
    summary = optional_str(reasoning, "summary", "reasoning") or optional_str(
        reasoning, "generate_summary", "reasoning"
    )
    if summary == "none":
        summary = None
    elif summary is not None and summary not in _SUMMARIES:
        drops.append(hub.Drop("reasoning.summary", summary))
        summary = "auto"
    if effort is None and summary is None:
        return None
    return hub.Reasoning(effort=_EFFORTS[effort] if effort else None, include_thoughts=summary is not None)
