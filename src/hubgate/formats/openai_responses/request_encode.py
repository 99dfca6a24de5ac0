"""hub.Request -> a stateless body for an upstream that speaks the Responses API, and
the wire shapes of tools, tool choice, text format and reasoning (shared with the
echo in response objects)."""

from __future__ import annotations

from typing import Any

from hubgate.formats import hub
from hubgate.formats.openai_responses._common import (
    JSON,
    data_url,
    encrypted_for,
    fail,
    reasoning_input_id,
    sniff_image_type,
)
from hubgate.formats.policy import unsupported

__all__ = ["encode_format", "encode_reasoning", "encode_request", "encode_tool", "encode_tool_choice"]

ENCRYPTED_REASONING = "reasoning.encrypted_content"
_UNSUPPORTED = ("stop", "top_k", "seed", "presence_penalty", "frequency_penalty")


def encode_request(req: hub.Request, model: str, drops: list[hub.Drop] | None = None) -> dict[str, Any]:
    """hub.Request -> a stateless (`store: false`) body for a Responses API upstream.
    Fields it has no place for (stop sequences, top_k, seed, penalties) are left out
    and named in `drops`."""
    drops = [] if drops is None else drops
    unsupported(req, _UNSUPPORTED, drops)
    items: list[JSON] = []
    signed = False
    for i, message in enumerate(req.messages):
        encoded = _encode_message(message, f"messages[{i}]", drops)
        signed = signed or any(item["type"] == "reasoning" for item in encoded)
        items.extend(encoded)

    body: JSON = {"model": model, "input": items}
    if req.system:
        body["instructions"] = "\n\n".join(part.text for part in req.system)
    if req.tools or req.hosted_tools:
        body["tools"] = [encode_tool(tool) for tool in req.tools]
        body["tools"] += [{"type": "web_search"} for _ in req.hosted_tools]
    if req.tool_choice is not None:
        body["tool_choice"] = encode_tool_choice(req.tool_choice)
    if req.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.max_tokens is not None:
        body["max_output_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.response_format is not None:
        body["text"] = {"format": encode_format(req.response_format)}
    reasoning = encode_reasoning(req.reasoning)
    if reasoning is not None:
        body["reasoning"] = reasoning
    # Stateless upstream: reasoning survives to the next turn only as encrypted content.
    if signed or (reasoning is not None and reasoning.get("effort") != "none"):
        body["include"] = [ENCRYPTED_REASONING]
    if req.user is not None:
        body["user"] = req.user
    body["store"] = False
    body["stream"] = req.stream
    return body


def _encode_message(message: hub.Message, where: str, drops: list[hub.Drop]) -> list[JSON]:
    kept = []
    for j, part in enumerate(message.parts):
        if _fits(message.role, part):
            kept.append((j, part))
        else:
            drops.append(hub.Drop(f"{where}.parts[{j}]", part.kind, "content"))
    if message.role == "system":  # in place, as the developer message Responses has
        content = [{"type": "input_text", "text": p.text} for _, p in kept if isinstance(p, hub.TextPart)]
        return [{"type": "message", "role": "developer", "content": content}]
    if message.role == "user":
        content = [_encode_user_part(part, f"{where}.parts[{j}]") for j, part in kept]
        return [{"type": "message", "role": "user", "content": content}] if content else []
    if message.role == "tool":
        return [_encode_tool_result(part, f"{where}.parts[{j}]") for j, part in kept]
    return _encode_assistant(hub.Message("assistant", tuple(p for _, p in kept)), where)


_FITS: dict[str, tuple[type, ...]] = {
    "system": (hub.TextPart,),
    "user": (hub.TextPart, hub.ImagePart, hub.DocumentPart),
    "tool": (hub.ToolResultPart,),
    "assistant": (hub.TextPart, hub.ThinkingPart, hub.ToolCallPart),
}


def _fits(role: str, part: hub.Part) -> bool:
    if isinstance(part, hub.DocumentPart) and part.data is None and part.url is None:
        return False
    return isinstance(part, _FITS[role])


def _encode_user_part(part: hub.Part, where: str) -> JSON:
    if isinstance(part, hub.TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, hub.ImagePart):
        return encode_image(part, where)
    if isinstance(part, hub.DocumentPart):
        if part.data is not None:
            filename = part.name or "document"
            file_data = data_url(part.media_type, part.data, default="application/pdf")
            return {"type": "input_file", "filename": filename, "file_data": file_data}
        if part.url is not None:
            encoded: JSON = {"type": "input_file", "file_url": part.url}
            if part.name is not None:
                encoded["filename"] = part.name
            return encoded
        fail(where, "a document needs data or a URL.")
    fail(where, f"a user message cannot carry a {part.kind} part.")


def encode_image(part: hub.ImagePart, where: str) -> JSON:
    if part.data is not None:
        url = data_url(part.media_type or sniff_image_type(part.data), part.data, default="image/png")
    elif part.url is not None:
        url = part.url
    else:
        fail(where, "an image needs data or a URL.")
    return {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}


def _encode_tool_result(part: hub.Part, where: str) -> JSON:
    if not isinstance(part, hub.ToolResultPart):
        fail(where, f"a tool message can only carry tool results, not a {part.kind} part.")
    output: str | list[JSON]
    if all(isinstance(p, hub.TextPart) for p in part.content) and len(part.content) <= 1:
        output = "".join(p.text for p in part.content if isinstance(p, hub.TextPart))
    else:
        output = [
            {"type": "input_text", "text": p.text}
            if isinstance(p, hub.TextPart)
            else encode_image(p, f"{where}.content[{k}]")
            for k, p in enumerate(part.content)
        ]
    return {"type": "function_call_output", "call_id": part.tool_call_id, "output": output}


def _encode_assistant(message: hub.Message, where: str) -> list[JSON]:
    items: list[JSON] = []
    texts: list[JSON] = []  # output_text parts of the message item being built

    def flush() -> None:
        if texts:
            items.append({"type": "message", "role": "assistant", "content": list(texts)})
            texts.clear()

    for j, part in enumerate(message.parts):
        if isinstance(part, hub.TextPart):
            texts.append({"type": "output_text", "text": part.text})
            continue
        flush()
        if isinstance(part, hub.ThinkingPart):
            encrypted = encrypted_for(part)
            # Reasoning without encrypted content cannot be replayed to a stateless
            # upstream (it answers 404 for unknown reasoning ids); it is left out.
            if encrypted is not None:
                summary = [{"type": "summary_text", "text": part.text}] if part.text else []
                items.append(
                    {
                        "type": "reasoning",
                        "id": reasoning_input_id(encrypted),
                        "summary": summary,
                        "encrypted_content": encrypted,
                    }
                )
        elif isinstance(part, hub.ToolCallPart):
            items.append(
                {"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments}
            )
        else:
            fail(f"{where}.parts[{j}]", f"an assistant message cannot carry a {part.kind} part.")
    flush()
    return items


def encode_tool(tool: hub.Tool) -> JSON:
    encoded: JSON = {"type": "function", "name": tool.name}
    if tool.description is not None:
        encoded["description"] = tool.description
    encoded["parameters"] = tool.parameters
    if tool.strict is not None:
        encoded["strict"] = tool.strict
    return encoded


def encode_tool_choice(choice: hub.ToolChoice) -> str | JSON:
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    return choice.mode


def encode_format(fmt: hub.ResponseFormat) -> JSON:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    encoded: JSON = {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        encoded["strict"] = fmt.strict
    return encoded


def encode_reasoning(reasoning: hub.Reasoning | None) -> JSON | None:
    """hub.Reasoning -> the Responses `reasoning` object (a budget becomes an effort)."""
    if reasoning is None:
        return None
    effort = reasoning.effort
    if effort is None and reasoning.budget_tokens is not None:
        # -1 is Gemini's "dynamic": the model decides, which is OpenAI's default level.
        dynamic = reasoning.budget_tokens < 0
        effort = hub.Effort.MEDIUM if dynamic else hub.effort_for(reasoning.budget_tokens)
    encoded: JSON = {}
    if effort is not None:
        encoded["effort"] = effort.value
    if reasoning.include_thoughts and effort is not hub.Effort.NONE:
        encoded["summary"] = "auto"
    return encoded or None
