"""GenerateContentResponse <-> hub `Response`, and Gemini error bodies.

Only the first candidate is read (requests never ask for more). Parts map as in the
request codec: `thought: true` parts are ThinkingParts (signed by their
`thoughtSignature`), a signature on any other part becomes a ThinkingPart with empty
text placed before it, except on functionCall parts where it is the call's own
`signature`. functionCall parts without an `id` get a fresh `call_gemini_<hex>` one
(which `request_encode` does not send back). Output
Gemini cannot hand to another format (inlineData images, executableCode) is a 502.

finishReason: STOP -> stop (tool_calls when the candidate holds functionCall parts),
MAX_TOKENS -> length, SAFETY / RECITATION / BLOCKLIST / PROHIBITED_CONTENT / SPII /
IMAGE_* -> content_filter, anything else (MALFORMED_FUNCTION_CALL, OTHER, ...) ->
error. A prompt blocked by `promptFeedback.blockReason` (no candidates) is
content_filter. Encoding maps back, with tool_calls -> STOP.

usageMetadata follows the hub's convention (see `hub`): prompt = promptTokenCount
(cached included) + toolUsePromptTokenCount, completion = candidatesTokenCount +
thoughtsTokenCount.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from hubgate.errors import BadGateway
from hubgate.formats import hub
from hubgate.formats.gemini.wire import (
    JSON,
    add_thinking,
    finish_from_gemini,
    finish_to_gemini,
    get,
    response_call_id,
    strip_models_prefix,
    usage_from_gemini,
    usage_to_gemini,
)


def new_response_id() -> str:
    return secrets.token_urlsafe(16)


# =================================================================== decode


def decode_response(body: dict[str, Any]) -> hub.Response:
    """A Gemini upstream's GenerateContentResponse -> hub Response."""
    if not isinstance(body, dict):
        raise BadGateway("Gemini answered with something that is not a GenerateContentResponse.")
    usage_meta = get(body, "usageMetadata")
    usage = usage_from_gemini(usage_meta) if isinstance(usage_meta, dict) else hub.Usage()
    response_id = get(body, "responseId")
    model = get(body, "modelVersion")
    candidates = get(body, "candidates") or []
    if not isinstance(candidates, list):
        raise BadGateway("Gemini's 'candidates' is not an array.")
    parts: tuple[hub.Part, ...] = ()
    if candidates:
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        content = get(candidate, "content") or {}
        parts = decode_parts(get(content, "parts") or [] if isinstance(content, dict) else [])
        called = any(isinstance(p, hub.ToolCallPart) for p in parts)
        finish = finish_from_gemini(str(get(candidate, "finishReason") or "STOP"), called_tools=called)
    else:
        feedback = get(body, "promptFeedback")
        blocked = isinstance(feedback, dict) and get(feedback, "blockReason") is not None
        finish = hub.FinishReason.CONTENT_FILTER if blocked else hub.FinishReason.STOP
    return hub.Response(
        id=response_id if isinstance(response_id, str) and response_id else new_response_id(),
        model=strip_models_prefix(model) if isinstance(model, str) else "",
        parts=parts,
        finish_reason=finish,
        usage=usage,
    )


def decode_parts(raw_parts: Any) -> tuple[hub.Part, ...]:
    """A candidate's `content.parts` -> hub parts (Text, Thinking, ToolCall)."""
    if not isinstance(raw_parts, list):
        raise BadGateway("Gemini's 'content.parts' is not an array.")
    out: list[hub.Part] = []
    for raw in raw_parts:
        if not isinstance(raw, dict):
            raise BadGateway("Gemini sent a content part that is not an object.")
        signature = get(raw, "thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else None
        call = get(raw, "functionCall")
        text = get(raw, "text")
        if isinstance(call, dict):
            out.append(decode_call(call, signature))
        elif get(raw, "thought") is True:
            add_thinking(out, text if isinstance(text, str) else "", signature)
        elif isinstance(text, str):
            if signature is not None:
                add_thinking(out, "", signature)
            if text:
                out.append(hub.TextPart(text))
        else:
            kinds = ", ".join(sorted(raw)) or "nothing"
            raise BadGateway(f"Gemini answered with a part hubgate cannot translate ({kinds}).")
    return tuple(out)


def decode_call(call: JSON, signature: str | None) -> hub.ToolCallPart:
    name = get(call, "name")
    if not isinstance(name, str) or not name:
        raise BadGateway("Gemini sent a functionCall without a name.")
    args = get(call, "args")
    call_id = get(call, "id")
    return hub.ToolCallPart(
        id=call_id if isinstance(call_id, str) and call_id else response_call_id(),
        name=name,
        arguments=orjson.dumps(args if isinstance(args, dict) else {}).decode(),
        signature=signature,
    )


# =================================================================== encode


def encode_response(resp: hub.Response, model: str) -> dict[str, Any]:
    """hub Response -> the GenerateContentResponse a google-genai caller expects."""
    return {
        "candidates": [candidate(encode_parts(resp.parts), finish_to_gemini(resp.finish_reason))],
        "usageMetadata": usage_to_gemini(resp.usage),
        "modelVersion": model,
        "responseId": resp.id,
    }


def candidate(parts: list[JSON], finish: str | None = None) -> JSON:
    content: JSON = {"parts": parts, "role": "model"} if parts else {"role": "model"}
    out: JSON = {"content": content}
    if finish is not None:
        out["finishReason"] = finish
    out["index"] = 0
    return out


def encode_parts(parts: tuple[hub.Part, ...]) -> list[JSON]:
    """hub response parts -> Gemini parts. Thinking text goes out as a `thought: true`
    part carrying its signature, except that the signature of thinking just before an
    unsigned tool call rides on the functionCall part, where Gemini puts it (clients
    drop thought parts from their history but keep functionCall parts whole); a
    signature without text rides on the next part (or on an empty text part of its
    own). Anthropic `redacted` thinking has no Gemini form and is left out."""
    out: list[JSON] = []
    pending: str | None = None
    for i, part in enumerate(parts):
        if isinstance(part, hub.ThinkingPart):
            if part.text:
                if pending is not None:
                    out.append(signature_part(pending))
                    pending = None
                thought: JSON = {"text": part.text, "thought": True}
                after = parts[i + 1] if i + 1 < len(parts) else None
                if isinstance(after, hub.ToolCallPart) and after.signature is None:
                    pending = part.signature
                elif part.signature is not None:
                    thought["thoughtSignature"] = part.signature
                out.append(thought)
            elif part.signature is not None:
                if pending is not None:
                    out.append(signature_part(pending))
                pending = part.signature
            continue
        encoded = encode_part(part)
        if pending is not None:
            if "thoughtSignature" in encoded:
                out.append(signature_part(pending))
            else:
                encoded["thoughtSignature"] = pending
            pending = None
        out.append(encoded)
    if pending is not None:
        out.append(signature_part(pending))
    return out


def signature_part(signature: str) -> JSON:
    return {"text": "", "thoughtSignature": signature}


def encode_part(part: hub.Part) -> JSON:
    if isinstance(part, hub.TextPart):
        return {"text": part.text}
    if isinstance(part, hub.ToolCallPart):
        return encode_call(part.id, part.name, part.arguments, part.signature)
    if isinstance(part, hub.ImagePart) and part.data is not None:
        return {"inlineData": {"mimeType": part.media_type or "image/png", "data": part.data}}
    raise BadGateway(f"hubgate cannot put a {type(part).__name__} in a Gemini answer.")


def encode_call(call_id: str, name: str, arguments: str, signature: str | None) -> JSON:
    try:
        args = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError as exc:
        raise BadGateway(f"The upstream's arguments for tool call {name!r} are not valid JSON.") from exc
    if not isinstance(args, dict):
        raise BadGateway(f"The upstream's arguments for tool call {name!r} are not a JSON object.")
    part: JSON = {"functionCall": {"id": call_id, "name": name, "args": args}}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


# =================================================================== errors


def decode_error(status: int, body: bytes) -> str:
    """The message of Gemini's `{"error": {"code", "message", "status"}}` (the
    streaming JSON-array form wraps it in a list)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] if text else f"Gemini upstream answered HTTP {status}."
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return f"Gemini upstream answered HTTP {status}."
