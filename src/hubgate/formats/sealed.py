"""Opaque reasoning state that crosses formats: one reversible, versioned envelope.

Upstreams hand out reasoning state the caller must send back verbatim on its next
turn: Anthropic's thinking `signature` (which covers the thinking text), Gemini's
`thoughtSignature` (on a thought or, for tool calls, on the functionCall part) and
the Responses `encrypted_content` of a reasoning item. When the caller speaks another
format, the state travels in whatever opaque slot that format has (an Anthropic
thinking `signature`, a Gemini `thoughtSignature`, a Responses reasoning item's
`encrypted_content`), and callers change what they store there: Gemini CLI drops the
thought text and keeps only the signature, Codex drops function-call fields it does
not know, the google-genai SDKs re-encode bytes URL-safe.

So a translated answer's reasoning state is sealed (`seal_response`, `StreamSealer`):
each signature becomes a hubgate-marked value, standard base64 of a magic prefix and
a small JSON object naming the upstream format it came from and holding what that
upstream needs back exactly (its signature; the thinking text when the signature
covers it; the call id when it belonged to a function call). On the next request
`restore` opens every marked value before the upstream's codec sees it: one from the
same kind of upstream gets its exact original back, in the place that upstream wants
it (a Gemini call signature on its functionCall, an Anthropic signature on a thinking
block with its own text); one from another kind of upstream is dropped and named
(`messages[i].parts[j]:reasoning`), as the translation policy says. Values without
the mark are left as they are (state from before sealing, or from a same-format
caller). Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace

import orjson

from hubgate.formats import hub

# 12 bytes, so the base64 form of every sealed value starts with the same 16
# characters, none of them `+` or `/`: URL-safe re-encoding leaves the mark alone.
MAGIC = b"hubgate.rs1:"
PREFIX = base64.b64encode(MAGIC).decode()
_ANTHROPIC = "anthropic"  # its signature covers the thinking text: the text travels too


@dataclass(frozen=True, slots=True)
class Sealed:
    """What a sealed value holds: the upstream format it came from (a `WireFormat`
    value), the signature that upstream issued, and, when they matter, the thinking
    text the signature covers and the id of the tool call it was attached to."""

    origin: str
    signature: str
    text: str | None = None
    call_id: str | None = None


def seal(value: Sealed) -> str:
    """The envelope for `value`: standard base64, so it is also a valid Gemini bytes field."""
    payload: dict[str, str] = {"o": value.origin, "s": value.signature}
    if value.text is not None:
        payload["t"] = value.text
    if value.call_id is not None:
        payload["c"] = value.call_id
    return base64.b64encode(MAGIC + orjson.dumps(payload)).decode()


def unseal(value: str) -> Sealed | None:
    """The contents of a sealed value (standard or URL-safe base64, padded or not);
    None for a value hubgate did not seal, or whose envelope is damaged."""
    if not value.startswith(PREFIX):
        return None
    text = value.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        data = orjson.loads(raw[len(MAGIC) :]) if raw.startswith(MAGIC) else None
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    origin, signature, thinking, call_id = (data.get(k) for k in ("o", "s", "t", "c"))
    if not isinstance(origin, str) or not isinstance(signature, str):
        return None
    return Sealed(
        origin,
        signature,
        thinking if isinstance(thinking, str) else None,
        call_id if isinstance(call_id, str) else None,
    )


# ------------------------------------------------------------------------ answers


def _seal_thinking(origin: str, signature: str, text: str) -> str:
    return seal(Sealed(origin, signature, text if origin == _ANTHROPIC else None))


def seal_response(resp: hub.Response, origin: str, caller: str) -> hub.Response:
    """A translated answer with its signatures sealed (unchanged when `origin` is the
    caller's own format: then nothing crosses a format)."""
    if origin == caller:
        return resp
    parts: list[hub.Part] = []
    for part in resp.parts:
        if isinstance(part, hub.ThinkingPart) and part.signature is not None:
            part = replace(part, signature=_seal_thinking(origin, part.signature, part.text))
        elif isinstance(part, hub.ToolCallPart) and part.signature is not None:
            part = replace(part, signature=seal(Sealed(origin, part.signature, call_id=part.id)))
        parts.append(part)
    return replace(resp, parts=tuple(parts))


class StreamSealer:
    """The streaming form of `seal_response`, event by event. Thinking text streams
    before the signature that covers it, so the text since the last signature is kept
    until the signature comes."""

    def __init__(self, origin: str, caller: str) -> None:
        self._origin = origin
        self._active = origin != caller
        self._text: list[str] = []

    def feed(self, event: hub.StreamEvent) -> hub.StreamEvent:
        if not self._active:
            return event
        if isinstance(event, hub.ThinkingDelta):
            if event.redacted is not None:
                self._text.clear()
            if event.text:
                self._text.append(event.text)
            if event.signature is not None:
                text, self._text = "".join(self._text), []
                return replace(event, signature=_seal_thinking(self._origin, event.signature, text))
        elif isinstance(event, hub.ToolCallStart) and event.signature is not None:
            return replace(event, signature=seal(Sealed(self._origin, event.signature, call_id=event.id)))
        return event


# ----------------------------------------------------------------------- requests


def restore(req: hub.Request, target: str) -> hub.Request:
    """`req` with every sealed value opened for an upstream speaking `target`: the
    originals of `target`'s own, the others dropped and named in `Request.dropped`
    (the Anthropic codec then leaves thinking off, as for any lost reasoning)."""
    drops: list[hub.Drop] = []
    messages = tuple(
        _restore_message(m, i, target, drops) if m.role == "assistant" else m
        for i, m in enumerate(req.messages)
    )
    if messages == req.messages and not drops:
        return req
    return replace(req, messages=messages, dropped=(*req.dropped, *drops))


def _restore_message(message: hub.Message, i: int, target: str, drops: list[hub.Drop]) -> hub.Message:
    opened: dict[int, Sealed] = {}
    for j, part in enumerate(message.parts):
        signature = part.signature if isinstance(part, hub.ThinkingPart | hub.ToolCallPart) else None
        sealed = unseal(signature) if signature is not None else None
        if sealed is None:
            continue
        if sealed.origin != target:
            drops.append(hub.Drop(f"messages[{i}].parts[{j}]", "reasoning", "content"))
        opened[j] = sealed
    if not opened:
        return message
    # Call signatures that came back apart from their call (a thinking block before a
    # tool_use, a reasoning item before a function_call) go back on the call.
    call_ids = {p.id for p in message.parts if isinstance(p, hub.ToolCallPart)}
    for_calls = {
        s.call_id: s.signature
        for j, s in opened.items()
        if s.origin == target and s.call_id in call_ids and isinstance(message.parts[j], hub.ThinkingPart)
    }
    parts: list[hub.Part] = []
    for j, part in enumerate(message.parts):
        sealed = opened.get(j)
        if isinstance(part, hub.ToolCallPart):
            parts.extend(_restore_call(part, sealed, target, for_calls.get(part.id)))
        elif sealed is None or not isinstance(part, hub.ThinkingPart):
            parts.append(part)
        elif sealed.origin == target and sealed.call_id not in for_calls:
            text = sealed.text if sealed.text is not None else ("" if sealed.call_id else part.text)
            parts.append(hub.ThinkingPart(text, sealed.signature))
        elif sealed.origin != target and part.text:
            parts.append(hub.ThinkingPart(part.text))  # readable text stays; its state is gone
    return hub.Message(message.role, tuple(parts))


def _restore_call(
    call: hub.ToolCallPart, sealed: Sealed | None, target: str, apart: str | None
) -> list[hub.Part]:
    if sealed is None:
        return [call if apart is None else replace(call, signature=apart)]
    if sealed.origin != target:
        return [replace(call, signature=apart)]
    if sealed.text is not None:  # Anthropic: a thinking block that rode on the call
        return [hub.ThinkingPart(sealed.text, sealed.signature), replace(call, signature=apart)]
    return [replace(call, signature=sealed.signature)]
