"""Usage hubgate counts itself when the upstream reports none.

A stream cut off before its usage event, or a provider that omits usage, still
gets billed: the prompt from the request and the completion from the text that was
actually delivered, both counted with the real tokenizer. A stream aborted before
any output was delivered bills no completion tokens. Callers store the result
marked as estimated.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson

from hubgate.formats import hub
from hubgate.metering.estimate import PER_IMAGE, PER_MESSAGE
from hubgate.metering.tokenizer import count_tokens, count_tokens_sync


@dataclass(slots=True)
class DeliveredText:
    """What a stream has delivered so far, fed one hub stream event at a time."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)

    def add(self, event: hub.StreamEvent) -> None:
        if isinstance(event, hub.TextDelta):
            self.text.append(event.text)
        elif isinstance(event, hub.ThinkingDelta):
            self.reasoning.append(event.text)
        elif isinstance(event, hub.ToolCallStart):
            self.text.append(event.name)
        elif isinstance(event, hub.ToolCallDelta):
            self.text.append(event.arguments)

    def add_response(self, response: hub.Response) -> None:
        """The same for a non-streamed response's parts."""
        for part in response.parts:
            if isinstance(part, hub.TextPart):
                self.text.append(part.text)
            elif isinstance(part, hub.ThinkingPart):
                self.reasoning.append(part.text)
            elif isinstance(part, hub.ToolCallPart):
                self.text += (part.name, part.arguments)


def estimated_usage(
    prompt_tokens: int,
    delivered_text: str,
    *,
    reasoning_text: str = "",
    model: str | None = None,
) -> hub.Usage:
    """Usage from a prompt count and the delivered answer and reasoning text
    (blocking: the tokenizer may load; use `estimate_usage` on the event loop)."""
    reasoning = count_tokens_sync(reasoning_text, model)
    answer = count_tokens_sync(delivered_text, model)
    return hub.Usage(
        prompt_tokens=max(prompt_tokens, 0),
        completion_tokens=answer + reasoning,
        reasoning_tokens=reasoning,
    )


async def estimate_usage(
    prompt_tokens: int, delivered: DeliveredText, *, model: str | None = None
) -> hub.Usage:
    """`estimated_usage` for what a stream delivered, counted off the event loop."""
    reasoning = await count_tokens("".join(delivered.reasoning), model)
    answer = await count_tokens("".join(delivered.text), model)
    return hub.Usage(
        prompt_tokens=max(prompt_tokens, 0),
        completion_tokens=answer + reasoning,
        reasoning_tokens=reasoning,
    )


def _request_texts(req: hub.Request) -> tuple[list[str], int]:
    """The request's countable texts in order, and the fixed tokens for turn framing
    and images (the same constants as `estimate.request_tokens`)."""
    texts = [p.text for p in req.system]
    fixed = 0
    for message in req.messages:
        fixed += PER_MESSAGE
        for part in message.parts:
            leaves = part.content if isinstance(part, hub.ToolResultPart) else (part,)
            for leaf in leaves:
                if isinstance(leaf, hub.TextPart | hub.ThinkingPart):
                    texts.append(leaf.text)
                elif isinstance(leaf, hub.ToolCallPart):
                    texts += (leaf.name, leaf.arguments)
                else:
                    fixed += PER_IMAGE
    for tool in req.tools:
        texts += (tool.name, tool.description or "", orjson.dumps(tool.parameters).decode())
    return texts, fixed


def prompt_tokens_sync(req: hub.Request, model: str | None = None) -> int:
    """Input tokens of a request counted with the real tokenizer (blocking)."""
    texts, fixed = _request_texts(req)
    return fixed + count_tokens_sync("\n".join(texts), model or req.model)


async def estimate_prompt_tokens(req: hub.Request, model: str | None = None) -> int:
    """`prompt_tokens_sync` in a worker thread."""
    return await asyncio.to_thread(prompt_tokens_sync, req, model)
