"""Conversation compaction (`POST /v1/responses/compact`) for upstreams that have none.

A Responses upstream compacts natively and its opaque `compaction` item only makes
sense to it. For every other upstream hubgate asks the model itself for a summary
and returns the same shape OpenAI does: the conversation's user messages followed
by one `compaction` item. Its `encrypted_content` is hubgate's own, readable
envelope around the summary, so any channel can continue from it later.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

from hubgate.formats import hub

ENVELOPE = "hubgate.compaction.v1:"

SUMMARY_INSTRUCTIONS = (
    "You are compacting a conversation so it can continue in a fresh context. Write a "
    "faithful, self-contained summary of everything above: the user's goals and "
    "constraints, decisions made, facts and results established (including tool calls "
    "and their results), open questions and the current state of the work. Keep names, "
    "numbers and identifiers exact. Write only the summary."
)


def seal(summary: str) -> str:
    return ENVELOPE + base64.b64encode(summary.encode()).decode()


def unseal(encrypted_content: str) -> str | None:
    """The summary inside a hubgate compaction item, or None for someone else's."""
    if not encrypted_content.startswith(ENVELOPE):
        return None
    try:
        return base64.b64decode(encrypted_content[len(ENVELOPE) :], validate=True).decode()
    except ValueError:
        return None


def summary_request(conversation: hub.Request) -> hub.Request:
    """The request that asks the model for the summary of `conversation`."""
    ask = hub.Message("user", (hub.TextPart("Summarize the conversation above as instructed."),))
    return hub.Request(
        model=conversation.model,
        messages=(*conversation.messages, ask),
        system=(*conversation.system, hub.TextPart(SUMMARY_INSTRUCTIONS)),
        max_tokens=conversation.max_tokens,
        dropped=conversation.dropped,
    )


def compacted(answer: hub.Response, input_items: list[Any], model: str) -> dict[str, Any]:
    """The `response.compaction` object: user messages, then the compaction item."""
    summary = "".join(p.text for p in answer.parts if isinstance(p, hub.TextPart))
    suffix = secrets.token_hex(12)
    output: list[dict[str, Any]] = []
    for n, item in enumerate(input_items):
        if isinstance(item, dict) and item.get("role") == "user" and item.get("type", "message") == "message":
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "input_text", "text": content}]
            output.append(
                {
                    "type": "message",
                    "id": f"msg_{suffix}{n}",
                    "role": "user",
                    "status": "completed",
                    "content": content,
                }
            )
    output.append({"type": "compaction", "id": f"cmp_{suffix}", "encrypted_content": seal(summary)})
    usage = answer.usage
    return {
        "id": f"resp_{suffix}",
        "object": "response.compaction",
        "created_at": answer.created or int(time.time()),
        "model": model,
        "output": output,
        "usage": {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens,
        },
    }
