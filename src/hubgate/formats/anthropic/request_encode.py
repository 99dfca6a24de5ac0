"""hub.Request -> a body for api.anthropic.com `/v1/messages` (see the package docstring
for the mapping decisions)."""

from __future__ import annotations

import base64
import binascii

from hubgate.formats import hub
from hubgate.formats.policy import unsupported

from ._shared import JSON, MIN_THINKING_BUDGET, fail, load_input

# Anthropic's sampling knobs only take these values while thinking is on.
MIN_TOP_P_WITH_THINKING = 0.95
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no Markdown code fences."
)


WEB_SEARCH_TOOL = "web_search_20250305"
_UNSUPPORTED = ("seed", "presence_penalty", "frequency_penalty")


def encode_request(req: hub.Request, model: str, drops: list[hub.Drop] | None = None) -> JSON:
    """Hub -> a body for api.anthropic.com `/v1/messages`. What Anthropic has no place
    for is left out and named in `drops`; InvalidRequest (naming the hub message index)
    only for a request that cannot be sent at all (no content, broken tool arguments)."""
    drops = [] if drops is None else drops
    unsupported(req, _UNSUPPORTED, drops)
    messages = _encode_messages(req.messages, drops)
    tool_choice = _encode_tool_choice(req)
    forced_tool = tool_choice is not None and tool_choice["type"] in ("any", "tool")
    thinking = _encode_thinking(req.reasoning, forced_tool=forced_tool)
    thinking_on = thinking is not None and thinking["type"] != "disabled"
    if thinking_on and _reasoning_lost(req) and _unsigned_tool_loop(messages):
        # Anthropic refuses thinking mid tool loop unless the call came with its signed
        # thinking; the caller's reasoning could not be replayed: no thinking this turn.
        thinking, thinking_on = None, False
        drops.append(hub.Drop("reasoning"))
    max_tokens = req.max_tokens if req.max_tokens is not None else hub.DEFAULT_MAX_TOKENS
    budget = thinking.get("budget_tokens", 0) if thinking is not None else 0
    if budget and max_tokens <= budget:
        max_tokens = budget + (max_tokens or hub.DEFAULT_MAX_TOKENS)

    body: JSON = {"model": model, "max_tokens": max_tokens, "messages": messages}
    system = _encode_system(req)
    if system is not None:
        body["system"] = system
    if req.tools or req.hosted_tools:
        body["tools"] = [_encode_tool(t) for t in req.tools] + [_web_search(t) for t in req.hosted_tools]
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if thinking is not None:
        body["thinking"] = thinking
    if req.temperature is not None and not thinking_on:
        body["temperature"] = min(max(req.temperature, 0.0), 1.0)
    if req.top_p is not None and (not thinking_on or req.top_p >= MIN_TOP_P_WITH_THINKING):
        body["top_p"] = req.top_p
    if req.top_k is not None and not thinking_on:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.response_format is not None and req.response_format.type == "json_schema":
        schema = req.response_format.schema or {"type": "object"}
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.stream:
        body["stream"] = True
    return body


def _reasoning_lost(req: hub.Request) -> bool:
    """Reasoning in the history that Anthropic cannot be given: another upstream's
    encrypted reasoning the decoder dropped, or thinking without a signature."""
    if any(d.what == "reasoning" for d in req.dropped):
        return True
    return any(
        isinstance(p, hub.ThinkingPart) and not p.signature and p.redacted is None
        for m in req.messages
        if m.role == "assistant"
        for p in m.parts
    )


def _unsigned_tool_loop(messages: list[JSON]) -> bool:
    """The conversation ends in tool results whose assistant turn does not open with a
    thinking block: Anthropic rejects thinking for such a request."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return False
    if not any(b["type"] == "tool_result" for b in messages[-1]["content"]):
        return False
    return messages[-2]["content"][0]["type"] not in ("thinking", "redacted_thinking")


def _web_search(tool: hub.HostedTool) -> JSON:
    out: JSON = {"type": WEB_SEARCH_TOOL, "name": "web_search"}
    if tool.max_uses is not None:
        out["max_uses"] = tool.max_uses
    if tool.allowed_domains:
        out["allowed_domains"] = list(tool.allowed_domains)
    return out


def _encode_system(req: hub.Request) -> str | list[JSON] | None:
    """The system prompt, with system messages from the middle of the conversation
    appended in order (Anthropic has no positional system message)."""
    texts = [p.text for p in req.system if p.text]
    texts += [
        p.text for m in req.messages if m.role == "system" for p in m.parts if isinstance(p, hub.TextPart)
    ]
    if req.response_format is not None and req.response_format.type == "json_object":
        texts.append(JSON_OBJECT_INSTRUCTION)
    if not texts:
        return None
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": t} for t in texts]


def _encode_messages(messages: tuple[hub.Message, ...], drops: list[hub.Drop]) -> list[JSON]:
    """Merge consecutive same-role turns (a hub `tool` message is a user turn); within
    a user turn, tool_result blocks go first, as Anthropic requires. System messages
    went to the system prompt."""
    turns: list[tuple[str, list[JSON]]] = []
    for i, message in enumerate(messages):
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [
            b
            for j, p in enumerate(message.parts)
            if (b := _encode_part(p, role, f"messages.{i}", f"messages.{i}.parts.{j}", drops)) is not None
        ]
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns:
        raise fail("messages", "at least one message with content is required")
    out = []
    for role, blocks in turns:
        if role == "user":
            blocks.sort(key=lambda b: b["type"] != "tool_result")  # stable: keeps each group's order
        out.append({"role": role, "content": blocks})
    return out


def _encode_part(part: hub.Part, role: str, path: str, at: str, drops: list[hub.Drop]) -> JSON | None:
    """One hub part -> one content block, or None for what Anthropic must not receive
    (empty text; thinking without a signature, which it would reject; content the role
    cannot carry, dropped and named)."""
    if isinstance(part, hub.TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if role == "assistant":
        if isinstance(part, hub.ThinkingPart):
            if part.redacted is not None:
                return {"type": "redacted_thinking", "data": part.redacted}
            if not part.signature:
                return None
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        if isinstance(part, hub.ToolCallPart):
            tool_input = load_input(part.arguments)
            if tool_input is None:
                raise fail(path, f"the arguments of tool call '{part.id}' are not a JSON object")
            return {"type": "tool_use", "id": part.id, "name": part.name, "input": tool_input}
        drops.append(hub.Drop(at, part.kind, "content"))
        return None
    if isinstance(part, hub.ImagePart):
        return {"type": "image", "source": _image_source(part, path)}
    if isinstance(part, hub.DocumentPart):
        return _encode_document(part, path, at, drops)
    if isinstance(part, hub.ToolResultPart):
        return _encode_tool_result(part, path)
    drops.append(hub.Drop(at, part.kind, "content"))
    return None


def _image_source(part: hub.ImagePart, path: str) -> JSON:
    data, media_type = part.data, part.media_type
    if data is None and part.url is not None and part.url.startswith("data:"):
        header, _, data = part.url[5:].partition(",")
        media_type = header.split(";")[0] or media_type
    if data is not None:
        if not media_type:
            raise fail(path, "an inline image needs its media_type")
        return {"type": "base64", "media_type": media_type, "data": data}
    if part.url:
        return {"type": "url", "url": part.url}
    raise fail(path, "an image needs a url or inline data")


def _encode_document(part: hub.DocumentPart, path: str, at: str, drops: list[hub.Drop]) -> JSON | None:
    if part.url is not None:
        source: JSON = {"type": "url", "url": part.url}
    elif part.data is not None and part.media_type == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": part.data}
    elif part.data is not None and (part.media_type or "").startswith("text/"):
        try:
            text = base64.b64decode(part.data, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise fail(path, "a text document's data is not base64-encoded UTF-8") from exc
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:  # Anthropic takes PDF or plain-text documents only
        drops.append(hub.Drop(at, part.media_type or "document", "content"))
        return None
    block: JSON = {"type": "document", "source": source}
    if part.name:
        block["title"] = part.name
    return block


def _encode_tool_result(part: hub.ToolResultPart, path: str) -> JSON:
    block: JSON = {"type": "tool_result", "tool_use_id": part.tool_call_id}
    content: list[JSON] = []
    for item in part.content:
        if isinstance(item, hub.TextPart):
            if item.text:
                content.append({"type": "text", "text": item.text})
        else:
            content.append({"type": "image", "source": _image_source(item, path)})
    if len(content) == 1 and content[0]["type"] == "text":
        block["content"] = content[0]["text"]
    elif content:
        block["content"] = content
    if part.is_error:
        block["is_error"] = True
    return block


def _encode_tool(tool: hub.Tool) -> JSON:
    schema = tool.parameters if "type" in tool.parameters else {"type": "object", **tool.parameters}
    out: JSON = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = schema
    if tool.strict:
        out["strict"] = True
    return out


def _encode_tool_choice(req: hub.Request) -> JSON | None:
    """Only sent with tools (Anthropic rejects a tool_choice without them)."""
    if not req.tools and not req.hosted_tools:
        return None
    choice = req.tool_choice
    serial = req.parallel_tool_calls is False
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True} if serial else None
    if choice.mode == "none":
        return {"type": "none"}
    out: JSON
    if choice.mode == "auto":
        out = {"type": "auto"}
    elif choice.mode == "required":
        out = {"type": "any"}
    else:
        if not choice.name:
            raise fail("tool_choice", "a specific tool choice needs the tool's name")
        out = {"type": "tool", "name": choice.name}
    if serial:
        out["disable_parallel_tool_use"] = True
    return out


def _encode_thinking(reasoning: hub.Reasoning | None, *, forced_tool: bool) -> JSON | None:
    """Reasoning -> `thinking`. An explicit budget wins over the effort; budget -1
    (dynamic) or neither set means "model decides" -> adaptive. Anthropic rejects
    thinking together with a forced tool, so forcing the tool wins."""
    if reasoning is None:
        return None
    budget = reasoning.budget_tokens
    if budget is None and reasoning.effort is not None:
        budget = hub.budget_for(reasoning.effort)
    if budget == 0:
        return {"type": "disabled"}
    if forced_tool:
        return None
    out: JSON
    if budget is None or budget < 0:
        out = {"type": "adaptive"}
    else:
        out = {"type": "enabled", "budget_tokens": max(budget, MIN_THINKING_BUDGET)}
    if not reasoning.include_thoughts:
        out["display"] = "omitted"
    return out
