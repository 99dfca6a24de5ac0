"""A caller's `POST /v1/responses` body -> hub.Request (400 naming the field on bad input)."""

from __future__ import annotations

from typing import Any

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
    type_name,
)
from hubgate.formats.openai_responses.compaction import unseal
from hubgate.formats.openai_responses.options import request_options

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
_IMAGE_DETAILS = ("auto", "low", "high", "original")


class _Conversation:
    """Builds hub messages from input items, merging what belongs to one turn:
    reasoning, assistant text and function calls form one assistant message;
    consecutive function_call_output items form one tool message."""

    def __init__(self) -> None:
        self.system: list[hub.TextPart] = []
        self.messages: list[hub.Message] = []
        self._call_names: dict[str, str] = {}

    def add(self, role: str, parts: list[hub.Part]) -> None:
        if role == "user":
            self.messages.append(hub.Message("user", tuple(parts)))
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


def decode_request(body: dict[str, Any]) -> hub.Request:
    """A caller's Responses body -> hub.Request (400 naming the field on bad input)."""
    body = expect_dict(body, "body")
    model = body.get("model")
    if model is None:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model:
        fail("model", f"expected a non-empty string, got {type_name(model)}.")
    for name, why in _UNSUPPORTED_FIELDS.items():
        if body.get(name) is not None:
            fail(name, why)
    options = request_options(body)

    conv = _Conversation()
    if options.instructions:
        conv.system.append(hub.TextPart(options.instructions))
    raw = body.get("input")
    if raw is None:
        if options.previous_response_id is None:
            raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    elif isinstance(raw, str):
        conv.add("user", [hub.TextPart(raw)])
    else:
        for i, item in enumerate(expect_list(raw, "input")):
            _decode_item(conv, expect_dict(item, f"input[{i}]"), f"input[{i}]")

    stream = optional_bool(body, "stream")
    return hub.Request(
        model=model,
        messages=tuple(conv.messages),
        system=tuple(conv.system),
        tools=_decode_tools(body.get("tools")),
        tool_choice=_decode_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls"),
        max_tokens=optional_int(body, "max_output_tokens"),
        temperature=optional_number(body, "temperature"),
        top_p=optional_number(body, "top_p"),
        response_format=_decode_text(body.get("text")),
        reasoning=_decode_reasoning(body.get("reasoning")),
        user=optional_str(body, "user"),
        stream=stream is True,
    )


def _decode_item(conv: _Conversation, item: JSON, where: str) -> None:
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"
    if kind == "message":
        _decode_message(conv, item, where)
    elif kind == "function_call":
        call = hub.ToolCallPart(
            id=required_str(item, "call_id", where),
            name=required_str(item, "name", where),
            arguments=required_str(item, "arguments", where),
            signature=call_signature(item),
        )
        conv.add("assistant", [call])
    elif kind == "function_call_output":
        call_id = required_str(item, "call_id", where)
        content = _decode_tool_output(item.get("output"), path(where, "output"))
        result = hub.ToolResultPart(tool_call_id=call_id, content=content, name=conv.call_name(call_id))
        conv.add("tool", [result])
    elif kind == "reasoning":
        thinking = _decode_reasoning_item(item, where)
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
    elif kind is None or kind == "item_reference":
        fail(
            where,
            "item references are not supported by this gateway; send the item itself, or use "
            "previous_response_id.",
        )
    else:
        fail(path(where, "type"), f"input items of type '{kind}' are not supported by this gateway.")


def _decode_message(conv: _Conversation, item: JSON, where: str) -> None:
    role = item.get("role")
    content = item.get("content")
    where_content = path(where, "content")
    if role in ("system", "developer"):
        conv.system.extend(_texts(content, where_content, ("input_text",)))
    elif role == "assistant":
        conv.add("assistant", list(_texts(content, where_content, ("output_text", "refusal", "input_text"))))
    elif role == "user":
        if isinstance(content, str):
            conv.add("user", [hub.TextPart(content)])
        else:
            parts = expect_list(content, where_content)
            conv.add(
                "user",
                [
                    _user_part(expect_dict(p, path(where_content, j)), path(where_content, j))
                    for j, p in enumerate(parts)
                ],
            )
    elif role is None:
        raise InvalidRequest(f"Missing required parameter: '{where}.role'.", param=f"{where}.role")
    else:
        fail(
            path(where, "role"), f"expected one of 'user', 'system', 'developer', 'assistant', got '{role}'."
        )


def _texts(content: Any, where: str, kinds: tuple[str, ...]) -> list[hub.TextPart]:
    """Text-only message content (system, developer and assistant messages)."""
    if isinstance(content, str):
        return [hub.TextPart(content)]
    texts = []
    for j, part in enumerate(expect_list(content, where)):
        part = expect_dict(part, path(where, j))
        kind = part.get("type")
        if kind not in kinds:
            allowed = ", ".join(f"'{k}'" for k in kinds)
            fail(path(path(where, j), "type"), f"expected one of {allowed} here, got '{kind}'.")
        key = "refusal" if kind == "refusal" else "text"
        texts.append(hub.TextPart(required_str(part, key, path(where, j))))
    return texts


def _user_part(part: JSON, where: str) -> hub.Part:
    kind = part.get("type")
    if kind == "input_text":
        return hub.TextPart(required_str(part, "text", where))
    if kind == "input_image":
        return _image(part, where)
    if kind == "input_file":
        if part.get("file_id") is not None:
            fail(
                path(where, "file_id"),
                "file IDs are not supported by this gateway; send file_data or file_url.",
            )
        name = optional_str(part, "filename", where)
        file_data = optional_str(part, "file_data", where)
        if file_data is not None:
            if file_data.startswith("data:"):
                media_type, data = split_data_url(file_data, path(where, "file_data"))
                return hub.DocumentPart(data=data, media_type=media_type, name=name)
            guessed = "application/pdf" if (name or "").lower().endswith(".pdf") else None
            return hub.DocumentPart(data=file_data, media_type=guessed, name=name)
        file_url = optional_str(part, "file_url", where)
        if file_url is None:
            raise InvalidRequest(
                f"Missing required parameter: '{where}.file_data' or '{where}.file_url'.",
                param=path(where, "file_data"),
            )
        return hub.DocumentPart(url=file_url, name=name)
    fail(path(where, "type"), f"expected 'input_text', 'input_image' or 'input_file', got '{kind}'.")


def _image(part: JSON, where: str) -> hub.ImagePart:
    if part.get("file_id") is not None:
        fail(path(where, "file_id"), "file IDs are not supported by this gateway; send image_url.")
    url = required_str(part, "image_url", where)
    detail = optional_str(part, "detail", where)
    if detail is not None and detail not in _IMAGE_DETAILS:
        fail(path(where, "detail"), f"expected one of 'auto', 'low', 'high', 'original', got '{detail}'.")
    detail = None if detail == "auto" else detail
    if url.startswith("data:"):
        media_type, data = split_data_url(url, path(where, "image_url"))
        return hub.ImagePart(data=data, media_type=media_type, detail=detail)
    return hub.ImagePart(url=url, detail=detail)


def _decode_tool_output(output: Any, where: str) -> tuple[hub.TextPart | hub.ImagePart, ...]:
    if isinstance(output, str):
        return (hub.TextPart(output),) if output else ()
    parts: list[hub.TextPart | hub.ImagePart] = []
    for j, part in enumerate(expect_list(output, where)):
        part = expect_dict(part, path(where, j))
        kind = part.get("type")
        if kind == "input_text":
            parts.append(hub.TextPart(required_str(part, "text", path(where, j))))
        elif kind == "input_image":
            parts.append(_image(part, path(where, j)))
        else:
            fail(path(path(where, j), "type"), f"expected 'input_text' or 'input_image', got '{kind}'.")
    return tuple(parts)


def _decode_reasoning_item(item: JSON, where: str) -> hub.ThinkingPart | None:
    for key in ("summary", "content"):
        if item.get(key) is not None:
            for j, part in enumerate(expect_list(item[key], path(where, key))):
                required_str(expect_dict(part, path(path(where, key), j)), "text", path(path(where, key), j))
    encrypted = optional_str(item, "encrypted_content", where)
    text = reasoning_text(item)
    if not text and encrypted is None:
        return None  # an empty summary of reasoning the upstream kept to itself
    return thinking_from_encrypted(text, encrypted)


def _decode_tools(tools: Any) -> tuple[hub.Tool, ...]:
    if tools is None:
        return ()
    decoded = []
    for i, tool in enumerate(expect_list(tools, "tools")):
        where = f"tools[{i}]"
        tool = expect_dict(tool, where)
        kind = tool.get("type")
        if kind != "function":
            fail(
                path(where, "type"),
                f"tools of type '{kind}' are not supported by this gateway; only 'function' tools are.",
            )
        parameters = tool.get("parameters")
        decoded.append(
            hub.Tool(
                name=required_str(tool, "name", where),
                description=optional_str(tool, "description", where),
                parameters=(
                    expect_dict(parameters, path(where, "parameters"))
                    if parameters is not None
                    else {"type": "object", "properties": {}}
                ),
                strict=optional_bool(tool, "strict", where),
            )
        )
    return tuple(decoded)


def _decode_tool_choice(choice: Any) -> hub.ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return hub.ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        return hub.ToolChoice("tool", required_str(choice, "name", "tool_choice"))
    if isinstance(choice, dict):
        fail(
            "tool_choice.type",
            f"tool_choice of type '{choice.get('type')}' is not supported by this gateway.",
        )
    fail("tool_choice", "expected 'auto', 'none', 'required' or {'type': 'function', 'name': ...}.")


def _decode_text(text: Any) -> hub.ResponseFormat | None:
    if text is None:
        return None
    fmt = expect_dict(text, "text").get("format")
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
    fail("text.format.type", f"expected 'text', 'json_object' or 'json_schema', got '{kind}'.")


def _decode_reasoning(reasoning: Any) -> hub.Reasoning | None:
    if reasoning is None:
        return None
    reasoning = expect_dict(reasoning, "reasoning")
    effort = optional_str(reasoning, "effort", "reasoning")
    if effort is not None and effort not in _EFFORTS:
        fail("reasoning.effort", f"expected one of {', '.join(_EFFORTS)}, got '{effort}'.")
    summary = optional_str(reasoning, "summary", "reasoning") or optional_str(
        reasoning, "generate_summary", "reasoning"
    )
    if summary is not None and summary not in _SUMMARIES:
        fail("reasoning.summary", f"expected 'auto', 'concise' or 'detailed', got '{summary}'.")
    if effort is None and summary is None:
        return None
    return hub.Reasoning(effort=_EFFORTS[effort] if effort else None, include_thoughts=summary is not None)
