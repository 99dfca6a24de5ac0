"""hub `Request` -> a Gemini upstream's GenerateContentRequest.

- system -> systemInstruction; user / assistant / tool -> user / model / user, with
  consecutive same-role turns merged (parallel tool results share one turn).
- Tool results -> functionResponse `{name, response: {"result": text}}` (`{"error":
  text}` when is_error; images in results go to `functionResponse.parts`); the name
  comes from ToolResultPart.name or the matching call. Call ids are sent as `id`, except the ones the
  Gemini codec made up for id-less calls (Gemini gets back exactly what it sent).
- Images and documents: base64 -> inlineData; URLs -> fileData, whose mimeType is the
  part's media_type or guessed from the URL's extension (400 when neither says).
- ThinkingPart text is not sent back (Gemini does not read earlier thoughts); its
  signature rides on the next part, or on its own empty text part when that part has a
  signature already or there is none. Anthropic `redacted` thinking is dropped.
- Tool parameters and json_schema response formats are rewritten by
  `schema.sanitize_schema`; a function without parameters omits `parameters` (Gemini
  refuses an OBJECT with no properties).
- Reasoning -> thinkingConfig: budget_tokens, else `budget_for(effort)`;
  include_thoughts -> includeThoughts (not sent when the budget is 0).
- System messages from the middle of a conversation are appended to
  systemInstruction in order: Gemini has no positional system message, and turning
  them into user text would let them speak as the user.
- A hosted web search -> the `googleSearch` tool (grounding).
- `parallel_tool_calls` (when false) and `user` have no Gemini counterpart: left out and
  named in `drops`; `Tool.strict`, `ResponseFormat.name` / `strict` and
  `ImagePart.detail` are left out silently (hints, not content).
"""

from __future__ import annotations

from typing import Any

import orjson

from hubgate.errors import InvalidRequest
from hubgate.formats import hub
from hubgate.formats.gemini.schema import sanitize_schema
from hubgate.formats.gemini.wire import JSON, guess_media_type, invalid, is_synthetic_call_id, type_name


def encode_request(req: hub.Request, model: str, drops: list[hub.Drop] | None = None) -> dict[str, Any]:
    """hub Request -> the GenerateContentRequest body for `model` (which travels in
    the URL, so it is not part of the body). What Gemini cannot carry is named in
    `drops`; InvalidRequest only when nothing sendable is left."""
    del model  # the provider puts it in the URL
    drops = [] if drops is None else drops
    if req.parallel_tool_calls is False:
        drops.append(hub.Drop("parallel_tool_calls"))
    if req.user is not None:
        drops.append(hub.Drop("user"))
    body: JSON = {"contents": _encode_messages(req)}
    system = [*req.system]
    system += [p for m in req.messages if m.role == "system" for p in m.parts if isinstance(p, hub.TextPart)]
    if system:
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in system]}
    tools: list[JSON] = []
    if req.tools:
        tools.append({"functionDeclarations": [_encode_tool(t) for t in req.tools]})
    if req.hosted_tools:
        tools.append({"googleSearch": {}})
    if tools:
        body["tools"] = tools
    if req.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _encode_choice(req.tool_choice)}
    config = _encode_config(req)
    if config:
        body["generationConfig"] = config
    return body


def _encode_messages(req: hub.Request) -> list[JSON]:
    names = {p.id: p.name for m in req.messages for p in m.parts if isinstance(p, hub.ToolCallPart)}
    contents: list[JSON] = []
    for i, message in enumerate(req.messages):
        if message.role == "system":
            continue  # in systemInstruction
        role = "model" if message.role == "assistant" else "user"
        parts = _encode_parts(message.parts, f"messages[{i}]", names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise InvalidRequest("Invalid 'messages': nothing to send to Gemini.", param="messages")
    return contents


def _encode_parts(parts: tuple[hub.Part, ...], param: str, names: dict[str, str]) -> list[JSON]:
    out: list[JSON] = []
    pending: str | None = None  # a thought signature waiting for the next part
    for j, part in enumerate(parts):
        p = f"{param}.parts[{j}]"
        if isinstance(part, hub.ThinkingPart):
            if part.signature is not None:
                if pending is not None:
                    out.append({"text": "", "thoughtSignature": pending})
                pending = part.signature
            continue
        encoded = _encode_part(part, p, names)
        if pending is not None:
            if "thoughtSignature" in encoded:
                out.append({"text": "", "thoughtSignature": pending})
            else:
                encoded["thoughtSignature"] = pending
            pending = None
        out.append(encoded)
    if pending is not None:
        out.append({"text": "", "thoughtSignature": pending})
    return out


def _encode_part(part: hub.Part, param: str, names: dict[str, str]) -> JSON:
    if isinstance(part, hub.TextPart):
        return {"text": part.text}
    if isinstance(part, hub.ImagePart | hub.DocumentPart):
        return _encode_media(part, param)
    if isinstance(part, hub.ToolCallPart):
        try:
            args = orjson.loads(part.arguments or "{}")
        except orjson.JSONDecodeError as exc:
            raise invalid(f"{param}.arguments", "tool call arguments are not valid JSON.") from exc
        if not isinstance(args, dict):
            raise invalid(f"{param}.arguments", f"Gemini needs an object, got {type_name(args)}.")
        call: JSON = {"name": part.name, "args": args}
        if not is_synthetic_call_id(part.id):
            call = {"id": part.id, **call}
        encoded: JSON = {"functionCall": call}
        if part.signature is not None:
            encoded["thoughtSignature"] = part.signature
        return encoded
    if isinstance(part, hub.ToolResultPart):
        return {"functionResponse": _encode_result(part, param, names)}
    raise invalid(param, f"{type(part).__name__} cannot be sent to Gemini.")  # pragma: no cover


def _encode_result(part: hub.ToolResultPart, param: str, names: dict[str, str]) -> JSON:
    name = part.name or names.get(part.tool_call_id)
    if not name:
        raise invalid(f"{param}.name", f"Gemini needs the function name for result {part.tool_call_id!r}.")
    text = "".join(c.text for c in part.content if isinstance(c, hub.TextPart))
    encoded: JSON = {"name": name, "response": {"error" if part.is_error else "result": text}}
    if not is_synthetic_call_id(part.tool_call_id):
        encoded = {"id": part.tool_call_id, **encoded}
    images = [c for c in part.content if isinstance(c, hub.ImagePart)]
    if images:
        encoded["parts"] = [_encode_media(img, f"{param}.content") for img in images]
    return encoded


def _encode_media(part: hub.ImagePart | hub.DocumentPart, param: str) -> JSON:
    data, mime, url = part.data, part.media_type, part.url
    if data is None and url is not None and url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = mime or header[5:].split(";", 1)[0] or None
        url = None
    if data is not None:
        if not mime:
            raise invalid(f"{param}.media_type", "Gemini's inlineData needs a media type.")
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url is None:
        raise invalid(param, "the part has neither data nor a URL.")
    mime = mime or guess_media_type(url)
    if mime is None:
        raise invalid(f"{param}.media_type", "Gemini's fileData needs a media type; the URL does not say.")
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _encode_tool(tool: hub.Tool) -> JSON:
    decl: JSON = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    params = sanitize_schema(tool.parameters)
    if params.get("properties") or params.get("type") not in ("OBJECT", None):
        decl["parameters"] = params
    return decl


def _encode_choice(choice: hub.ToolChoice) -> JSON:
    if choice.mode == "auto":
        return {"mode": "AUTO"}
    if choice.mode == "none":
        return {"mode": "NONE"}
    if choice.mode == "required":
        return {"mode": "ANY"}
    return {"mode": "ANY", "allowedFunctionNames": [choice.name]}


def _encode_config(req: hub.Request) -> JSON:
    config: JSON = {}
    pairs = (
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("topK", req.top_k),
        ("maxOutputTokens", req.max_tokens),
        ("seed", req.seed),
        ("presencePenalty", req.presence_penalty),
        ("frequencyPenalty", req.frequency_penalty),
    )
    for key, value in pairs:
        if value is not None:
            config[key] = value
    if req.stop:
        config["stopSequences"] = list(req.stop)
    fmt = req.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            config["responseSchema"] = sanitize_schema(fmt.schema, order_properties=True)
    if req.reasoning is not None:
        config["thinkingConfig"] = _encode_thinking(req.reasoning)
    return config


def _encode_thinking(reasoning: hub.Reasoning) -> JSON:
    thinking: JSON = {}
    budget = reasoning.budget_tokens
    if budget is None and reasoning.effort is not None:
        budget = hub.budget_for(reasoning.effort)
    if budget is not None:
        thinking["thinkingBudget"] = budget
    if budget != 0:
        thinking["includeThoughts"] = reasoning.include_thoughts
    return thinking
