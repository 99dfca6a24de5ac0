"""The fake OpenAI upstream checked against the official ``openai`` SDK (and a few raw wire checks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from .openai_upstream import DEFAULT_API_KEY, FakeOpenAI

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=DEFAULT_API_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _auth(key: str = DEFAULT_API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _sse_events(resp: aiohttp.ClientResponse) -> list[str]:
    text = await resp.text()
    assert text.endswith("data: [DONE]\n\n")
    events = text.split("\n\n")
    assert events[-1] == ""
    assert all(e.startswith("data: ") for e in events[:-1])
    assert events[-2] == "data: [DONE]"
    return [e[len("data: ") :] for e in events[:-2]]


# -- chat ------------------------------------------------------------------------------------------------


async def test_chat_non_stream(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    assert completion.service_tier == "default"
    assert completion.system_fingerprint
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello! You said: hi there"
    assert choice.message.refusal is None
    assert completion.usage is not None
    # 2 + 2 words, 2 messages -> 4 + 6; reply has 5 words
    assert completion.usage.prompt_tokens == 10
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 15
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0

    (recorded,) = fake.requests
    assert recorded.method == "POST"
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert recorded.json["model"] == "gpt-4o-mini"


async def test_chat_cached_tokens(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="cached-gpt", messages=[{"role": "user", "content": "one two three four five"}]
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 8
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


async def test_chat_stream_with_usage(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all("usage" in c.model_fields_set for c in chunks)
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Hello! You said: tell me a story"
    assert chunks[-2].choices[0].finish_reason == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == 4 + 3
    assert last.usage.completion_tokens == 7
    assert last.usage.total_tokens == 14
    assert fake.stream_completed == 1
    assert fake.stream_disconnects == 0


async def test_chat_stream_without_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all("usage" not in c.model_fields_set and c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello! You said: hello"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_chat_stream_no_usage_model(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="no-usage",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.usage is None and c.choices for c in chunks)


async def test_chat_tool_call_non_stream(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="tool", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}


async def test_chat_tool_call_stream(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"type": "function", "function": {"name": "other"}}, WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
        stream_options={"include_usage": True},
    )
    name = ""
    call_id = None
    arguments = ""
    deltas = 0
    finish = None
    async for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            deltas += 1
            assert tc.index == 0
            if tc.id:
                assert call_id is None, "id only in the first tool-call delta"
                call_id = tc.id
                assert tc.type == "function"
            else:
                assert tc.type is None
            if tc.function and tc.function.name:
                name += tc.function.name
            if tc.function and tc.function.arguments:
                arguments += tc.function.arguments
    assert deltas >= 4
    assert call_id is not None and call_id.startswith("call_")
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "Paris", "unit": "celsius"}
    assert finish == "tool_calls"
    # unknown fields are accepted and recorded
    assert fake.requests[-1].json["tool_choice"]["function"]["name"] == "get_weather"


# -- completions -----------------------------------------------------------------------------------------


async def test_completions(client: openai.AsyncOpenAI) -> None:
    completion = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Hello! You said: say hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 5)


async def test_completions_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="say hi",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hello! You said: say hi"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 7
    assert all("usage" in c.model_fields_set and c.usage is None for c in chunks[:-1])

    stream = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi", stream=True)
    chunks = [chunk async for chunk in stream]
    assert all("usage" not in c.model_fields_set for c in chunks)


# -- embeddings ------------------------------------------------------------------------------------------


async def test_embeddings_default_base64(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    decoded = await client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"])
    assert fake.requests[-1].json["encoding_format"] == "base64"
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta gamma"], encoding_format="float"
    )
    assert fake.requests[-1].json["encoding_format"] == "float"
    assert [d.index for d in decoded.data] == [0, 1]
    assert len(decoded.data[0].embedding) == 8
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    assert decoded.data[0].embedding != decoded.data[1].embedding
    assert decoded.usage.prompt_tokens == 3
    assert decoded.usage.total_tokens == 3
    assert decoded.model == "text-embedding-3-small"


async def test_embeddings_tokens_and_dimensions(client: openai.AsyncOpenAI) -> None:
    result = await client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], dimensions=16, encoding_format="float"
    )
    assert [len(d.embedding) for d in result.data] == [16, 16]
    assert result.usage.prompt_tokens == 5
    single = await client.embeddings.create(model="text-embedding-3-small", input=[1, 2, 3])
    assert len(single.data) == 1
    assert len(single.data[0].embedding) == 8


# -- models, errors --------------------------------------------------------------------------------------


async def test_models_list(client: openai.AsyncOpenAI) -> None:
    models = [m.id async for m in client.models.list()]
    assert "gpt-4o-mini" in models


async def test_wrong_key(fake: FakeOpenAI) -> None:
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-bad-key-1234", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            await bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert "sk-bad-key-1234" not in info.value.message
    assert "sk-bad" in info.value.message and "1234" in info.value.message


async def test_leak_key(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model="leak-key", messages=[{"role": "user", "content": "x"}])
    assert DEFAULT_API_KEY in info.value.message


async def test_fail_500(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="fail-500", messages=[{"role": "user", "content": "x"}])
    assert info.value.type == "server_error"


async def test_fail_429(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="fail-429", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "1"


async def test_fail_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="fail-400", messages=[{"role": "user", "content": "x"}])
    assert info.value.param == "messages"


# -- azure -----------------------------------------------------------------------------------------------


async def test_azure_chat(fake: FakeOpenAI) -> None:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=fake.root_url, api_key=DEFAULT_API_KEY, api_version="2024-10-21", max_retries=0
    ) as azure:
        completion = await azure.chat.completions.create(
            model="my-deployment", messages=[{"role": "user", "content": "hi azure"}]
        )
    assert completion.choices[0].message.content == "Hello! You said: hi azure"
    assert completion.model == "my-deployment"
    (recorded,) = fake.requests
    assert recorded.path == "/openai/deployments/my-deployment/chat/completions"
    assert recorded.query["api-version"] == "2024-10-21"
    assert recorded.headers["api-key"] == DEFAULT_API_KEY
    assert "authorization" not in recorded.headers


async def test_azure_flavour_stream() -> None:
    async with (
        FakeOpenAI(azure=True) as fake,
        openai.AsyncAzureOpenAI(
            azure_endpoint=fake.root_url, api_key=DEFAULT_API_KEY, api_version="2024-10-21", max_retries=0
        ) as azure,
    ):
        stream = await azure.chat.completions.create(
            model="dep", messages=[{"role": "user", "content": "yo"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == []
    assert chunks[0].model_extra is not None and "prompt_filter_results" in chunks[0].model_extra
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! You said: yo"


async def test_azure_errors(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    url = f"{fake.root_url}/openai/deployments/dep/chat/completions"
    body = {"messages": [{"role": "user", "content": "x"}]}
    async with http.post(url, json=body, headers={"api-key": DEFAULT_API_KEY}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"
    async with http.post(url, params={"api-version": "2024-10-21"}, json=body, headers=_auth()) as resp:
        assert resp.status == 401


# -- raw wire --------------------------------------------------------------------------------------------


async def test_raw_sse_wire_format(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "a b"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "x_unknown_field": {"kept": True},
    }
    async with http.post(f"{fake.base_url}/chat/completions", json=body, headers=_auth()) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        chunks = [json.loads(e) for e in await _sse_events(resp)]
    assert fake.requests[-1].json["x_unknown_field"] == {"kept": True}
    assert all("usage" in c for c in chunks)
    first = chunks[0]
    assert first["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": "", "refusal": None},
        "logprobs": None,
        "finish_reason": None,
    }
    assert {c["created"] for c in chunks} == {first["created"]}
    assert chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == []
    assert set(chunks[-1]["usage"]) >= {"prompt_tokens_details", "completion_tokens_details"}

    body.pop("stream_options")
    async with http.post(f"{fake.base_url}/chat/completions", json=body, headers=_auth()) as resp:
        chunks = [json.loads(e) for e in await _sse_events(resp)]
    assert not any("usage" in c for c in chunks)


async def test_raw_tool_call_chunks(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    body = {
        "model": "tool",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL],
        "stream": True,
    }
    async with http.post(f"{fake.base_url}/chat/completions", json=body, headers=_auth()) as resp:
        chunks = [json.loads(e) for e in await _sse_events(resp)]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    first_call = deltas[0]["tool_calls"][0]
    assert set(first_call) == {"index", "id", "type", "function"}
    assert first_call["function"] == {"name": "get_weather", "arguments": ""}
    rest = [d["tool_calls"][0] for d in deltas[1:-1]]
    assert len(rest) == 4
    assert all(set(tc) == {"index", "function"} and set(tc["function"]) == {"arguments"} for tc in rest)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_raw_errors(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    url = f"{fake.base_url}/chat/completions"
    async with http.post(url, data=b"{not json", headers=_auth()) as resp:
        assert resp.status == 400
        err = (await resp.json())["error"]
        assert set(err) == {"message", "type", "param", "code"}
    assert fake.requests[-1].json is None
    assert fake.requests[-1].body == b"{not json"
    async with http.post(url, json={"model": "bad-json", "messages": []}, headers=_auth()) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.text() == "<html>oops</html>"
    async with http.post(url, json={"model": "gpt-4o", "messages": []}) as resp:
        assert resp.status == 401
    async with http.get(f"{fake.base_url}/nope", headers=_auth()) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["message"] == "Invalid URL (GET /v1/nope)"


async def test_slow(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.delay_s = 0.2
    completion = await client.chat.completions.create(
        model="slow", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.content == "Hello! You said: x"


async def test_slow_stream_disconnect(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="slow-stream", messages=[{"role": "user", "content": "x"}], stream=True
    )
    first = await stream.__anext__()
    second = await stream.__anext__()
    assert first.choices[0].delta.role == "assistant"
    assert second.choices[0].delta.content
    await stream.close()
    assert await fake.wait_for_disconnect()
    assert fake.stream_disconnects == 1
    assert fake.stream_completed == 0
    fake.reset()
    assert fake.requests == [] and fake.stream_disconnects == 0
