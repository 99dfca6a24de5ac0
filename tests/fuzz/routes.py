"""Every caller route the fuzz test drives, with valid bodies to start mutating from.

The valid bodies are deliberately rich (tools, tool calls and results, images, reasoning,
schemas, stop sequences, cache control) so that mutations reach deep into each decoder, and
each generating route is tried against every upstream format: `echo-1` (the in-process echo
channel, OpenAI Chat), `fz-claude`, `fz-gemini` and `fz-resp` (fake Anthropic, Gemini and
Responses upstreams), so that both pass-through and translation see the hostile bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
IMAGE_URL = f"data:image/png;base64,{PNG}"
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "a city"},
        "days": {"type": "integer"},
        "unit": {"anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}]},
    },
    "required": ["city"],
    "additionalProperties": False,
}
GEMINI_SCHEMA = {  # Gemini's OpenAPI subset: no additionalProperties
    "type": "OBJECT",
    "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER", "nullable": True}},
    "required": ["city"],
}
GENERATING = ("echo-1", "fz-claude", "fz-gemini", "fz-resp")
PREVIOUS = "@previous-response-id"  # the harness puts a stored answer's id here


class Shape(Enum):
    """The error shape a route's callers expect."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


@dataclass(frozen=True)
class Route:
    name: str
    shape: Shape
    paths: tuple[str, ...]  # one is picked per body (Gemini's carry the model; may carry ?alt=sse)
    bodies: tuple[dict[str, Any], ...]


def _chat(model: str, stream: bool) -> dict[str, Any]:
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "P"}'},
    }
    user_parts = [
        {"type": "text", "text": "What is the weather?"},
        {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "low"}},
    ]
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": user_parts},
            {"role": "assistant", "content": None, "tool_calls": [tool_call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "weather", "description": "d", "parameters": SCHEMA}}
        ],
        "tool_choice": "auto",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 50,
        **({} if model == "fz-resp" else {"stop": ["END"]}),  # the Responses API has none
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": SCHEMA, "strict": True},
        },
        "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    }


def _plain_chat(model: str, stream: bool) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hello there"}]
    return {"model": model, "messages": messages, "stream": stream, "reasoning_effort": "low"}


def responses_input(model: str = "echo-1") -> list[dict[str, Any]]:
    """A history with a reasoning item and a tool call, but what the model's upstream refuses: a
    Responses upstream wants a stored reasoning item, Gemini a signed call."""
    items = [
        {"role": "developer", "content": "Answer in English."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is the weather?"},
                {"type": "input_image", "image_url": IMAGE_URL},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}]},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    ]
    if model == "fz-resp":
        return [i for i in items if i.get("type") != "reasoning"]
    if model == "fz-gemini":
        return [i for i in items if not str(i.get("type")).startswith("function_call")]
    return items


def _responses(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "instructions": "Be brief.",
        "input": responses_input(model),
        "tools": [
            {"type": "function", "name": "weather", "description": "d", "parameters": SCHEMA, "strict": True}
        ],
        "tool_choice": "auto",
        "text": {"format": {"type": "json_schema", "name": "w", "schema": SCHEMA}},
        "max_output_tokens": 100,
        "temperature": 0.7,
        "metadata": {"k": "v"},
        "store": False,
        "stream": stream,
    }


def _messages(model: str, stream: bool, *, count: bool = False) -> dict[str, Any]:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    result = {"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "sunny"}]}
    body: dict[str, Any] = {
        "model": model,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is the weather?"}, image]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "let me look", "signature": "sig"},
                    {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Paris"}},
                ],
            },
            {"role": "user", "content": [result, {"type": "text", "text": "and tomorrow?"}]},
        ],
        "tools": [{"name": "weather", "description": "the weather", "input_schema": SCHEMA}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
    }
    if not count:
        body.update(max_tokens=2048, stream=stream, temperature=1)
    if model in ("fz-claude", "fz-resp"):  # they check signatures: none in the history, no thinking
        del body["thinking"], body["messages"][1]["content"][0]
    if model == "fz-resp":  # the Responses API has no stop sequences
        del body["stop_sequences"]
    return body


def _plain_messages(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "max_tokens": 2048,
    }


def _gemini() -> dict[str, Any]:
    call = {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
    config = {
        "maxOutputTokens": 100,
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 40,
        "responseMimeType": "application/json",
        "responseSchema": GEMINI_SCHEMA,
    }
    return {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "What is it?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}],
            },
            {"role": "model", "parts": [call]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "weather", "response": {"result": "sunny"}}}],
            },
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [
            {"functionDeclarations": [{"name": "weather", "description": "d", "parameters": GEMINI_SCHEMA}]}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": config,
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }


def _gemini_plain() -> dict[str, Any]:
    """No history (so thinking needs no signatures), stop sequences (no Responses channel)."""
    config = {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}, "stopSequences": ["END"]}
    return {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}], "generationConfig": config}


def _each(make: Any, *args: Any) -> tuple[dict[str, Any], ...]:
    return tuple(make(model, *args) for model in GENERATING)


def _gemini_paths(action: str, query: str = "") -> tuple[str, ...]:
    return tuple(f"/v1beta/models/{model}:{action}{query}" for model in GENERATING)


_EMBED = {"content": {"parts": [{"text": "hello"}, {"text": "world"}]}, "taskType": "RETRIEVAL_QUERY"}
_EMBED_PATHS = ("/v1beta/models/echo-embed:{}", "/v1beta/models/fz-gemini-embed:{}")

ROUTES: tuple[Route, ...] = (
    Route("chat", Shape.OPENAI, ("/v1/chat/completions",), _each(_chat, False) + _each(_plain_chat, False)),
    Route(
        "chat-stream", Shape.OPENAI, ("/v1/chat/completions",), _each(_chat, True) + _each(_plain_chat, True)
    ),
    Route(
        "completions",
        Shape.OPENAI,
        ("/v1/completions",),
        (
            {"model": "echo-1", "prompt": "Say hi", "max_tokens": 5, "temperature": 0, "stream": False},
            {
                "model": "echo-1",
                "prompt": ["one", "two"],
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ),
    ),
    Route(
        "responses",
        Shape.OPENAI,
        ("/v1/responses",),
        _each(_responses, False)
        + _each(_responses, True)
        + (
            {"model": "echo-1", "input": "hello there"},
            {"model": "fz-claude", "input": "hi", "stream": True},
        )
        + tuple(
            {
                "model": m,
                "input": "and then?",
                "previous_response_id": PREVIOUS,
                "reasoning": {"effort": "low"},
            }
            for m in GENERATING
            if m != "fz-resp"  # the stored history has a reasoning item a Responses upstream never stored
        ),
    ),
    Route(
        "responses-compact",
        Shape.OPENAI,
        ("/v1/responses/compact",),
        (
            *tuple(
                {"model": m, "input": responses_input(m), "instructions": "Be brief."} for m in GENERATING
            ),
            {"model": "echo-1", "input": "hello there"},
            {"model": "fz-claude", "previous_response_id": PREVIOUS},
        ),
    ),
    Route(
        "messages",
        Shape.ANTHROPIC,
        ("/v1/messages",),
        _each(_messages, False)
        + _each(_messages, True)
        + _each(_plain_messages, False)
        + _each(_plain_messages, True),
    ),
    Route(
        "count-tokens",
        Shape.ANTHROPIC,
        ("/v1/messages/count_tokens",),
        (
            *tuple(_messages(m, False, count=True) for m in ("echo-1", "fz-claude")),
            {"model": "echo-1", "messages": [{"role": "user", "content": "hello"}]},
        ),
    ),
    Route("gemini-generate", Shape.GEMINI, _gemini_paths("generateContent"), (_gemini(), _gemini_plain())),
    Route(
        "gemini-stream",  # Server-Sent Events, and the JSON-array form
        Shape.GEMINI,
        _gemini_paths("streamGenerateContent", "?alt=sse") + _gemini_paths("streamGenerateContent"),
        (_gemini(), _gemini_plain()),
    ),
    Route(
        "gemini-count",
        Shape.GEMINI,
        _gemini_paths("countTokens"),
        (_gemini_plain(), {"generateContentRequest": {"model": "models/echo-1", **_gemini()}}),
    ),
    Route(
        "gemini-embed",
        Shape.GEMINI,
        tuple(p.format("embedContent") for p in _EMBED_PATHS),
        (_EMBED, {**_EMBED, "model": "models/echo-embed", "title": "t", "outputDimensionality": 8}),
    ),
    Route(
        "gemini-batch-embed",
        Shape.GEMINI,
        tuple(p.format("batchEmbedContents") for p in _EMBED_PATHS),
        (
            {
                "requests": [
                    {"model": "models/echo-embed", **_EMBED, "outputDimensionality": 8},
                    {"model": "models/echo-embed", "content": {"parts": [{"text": "b"}]}},
                ]
            },
        ),
    ),
    Route(
        "embeddings",
        Shape.OPENAI,
        ("/v1/embeddings",),
        (
            {"model": "echo-embed", "input": ["hello", "world"], "encoding_format": "float", "dimensions": 8},
            {"model": "echo-embed", "input": [[1, 2, 3], [4]], "encoding_format": "base64"},
            {"model": "fz-gemini-embed", "input": ["hello", "world"], "dimensions": 8},
            {"model": "fz-gemini-embed", "input": "hello", "encoding_format": "base64", "user": "u"},
        ),
    ),
    Route(
        "rerank-v1",
        Shape.OPENAI,
        ("/v1/rerank",),
        (
            {
                "model": "rr-jina",
                "query": "paris",
                "documents": ["paris is sunny", {"text": "rome"}],
                "top_n": 1,
            },
            {
                "model": "rr-cohere",
                "query": "q",
                "documents": ["a q", "b"],
                "top_n": 2,
                "return_documents": True,
            },
        ),
    ),
    Route(
        "rerank-v2",
        Shape.OPENAI,
        ("/v2/rerank",),
        (
            {
                "model": "rr-cohere",
                "query": "paris",
                "documents": ["paris", "rome"],
                "max_tokens_per_doc": 512,
            },
            {
                "model": "rr-jina",
                "query": "q",
                "documents": ["a q", "b"],
                "top_n": 1,
                "return_documents": True,
            },
        ),
    ),
    Route(
        "images",
        Shape.OPENAI,
        ("/v1/images/generations",),
        (
            {
                "model": "dall-e-3",
                "prompt": "a cat",
                "n": 1,
                "size": "1024x1024",
                "response_format": "b64_json",
            },
            {"model": "gpt-image-1", "prompt": "a dog", "quality": "low"},
        ),
    ),
    Route(
        "speech",
        Shape.OPENAI,
        ("/v1/audio/speech",),
        (
            {
                "model": "tts-1",
                "input": "hello there",
                "voice": "alloy",
                "response_format": "mp3",
                "speed": 1.0,
            },
        ),
    ),
    Route(
        "moderations",
        Shape.OPENAI,
        ("/v1/moderations",),
        (
            {"model": "omni-moderation-latest", "input": "a text"},
            {"input": ["one", "two"]},
            {
                "input": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": IMAGE_URL}},
                ]
            },
        ),
    ),
    Route(
        "videos",
        Shape.OPENAI,
        ("/v1/videos",),
        (
            {"model": "sora-2", "prompt": "a paper boat", "seconds": "4", "size": "720x1280"},
            {"prompt": "a fox", "input_reference": {"image_url": IMAGE_URL}},
        ),
    ),
    Route(
        "videos-generic",
        Shape.OPENAI,
        ("/v1/videos/generations",),
        (
            {"model": "sora-2", "prompt": "a fox in the snow", "duration": 4},
            {"model": "sora-2", "prompt": "a boat", "seconds": "8", "size": "1280x720"},
        ),
    ),
)
