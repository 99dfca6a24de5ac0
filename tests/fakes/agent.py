"""The scripted "agent" model the fake upstreams share: it drives a real agent CLI through one tool call.

A request for the upstream model :data:`AGENT_MODEL` behaves like a (very obedient) coding model:

* when the turns after the model's last turn carry a tool result, it answers with text:
  ``"Done. The command printed: <that result>"`` (:data:`FINAL`), so a client that prints it proves the
  tool ran and its output came back through the gateway;
* otherwise, when a user text holds a directive ``[[run: <shell command>]]`` and the request offers
  one of the clients' own shell tools (:data:`SHELL_TOOLS`: Claude Code's ``Bash``, Gemini CLI's
  ``run_shell_command``, Codex's ``exec_command`` / ``shell``), it calls that tool, with arguments
  built from the tool's own JSON schema (the command under ``command`` / ``cmd``, as a string or an
  argv array, whichever the schema asks for; other required properties get placeholder values);
* otherwise it returns None and the fake answers as usual (``"Hello! You said: ..."``).

Each fake turns its own wire format into the neutral view here (:func:`chat_view`,
:func:`anthropic_view`, :func:`gemini_view`, :func:`responses_view`: the offered tools and the
conversation as ``(role, text)`` turns, role ``user``, ``assistant`` or ``tool``) and renders the
:class:`Call` or the reply text in that format, streamed or not, as it renders any answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "AGENT_MODEL",
    "FINAL",
    "SHELL_TOOLS",
    "Call",
    "Tool",
    "anthropic_view",
    "chat_view",
    "decide",
    "gemini_view",
    "responses_view",
]

JSONDict = dict[str, Any]
Turn = tuple[str, str]  # (user | assistant | tool, text)

AGENT_MODEL = "agent"
FINAL = "Done. The command printed:"
SHELL_TOOLS = ("Bash", "run_shell_command", "exec_command", "shell_command", "shell")
COMMAND_KEYS = ("command", "cmd")
DIRECTIVE = re.compile(r"\[\[run: (.+?)\]\]")


@dataclass(frozen=True)
class Tool:
    """A function tool the request offers: its name and JSON schema (any casing of ``type``)."""

    name: str
    schema: Any = None


@dataclass(frozen=True)
class Call:
    """The tool call the agent makes."""

    name: str
    arguments: JSONDict = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


def decide(model: Any, tools: list[Tool], turns: list[Turn]) -> Call | str | None:
    """The agent's next step: a tool call, a reply text, or None (the fake answers as usual)."""
    if model != AGENT_MODEL:
        return None
    last_assistant = max((i for i, (role, _) in enumerate(turns) if role == "assistant"), default=-1)
    outputs = [text for role, text in turns[last_assistant + 1 :] if role == "tool"]
    if outputs:
        return f"{FINAL} {outputs[-1]}"
    found = (DIRECTIVE.search(text) for role, text in reversed(turns) if role == "user")
    command = next((m.group(1) for m in found if m), None)
    offered = {tool.name: tool for tool in tools}
    tool = next((offered[name] for name in SHELL_TOOLS if name in offered), None)
    if command is None or tool is None:
        return None
    return Call(tool.name, arguments(tool.schema, command))


def arguments(schema: Any, command: str) -> JSONDict:
    """Arguments valid for ``schema`` that run ``command``."""
    schema = schema if isinstance(schema, dict) else {}
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    args: JSONDict = {}
    for key, prop in props.items():
        if key in COMMAND_KEYS:
            args[key] = ["bash", "-lc", command] if _type(prop) == "array" else command
        elif key in required:
            args[key] = _placeholder(prop)
    return args


def _type(prop: Any) -> str:
    kind = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return str(kind or "string").lower()


def _placeholder(prop: Any) -> Any:
    if isinstance(prop, dict) and isinstance(prop.get("enum"), list) and prop["enum"]:
        return prop["enum"][0]
    defaults: dict[str, Any] = {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}
    return defaults.get(_type(prop), "x")


# ---------------------------------------------------------------------------------------------------------
# each wire format as the neutral view


def _texts(content: Any, kinds: tuple[str, ...]) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return " ".join(
        str(part["text"])
        for part in content
        if isinstance(part, dict) and part.get("type") in kinds and isinstance(part.get("text"), str)
    )


def chat_view(body: JSONDict) -> tuple[list[Tool], list[Turn]]:
    """OpenAI Chat Completions: function tools; user / assistant / tool messages."""
    functions = [t.get("function") for t in body.get("tools") or [] if isinstance(t, dict)]
    tools = [
        Tool(str(fn["name"]), fn.get("parameters"))
        for fn in functions
        if isinstance(fn, dict) and isinstance(fn.get("name"), str)
    ]
    turns: list[Turn] = []
    for m in body.get("messages") or []:
        if isinstance(m, dict) and m.get("role") in ("user", "assistant", "tool"):
            turns.append((str(m["role"]), _texts(m.get("content"), ("text",))))
    return tools, turns


def anthropic_view(body: JSONDict) -> tuple[list[Tool], list[Turn]]:
    """Anthropic Messages: custom tools; text and tool_result blocks of user turns."""
    tools = [
        Tool(str(t["name"]), t.get("input_schema"))
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]
    turns: list[Turn] = []
    for m in body.get("messages") or []:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            continue
        content = m.get("content")
        if m["role"] == "assistant" or isinstance(content, str):
            turns.append((str(m["role"]), _texts(content, ("text",))))
            continue
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                turns.append(("tool", _texts(block.get("content"), ("text",))))
            elif isinstance(block, dict) and block.get("type") == "text":
                turns.append(("user", str(block.get("text", ""))))
    return tools, turns


def gemini_view(body: JSONDict) -> tuple[list[Tool], list[Turn]]:
    """Gemini generateContent: function declarations; text and functionResponse parts."""
    tools: list[Tool] = []
    for t in body.get("tools") or []:
        decls = t.get("functionDeclarations", t.get("function_declarations")) if isinstance(t, dict) else None
        for d in decls if isinstance(decls, list) else []:
            if isinstance(d, dict) and isinstance(d.get("name"), str):
                schema = d.get("parametersJsonSchema", d.get("parameters_json_schema", d.get("parameters")))
                tools.append(Tool(str(d["name"]), schema))
    turns: list[Turn] = []
    for c in body.get("contents") or []:
        if not isinstance(c, dict):
            continue
        role = "assistant" if c.get("role") == "model" else "user"
        for part in c.get("parts") or []:
            if not isinstance(part, dict):
                continue
            response = part.get("functionResponse", part.get("function_response"))
            if response is not None:
                turns.append(("tool", orjson.dumps(response).decode()))
            elif isinstance(part.get("text"), str):
                turns.append((role, str(part["text"])))
            elif role == "assistant":
                turns.append((role, ""))
    return tools, turns


def responses_view(body: JSONDict) -> tuple[list[Tool], list[Turn]]:
    """OpenAI Responses: top-level function tools; messages, function calls and their outputs."""
    tools = [
        Tool(str(t["name"]), t.get("parameters"))
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    ]
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else items
    turns: list[Turn] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in ("user", "assistant"):
            turns.append((str(item["role"]), _texts(item.get("content"), ("input_text", "output_text"))))
        elif kind == "function_call":
            turns.append(("assistant", ""))
        elif kind == "function_call_output":
            output = item.get("output")
            turns.append(("tool", output if isinstance(output, str) else _texts(output, ("input_text",))))
    return tools, turns
