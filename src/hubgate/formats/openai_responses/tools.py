"""A Responses caller's tools -> hub tools, and the hub's calls back to the items the
caller expects.

- `function` tools map one to one.
- `namespace` tools (Codex groups MCP and app tools this way: `{"type": "namespace",
  "name", "description", "tools": [function, ...]}`) are flattened into function tools
  named `namespace__name` (see `policy.flat_name`); the upstream model calls the flat
  name and the answer goes back as a `function_call` item with the tool's own `name`
  and its `namespace`, which is how the Responses API reports namespaced calls.
- `custom` (freeform) tools become a function taking one string `input` (the grammar,
  if any, is appended to the description so the model can follow it); their calls go
  back as `custom_tool_call` items carrying that input.
- `web_search` / `web_search_preview` (and dated variants) become a hosted web search,
  mapped to each upstream's own (see `hub.HostedTool`).
- Every other hosted tool (file_search, code_interpreter, image_generation,
  computer_use, local_shell, mcp, tool_search, ...) is dropped and named.
"""

from __future__ import annotations

from typing import Any

import orjson

from hubgate.formats import hub, policy
from hubgate.formats.openai_responses._common import (
    JSON,
    expect_dict,
    expect_list,
    fail,
    optional_bool,
    optional_int,
    optional_str,
    path,
    required_str,
)

__all__ = ["ToolNames", "call_item_fields", "decode_tool_choice", "decode_tools"]

_INPUT_SCHEMA: JSON = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's input, as free-form text."}},
    "required": ["input"],
    "additionalProperties": False,
}


class ToolNames:
    """The flat names given to namespaced functions, so that calls in the history
    (`function_call` items with a `namespace`) use the names the tools got."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.flat: dict[tuple[str, str], str] = {}

    def name_for(self, namespace: str | None, name: str) -> str:
        if namespace is None:
            return name
        key = (namespace, name)
        if key not in self.flat:
            self.flat[key] = policy.flat_name(namespace, name, self.taken)
        return self.flat[key]


def decode_tools(
    tools: Any, names: ToolNames, drops: list[hub.Drop]
) -> tuple[tuple[hub.Tool, ...], tuple[hub.HostedTool, ...]]:
    if tools is None:
        return (), ()
    decoded: list[hub.Tool] = []
    hosted: list[hub.HostedTool] = []
    listed = expect_list(tools, "tools")
    names.taken.update(
        t["name"]
        for t in listed
        if isinstance(t, dict) and t.get("type") in ("function", "custom") and isinstance(t.get("name"), str)
    )
    for i, tool in enumerate(listed):
        where = f"tools[{i}]"
        tool = expect_dict(tool, where)
        kind = required_str(tool, "type", where)
        if kind == "function":
            decoded.append(_function(tool, where, None, names))
        elif kind == "namespace":
            decoded += _namespace(tool, where, names, drops)
        elif kind == "custom":
            decoded.append(_custom(tool, where))
        elif kind.startswith("web_search"):
            hosted.append(_web_search(tool, where))
        else:
            drops.append(hub.Drop(where, kind, "tool"))
    return tuple(decoded), tuple(hosted)


def _function(tool: JSON, where: str, namespace: str | None, names: ToolNames) -> hub.Tool:
    parameters = tool.get("parameters")
    name = required_str(tool, "name", where)
    return hub.Tool(
        name=names.name_for(namespace, name),
        description=optional_str(tool, "description", where),
        parameters=(
            expect_dict(parameters, path(where, "parameters"))
            if parameters is not None
            else {"type": "object", "properties": {}}
        ),
        strict=optional_bool(tool, "strict", where),
        namespace=namespace,
        original=name if namespace is not None else None,
    )


def _namespace(tool: JSON, where: str, names: ToolNames, drops: list[hub.Drop]) -> list[hub.Tool]:
    namespace = required_str(tool, "name", where)
    group = optional_str(tool, "description", where)
    out = []
    for k, inner in enumerate(expect_list(tool.get("tools") or [], path(where, "tools"))):
        at = path(path(where, "tools"), k)
        inner = expect_dict(inner, at)
        kind = required_str(inner, "type", at)
        if kind != "function":
            drops.append(hub.Drop(at, kind, "tool"))
            continue
        function = _function(inner, at, namespace, names)
        if group and function.description:  # the group's description says what the functions share
            function = hub.Tool(
                function.name,
                f"{function.description}\n\n({namespace}: {group})",
                function.parameters,
                function.strict,
                function.namespace,
                function.original,
            )
        out.append(function)
    return out


def _custom(tool: JSON, where: str) -> hub.Tool:
    name = required_str(tool, "name", where)
    description = optional_str(tool, "description", where) or ""
    fmt = tool.get("format")
    if fmt is not None:
        fmt = expect_dict(fmt, path(where, "format"))
        definition = optional_str(fmt, "definition", path(where, "format"))
        syntax = optional_str(fmt, "syntax", path(where, "format")) or "grammar"
        if fmt.get("type") == "grammar" and definition:
            description += f"\n\nThe input must follow this {syntax} grammar:\n{definition}"
    return hub.Tool(name=name, description=description or None, parameters=_INPUT_SCHEMA, custom=True)


def _web_search(tool: JSON, where: str) -> hub.HostedTool:
    filters = tool.get("filters")
    domains: list[Any] = []
    if filters is not None:
        domains = expect_list(
            expect_dict(filters, path(where, "filters")).get("allowed_domains") or [], where
        )
    return hub.HostedTool(
        "web_search",
        where,
        max_uses=optional_int(tool, "max_uses", where),
        allowed_domains=tuple(d for d in domains if isinstance(d, str)),
    )


def decode_tool_choice(
    choice: Any, tools: tuple[hub.Tool, ...], drops: list[hub.Drop]
) -> hub.ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return hub.ToolChoice(choice)
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom"):
            name = required_str(choice, "name", "tool_choice")
            namespace = optional_str(choice, "namespace", "tool_choice")
            for tool in tools:
                if (tool.original or tool.name) == name and tool.namespace == namespace:
                    return hub.ToolChoice("tool", tool.name)
            return hub.ToolChoice("tool", name)
        drops.append(hub.Drop("tool_choice", str(kind)))  # allowed_tools, hosted tools, mcp
        return None
    fail("tool_choice", "expected 'auto', 'none', 'required' or {'type': 'function', 'name': ...}.")


def call_item_fields(call: hub.ToolCallPart, request: hub.Request | None) -> JSON:
    """How a hub call reads as an output item for this request: `function_call` with
    the name (and namespace) the caller declared, or `custom_tool_call` with its input."""
    tool = policy.tool_named(request, call.name)
    if tool is not None and tool.custom:
        return {
            "type": "custom_tool_call",
            "call_id": call.id,
            "name": call.name,
            "input": custom_input(call.arguments),
        }
    fields: JSON = {"type": "function_call", "arguments": call.arguments, "call_id": call.id}
    if tool is not None and tool.namespace is not None:
        fields["name"] = tool.original or call.name
        fields["namespace"] = tool.namespace
    else:
        fields["name"] = call.name
    return fields


def custom_input(arguments: str) -> str:
    """The `input` string of a custom tool's call (the raw arguments when the model did
    not send the one-field object it was asked for)."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return str(value["input"])
    return arguments
