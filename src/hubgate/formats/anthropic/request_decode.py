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
from .request_check import check_request

# output_config.effort -> the hub's scale, whose top is "high"
_EFFORTS = {
    "low": hub.Effort.LOW,
    "medium": hub.Effort.MEDIUM,
    "high": hub.Effort.HIGH,
    "xhigh": hub.Effort.HIGH,
    "max": hub.Effort.HIGH,
}


# Top-level fields read (or, for cache_control, deliberately ignored); any other is
# dropped and named.
_READ_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "thinking",
        "output_config",
        "cache_control",  # an optimisation hint: ignored silently, like every cache_control
    }
)


def decode_request(body: JSON) -> hub.Request:
    """A caller's Messages body -> hub. Raises InvalidRequest naming the field only for
    malformed input (a missing or mistyped field); what the hub cannot carry (server
    tools, new block types, unknown fields) is dropped and named in `dropped`."""
    body = as_dict(body, "body")
    info = check_request(body, need_max_tokens=False)
    drops: list[hub.Drop] = [hub.Drop(str(k)) for k in body if k not in _READ_FIELDS]
    # The route asks a positive max_tokens; a count_tokens estimate decodes with its own.
    max_tokens = opt_int(body, "max_tokens", "")
    if max_tokens is None:
        raise fail("max_tokens", "Field required")
    if max_tokens < 0:
        raise fail("max_tokens", "Input should be greater than or equal to 0")
    tool_choice, parallel = _decode_tool_choice(opt_dict(body, "tool_choice", ""), drops)
    metadata = opt_dict(body, "metadata", "") or {}
    tools, hosted = _decode_tools(opt_list(body, "tools", "") or [], drops)
    return hub.Request(
        model=info.model,
        messages=_decode_messages(body, drops),
        system=_decode_system(body.get("system"), drops),
        tools=tools,
        hosted_tools=hosted,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=opt_number(body, "temperature", "", 0.0, 1.0),
        top_p=opt_number(body, "top_p", "", 0.0, 1.0),
        top_k=opt_int(body, "top_k", ""),
        stop=tuple(as_str(s, f"stop_sequences.{i}") for i, s in enumerate(_list(body, "stop_sequences"))),
        response_format=_decode_output_format(body, drops),
        reasoning=_decode_reasoning(body, max_tokens, drops),
        user=opt_str(metadata, "user_id", "metadata"),
        stream=info.stream,
        dropped=tuple(drops),
    )


def _list(obj: JSON, key: str) -> list[Any]:
    return opt_list(obj, key, "") or []


def _decode_system(system: Any, drops: list[hub.Drop], path: str = "system") -> tuple[hub.TextPart, ...]:
    """A string or text blocks (other blocks are dropped and named); `cache_control` is
    accepted and ignored (the gateway does not forward cache breakpoints across formats)."""
    if system is None:
        return ()
    if isinstance(system, str):
        return (hub.TextPart(system),) if system else ()
    if not isinstance(system, list):
        raise fail(path, "Input should be a valid string or a list of text blocks")
    parts = []
    for i, raw in enumerate(system):
        block = as_dict(raw, f"{path}.{i}")
        kind = req_str(block, "type", f"{path}.{i}")
        if kind != "text":
            drops.append(hub.Drop(f"{path}.{i}", kind, "content"))
            continue
        text = req_str(block, "text", f"{path}.{i}")
        if text:
            parts.append(hub.TextPart(text))
    return tuple(parts)


def _decode_messages(body: JSON, drops: list[hub.Drop]) -> tuple[hub.Message, ...]:
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
        if role in ("system", "developer"):
            # Claude Code's system reminders: kept in place as a hub system message.
            texts = _decode_system(message.get("content"), drops, f"{path}.content")
            if texts:
                out.append(hub.Message("system", texts))
            continue
        if role not in ("user", "assistant"):
            drops.append(hub.Drop(path, role, "message"))
            continue
        blocks = _blocks(message.get("content"), f"{path}.content")
        if role == "assistant":
            parts = [_decode_assistant_block(b, f"{path}.content.{j}", drops) for j, b in enumerate(blocks)]
            kept = tuple(p for p in parts if p is not None)
            tool_names.update((p.id, p.name) for p in kept if isinstance(p, hub.ToolCallPart))
            if kept:
                out.append(hub.Message("assistant", kept))
            continue
        results: list[hub.Part] = []
        others: list[hub.Part] = []
        for j, block in enumerate(blocks):
            part = _decode_user_block(block, f"{path}.content.{j}", tool_names, drops)
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


def _decode_assistant_block(block: JSON, path: str, drops: list[hub.Drop]) -> hub.Part | None:
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
    # server_tool_use, web_search_tool_result, mcp_tool_use, images in assistant turns...
    drops.append(hub.Drop(path, kind, "content"))
    return None


def _decode_user_block(
    block: JSON, path: str, tool_names: dict[str, str], drops: list[hub.Drop]
) -> hub.Part | None:
    kind = req_str(block, "type", path)
    if kind == "text":
        text = req_str(block, "text", path)
        return hub.TextPart(text) if text else None
    if kind == "image":
        return _decode_image(block, path, drops)
    if kind == "document":
        return _decode_document(block, path, drops)
    if kind == "tool_result":
        call_id = req_str(block, "tool_use_id", path)
        return hub.ToolResultPart(
            tool_call_id=call_id,
            content=_decode_result_content(block.get("content"), f"{path}.content", drops),
            is_error=opt_bool(block, "is_error", path) or False,
            name=tool_names.get(call_id),
        )
    drops.append(hub.Drop(path, kind, "content"))
    return None


def _decode_result_content(
    content: Any, path: str, drops: list[hub.Drop]
) -> tuple[hub.TextPart | hub.ImagePart, ...]:
    if content is None:
        return ()
    parts: list[hub.TextPart | hub.ImagePart] = []
    for j, block in enumerate(_blocks(content, path)):
        kind = req_str(block, "type", child(path, j))
        if kind == "text":
            text = req_str(block, "text", child(path, j))
            if text:
                parts.append(hub.TextPart(text))
        elif kind == "image" and (image := _decode_image(block, child(path, j), drops)) is not None:
            parts.append(image)
        elif kind != "image":
            drops.append(hub.Drop(child(path, j), kind, "content"))
    return tuple(parts)


def _decode_image(block: JSON, path: str, drops: list[hub.Drop]) -> hub.ImagePart | None:
    source = as_dict(block.get("source"), f"{path}.source")
    kind = req_str(source, "type", f"{path}.source")
    if kind == "base64":
        return hub.ImagePart(
            data=req_str(source, "data", f"{path}.source"),
            media_type=req_str(source, "media_type", f"{path}.source"),
        )
    if kind == "url":
        return hub.ImagePart(url=req_str(source, "url", f"{path}.source"))
    drops.append(hub.Drop(f"{path}.source", kind, "content"))  # Files-API ids live at Anthropic
    return None


def _decode_document(block: JSON, path: str, drops: list[hub.Drop]) -> hub.DocumentPart | None:
    if block.get("context"):
        drops.append(hub.Drop(f"{path}.context"))
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
    drops.append(hub.Drop(spath, kind, "content"))  # content blocks, Files-API ids
    return None


def _decode_tools(
    tools: list[Any], drops: list[hub.Drop]
) -> tuple[tuple[hub.Tool, ...], tuple[hub.HostedTool, ...]]:
    """Client tools -> hub tools; the server-side web search -> a hosted tool; other
    server tools (bash, text editor, code execution, web fetch, MCP...) are dropped."""
    out = []
    hosted = []
    for i, raw in enumerate(tools):
        path = f"tools.{i}"
        tool = as_dict(raw, path)
        kind = opt_str(tool, "type", path)
        if kind is not None and kind.startswith("web_search_"):
            hosted.append(_web_search(tool, path))
            continue
        if kind not in (None, "custom"):
            drops.append(hub.Drop(path, kind, "tool"))
            continue
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
    return tuple(out), tuple(hosted)


def _web_search(tool: JSON, path: str) -> hub.HostedTool:
    domains = opt_list(tool, "allowed_domains", path) or []
    return hub.HostedTool(
        "web_search",
        path,
        max_uses=opt_int(tool, "max_uses", path),
        allowed_domains=tuple(as_str(d, f"{path}.allowed_domains.{k}") for k, d in enumerate(domains)),
    )


def _decode_tool_choice(
    choice: JSON | None, drops: list[hub.Drop]
) -> tuple[hub.ToolChoice | None, bool | None]:
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
    drops.append(hub.Drop("tool_choice", kind))
    return None, parallel


def _decode_reasoning(body: JSON, max_tokens: int, drops: list[hub.Drop]) -> hub.Reasoning | None:
    """`thinking` (+ `output_config.effort`) -> hub.Reasoning. Adaptive thinking has no
    budget: it becomes a Reasoning with only the effort (or nothing: "model decides").
    Thinking types and effort levels added after this was written are dropped."""
    config = opt_dict(body, "output_config", "") or {}
    effort_name = opt_str(config, "effort", "output_config")
    effort = None
    if effort_name is not None:
        if effort_name in _EFFORTS:
            effort = _EFFORTS[effort_name]
        else:
            drops.append(hub.Drop("output_config.effort", effort_name))
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
        drops.append(hub.Drop("thinking", kind))
        return hub.Reasoning(effort=effort) if effort is not None else None
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


def _decode_output_format(body: JSON, drops: list[hub.Drop]) -> hub.ResponseFormat | None:
    config = opt_dict(body, "output_config", "") or {}
    for key in config:
        if key not in ("effort", "format"):
            drops.append(hub.Drop(f"output_config.{key}"))
    fmt = opt_dict(config, "format", "output_config")
    if fmt is None:
        return None
    kind = req_str(fmt, "type", "output_config.format")
    if kind != "json_schema":
        drops.append(hub.Drop("output_config.format", kind))
        return None
    schema = as_dict(fmt.get("schema"), "output_config.format.schema")
    return hub.ResponseFormat("json_schema", schema=schema)
