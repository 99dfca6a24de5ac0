"""A google-genai caller's GenerateContentRequest -> hub `Request`.

- The model is part of the URL (`/v1beta/models/{model}:generateContent`), not the
  body: the relay injects it as a `"model"` key before calling `decode_request` (a
  leading `models/` is stripped). It may also inject `"stream": true` for
  `:streamGenerateContent`. Neither key is a Gemini field.
- Contents alternate `user` / `model` (`function` is read as `user`). A user turn's
  functionResponse parts become a hub `tool` message, its other parts a `user`
  message, in their order. Images and PDFs / plain text come as inlineData or
  fileData; audio, video, executableCode, codeExecutionResult, server-side tool parts
  and parts of kinds added later are dropped and named (`contents[2].parts[0]:executableCode`).
- functionCall parts without an `id` get a stable synthetic one, `call_<n>` (n counts
  the calls in the request; `request_encode` leaves such ids out again); a
  functionResponse without an id answers the earliest unanswered call of that name.
- `thought: true` parts become ThinkingParts (consecutive ones merge, and the
  `thoughtSignature` that closes them is kept). A signature on a functionCall part is
  `ToolCallPart.signature`; a signature on any other part becomes a ThinkingPart with
  empty text placed just before it. The SDK sends bytes URL-safe base64; signatures and
  inline data are normalised to standard base64.
- tools: functionDeclarations (`parameters` as Gemini Schema, read back into JSON
  Schema, or `parametersJsonSchema` as is); googleSearch -> a hosted web search.
  codeExecution, urlContext and other server-side tools, `cachedContent`,
  `candidateCount` > 1, `text/x.enum` output, non-text response modalities,
  `safetySettings` and fields added later are dropped and named.
- toolConfig.functionCallingConfig: AUTO / VALIDATED -> auto, NONE -> none, ANY ->
  required; ANY restricted by `allowedFunctionNames` to one name -> that tool, to
  several -> required with only those tools declared.
- thinkingConfig: thinkingBudget (-1 dynamic, 0 off) -> `Reasoning.budget_tokens`,
  thinkingLevel -> effort, includeThoughts (Gemini's default is false) ->
  include_thoughts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from hubgate.errors import InvalidRequest
from hubgate.formats import hub
from hubgate.formats.gemini.schema import to_json_schema
from hubgate.formats.gemini.wire import (
    JSON,
    add_thinking,
    expect_bool,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_str,
    get,
    guess_media_type,
    invalid,
    request_call_id,
    std_base64,
    strip_models_prefix,
)

_LEVELS = {
    "MINIMAL": hub.Effort.MINIMAL,
    "LOW": hub.Effort.LOW,
    "MEDIUM": hub.Effort.MEDIUM,
    "HIGH": hub.Effort.HIGH,
    "XHIGH": hub.Effort.HIGH,
}


_READ_FIELDS = frozenset(
    {"model", "stream", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
)
_READ_CONFIG = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "thinkingConfig",
    }
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _unread(obj: JSON, known: frozenset[str], prefix: str) -> list[hub.Drop]:
    return [hub.Drop(f"{prefix}{key}") for key in obj if _camel(str(key)) not in known]


def check_contents(body: dict[str, Any]) -> list[Any]:
    """What the gateway checks of a generateContent body before it goes anywhere (the route
    calls this for same-format traffic, forwarded as it came; `decode_request` too)."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest("contents: must be a non-empty list of Content objects.", param="contents")
    return contents


def decode_request(body: dict[str, Any]) -> hub.Request:
    """A google-genai caller's GenerateContentRequest (with the URL's model injected
    as `"model"`) -> hub Request. Raises InvalidRequest naming the field for malformed
    input; what the hub cannot carry is dropped and named in `dropped`."""
    model = body.get("model")
    if not isinstance(model, str) or not strip_models_prefix(model):
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    drops = _unread(body, _READ_FIELDS, "")
    contents = check_contents(body)

    tools, hosted, tool_choice = _decode_tools(body, drops)
    config = get(body, "generationConfig")
    config = expect_object(config, "generationConfig") if config is not None else {}
    drops += _unread(config, _READ_CONFIG, "generationConfig.")
    stream = body.get("stream")
    messages = _Contents(drops=drops).decode(contents)
    options = _decode_config(config, drops)
    return hub.Request(
        model=strip_models_prefix(model),
        messages=messages,
        system=_decode_system(get(body, "systemInstruction"), drops),
        tools=tools,
        hosted_tools=hosted,
        tool_choice=tool_choice,
        stream=stream is True,
        dropped=tuple(drops),
        **options,
    )


def _decode_system(value: Any, drops: list[hub.Drop]) -> tuple[hub.TextPart, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (hub.TextPart(value),)
    content = expect_object(value, "systemInstruction")
    parts = expect_list(get(content, "parts") or [], "systemInstruction.parts")
    out: list[hub.TextPart] = []
    for j, raw in enumerate(parts):
        param = f"systemInstruction.parts[{j}]"
        part = expect_object(raw, param)
        text = get(part, "text")
        if text is None:
            drops.append(hub.Drop(param, _part_kind(part), "content"))
            continue
        out.append(hub.TextPart(expect_str(text, f"{param}.text")))
    return tuple(out)


@dataclass
class _Call:
    id: str
    name: str
    answered: bool = False


@dataclass
class _Contents:
    """Walks `contents` in order, numbering calls and pairing responses with them."""

    calls: list[_Call] = field(default_factory=list)
    drops: list[hub.Drop] = field(default_factory=list)

    def decode(self, contents: list[Any]) -> tuple[hub.Message, ...]:
        messages: list[hub.Message] = []
        for i, raw in enumerate(contents):
            param = f"contents[{i}]"
            content = expect_object(raw, param)
            role = content.get("role") or "user"
            parts = expect_list(get(content, "parts") or [], f"{param}.parts")
            if role == "model":
                out = self._model_parts(parts, param)
                if out:
                    messages.append(hub.Message("assistant", out))
            elif role in ("user", "function"):
                messages.extend(self._user_parts(parts, param))
            else:
                self.drops.append(hub.Drop(param, str(role), "message"))
        return tuple(messages)

    def _model_parts(self, parts: list[Any], param: str) -> tuple[hub.Part, ...]:
        out: list[hub.Part] = []
        for j, raw in enumerate(parts):
            p = f"{param}.parts[{j}]"
            part = expect_object(raw, p)
            signature = _signature(part, p)
            call = get(part, "functionCall")
            if call is not None:
                out.append(
                    self._call(expect_object(call, f"{p}.functionCall"), signature, f"{p}.functionCall")
                )
                continue
            if get(part, "functionResponse") is not None:
                raise invalid(f"{p}.functionResponse", "function responses belong in a 'user' turn.")
            if get(part, "thought") is True:
                text = get(part, "text")
                add_thinking(out, text if isinstance(text, str) else "", signature)
                continue
            if signature is not None:
                add_thinking(out, "", signature)
            decoded = _content_part(part, p, self.drops, images_only=False)
            if decoded is not None:
                out.append(decoded)
        return tuple(out)

    def _user_parts(self, parts: list[Any], param: str) -> list[hub.Message]:
        """A user turn -> tool and user messages, split where the kind of part changes."""
        messages: list[hub.Message] = []
        for j, raw in enumerate(parts):
            p = f"{param}.parts[{j}]"
            part = expect_object(raw, p)
            response = get(part, "functionResponse")
            decoded: hub.Part | None
            if get(part, "functionCall") is not None:
                raise invalid(f"{p}.functionCall", "function calls belong in a 'model' turn.")
            if response is not None:
                role: Literal["user", "tool"] = "tool"
                decoded = self._response(expect_object(response, f"{p}.functionResponse"), p)
            else:
                role, decoded = "user", _content_part(part, p, self.drops, images_only=False)
                if decoded is None:
                    continue
            if messages and messages[-1].role == role:
                messages[-1] = hub.Message(role, (*messages[-1].parts, decoded))
            else:
                messages.append(hub.Message(role, (decoded,)))
        return messages

    def _call(self, call: JSON, signature: str | None, param: str) -> hub.ToolCallPart:
        name = expect_str(get(call, "name"), f"{param}.name")
        args = get(call, "args")
        args = expect_object(args, f"{param}.args") if args is not None else {}
        call_id = get(call, "id")
        if not isinstance(call_id, str) or not call_id:
            call_id = request_call_id(len(self.calls))
        self.calls.append(_Call(call_id, name))
        return hub.ToolCallPart(call_id, name, orjson.dumps(args).decode(), signature=signature)

    def _response(self, response: JSON, param: str) -> hub.ToolResultPart:
        p = f"{param}.functionResponse"
        name = expect_str(get(response, "name"), f"{p}.name")
        call = self._match(get(response, "id"), name)
        if call is None:
            raise invalid(p, f"no earlier functionCall named {name!r} is waiting for this response.")
        call.answered = True
        payload = get(response, "response")
        payload = expect_object(payload, f"{p}.response") if payload is not None else {}
        # Gemini's convention: the output under "result" (or "output"), failures under "error"
        is_error = set(payload) == {"error"}
        value: Any = payload
        if len(payload) == 1 and next(iter(payload)) in ("result", "output", "error"):
            value = next(iter(payload.values()))
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        content: list[hub.TextPart | hub.ImagePart] = [hub.TextPart(text)]
        for k, raw in enumerate(expect_list(get(response, "parts") or [], f"{p}.parts")):
            sub = f"{p}.parts[{k}]"
            image = _content_part(expect_object(raw, sub), sub, self.drops, images_only=True)
            if isinstance(image, hub.ImagePart):
                content.append(image)
        return hub.ToolResultPart(call.id, tuple(content), is_error=is_error, name=name)

    def _match(self, response_id: Any, name: str) -> _Call | None:
        if isinstance(response_id, str) and response_id:
            for call in self.calls:
                if call.id == response_id:
                    return call
        for call in self.calls:
            if not call.answered and call.name == name:
                return call
        return None


def _signature(part: JSON, param: str) -> str | None:
    value = get(part, "thoughtSignature")
    if value is None:
        return None
    return std_base64(expect_str(value, f"{param}.thoughtSignature"))


def _part_kind(part: JSON) -> str:
    """What a part holds, for naming it when dropped (its first data field)."""
    meta = (
        "thought",
        "thoughtSignature",
        "thought_signature",
        "videoMetadata",
        "video_metadata",
        "partMetadata",
    )
    return next((_camel(str(k)) for k in part if k not in meta), "empty")


def _content_part(part: JSON, param: str, drops: list[hub.Drop], *, images_only: bool) -> hub.Part | None:
    """A text / inlineData / fileData part -> hub (None for an empty text part, and for
    what the hub has no place for, which is dropped and named)."""
    text = get(part, "text")
    if text is not None and not images_only:
        text = expect_str(text, f"{param}.text")
        return hub.TextPart(text) if text else None
    inline = get(part, "inlineData")
    if inline is not None:
        p = f"{param}.inlineData"
        inline = expect_object(inline, p)
        mime = expect_str(get(inline, "mimeType"), f"{p}.mimeType")
        data = std_base64(expect_str(get(inline, "data"), f"{p}.data"))
        return _media(mime, p, images_only, drops, data=data, url=None)
    file = get(part, "fileData")
    if file is not None:
        p = f"{param}.fileData"
        file = expect_object(file, p)
        uri = expect_str(get(file, "fileUri"), f"{p}.fileUri")
        given = get(file, "mimeType")
        file_mime = expect_str(given, f"{p}.mimeType") if given is not None else guess_media_type(uri)
        if file_mime is None:
            raise invalid(f"{p}.mimeType", "required when the URI has no known file extension.")
        return _media(file_mime, p, images_only, drops, data=None, url=uri)
    # executableCode, codeExecutionResult, toolCall, toolResponse, kinds added later
    drops.append(hub.Drop(param, _part_kind(part), "content"))
    return None


def _media(
    mime: str, param: str, images_only: bool, drops: list[hub.Drop], *, data: str | None, url: str | None
) -> hub.Part | None:
    if mime.startswith("image/"):
        return hub.ImagePart(url=url, data=data, media_type=mime)
    if not images_only and (mime == "application/pdf" or mime.startswith("text/")):
        return hub.DocumentPart(url=url, data=data, media_type=mime)
    drops.append(hub.Drop(param, mime, "content"))  # audio, video
    return None


def _decode_tools(
    body: JSON, drops: list[hub.Drop]
) -> tuple[tuple[hub.Tool, ...], tuple[hub.HostedTool, ...], hub.ToolChoice | None]:
    declared, hosted = _declared_tools(body, drops)
    tools, choice = _tool_choice(body, declared, drops)
    return tools, hosted, choice


def _declared_tools(body: JSON, drops: list[hub.Drop]) -> tuple[list[hub.Tool], tuple[hub.HostedTool, ...]]:
    tools: list[hub.Tool] = []
    hosted: list[hub.HostedTool] = []
    for i, raw in enumerate(expect_list(get(body, "tools") or [], "tools")):
        entry = expect_object(raw, f"tools[{i}]")
        for key in entry:
            name = _camel(str(key))
            if name in ("googleSearch", "googleSearchRetrieval"):
                hosted.append(hub.HostedTool("web_search", f"tools[{i}].{name}"))
            elif name != "functionDeclarations":
                drops.append(hub.Drop(f"tools[{i}]", name, "tool"))
        declarations = get(entry, "functionDeclarations") or []
        for k, decl in enumerate(expect_list(declarations, f"tools[{i}].functionDeclarations")):
            tools.append(_declaration(decl, f"tools[{i}].functionDeclarations[{k}]"))
    return tools, tuple(hosted)


def _tool_choice(
    body: JSON, tools: list[hub.Tool], drops: list[hub.Drop]
) -> tuple[tuple[hub.Tool, ...], hub.ToolChoice | None]:
    """toolConfig.functionCallingConfig -> a tool choice (ANY with several allowed
    names narrows the tools to those); an unknown mode is dropped and named."""
    tool_config = get(body, "toolConfig")
    if tool_config is None:
        return tuple(tools), None
    calling = get(expect_object(tool_config, "toolConfig"), "functionCallingConfig")
    if calling is None:
        return tuple(tools), None
    p = "toolConfig.functionCallingConfig"
    calling = expect_object(calling, p)
    raw_mode = get(calling, "mode")
    mode = (expect_str(raw_mode, f"{p}.mode") if raw_mode is not None else "AUTO").upper()
    allowed = get(calling, "allowedFunctionNames")
    names_param = f"{p}.allowedFunctionNames"
    names = [expect_str(n, names_param) for n in expect_list(allowed or [], names_param)]
    if mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED"):
        return tuple(tools), hub.ToolChoice("auto")
    if mode == "NONE":
        return tuple(tools), hub.ToolChoice("none")
    if mode != "ANY":
        drops.append(hub.Drop(f"{p}.mode", mode))
        return tuple(tools), None
    if len(names) == 1:
        return tuple(tools), hub.ToolChoice("tool", names[0])
    if names:
        tools = [t for t in tools if t.name in names]
    return tuple(tools), hub.ToolChoice("required")


def _declaration(raw: Any, param: str) -> hub.Tool:
    decl = expect_object(raw, param)
    name = expect_str(get(decl, "name"), f"{param}.name")
    description = get(decl, "description")
    json_schema = get(decl, "parametersJsonSchema")
    if json_schema is not None:
        parameters = expect_object(json_schema, f"{param}.parametersJsonSchema")
    elif get(decl, "parameters") is not None:
        parameters = to_json_schema(expect_object(get(decl, "parameters"), f"{param}.parameters"))
    else:
        parameters = {"type": "object", "properties": {}}
    return hub.Tool(
        name=name,
        description=expect_str(description, f"{param}.description") if description is not None else None,
        parameters=parameters,
    )


def _decode_config(config: JSON, drops: list[hub.Drop]) -> dict[str, Any]:
    """generationConfig -> hub.Request keyword arguments."""
    out: dict[str, Any] = {}
    p = "generationConfig"
    count = get(config, "candidateCount")
    if count is not None and expect_int(count, f"{p}.candidateCount") > 1:
        drops.append(hub.Drop(f"{p}.candidateCount"))  # one candidate is generated
    for key, name in (("temperature", "temperature"), ("topP", "top_p")):
        value = get(config, key)
        if value is not None:
            out[name] = expect_number(value, f"{p}.{key}")
    for key, name in (("presencePenalty", "presence_penalty"), ("frequencyPenalty", "frequency_penalty")):
        value = get(config, key)
        if value is not None:
            out[name] = expect_number(value, f"{p}.{key}")
    for key, name in (("topK", "top_k"), ("maxOutputTokens", "max_tokens"), ("seed", "seed")):
        value = get(config, key)
        if value is not None:
            out[name] = expect_int(value, f"{p}.{key}")
    stop = get(config, "stopSequences")
    if stop is not None:
        out["stop"] = tuple(
            expect_str(s, f"{p}.stopSequences") for s in expect_list(stop, f"{p}.stopSequences")
        )
    modalities = get(config, "responseModalities")
    for m in expect_list(modalities or [], f"{p}.responseModalities"):
        if str(m).upper() != "TEXT":
            drops.append(hub.Drop(f"{p}.responseModalities", str(m)))
    out["response_format"] = _decode_format(config, drops)
    thinking = get(config, "thinkingConfig")
    if thinking is not None:
        out["reasoning"] = _decode_thinking(expect_object(thinking, f"{p}.thinkingConfig"), drops)
    return out


def _decode_format(config: JSON, drops: list[hub.Drop]) -> hub.ResponseFormat | None:
    p = "generationConfig"
    mime = get(config, "responseMimeType")
    if mime is None or mime == "text/plain":
        return None
    if mime != "application/json":
        drops.append(hub.Drop(f"{p}.responseMimeType", str(mime)))  # text/x.enum
        return None
    json_schema = get(config, "responseJsonSchema")
    if json_schema is not None:
        return hub.ResponseFormat("json_schema", expect_object(json_schema, f"{p}.responseJsonSchema"))
    schema = get(config, "responseSchema")
    if schema is not None:
        return hub.ResponseFormat("json_schema", to_json_schema(expect_object(schema, f"{p}.responseSchema")))
    return hub.ResponseFormat("json_object")


def _decode_thinking(thinking: JSON, drops: list[hub.Drop]) -> hub.Reasoning:
    p = "generationConfig.thinkingConfig"
    include = get(thinking, "includeThoughts")
    include_thoughts = expect_bool(include, f"{p}.includeThoughts") if include is not None else False
    budget = get(thinking, "thinkingBudget")
    level = get(thinking, "thinkingLevel")
    effort: hub.Effort | None = None
    budget_tokens: int | None = None
    if budget is not None:
        budget_tokens = expect_int(budget, f"{p}.thinkingBudget")
        if budget_tokens == 0:
            effort = hub.Effort.NONE
    if level is not None:
        key = expect_str(level, f"{p}.thinkingLevel").upper()
        if key not in _LEVELS and key != "THINKING_LEVEL_UNSPECIFIED":
            drops.append(hub.Drop(f"{p}.thinkingLevel", key))
        effort = _LEVELS.get(key, effort)
    return hub.Reasoning(effort=effort, budget_tokens=budget_tokens, include_thoughts=include_thoughts)
