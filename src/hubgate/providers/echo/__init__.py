"""The offline `echo` channel: answers in-process, deterministically, in OpenAI's wire format.

It makes the quickstart work with no upstream account and gives tests and
benchmarks an upstream with no network in between. Replies repeat the last user
message; streams go word by word; usage is always reported (and, as OpenAI does,
sent as a final chunk only when `stream_options.include_usage` is set).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from hubgate.providers.base import (
    GENERATE_FAMILIES,
    Endpoint,
    Family,
    Provider,
    Transport,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.providers.channel import Channel
from hubgate.providers.openai import generate_path

MAX_DIMENSIONS = 4096  # what an embedding may ask for (OpenAI's largest model has 3072)


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters a token."""
    return max(1, math.ceil(len(text.encode()) / 4)) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def _joined(value: Any) -> str:
    """A prompt or an embedding input as text: a string, or the items of an array (tokens) joined."""
    if isinstance(value, str):
        return value
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _prompt_tokens(messages: list[Any]) -> int:
    return sum(3 + count_tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))


def _words(text: str) -> list[str]:
    pieces = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims // 8 + 1))[: dims * 4]
    values = [((b - 127.5) / 127.5) for b in raw[::4]][:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


class EchoResponse(UpstreamResponse):
    def __init__(self, status: int, body: bytes = b"", events: list[bytes] | None = None) -> None:
        self.status = status
        self.headers: Mapping[str, str] = {
            "content-type": "text/event-stream" if events is not None else "application/json"
        }
        self._body = body
        self._events = events or []

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event

    def close(self) -> None:
        self._events = []


def _error(status: int, message: str, param: str | None = None) -> EchoResponse:
    err = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return EchoResponse(status, orjson.dumps(err))


class EchoTransport:
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _error(400, "We could not parse the JSON body of your request.")
        endpoint = Endpoint(request.url.split("/", 3)[3])
        if endpoint is Endpoint.EMBEDDINGS:
            return _embeddings(body)
        return _generate(body, endpoint)


def _generate(body: dict[str, Any], endpoint: Endpoint) -> UpstreamResponse:
    model = body.get("model", "echo")
    created = int(time.time())
    if endpoint is Endpoint.CHAT:
        messages = body.get("messages") or []
        if not isinstance(messages, list):
            return _error(400, "'messages' must be an array.", "messages")
        last_user = next(
            (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None
        )
        reply = _text_of(last_user.get("content")) if last_user else ""
        reply = reply or "(no user message)"
        prompt = _prompt_tokens(messages)
        rid, obj, chunk_obj = f"chatcmpl-echo{created}", "chat.completion", "chat.completion.chunk"
    else:
        prompt_value = body.get("prompt", "")
        prompt_text = _joined(prompt_value)
        reply = prompt_text or "(empty prompt)"
        prompt = count_tokens(prompt_text)
        rid, obj, chunk_obj = f"cmpl-echo{created}", "text_completion", "text_completion"
    completion = count_tokens(reply)
    usage = _usage(prompt, completion)
    base = {"id": rid, "created": created, "model": model, "system_fingerprint": "fp_echo"}

    if body.get("stream") is not True:
        if endpoint is Endpoint.CHAT:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        else:
            choice = {"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}
        return EchoResponse(200, orjson.dumps({**base, "object": obj, "choices": [choice], "usage": usage}))

    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    events: list[bytes] = []

    def emit(choices: list[dict[str, Any]], usage_value: Any = None) -> None:
        chunk: dict[str, Any] = {**base, "object": chunk_obj, "choices": choices}
        if include_usage:
            chunk["usage"] = usage_value
        events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")

    if endpoint is Endpoint.CHAT:
        emit(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )
        for word in _words(reply):
            emit([{"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}])
        emit([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
    else:
        for word in _words(reply):
            emit([{"index": 0, "text": word, "logprobs": None, "finish_reason": None}])
        emit([{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}])
    if include_usage:
        emit([], usage)
    events.append(b"data: [DONE]\n\n")
    return EchoResponse(200, events=events)


def _embeddings(body: dict[str, Any]) -> UpstreamResponse:
    value = body.get("input")
    inputs: list[Any] = (
        [value]
        if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], int))
        else (value if isinstance(value, list) else [])
    )
    dims = body.get("dimensions") or 16
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= MAX_DIMENSIONS:
        return _error(400, f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}.", "dimensions")
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, item in enumerate(inputs):
        text = _joined(item)
        tokens += count_tokens(text) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
        vec = _vector(text, dims)
        embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    payload = {
        "object": "list",
        "data": data,
        "model": body.get("model", "echo"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return EchoResponse(200, orjson.dumps(payload))


class EchoProvider(Provider):
    """Needs no base_url: it answers in-process."""

    channel_type = "echo"
    families = GENERATE_FAMILIES | {Family.COMPLETIONS, Family.EMBEDDINGS}
    needs_base_url = False

    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest:
        return UpstreamRequest(
            url=f"echo://{channel.name}/{generate_path(channel, endpoint)}",
            headers={},
            body=body,
            timeouts=channel.timeouts,
            stream=stream,
            secret="",
        )

    def transport(self, http: Transport) -> Transport:
        return _ECHO


_ECHO = EchoTransport()
