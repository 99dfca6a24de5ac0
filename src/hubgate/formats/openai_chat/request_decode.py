"""Chat Completions request body -> hub.Request (a caller speaking OpenAI's SDK).

Every top-level field is read or dropped and named (IGNORED_FIELDS and fields added
later); roles, content parts, tool kinds and variants the hub has no place for are
dropped and named too. A 400 naming the field only for malformed input. Message
fields that do not change the answer (a participant `name`) are dropped silently.
"""

from __future__ import annotations

from typing import Any

from hubgate.formats import hub
from hubgate.formats.openai import check_chat
from hubgate.formats.openai_chat._wire import (
    JSON,
    block_to_part,
    call_signature,
    invalid,
    missing,
    reasoning_text,
    split_data_url,
)

# Top-level fields decode_request reads. `top_k` (vLLM, OpenRouter, Together) and
# `thinking` (LiteLLM's Anthropic-style budget) are common extensions.
HANDLED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "reasoning_effort",
        "thinking",
        "user",
        "stream",
        "stream_options",
        "n",  # 1 only
        "modalities",  # ["text"] only
    }
)

# Accepted, dropped and named: they tune OpenAI's own service (logprobs, storage,
# tiers, caching, latency) or phrasing, which other formats have no place for.
IGNORED_FIELDS = frozenset(
    {
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "service_tier",
        "store",
        "metadata",
        "prediction",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "verbosity",
        "audio",
    }
)

_CHOICES = {mode: hub.ToolChoice(mode) for mode in ("auto", "none", "required")}
_DEFAULT_FILE_TYPE = "application/pdf"  # the only type Chat's raw `file_data` carries


def decode_request(body: JSON) -> hub.Request:
    """A caller's Chat Completions body as a hub Request (400 naming the field on bad input)."""
    info = check_chat(body)
    drops = _check_fields(body)
    system, messages = _MessageReader(drops).read(body["messages"])
    tools = _read_tools(body, drops)
    return hub.Request(
        model=info.model,
        messages=messages,
        system=system,
        tools=tools,
        hosted_tools=_web_search(body),
        tool_choice=_read_tool_choice(body, drops),
        parallel_tool_calls=_opt(body, "parallel_tool_calls", bool, "a boolean"),
        max_tokens=_max_tokens(body),
        temperature=_opt_float(body, "temperature"),
        top_p=_opt_float(body, "top_p"),
        top_k=_opt(body, "top_k", int, "an integer"),
        stop=_read_stop(body),
        seed=body.get("seed"),
        presence_penalty=_opt_float(body, "presence_penalty"),
        frequency_penalty=_opt_float(body, "frequency_penalty"),
        response_format=_read_response_format(body, drops),
        reasoning=_read_reasoning(body, drops),
        user=body.get("user"),
        stream=info.stream,
        include_usage=info.include_usage,
        dropped=tuple(drops),
    )


def _check_fields(body: JSON) -> list[hub.Drop]:
    """The top-level fields the hub has no place for, named (null values add nothing)."""
    drops = [
        hub.Drop(str(name))
        for name, value in body.items()
        if name not in HANDLED_FIELDS and name != "web_search_options" and value is not None
    ]
    n = body.get("n")
    if n is not None and n != 1:
        drops.append(hub.Drop("n"))  # one choice is generated
    modalities = body.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or any(m != "text" for m in modalities)):
        drops.append(hub.Drop("modalities"))  # text is generated
    return drops


def _web_search(body: JSON) -> tuple[hub.HostedTool, ...]:
    """`web_search_options` (search models) -> a hosted web search."""
    options = body.get("web_search_options")
    if options is None:
        return ()
    if not isinstance(options, dict):
        raise invalid("web_search_options", "expected an object.")
    return (hub.HostedTool("web_search", "web_search_options"),)


def _opt(body: JSON, name: str, kind: type, what: str) -> Any:
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise invalid(name, f"expected {what}.")
    return value


def _opt_float(body: JSON, name: str) -> float | None:
    value = body.get(name)  # check_chat has checked it is a number
    return None if value is None else float(value)


def _max_tokens(body: JSON) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if value < 1:
                raise invalid(name, "expected an integer of at least 1.")
            return int(value)
    return None


def _read_stop(body: JSON) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise invalid("stop", "expected a string or an array of strings.")


def _read_response_format(body: JSON, drops: list[hub.Drop]) -> hub.ResponseFormat | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type")
    if kind == "text":
        return hub.ResponseFormat("text")
    if kind == "json_object":
        return hub.ResponseFormat("json_object")
    if kind != "json_schema":
        drops.append(hub.Drop("response_format", str(kind)))
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise missing("response_format.json_schema")
    name = _opt(spec, "name", str, "a string")
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise invalid("response_format.json_schema.schema", "expected an object.")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid("response_format.json_schema.strict", "expected a boolean.")
    return hub.ResponseFormat("json_schema", schema=schema, name=name, strict=strict)


def _read_reasoning(body: JSON, drops: list[hub.Drop]) -> hub.Reasoning | None:
    """`reasoning_effort` (OpenAI) and/or `thinking` (LiteLLM's budget); "xhigh" counts as high."""
    raw = body.get("reasoning_effort")
    effort = None
    if raw is not None:
        values = [e.value for e in hub.Effort]
        if raw == "xhigh":
            effort = hub.Effort.HIGH
        elif isinstance(raw, str) and raw in values:
            effort = hub.Effort(raw)
        elif isinstance(raw, str):
            drops.append(hub.Drop("reasoning_effort", raw))
        else:
            raise invalid("reasoning_effort", f"expected one of {', '.join(values)}.")
    budget = None
    thinking = body.get("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "disabled":
            budget = 0
        elif kind == "enabled":
            budget = _opt(thinking, "budget_tokens", int, "an integer")
            if budget is None or budget < 0:
                raise invalid("thinking.budget_tokens", "expected a non-negative integer.")
        elif isinstance(kind, str):
            drops.append(hub.Drop("thinking", kind))  # adaptive and later variants: the upstream's default
        else:
            raise invalid("thinking.type", "expected 'enabled' or 'disabled'.")
    if effort is None and budget is None:
        return None
    return hub.Reasoning(effort=effort, budget_tokens=budget)


def _read_tools(body: JSON, drops: list[hub.Drop]) -> tuple[hub.Tool, ...]:
    tools = []
    for j, item in enumerate(body.get("tools") or ()):
        at = f"tools[{j}]"
        if not isinstance(item, dict):
            raise invalid(at, "expected an object.")
        if item.get("type") != "function":
            drops.append(hub.Drop(at, str(item.get("type")), "tool"))  # custom tools, kinds added later
            continue
        tools.append(_read_function(item.get("function"), f"{at}.function"))
    functions = body.get("functions")
    if functions is not None:
        if not isinstance(functions, list):
            raise invalid("functions", "expected an array.")
        tools += [_read_function(fn, f"functions[{j}]") for j, fn in enumerate(functions)]
    return tuple(tools)


def _read_function(fn: Any, at: str) -> hub.Tool:
    if not isinstance(fn, dict):
        raise missing(at)
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{at}.name", "expected a non-empty string.")
    parameters = fn.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid(f"{at}.parameters", "expected an object (a JSON schema).")
    return hub.Tool(
        name=name,
        description=_opt(fn, "description", str, "a string"),
        parameters=parameters if parameters is not None else {"type": "object", "properties": {}},
        strict=_opt(fn, "strict", bool, "a boolean"),
    )


def _read_tool_choice(body: JSON, drops: list[hub.Drop]) -> hub.ToolChoice | None:
    param = "tool_choice"
    choice = body.get(param)
    if choice is None:
        param = "function_call"  # the legacy spelling: "auto" / "none" / {"name": ...}
        choice = body.get(param)
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _CHOICES:
        return _CHOICES[choice]
    if isinstance(choice, dict):
        if param == "tool_choice" and choice.get("type") != "function":
            drops.append(hub.Drop("tool_choice", str(choice.get("type"))))  # allowed_tools, custom
            return None
        fn = choice.get("function") if param == "tool_choice" else choice
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name:
            return hub.ToolChoice("tool", name)
    raise invalid(param, "expected 'auto', 'none', 'required' or a named function.")


class _MessageReader:
    """Walks `messages` once, remembering what later messages refer back to."""

    def __init__(self, drops: list[hub.Drop]) -> None:
        self.drops = drops
        self.system: list[hub.TextPart] = []
        self.messages: list[hub.Message] = []
        self.names: dict[str, str] = {}  # tool call id -> function name
        self.legacy: list[hub.ToolCallPart] = []  # `function_call`s still waiting for their result

    def read(self, raw: list[JSON]) -> tuple[tuple[hub.TextPart, ...], tuple[hub.Message, ...]]:
        for i, message in enumerate(raw):
            where = f"messages[{i}]"
            role = message["role"]
            if role in ("system", "developer"):
                self.system += _text_only(message.get("content"), where, self.drops)
            elif role == "user":
                content = message.get("content")
                if content is None:
                    raise missing(f"{where}.content")
                self.messages.append(hub.Message("user", _user_parts(content, where, self.drops)))
            elif role == "assistant":
                self.messages.append(self._assistant(message, where, i))
            elif role == "tool":
                self._add_result(self._tool(message, where))
            elif role == "function":
                self._add_result(self._function(message, where, i))
            else:
                self.drops.append(hub.Drop(where, str(role), "message"))
        return tuple(self.system), tuple(self.messages)

    def _add_result(self, part: hub.ToolResultPart) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "tool":
            self.messages[-1] = hub.Message("tool", (*last.parts, part))
        else:
            self.messages.append(hub.Message("tool", (part,)))

    def _assistant(self, message: JSON, where: str, i: int) -> hub.Message:
        if message.get("audio") is not None:
            self.drops.append(hub.Drop(f"{where}.audio"))
        parts: list[hub.Part] = list(_read_thinking(message, where))
        content = message.get("content")
        if isinstance(content, str) and content:
            parts.append(hub.TextPart(content))
        elif isinstance(content, list):
            for j, item in enumerate(content):
                if not isinstance(item, dict):
                    raise invalid(f"{where}.content[{j}]", "expected a 'text' or 'refusal' part.")
                kind = item.get("type")
                text = item.get(kind) if kind in ("text", "refusal") else None
                if kind in ("text", "refusal") and not isinstance(text, str):
                    raise invalid(f"{where}.content[{j}].{kind}", "expected a string.")
                if isinstance(text, str):
                    parts.append(hub.TextPart(text))
                else:
                    self.drops.append(hub.Drop(f"{where}.content[{j}]", str(kind), "content"))
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            parts.append(hub.TextPart(refusal))
        calls = message.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise invalid(f"{where}.tool_calls", "expected an array.")
            parts += [
                part
                for k, call in enumerate(calls)
                if (part := self._call(call, f"{where}.tool_calls[{k}]")) is not None
            ]
        legacy = message.get("function_call")
        if legacy is not None:
            call = self._function_call(f"call_fn_{i}", legacy, f"{where}.function_call", None)
            self.legacy.append(call)
            parts.append(call)
        return hub.Message("assistant", tuple(parts))

    def _call(self, call: Any, at: str) -> hub.ToolCallPart | None:
        if not isinstance(call, dict):
            raise invalid(at, "expected an object.")
        if call.get("type", "function") != "function":
            self.drops.append(hub.Drop(at, str(call.get("type")), "content"))  # custom tool calls
            return None
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise missing(f"{at}.id")
        return self._function_call(call_id, call.get("function"), f"{at}.function", call_signature(call))

    def _function_call(self, call_id: str, fn: Any, at: str, signature: str | None) -> hub.ToolCallPart:
        if not isinstance(fn, dict):
            raise missing(at)
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(f"{at}.name", "expected a non-empty string.")
        arguments = fn.get("arguments", "{}")
        if not isinstance(arguments, str):
            raise invalid(f"{at}.arguments", "expected a string of JSON.")
        self.names[call_id] = name
        return hub.ToolCallPart(call_id, name, arguments, signature=signature)

    def _tool(self, message: JSON, where: str) -> hub.ToolResultPart:
        call_id = message.get("tool_call_id")
        if call_id is None:
            raise missing(f"{where}.tool_call_id")
        if not isinstance(call_id, str):
            raise invalid(f"{where}.tool_call_id", "expected a string.")
        content = tuple(_text_only(message.get("content"), where, self.drops))
        return hub.ToolResultPart(call_id, content, name=self.names.get(call_id))

    def _function(self, message: JSON, where: str, i: int) -> hub.ToolResultPart:
        """A legacy `function` message answers the latest unanswered `function_call` of that name."""
        name = message.get("name")
        if not isinstance(name, str) or not name:
            raise missing(f"{where}.name")
        call = next((c for c in reversed(self.legacy) if c.name == name), None)
        if call is not None:
            self.legacy.remove(call)
        call_id = call.id if call is not None else f"call_fn_{i}"
        return hub.ToolResultPart(
            call_id, tuple(_text_only(message.get("content"), where, self.drops)), name=name
        )


def _text_only(content: Any, where: str, drops: list[hub.Drop]) -> list[hub.TextPart]:
    """System, developer and tool content: a string or text parts ("" adds nothing);
    other parts are dropped and named."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [hub.TextPart(content)]
    parts = []
    for j, item in enumerate(content):
        if not isinstance(item, dict) or (
            item.get("type") == "text" and not isinstance(item.get("text"), str)
        ):
            raise invalid(f"{where}.content[{j}]", "expected a text part; only text is allowed here.")
        if item.get("type") != "text":
            drops.append(hub.Drop(f"{where}.content[{j}]", str(item.get("type")), "content"))
            continue
        parts.append(hub.TextPart(item["text"]))
    return parts


def _user_parts(content: str | list[Any], where: str, drops: list[hub.Drop]) -> tuple[hub.Part, ...]:
    if isinstance(content, str):
        return (hub.TextPart(content),)
    parts: list[hub.Part] = []
    for j, item in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(item, dict):
            raise invalid(at, "expected a 'text', 'image_url' or 'file' part.")
        kind = item.get("type")
        if kind == "text":
            if not isinstance(item.get("text"), str):
                raise invalid(f"{at}.text", "expected a string.")
            parts.append(hub.TextPart(item["text"]))
        elif kind == "image_url":
            parts.append(_read_image(item.get("image_url"), f"{at}.image_url"))
        elif (
            kind == "file" and isinstance(item.get("file"), dict) and item["file"].get("file_id") is not None
        ):
            drops.append(hub.Drop(at, "file", "content"))  # a file id names a file stored at OpenAI
        elif kind == "file":
            parts.append(_read_file(item.get("file"), f"{at}.file"))
        else:
            drops.append(hub.Drop(at, str(kind), "content"))  # input_audio, kinds added later
    return tuple(parts)


def _read_image(image: Any, at: str) -> hub.ImagePart:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        raise missing(f"{at}.url")
    detail = _opt(image, "detail", str, "a string")
    if not url.startswith("data:"):
        return hub.ImagePart(url=url, detail=detail)
    inline = split_data_url(url)
    if inline is None:
        raise invalid(f"{at}.url", "expected a base64 data URL (data:<type>;base64,<data>).")
    return hub.ImagePart(data=inline[1], media_type=inline[0], detail=detail)


def _read_file(file: Any, at: str) -> hub.DocumentPart:
    if not isinstance(file, dict):
        raise missing(at)
    data = file.get("file_data")
    if not isinstance(data, str) or not data:
        raise missing(f"{at}.file_data")
    name = _opt(file, "filename", str, "a string")
    inline = split_data_url(data)
    if inline is None and data.startswith("data:"):
        raise invalid(f"{at}.file_data", "expected base64 data or a base64 data URL.")
    media_type, payload = inline or (_DEFAULT_FILE_TYPE, data)
    return hub.DocumentPart(data=payload, media_type=media_type, name=name)


def _read_thinking(message: JSON, where: str) -> list[hub.ThinkingPart]:
    """`thinking_blocks` when present (they carry signatures), else `reasoning_content` text."""
    blocks = message.get("thinking_blocks")
    if blocks:
        if not isinstance(blocks, list):
            raise invalid(f"{where}.thinking_blocks", "expected an array.")
        parts = []
        for k, block in enumerate(blocks):
            part = block_to_part(block)
            if part is None:
                raise invalid(
                    f"{where}.thinking_blocks[{k}]", "expected a thinking or redacted_thinking block."
                )
            parts.append(part)
        return parts
    text = reasoning_text(message)
    return [hub.ThinkingPart(text)] if text else []
