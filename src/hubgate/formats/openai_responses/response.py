"""Answers: the `response` object as OpenAI returns it <-> hub.Response, the echo of
the request the real API puts in every response, and upstream error messages."""

from __future__ import annotations

import time
from typing import Any

import orjson

from hubgate.errors import BadGateway
from hubgate.formats import hub, policy
from hubgate.formats.openai_responses._common import (
    INCOMPLETE_REASONS,
    JSON,
    call_signature,
    decode_usage,
    encode_usage,
    encrypted_for,
    error_code_for,
    finish_for,
    item_id,
    new_response_id,
    reasoning_text,
    signature_extra,
    status_for,
    thinking_from_encrypted,
)
from hubgate.formats.openai_responses.options import ResponsesOptions
from hubgate.formats.openai_responses.request_encode import encode_format, encode_tool, encode_tool_choice
from hubgate.formats.openai_responses.tools import call_item_fields

__all__ = [
    "decode_error",
    "decode_response",
    "encode_response",
    "function_call_item",
    "message_item",
    "output_text",
    "reasoning_item",
    "response_object",
]


# ------------------------------------------------------------------ output items


def output_text(text: str) -> JSON:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(id_: str, texts: list[str], status: str = "completed") -> JSON:
    content = [output_text(t) for t in texts]
    return {"id": id_, "type": "message", "status": status, "content": content, "role": "assistant"}


def reasoning_item(id_: str, text: str, encrypted: str | None) -> JSON:
    item: JSON = {"id": id_, "type": "reasoning", "summary": []}
    if text:
        item["summary"] = [{"type": "summary_text", "text": text}]
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def function_call_item(
    id_: str, call: hub.ToolCallPart, status: str = "completed", request: hub.Request | None = None
) -> JSON:
    """A `function_call` item, or a `custom_tool_call` when the call is to a custom tool
    of `request`; a namespaced function gets back its own name and its `namespace`."""
    item: JSON = {"id": id_, "status": status, **call_item_fields(call, request)}
    if call.signature is not None:
        item["extra_content"] = signature_extra(call.signature)
    return item


def _output_items(
    parts: tuple[hub.Part, ...], response_id: str, *, cut: bool = False, request: hub.Request | None = None
) -> list[JSON]:
    """Hub parts in order -> output items; consecutive texts share one message item.
    `cut`: the answer stopped early, so its last message or call is `incomplete`."""
    items: list[JSON] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            items.append(message_item(item_id("msg", response_id, len(items)), list(texts)))
            texts.clear()

    for part in parts:
        if isinstance(part, hub.TextPart):
            texts.append(part.text)
            continue
        flush()
        if isinstance(part, hub.ThinkingPart):
            rid = item_id("rs", response_id, len(items))
            items.append(reasoning_item(rid, part.text, encrypted_for(part)))
        elif isinstance(part, hub.ToolCallPart):
            if part.signature is not None:  # the call's signature, as a reasoning item before it
                items.append(reasoning_item(item_id("rs", response_id, len(items)), "", part.signature))
            prefix = "ctc" if _custom(request, part) else "fc"
            items.append(function_call_item(item_id(prefix, response_id, len(items)), part, request=request))
        else:
            raise BadGateway(f"An answer cannot carry a {part.kind} part.")
    flush()
    if cut and items and items[-1]["type"] != "reasoning":
        items[-1]["status"] = "incomplete"
    return items


def _custom(request: hub.Request | None, call: hub.ToolCallPart) -> bool:
    tool = policy.tool_named(request, call.name)
    return tool is not None and tool.custom


# ------------------------------------------------------------------------ the echo


def response_object(
    *,
    response_id: str,
    model: str,
    created: int,
    status: str,
    output: list[JSON],
    usage: hub.Usage | None,
    options: ResponsesOptions | None = None,
    request: hub.Request | None = None,
    incomplete_reason: str | None = None,
    error: JSON | None = None,
) -> JSON:
    """A full `response` object, with the request echo fields the real API includes
    (defaults where the request is unknown), in the real API's key order."""
    opts = options or ResponsesOptions()
    req = request
    effort = req.reasoning.effort if req is not None and req.reasoning is not None else None
    fmt = req.response_format if req is not None else None
    now = int(time.time())
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "completed_at": max(now, created) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": opts.instructions,
        "max_output_tokens": req.max_tokens if req is not None else None,
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": (
            req.parallel_tool_calls if req is not None and req.parallel_tool_calls is not None else True
        ),
        "previous_response_id": opts.previous_response_id,
        "prompt_cache_key": None,
        "reasoning": {"effort": effort.value if effort else None, "summary": opts.reasoning_summary},
        "safety_identifier": None,
        "service_tier": "default",
        "store": opts.store,
        "temperature": req.temperature if req is not None and req.temperature is not None else 1.0,
        "text": {
            "format": encode_format(fmt) if fmt is not None else {"type": "text"},
            "verbosity": "medium",
        },
        "tool_choice": (
            encode_tool_choice(req.tool_choice) if req is not None and req.tool_choice is not None else "auto"
        ),
        "tools": [encode_tool(t) for t in req.tools] if req is not None else [],
        "top_logprobs": 0,
        "top_p": req.top_p if req is not None and req.top_p is not None else 1.0,
        "truncation": opts.truncation or "disabled",
        "usage": encode_usage(usage) if usage is not None else None,
        "user": req.user if req is not None else None,
        "metadata": dict(opts.metadata or {}),
    }


# --------------------------------------------------------------------------- encode


def encode_response(
    resp: hub.Response,
    model: str,
    *,
    options: ResponsesOptions | None = None,
    request: hub.Request | None = None,
) -> dict[str, Any]:
    """hub.Response -> the caller's `response` object. `options` and `request` fill
    the echo fields (instructions, tools, store, ...) when the relay has them."""
    response_id = new_response_id(resp.id)
    status = status_for(resp.finish_reason)
    error = None
    if status == "failed":
        error = {"code": error_code_for(500), "message": "The model failed to generate a response."}
    return response_object(
        response_id=response_id,
        model=model,
        created=resp.created or int(time.time()),
        status=status,
        output=_output_items(resp.parts, response_id, cut=status != "completed", request=request),
        usage=resp.usage,
        options=options,
        request=request,
        incomplete_reason=INCOMPLETE_REASONS.get(resp.finish_reason),
        error=error,
    )


# --------------------------------------------------------------------------- decode


def decode_response(body: dict[str, Any]) -> hub.Response:
    """An upstream's `response` object -> hub.Response (502 when it is not one)."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), list):
        raise BadGateway("The upstream answer is not a Responses API response object.")
    parts: list[hub.Part] = []
    saw_call = False
    for item in body["output"]:
        if not isinstance(item, dict):
            raise BadGateway("The upstream answer has an output item that is not an object.")
        kind = item.get("type")
        if kind == "message":
            parts.extend(_message_texts(item))
        elif kind == "reasoning":
            text = reasoning_text(item)
            encrypted = item.get("encrypted_content")
            if text or isinstance(encrypted, str):
                parts.append(thinking_from_encrypted(text, encrypted if isinstance(encrypted, str) else None))
        elif kind == "function_call":
            saw_call = True
            parts.append(_tool_call(item))
        # Other items (hosted tool calls) are never requested by the gateway; their
        # results, if any, are already in the message text.
    created = body.get("created_at")
    return hub.Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=tuple(parts),
        finish_reason=finish_for(body, saw_tool_call=saw_call),
        usage=decode_usage(body.get("usage")),
        created=int(created) if isinstance(created, int | float) and not isinstance(created, bool) else 0,
    )


def _message_texts(item: JSON) -> list[hub.TextPart]:
    content = item.get("content")
    texts = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text" and isinstance(part.get("text"), str):
            texts.append(hub.TextPart(part["text"]))
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(hub.TextPart(part["refusal"]))
    return texts


def _tool_call(item: JSON) -> hub.ToolCallPart:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise BadGateway("The upstream answer has a function_call without call_id or name.")
    return hub.ToolCallPart(
        id=call_id,
        name=name,
        arguments=arguments if isinstance(arguments, str) else "{}",
        signature=call_signature(item),
    )


def decode_error(status: int, body: bytes) -> str:
    """The message of an upstream error answer (`{"error": {"message": ...}}`)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return str(error["message"])
        if isinstance(parsed.get("message"), str) and parsed["message"]:
            return str(parsed["message"])
    text = body.decode("utf-8", "replace").strip()
    return text[:500] if text else f"The upstream answered with HTTP {status}."
