"""hub.Request -> Chat Completions request body (an OpenAI-compatible upstream).

Where Chat has less room than the hub:
- several system blocks become one string, joined by blank lines;
- a tool message holds text only: images a tool returned follow in a user message,
  and an error result reads "Error: ..." (there is no error flag);
- assistant text that came after a tool call moves before it (content precedes tool_calls);
- reasoning history goes out as `reasoning_content` / `thinking_blocks` only when the
  history has some, because OpenAI itself rejects those fields;
- the token limit is `max_completion_tokens` (OpenAI's current name, which reasoning
  models require); `top_k` is sent as the common extension it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubgate.formats import hub
from hubgate.formats.openai_chat._wire import (
    JSON,
    data_url,
    invalid,
    needs_blocks,
    thinking_blocks,
    write_call,
)

_DEFAULT_FILE_TYPE = "application/pdf"  # the only file type Chat Completions reads inline
_DEFAULT_IMAGE_TYPE = "image/png"


def encode_request(req: hub.Request, model: str, drops: list[hub.Drop] | None = None) -> JSON:
    """The body for an OpenAI-compatible upstream; what it cannot carry (hosted tools,
    document URLs, content a role cannot hold) is left out and named in `drops`.

    Always asks for the usage chunk when streaming: the gateway meters every request.
    """
    drops = [] if drops is None else drops
    drops += [hub.Drop(t.path, t.kind, "tool") for t in req.hosted_tools]
    body: JSON = {"model": model, "messages": _write_messages(req, drops)}
    if req.tools:
        body["tools"] = [_write_tool(tool) for tool in req.tools]
        if req.tool_choice is not None:
            body["tool_choice"] = _write_choice(req.tool_choice)
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    elif req.tool_choice is not None and req.tool_choice.mode in ("required", "tool"):
        drops.append(hub.Drop("tool_choice"))  # a call is required but no tool reached Chat
    options: JSON = {
        "max_completion_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "top_k": req.top_k,
        "stop": list(req.stop) or None,
        "seed": req.seed,
        "presence_penalty": req.presence_penalty,
        "frequency_penalty": req.frequency_penalty,
        "response_format": _write_format(req.response_format) if req.response_format else None,
        "reasoning_effort": _write_effort(req.reasoning),
        "user": req.user,
    }
    body.update((k, v) for k, v in options.items() if v is not None)
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _write_effort(reasoning: hub.Reasoning | None) -> str | None:
    """reasoning_effort, from the budget when only that is known.

    No effort (Effort.NONE, budget 0) and a dynamic budget (-1) omit the field: models
    without reasoning reject it and most reasoning models cannot turn it off, so the
    upstream's default is the closest faithful choice.
    """
    if reasoning is None:
        return None
    effort = reasoning.effort
    if effort is None and reasoning.budget_tokens is not None and reasoning.budget_tokens >= 0:
        effort = hub.effort_for(reasoning.budget_tokens)
    if effort is None or effort is hub.Effort.NONE:
        return None
    return effort.value


def _write_format(fmt: hub.ResponseFormat) -> JSON:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: JSON = {"name": fmt.name or "response"}  # Chat requires a name
    if fmt.schema is not None:
        spec["schema"] = fmt.schema
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def _write_tool(tool: hub.Tool) -> JSON:
    fn: JSON = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    fn["parameters"] = tool.parameters
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


def _write_choice(choice: hub.ToolChoice) -> str | JSON:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _write_messages(req: hub.Request, drops: list[hub.Drop]) -> list[JSON]:
    out: list[JSON] = []
    if req.system:
        # One string: several system blocks are a caching artefact of Anthropic's API, and
        # many compatible servers accept only a string here.
        out.append({"role": "system", "content": "\n\n".join(p.text for p in req.system)})
    for i, message in enumerate(req.messages):
        where = f"messages[{i}]"
        if message.role == "assistant":
            out.append(_write_assistant(message.parts, where, drops))
        elif message.role == "system":  # kept in place: Chat has positional system messages
            texts = [p.text for p in message.parts if isinstance(p, hub.TextPart)]
            out.append({"role": "system", "content": "\n\n".join(texts)})
        else:
            out += _write_user_or_tool(message, where, drops)
    return out


def _text_content(texts: Sequence[str]) -> str | list[JSON]:
    """One text as a plain string, several as text parts (never an empty array)."""
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": t} for t in texts] if texts else ""


def _write_assistant(parts: Sequence[hub.Part], where: str, drops: list[hub.Drop]) -> JSON:
    """Reasoning fields go out only when the history carries reasoning (OpenAI itself rejects them)."""
    thinking = [p for p in parts if isinstance(p, hub.ThinkingPart)]
    texts = [p.text for p in parts if isinstance(p, hub.TextPart)]
    calls = [p for p in parts if isinstance(p, hub.ToolCallPart)]
    for j, part in enumerate(parts):
        if isinstance(part, hub.ImagePart | hub.DocumentPart | hub.ToolResultPart):
            drops.append(hub.Drop(f"{where}.parts[{j}]", part.kind, "content"))
    message: JSON = {"role": "assistant", "content": _text_content(texts) if texts or not calls else None}
    reasoning = "".join(p.text for p in thinking)
    if reasoning:
        message["reasoning_content"] = reasoning
    if needs_blocks(thinking):
        message["thinking_blocks"] = thinking_blocks(thinking)
    if calls:
        message["tool_calls"] = [write_call(call) for call in calls]
    return message


def _write_user_or_tool(message: hub.Message, where: str, drops: list[hub.Drop]) -> list[JSON]:
    """Tool results become `tool` messages; everything else (and any images the results
    held, which tool messages cannot carry) goes in one `user` message after them."""
    out: list[JSON] = []
    content: list[JSON] = []
    for j, part in enumerate(message.parts):
        at = f"{where}.content[{j}]"
        if isinstance(part, hub.ToolResultPart):
            out.append(_write_result(part))
            content += _result_images(part, at)
        elif isinstance(part, hub.TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, hub.ImagePart):
            content.append({"type": "image_url", "image_url": _write_image(part, at)})
        elif isinstance(part, hub.DocumentPart) and part.data is not None:
            content.append(_write_file(part, at))
        else:  # thinking or calls in a user turn; a document by URL (Chat takes files inline only)
            drops.append(hub.Drop(f"{where}.parts[{j}]", part.kind, "content"))
    if content or not out:
        if len(content) == 1 and content[0]["type"] == "text":
            out.append({"role": "user", "content": content[0]["text"]})
        else:
            out.append({"role": "user", "content": content or ""})
    return out


def _write_result(part: hub.ToolResultPart) -> JSON:
    """A tool message has no error flag: an error result reads "Error: ..."."""
    texts = [c.text for c in part.content if isinstance(c, hub.TextPart)]
    if part.is_error:
        texts = [f"Error: {texts[0]}", *texts[1:]] if texts else ["Error"]
    return {"role": "tool", "tool_call_id": part.tool_call_id, "content": _text_content(texts)}


def _result_images(part: hub.ToolResultPart, at: str) -> list[JSON]:
    images = [c for c in part.content if isinstance(c, hub.ImagePart)]
    if not images:
        return []
    label = {"type": "text", "text": f"Images returned by tool call {part.tool_call_id}:"}
    return [label, *({"type": "image_url", "image_url": _write_image(image, at)} for image in images)]


def _write_image(image: hub.ImagePart, at: str) -> JSON:
    if image.url is not None:
        url = image.url
    elif image.data is not None:
        url = data_url(image.media_type or _DEFAULT_IMAGE_TYPE, image.data)
    else:
        raise invalid(at, "an image needs a url or data.")
    return {"url": url, "detail": image.detail} if image.detail is not None else {"url": url}


def _write_file(document: hub.DocumentPart, at: str) -> JSON:
    if document.data is None:
        raise invalid(at, "Chat Completions takes files inline only; a document URL cannot be sent.")
    media_type = document.media_type or _DEFAULT_FILE_TYPE
    name = document.name or ("document.pdf" if media_type == _DEFAULT_FILE_TYPE else "document")
    return {"type": "file", "file": {"filename": name, "file_data": data_url(media_type, document.data)}}
