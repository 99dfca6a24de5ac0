"""A caller's Anthropic Messages body -> hub.Request (see the package docstring for the
mapping decisions). Errors name the field the way Anthropic's own 400s do."""

from __future__ import annotations

import base64
from typing import Any

from hubgate.formats import hub

from ._shared import (
    JSON,
    MIN_THINKING_BUDGET,
    as_dict,
    as_str,
    child,
    dump_input,
    fail,
    opt_bool,
    opt_dict,
    opt_int,
    opt_list,
    opt_number,
    opt_str,
    req_str,
)

# output_config.effort -> the hub's scale, whose top is "high"
_EFFORTS = {
    "low": hub.Effort.LOW,
    "medium": hub.Effort.MEDIUM,
    "high": hub.Effort.HIGH,
    "xhigh": hub.Effort.HIGH,
    "max": hub.Effort.HIGH,
}


def decode_request(body: JSON) -> hub.Request:
    """A caller's Messages body -> hub. Raises InvalidRequest naming the field, as the
    real API would (missing max_tokens, server tools, unknown block types...)."""
    body = as_dict(body, "body")
    max_tokens = opt_int(body, "max_tokens", "")
    if max_tokens is None:
        raise fail("max_tokens", "Field required")
    if max_tokens < 0:
        raise fail("max_tokens", "Input should be greater than or equal to 0")
    tool_choice, parallel = _decode_tool_choice(opt_dict(body, "tool_choice", ""))
    metadata = opt_dict(body, "metadata", "") or {}
    return hub.Request(
        model=req_str(body, "model", ""),
        messages=_decode_messages(body),
        system=_decode_system(body.get("system")),
        tools=_decode_tools(opt_list(body, "tools", "") or []),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=opt_number(body, "temperature", "", 0.0, 1.0),
        top_p=opt_number(body, "top_p", "", 0.0, 1.0),
        top_k=opt_int(body, "top_k", ""),
        stop=tuple(as_str(s, f"stop_sequences.{i}") for i, s in enumerate(_list(body, "stop_sequences"))),
        response_format=_decode_output_format(body),
        reasoning=_decode_reasoning(body, max_tokens),
        user=opt_str(metadata, "user_id", "metadata"),
        stream=opt_bool(body, "stream", "") or False,
    )


def _list(obj: JSON, key: str) -> list[Any]:
    return opt_list(obj, key, "") or []


def _decode_system(system: Any) -> tuple[hub.TextPart, ...]:
    """A string or text blocks; `cache_control` is accepted and ignored (the gateway
    does not forward cache breakpoints across formats)."""
    if system is None:
        return ()
    if isinstance(system, str):
        return (hub.TextPart(system),) if system else ()
    if not isinstance(system, list):
        raise fail("system", "Input should be a valid string or a list of text blocks")
    parts = []
    for i, raw in enumerate(system):
        block = as_dict(raw, f"system.{i}")
        if block.get("type") != "text":
            raise fail(f"system.{i}.type", "system blocks must be of type 'text'")
        text = req_str(block, "text", f"system.{i}")
        if text:
            parts.append(hub.TextPart(text))
    return tuple(parts)


def _decode_messages(body: JSON) -> tuple[hub.Message, ...]:
    raw_messages = opt_list(body, "messages", "")
    if raw_messages is None:
        raise fail("messages", "Field required")
    if not raw_messages:
        raise fail("messages", "at least one message is required")
    tool_names: dict[str, str] = {}
    out: list[hub.Message] = []
    for i, raw in enumerate(raw_messages):
        path = f"messages.{i}"
        message = as_dict(raw, path)
        role = req_str(message, "role", path)
        if role not in ("user", "assistant"):
            raise fail(f"{path}.role", "Input should be 'user' or 'assistant'")
        blocks = _blocks(message.get("content"), f"{path}.content")
        if role == "assistant":
            parts = tuple(_decode_assistant_block(b, f"{path}.content.{j}") for j, b in enumerate(blocks))
            kept = tuple(p for p in parts if p is not None)
            tool_names.update((p.id, p.name) for p in kept if isinstance(p, hub.ToolCallPart))
            if kept:
                out.append(hub.Message("assistant", kept))
            continue
        results: list[hub.Part] = []
        others: list[hub.Part] = []
        for j, block in enumerate(blocks):
            part = _decode_user_block(block, f"{path}.content.{j}", tool_names)
            if isinstance(part, hub.ToolResultPart):
                results.append(part)
            elif part is not None:
                others.append(part)
        if results:
            out.append(hub.Message("tool", tuple(results)))
        if others:
            out.append(hub.Message("user", tuple(others)))
    return tuple(out)


def _blocks(content: Any, path: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise fail(path, "Input should be a valid string or a list of content blocks")
    return [as_dict(b, child(path, j)) for j, b in enumerate(content)]


def _decode_assistant_block(block: JSON, path: str) -> hub.Part | None:
    kind = req_str(block, "type", path)
    if kind == "text":
        text = req_str(block, "text", path)
        return hub.TextPart(text) if text else None  # empty text blocks are dropped
    if kind == "thinking":
        return hub.ThinkingPart(
            text=req_str(block, "thinking", path), signature=opt_str(block, "signature", path) or None
        )
    if kind == "redacted_thinking":
        return hub.ThinkingPart(redacted=req_str(block, "data", path))
    if kind == "tool_use":
        tool_input = block.get("input")
        return hub.ToolCallPart(
            id=req_str(block, "id", path),
            name=req_str(block, "name", path),
            arguments=dump_input(as_dict(tool_input, f"{path}.input")),
        )
    if kind in ("image", "document", "tool_result"):
        raise fail(f"{path}.type", f"'{kind}' blocks are only allowed in user messages")
    raise fail(f"{path}.type", f"content blocks of type '{kind}' are not supported by the gateway")


def _decode_user_block(block: JSON, path: str, tool_names: dict[str, str]) -> hub.Part | None:
    kind = req_str(block, "type", path)
    if kind == "text":
        text = req_str(block, "text", path)
        return hub.TextPart(text) if text else None
    if kind == "image":
        return _decode_image(block, path)
    if kind == "document":
        return _decode_document(block, path)
    if kind == "tool_result":
        call_id = req_str(block, "tool_use_id", path)
        return hub.ToolResultPart(
            tool_call_id=call_id,
            content=_decode_result_content(block.get("content"), f"{path}.content"),
            is_error=opt_bool(block, "is_error", path) or False,
            name=tool_names.get(call_id),
        )
    if kind in ("thinking", "redacted_thinking", "tool_use"):
        raise fail(f"{path}.type", f"'{kind}' blocks are only allowed in assistant messages")
    raise fail(f"{path}.type", f"content blocks of type '{kind}' are not supported by the gateway")


def _decode_result_content(content: Any, path: str) -> tuple[hub.TextPart | hub.ImagePart, ...]:
    if content is None:
        return ()
    parts: list[hub.TextPart | hub.ImagePart] = []
    for j, block in enumerate(_blocks(content, path)):
        kind = req_str(block, "type", child(path, j))
        if kind == "text":
            text = req_str(block, "text", child(path, j))
            if text:
                parts.append(hub.TextPart(text))
        elif kind == "image":
            parts.append(_decode_image(block, child(path, j)))
        else:
            raise fail(f"{child(path, j)}.type", f"'{kind}' blocks in tool results are not supported")
    return tuple(parts)


def _decode_image(block: JSON, path: str) -> hub.ImagePart:
    source = as_dict(block.get("source"), f"{path}.source")
    kind = req_str(source, "type", f"{path}.source")
    if kind == "base64":
        return hub.ImagePart(
            data=req_str(source, "data", f"{path}.source"),
            media_type=req_str(source, "media_type", f"{path}.source"),
        )
    if kind == "url":
        return hub.ImagePart(url=req_str(source, "url", f"{path}.source"))
    raise fail(f"{path}.source.type", f"image sources of type '{kind}' are not supported by the gateway")


def _decode_document(block: JSON, path: str) -> hub.DocumentPart:
    if block.get("context"):
        raise fail(f"{path}.context", "document context is not supported by the gateway")
    title = opt_str(block, "title", path)
    source = as_dict(block.get("source"), f"{path}.source")
    spath = f"{path}.source"
    kind = req_str(source, "type", spath)
    if kind == "base64":
        return hub.DocumentPart(
            data=req_str(source, "data", spath), media_type=req_str(source, "media_type", spath), name=title
        )
    if kind == "url":
        return hub.DocumentPart(url=req_str(source, "url", spath), media_type="application/pdf", name=title)
    if kind == "text":
        # hub documents carry base64 data whatever the media type
        text = req_str(source, "data", spath)
        encoded = base64.b64encode(text.encode()).decode()
        return hub.DocumentPart(data=encoded, media_type="text/plain", name=title)
    raise fail(f"{spath}.type", f"document sources of type '{kind}' are not supported by the gateway")


def _decode_tools(tools: list[Any]) -> tuple[hub.Tool, ...]:
    out = []
    for i, raw in enumerate(tools):
        path = f"tools.{i}"
        tool = as_dict(raw, path)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise fail(f"{path}.type", f"server tool '{kind}' is not supported by the gateway")
        schema = tool.get("input_schema")
        if schema is None:
            raise fail(f"{path}.input_schema", "Field required")
        out.append(
            hub.Tool(
                name=req_str(tool, "name", path),
                description=opt_str(tool, "description", path),
                parameters=as_dict(schema, f"{path}.input_schema"),
                strict=opt_bool(tool, "strict", path),
            )
        )
    return tuple(out)


def _decode_tool_choice(choice: JSON | None) -> tuple[hub.ToolChoice | None, bool | None]:
    if choice is None:
        return None, None
    kind = req_str(choice, "type", "tool_choice")
    parallel = False if opt_bool(choice, "disable_parallel_tool_use", "tool_choice") else None
    if kind == "auto":
        return hub.ToolChoice("auto"), parallel
    if kind == "any":
        return hub.ToolChoice("required"), parallel
    if kind == "tool":
        return hub.ToolChoice("tool", req_str(choice, "name", "tool_choice")), parallel
    if kind == "none":
        return hub.ToolChoice("none"), None
    raise fail("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")


def _decode_reasoning(body: JSON, max_tokens: int) -> hub.Reasoning | None:
    """`thinking` (+ `output_config.effort`) -> hub.Reasoning. Adaptive thinking has no
    budget: it becomes a Reasoning with only the effort (or nothing: "model decides")."""
    config = opt_dict(body, "output_config", "") or {}
    effort_name = opt_str(config, "effort", "output_config")
    effort = None
    if effort_name is not None:
        if effort_name not in _EFFORTS:
            raise fail("output_config.effort", "Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
        effort = _EFFORTS[effort_name]
    thinking = opt_dict(body, "thinking", "")
    if thinking is None:
        return hub.Reasoning(effort=effort) if effort is not None else None
    kind = req_str(thinking, "type", "thinking")
    if kind in ("disabled", "between_tools"):
        return hub.Reasoning(effort=hub.Effort.NONE, budget_tokens=0)
    include = opt_str(thinking, "display", "thinking") != "omitted"
    if kind == "adaptive":
        return hub.Reasoning(effort=effort, include_thoughts=include)
    if kind != "enabled":
        raise fail("thinking.type", "Input should be 'enabled', 'adaptive' or 'disabled'")
    budget = opt_int(thinking, "budget_tokens", "thinking")
    if budget is None:
        raise fail("thinking.budget_tokens", "Field required")
    if budget < MIN_THINKING_BUDGET:
        raise fail(
            "thinking.budget_tokens", f"Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        )
    if max_tokens <= budget:
        raise fail("max_tokens", "`max_tokens` must be greater than `thinking.budget_tokens`")
    return hub.Reasoning(effort=effort, budget_tokens=budget, include_thoughts=include)


def _decode_output_format(body: JSON) -> hub.ResponseFormat | None:
    config = opt_dict(body, "output_config", "") or {}
    fmt = opt_dict(config, "format", "output_config")
    if fmt is None:
        return None
    if fmt.get("type") != "json_schema":
        raise fail("output_config.format.type", "Input should be 'json_schema'")
    schema = as_dict(fmt.get("schema"), "output_config.format.schema")
    return hub.ResponseFormat("json_schema", schema=schema)
