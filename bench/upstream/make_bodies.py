"""Write the fixed upstream answers nginx serves (bench/upstream/bodies/).

Run it again only to change the fixtures; the files it writes are committed.
Every stream carries 20 content chunks and is sent by nginx in one write, so a
streaming figure measures a gateway's per-chunk processing cost, not waiting.

  openai_chat.json    a chat.completion
  openai_chat.sse     24 events: role, 20 content chunks, finish, usage, [DONE]
  anthropic.json      a Messages answer
  anthropic.sse       message_start, content_block_start, 20 deltas, stop, message_delta, message_stop
  gemini.json         a generateContent answer
  gemini.sse          20 streamGenerateContent?alt=sse chunks, the last with finishReason and usage
"""

from __future__ import annotations

import json
from pathlib import Path

BODIES = Path(__file__).resolve().parent / "bodies"
CHUNKS = 20
WORDS = [f"word{i:02d} " for i in range(CHUNKS)]
TEXT = "".join(WORDS).strip()
PROMPT_TOKENS, COMPLETION_TOKENS = 12, CHUNKS
CREATED = 1_700_000_000


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def openai_json() -> str:
    return _dumps(
        {
            "id": "chatcmpl-bench0001",
            "object": "chat.completion",
            "created": CREATED,
            "model": "bench-upstream",
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
    )


def openai_sse() -> str:
    """What OpenAI sends with stream_options.include_usage: `"usage":null` on every chunk."""
    head = {
        "id": "chatcmpl-bench0001",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "bench-upstream",
        "system_fingerprint": "fp_bench",
    }

    def chunk(delta: dict[str, object], finish: str | None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return "data: " + _dumps({**head, "choices": [choice], "usage": None}) + "\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [chunk({"content": w}, None) for w in WORDS]
    events.append(chunk({}, "stop"))
    usage = {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    events.append("data: " + _dumps({**head, "choices": [], "usage": usage}) + "\n\n")
    events.append("data: [DONE]\n\n")
    assert len(events) == 24
    return "".join(events)


def anthropic_json() -> str:
    return _dumps(
        {
            "id": "msg_bench0001",
            "type": "message",
            "role": "assistant",
            "model": "bench-upstream",
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": PROMPT_TOKENS,
                "output_tokens": COMPLETION_TOKENS,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
    )


def anthropic_sse() -> str:
    def event(name: str, data: dict[str, object]) -> str:
        return f"event: {name}\ndata: {_dumps(data)}\n\n"

    start = {
        "id": "msg_bench0001",
        "type": "message",
        "role": "assistant",
        "model": "bench-upstream",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": PROMPT_TOKENS,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    events = [event("message_start", {"type": "message_start", "message": start})]
    events.append(
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    for w in WORDS:
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
        events.append(event("content_block_delta", delta))
    events.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": COMPLETION_TOKENS},
            },
        )
    )
    events.append(event("message_stop", {"type": "message_stop"}))
    return "".join(events)


def _gemini_usage() -> dict[str, int]:
    return {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": COMPLETION_TOKENS,
        "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def gemini_json() -> str:
    return _dumps(
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": TEXT}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": _gemini_usage(),
            "modelVersion": "bench-upstream",
            "responseId": "bench0001",
        }
    )


def gemini_sse() -> str:
    events = []
    for i, w in enumerate(WORDS):
        candidate: dict[str, object] = {"content": {"role": "model", "parts": [{"text": w}]}, "index": 0}
        chunk: dict[str, object] = {"candidates": [candidate], "modelVersion": "bench-upstream"}
        if i == len(WORDS) - 1:
            candidate["finishReason"] = "STOP"
            chunk["usageMetadata"] = _gemini_usage()
        events.append("data: " + _dumps(chunk) + "\r\n\r\n")
    return "".join(events)


FILES = {
    "openai_chat.json": openai_json,
    "openai_chat.sse": openai_sse,
    "anthropic.json": anthropic_json,
    "anthropic.sse": anthropic_sse,
    "gemini.json": gemini_json,
    "gemini.sse": gemini_sse,
}


def main() -> None:
    BODIES.mkdir(exist_ok=True)
    for name, make in FILES.items():
        (BODIES / name).write_text(make(), encoding="utf-8")
        print(f"wrote {BODIES / name}")


if __name__ == "__main__":
    main()
