"""End to end: the official `openai` SDK talks to hubgate, hubgate talks to the fake OpenAI upstream.

Every test uses a fresh key (so its usage rows are its own) and a unique marker in the prompt (so the
request the fake upstream received can be found among everything the session sent it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import LiveGateway
from tests.fakes.openai_upstream import DEFAULT_API_KEY, Recorded

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOL_ARGS = {"city": "Paris", "unit": "celsius"}


def marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def upstream_request(gateway: LiveGateway, mark: str) -> Recorded:
    """The one request the fake upstream received whose body contains `mark`."""
    found = [r for r in gateway.fake.requests if mark.encode() in r.body]
    assert len(found) == 1, f"expected exactly one upstream request carrying {mark}, got {len(found)}"
    return found[0]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def public_models(gateway: LiveGateway) -> set[str]:
    return {m for ch in gateway.settings.channels for m in ch.models}


# ---------------------------------------------------------------------------------------------------------
# 1-3. chat


async def test_chat_non_streaming(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=user(f"hello {mark}")
        )
        resp = raw.parse()
    request_id = raw.headers.get("x-request-id")
    assert request_id

    assert resp.choices[0].message.content == f"Hello! You said: hello {mark}"
    assert resp.choices[0].finish_reason == "stop"
    # the fake counts words (+ 3 per message): 2 + 3 prompt, 5 completion
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (5, 5, 10)

    sent = upstream_request(gateway, mark)
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert sent.json["model"] == "gpt-4o-mini"

    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == 200
    assert row["endpoint"] == "chat"
    assert row["model"] == "gpt-4o-mini" and row["upstream_model"] == "gpt-4o-mini"
    assert row["channel"] == "main"
    assert row["prompt_tokens"] == resp.usage.prompt_tokens
    assert row["completion_tokens"] == resp.usage.completion_tokens
    assert row["cached_tokens"] == 0
    assert row["stream"] is False
    assert row["attempts"] == 1
    assert row["error"] is None
    assert row["request_id"] == request_id


async def test_chat_streaming_with_include_usage(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=user(f"stream this {mark} please"),
            stream=True,
            stream_options={"include_usage": True},
        )
        assert raw.headers.get("content-type", "").startswith("text/event-stream")
        request_id = raw.headers.get("x-request-id")
        stream = raw.parse()
        chunks = [chunk async for chunk in stream]

    assert request_id
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Hello! You said: stream this {mark} please"
    content_deltas = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_deltas) > 1, "the reply should arrive in several deltas"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (7, 7)
    # only the final chunk carries usage
    assert all(c.usage is None for c in chunks[:-1])

    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == 200
    assert row["channel"] == "main"
    assert row["stream"] is True
    assert row["prompt_tokens"] == last.usage.prompt_tokens
    assert row["completion_tokens"] == last.usage.completion_tokens
    assert row["ttfb_ms"] is not None and 0 <= row["ttfb_ms"] <= row["latency_ms"]
    assert row["request_id"] == request_id


async def test_chat_streaming_without_include_usage_is_still_metered(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=user(f"no usage for me {mark}"), stream=True
        )
        chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Hello! You said: no usage for me {mark}"
    # the caller did not ask for usage: no usage-only chunk, no usage anywhere
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"

    # ... but hubgate asked the upstream for it, to meter the call
    sent = upstream_request(gateway, mark)
    assert sent.json["stream"] is True
    assert sent.json["stream_options"]["include_usage"] is True

    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == 200 and row["stream"] is True
    # 5 words + 3 prompt tokens; "Hello! You said: no usage for me <mark>" is 8 words
    assert (row["prompt_tokens"], row["completion_tokens"]) == (8, 8)
    assert row["ttfb_ms"] is not None


# ---------------------------------------------------------------------------------------------------------
# 4. tool calls


async def test_tool_call_non_streaming(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(
            model="tool", messages=user(f"weather in Paris? {mark}"), tools=[WEATHER_TOOL]
        )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == TOOL_ARGS
    # the tool definitions reached the upstream unchanged
    assert upstream_request(gateway, mark).json["tools"] == [WEATHER_TOOL]

    rows = await gateway.usage_rows(name)
    assert len(rows) == 1 and rows[0]["status"] == 200
    assert resp.usage is not None and rows[0]["completion_tokens"] == resp.usage.completion_tokens


async def test_tool_call_streaming(gateway: LiveGateway) -> None:
    _, secret = await gateway.new_key()
    async with gateway.client(secret) as client:
        stream = await client.chat.completions.create(
            model="tool",
            messages=user(f"weather in Paris? {marker()}"),
            tools=[WEATHER_TOOL],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]

    names: dict[int, str] = {}
    ids: dict[int, str] = {}
    args: dict[int, str] = {}
    fragments = 0
    finish_reason = None
    for chunk in chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish_reason = choice.finish_reason or finish_reason
        for tc in choice.delta.tool_calls or []:
            if tc.id:
                ids[tc.index] = tc.id
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
                fragments += 1
    assert finish_reason == "tool_calls"
    assert names == {0: "get_weather"}
    assert ids[0].startswith("call_")
    assert fragments > 1, "arguments should arrive in several fragments"
    assert json.loads(args[0]) == TOOL_ARGS


# ---------------------------------------------------------------------------------------------------------
# 5. legacy completions


async def test_legacy_completions(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    prompt = f"Say this is a test {marker()}"
    async with gateway.client(secret) as client:
        resp = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt)
        stream = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt, stream=True)
        chunks = [chunk async for chunk in stream]

    assert resp.object == "text_completion"
    assert resp.choices[0].text == f"Hello! You said: {prompt}"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (6, 9)

    assert "".join(c.choices[0].text for c in chunks if c.choices) == f"Hello! You said: {prompt}"
    assert len([c for c in chunks if c.choices and c.choices[0].text]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert all(c.choices for c in chunks), "no usage chunk was asked for"
    assert all(c.usage is None for c in chunks)

    rows = await gateway.usage_rows(name)
    assert [(r["endpoint"], r["stream"], r["status"]) for r in rows] == [
        ("completions", False, 200),
        ("completions", True, 200),
    ]
    for row in rows:
        assert row["model"] == "gpt-3.5-turbo-instruct" and row["channel"] == "main"
        assert (row["prompt_tokens"], row["completion_tokens"]) == (6, 9)


async def test_legacy_completions_streaming_include_usage(gateway: LiveGateway) -> None:
    _, secret = await gateway.new_key()
    prompt = f"count me {marker()}"
    async with gateway.client(secret) as client:
        stream = await client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt=prompt,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == f"Hello! You said: {prompt}"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 6)


# ---------------------------------------------------------------------------------------------------------
# 6. embeddings


async def test_embeddings_default_base64_matches_float(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    text = f"embed me {marker()}"
    async with gateway.client(secret) as client:
        default = await client.embeddings.create(model="text-embedding-3-small", input=text)
        floats = await client.embeddings.create(
            model="text-embedding-3-small", input=text, encoding_format="float"
        )
    # the SDK asked for base64 by default and decoded it; the numbers are the same
    assert [r.json["encoding_format"] for r in gateway.fake.requests if text.encode() in r.body] == [
        "base64",
        "float",
    ]
    assert len(default.data) == 1 and len(floats.data) == 1
    vector = default.data[0].embedding
    assert isinstance(vector, list) and len(vector) == 8
    assert all(isinstance(v, float) for v in vector)
    assert vector == floats.data[0].embedding
    assert default.usage.prompt_tokens == 3

    rows = await gateway.usage_rows(name)
    assert len(rows) == 2
    for row in rows:
        assert row["endpoint"] == "embeddings"
        assert row["status"] == 200
        assert row["model"] == "text-embedding-3-small" and row["channel"] == "main"
        assert row["prompt_tokens"] == 3 and row["completion_tokens"] == 0
        assert row["stream"] is False


async def test_embeddings_list_input(gateway: LiveGateway) -> None:
    _, secret = await gateway.new_key()
    mark = marker()
    items = [f"first {mark}", f"second {mark}", f"third {mark}"]
    async with gateway.client(secret) as client:
        resp = await client.embeddings.create(model="text-embedding-3-small", input=items)
        single = await client.embeddings.create(model="text-embedding-3-small", input=items[1])
    assert [d.index for d in resp.data] == [0, 1, 2]
    assert all(len(d.embedding) == 8 for d in resp.data)
    assert len({tuple(d.embedding) for d in resp.data}) == 3
    assert resp.data[1].embedding == single.data[0].embedding
    assert resp.usage.prompt_tokens == 6


async def test_embeddings_engines_route(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    text = f"engine route {marker()}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway.url}/v1/engines/text-embedding-3-small/embeddings",
            json={"input": text},
            headers={"Authorization": f"Bearer {secret}"},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        request_id = resp.headers.get("x-request-id")
        body = await resp.json()
    async with gateway.client(secret) as client:
        expected = await client.embeddings.create(
            model="text-embedding-3-small", input=text, encoding_format="float"
        )
    assert body["object"] == "list"
    assert body["data"][0]["embedding"] == expected.data[0].embedding
    sent = [r for r in gateway.fake.requests if text.encode() in r.body]
    assert [(r.path, r.json["model"]) for r in sent] == [("/v1/embeddings", "text-embedding-3-small")] * 2

    rows = await gateway.usage_rows(name)
    assert len(rows) == 2
    assert request_id and rows[0]["request_id"] == request_id
    assert rows[0]["endpoint"] == "embeddings" and rows[0]["model"] == "text-embedding-3-small"
    assert rows[0]["status"] == 200 and rows[0]["prompt_tokens"] == 3


# ---------------------------------------------------------------------------------------------------------
# 7. models


async def test_models_list_and_retrieve(gateway: LiveGateway) -> None:
    expected = public_models(gateway)
    assert {"gpt-4o-mini", "gpt-fast", "azure-gpt", "echo-1", "failover-model"} <= expected

    async with gateway.client() as alice:
        listed = [m async for m in alice.models.list()]
        got = await alice.models.retrieve("gpt-4o-mini")
        fast = await alice.models.retrieve("gpt-fast")
    ids = [m.id for m in listed]
    assert len(ids) == len(set(ids)), "no model listed twice"
    assert set(ids) == expected
    assert all(m.object == "model" for m in listed)
    assert got.id == "gpt-4o-mini" and got.object == "model"
    assert fast.id == "gpt-fast"

    _, secret = await gateway.new_key(models=["gpt-4o-mini"])
    async with gateway.client(secret) as limited:
        only = [m.id async for m in limited.models.list()]
        assert only == ["gpt-4o-mini"]
        assert (await limited.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
        with pytest.raises(openai.NotFoundError):
            await limited.models.retrieve("echo-1")
        with pytest.raises(openai.NotFoundError):
            await limited.models.retrieve("no-such-model")


# ---------------------------------------------------------------------------------------------------------
# 8. routing


async def test_model_map(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(model="gpt-fast", messages=user(f"fast {mark}"))
    assert resp.choices[0].message.content == f"Hello! You said: fast {mark}"
    assert upstream_request(gateway, mark).json["model"] == "gpt-4o-mini"
    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    assert rows[0]["model"] == "gpt-fast"
    assert rows[0]["upstream_model"] == "gpt-4o-mini"
    assert rows[0]["channel"] == "main"


async def test_channel_pinning(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(model="main/gpt-4o-mini", messages=user(f"pin {mark}"))
    assert resp.choices[0].message.content == f"Hello! You said: pin {mark}"
    assert upstream_request(gateway, mark).json["model"] == "gpt-4o-mini"
    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    assert rows[0]["status"] == 200
    assert rows[0]["channel"] == "main"
    assert rows[0]["upstream_model"] == "gpt-4o-mini"


async def test_unknown_fields_reach_upstream(gateway: LiveGateway) -> None:
    _, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=user(f"custom {mark}"),
            temperature=0.25,
            extra_body={"my_custom_field": {"a": 1}},
        )
    sent = upstream_request(gateway, mark).json
    assert sent["my_custom_field"] == {"a": 1}
    assert sent["temperature"] == 0.25
    assert sent["messages"] == user(f"custom {mark}")


async def test_failover_to_backup_channel(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(model="failover-model", messages=user(f"failover {mark}"))
    assert resp.choices[0].message.content == f"Hello! You said: failover {mark}"
    assert upstream_request(gateway, mark).json["model"] == "gpt-4o-mini"  # backup's model_map
    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == 200
    assert row["channel"] == "backup"
    assert row["attempts"] == 2
    assert row["model"] == "failover-model" and row["upstream_model"] == "gpt-4o-mini"
    assert resp.usage is not None and row["prompt_tokens"] == resp.usage.prompt_tokens


# ---------------------------------------------------------------------------------------------------------
# 11. /api prefix


async def test_api_prefix_base_url(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/api/v1", api_key=secret, max_retries=0) as client:
        resp = await client.chat.completions.create(model="gpt-4o-mini", messages=user(f"api {mark}"))
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=user(f"api stream {mark}"), stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        models = [m.id async for m in client.models.list()]
        emb = await client.embeddings.create(model="text-embedding-3-small", input=f"api {mark}")
    assert resp.choices[0].message.content == f"Hello! You said: api {mark}"
    assert text == f"Hello! You said: api stream {mark}"
    assert "gpt-4o-mini" in models
    assert len(emb.data[0].embedding) == 8
    rows = await gateway.usage_rows(name)
    assert [(r["endpoint"], r["status"]) for r in rows] == [
        ("chat", 200),
        ("chat", 200),
        ("embeddings", 200),
    ]


# ---------------------------------------------------------------------------------------------------------
# 12. cached tokens


async def test_cached_tokens_are_metered(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(
            model="cached-gpt", messages=user(f"a long shared prefix that was cached {marker()}")
        )
        stream = await client.chat.completions.create(
            model="cached-gpt",
            messages=user(f"a long shared prefix that was cached {marker()}"),
            stream=True,
        )
        async for _ in stream:
            pass
    assert resp.usage is not None and resp.usage.prompt_tokens_details is not None
    cached = resp.usage.prompt_tokens_details.cached_tokens
    assert cached == resp.usage.prompt_tokens // 2 > 0

    rows = await gateway.usage_rows(name)
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == 200
        assert row["prompt_tokens"] == resp.usage.prompt_tokens
        assert row["cached_tokens"] == cached
    assert [r["stream"] for r in rows] == [False, True]


# ---------------------------------------------------------------------------------------------------------
# 13. concurrency


async def test_concurrent_calls_each_metered_once(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    marks = [marker() for _ in range(20)]
    async with gateway.client(secret) as client:

        async def one(i: int, mark: str) -> Any:
            if i % 2:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=user(f"concurrent {mark}"), stream=True
                )
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            resp = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=user(f"concurrent {mark}")
            )
            return resp.parse().choices[0].message.content

        replies = await asyncio.gather(*(one(i, m) for i, m in enumerate(marks)))
    assert replies == [f"Hello! You said: concurrent {m}" for m in marks]

    rows = await gateway.usage_rows(name)
    assert len(rows) == 20
    assert all(r["status"] == 200 for r in rows)
    assert len({r["request_id"] for r in rows}) == 20
    assert sum(r["stream"] for r in rows) == 10
    assert all((r["prompt_tokens"], r["completion_tokens"]) == (5, 5) for r in rows)
