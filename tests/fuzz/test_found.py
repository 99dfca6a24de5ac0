"""Bodies the fuzz test found a 5xx for, pinned: each now gets the answer named here."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

from tests.fuzz.harness import Harness, error_shape_problem, headers_for
from tests.fuzz.routes import ROUTES

ROUTE = {r.name: r for r in ROUTES}
USER = [{"role": "user", "content": "hi"}]
DEEP = {"a": "leaf"}
for _ in range(300):  # past the 255 levels orjson writes
    DEEP = {"a": DEEP}
GEMINI = "/v1beta/models/echo-1:generateContent"
GEMINI_EMBED = "/v1beta/models/echo-embed:embedContent"
MAX_OUT = "generationConfig.maxOutputTokens"
CHAT = "/v1/chat/completions"


SCHEMA: dict[str, object] = {"type": "string"}
for _ in range(120):  # 240 levels: readable, writable once, but not where an answer echoes it
    SCHEMA = {"anyOf": [SCHEMA, {"type": "null"}]}
SHALLOW_SCHEMA: dict[str, object] = {"type": "string"}
for _ in range(60):
    SHALLOW_SCHEMA = {"type": "object", "properties": {"x": SHALLOW_SCHEMA}}


def _gemini(config: dict[str, object]) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}


CASES = [
    # (route, path, body, status, the field the error names)
    (
        "chat",
        CHAT,
        {"model": "echo-1", "messages": [{"role": ["user"], "content": "x"}]},
        400,
        "messages[0].role",
    ),
    (
        "chat",
        CHAT,
        {"model": "echo-1", "messages": [{"role": {"a": 1}, "content": "x"}]},
        400,
        "messages[0].role",
    ),
    ("chat", CHAT, {"model": "echo-1", "messages": USER, "metadata": DEEP}, 400, None),
    (
        "count-tokens",
        "/v1/messages/count_tokens",
        {"model": "echo-1", "messages": USER, "tools": [{"name": "f", "input_schema": SCHEMA}]},
        400,
        None,
    ),
    (
        "responses",
        "/v1/responses",
        {
            "model": "fz-gemini",
            "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "w", "schema": SCHEMA}},
        },
        400,
        None,
    ),
    (
        "count-tokens",
        "/v1/messages/count_tokens",
        {"model": "echo-1", "messages": USER, "tools": [{"name": "f", "input_schema": SHALLOW_SCHEMA}]},
        200,
        None,
    ),
    ("images", "/v1/images/generations", {"model": "dall-e-3", "prompt": "a cat", "style": DEEP}, 400, None),
    ("gemini-generate", GEMINI, _gemini({"maxOutputTokens": 10**30}), 400, MAX_OUT),
    ("gemini-generate", GEMINI, _gemini({"maxOutputTokens": "9" * 5000}), 400, MAX_OUT),
    ("gemini-generate", GEMINI, _gemini({"maxOutputTokens": "12"}), 200, None),
    (
        "chat",
        CHAT,
        {"model": "echo-1", "messages": [{"role": "user", "content": [{"type": "text", "text": ["a"]}]}]},
        200,
        None,
    ),
    (
        "embeddings",
        "/v1/embeddings",
        {"model": "echo-embed", "input": "a", "dimensions": -1},
        400,
        "dimensions",
    ),
    (
        "embeddings",
        "/v1/embeddings",
        {"model": "echo-embed", "input": "a", "dimensions": 2**62},
        400,
        "dimensions",
    ),
    ("embeddings", "/v1/embeddings", {"model": "echo-embed", "input": ["a", 5]}, 200, None),
    (
        "gemini-embed",
        GEMINI_EMBED,
        {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": "8"},
        400,
        "requests[0].outputDimensionality",
    ),
    (
        "gemini-embed",
        GEMINI_EMBED,
        {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 10**12},
        400,
        None,
    ),
]


@pytest.mark.parametrize(("route", "path", "body", "status", "param"), CASES)
def test_found_bodies_get_a_caller_error(
    fuzzed: tuple[asyncio.AbstractEventLoop, Harness],
    route: str,
    path: str,
    body: dict[str, object],
    status: int,
    param: str | None,
) -> None:
    loop, harness = fuzzed
    shape = ROUTE[route].shape

    async def post() -> tuple[int, bytes]:
        async with harness.client.post(path, data=json.dumps(body), headers=headers_for(shape)) as resp:
            return resp.status, await resp.read()

    got, raw = loop.run_until_complete(post())
    assert got == status, raw
    if status >= 400:
        assert error_shape_problem(shape, status, raw) is None, raw
        if param is not None:
            assert param in orjson.loads(raw)["error"]["message"]
    assert not harness.logs.records
