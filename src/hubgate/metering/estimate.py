"""Token estimates for when no upstream can count: about four bytes of text a token.

Used by count_tokens when the model's channel cannot count in the caller's format.
Deliberately simple and documented as an estimate; an exact offline tokenizer is
the metering issue's job.
"""

from __future__ import annotations

import math

from hubgate.formats import hub

PER_MESSAGE = 3  # role and framing tokens every chat format spends per turn
PER_IMAGE = 765  # a 1024x1024 image at high detail in OpenAI's accounting


def text_tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / 4) if text else 0


def _part_tokens(part: hub.Part) -> int:
    if isinstance(part, hub.TextPart):
        return text_tokens(part.text)
    if isinstance(part, hub.ImagePart | hub.DocumentPart):
        return PER_IMAGE
    if isinstance(part, hub.ThinkingPart):
        return text_tokens(part.text)
    if isinstance(part, hub.ToolCallPart):
        return text_tokens(part.name) + text_tokens(part.arguments)
    return sum(_part_tokens(p) for p in part.content)


def request_tokens(req: hub.Request) -> int:
    """Estimated input tokens of a request: system, messages and tool definitions."""
    import orjson

    total = sum(text_tokens(p.text) for p in req.system)
    for message in req.messages:
        total += PER_MESSAGE + sum(_part_tokens(p) for p in message.parts)
    for tool in req.tools:
        total += text_tokens(tool.name) + text_tokens(tool.description or "")
        total += text_tokens(orjson.dumps(tool.parameters).decode())
    return total
