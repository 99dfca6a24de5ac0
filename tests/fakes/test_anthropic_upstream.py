"""The fake Anthropic upstream checked against the official ``anthropic`` SDK (and a few raw wire checks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from .anthropic_upstream import DEFAULT_API_KEY, THINKING_TEXT, TOOL_INPUT, FakeAnthropic

WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key=DEFAULT_API_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _headers(key: str = DEFAULT_API_KEY, version: str | None = "2023-06-01") -> dict[str, str]:
    headers = {"x-api-key": key}
    if version:
        headers["anthropic-version"] = version
    return headers


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) for each frame, checking the framing on the way."""
    frames = text.split("\n\n")
    assert frames[-1] == ""
    out = []
    for frame in frames[:-1]:
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = orjson.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        out.append((data["type"], data))
    return out


# -- messages ----------------------------------------------------------------------------------------------


async def test_create(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
    )
    assert message.id.startswith("msg_")
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-4-6"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "Hello! You said: hi there"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 5
    assert message.usage.cache_read_input_tokens == 0
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    # anthropic SDK 2.x sends the key as a bearer token; hubgate's provider sends x-api-key
    assert sent.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}" and sent.headers["anthropic-version"]


async def test_consecutive_user_turns_are_merged(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="m",
        max_tokens=64,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hello! You said: first second"


async def test_stream_helper(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hello world"}]
    ) as stream:
        texts = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Hello! You said: hello world" and len(texts) > 1
    assert final.content[0].type == "text" and final.content[0].text == "Hello! You said: hello world"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5  # message_delta's cumulative count replaces message_start's 1
    assert fake.stream_completed == 1


async def test_stream_wire_order(http: aiohttp.ClientSession, fake: FakeAnthropic) -> None:
    body = {
        "model": "m",
        "max_tokens": 2048,
        "stream": True,
        "thinking": THINKING,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with http.post(f"{fake.base_url}/v1/messages", json=body, headers=_headers()) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        events = _sse(await resp.text())
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    starts = [d for n, d in events if n == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "thinking"), (1, "text")]
    thinking_deltas = [
        d["delta"]["type"] for n, d in events if n == "content_block_delta" and d["index"] == 0
    ]
    assert thinking_deltas[-1] == "signature_delta" and set(thinking_deltas[:-1]) == {"thinking_delta"}
    assert events[0][1]["message"]["usage"]["output_tokens"] == 1
    delta_usage = next(d for n, d in events if n == "message_delta")["usage"]
    assert set(delta_usage) == {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
    }


# -- tools -------------------------------------------------------------------------------------------------


async def test_tool_use_round_trip(client: anthropic.AsyncAnthropic) -> None:
    question: Any = {"role": "user", "content": "Weather in Paris?"}
    message = await client.messages.create(
        model="tool", max_tokens=256, tools=[WEATHER_TOOL], messages=[question]
    )
    assert message.stop_reason == "tool_use"
    call = message.content[0]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == TOOL_INPUT
    assert call.id.startswith("toolu_")
    answer = await client.messages.create(
        model="tool",
        max_tokens=256,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=[
            question,
            {"role": "assistant", "content": message.content},  # type: ignore[typeddict-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}],
            },
        ],
    )
    assert answer.content[0].type == "text" and answer.content[0].text == "Hello! You said: 18C, sunny"


async def test_tool_choice_forces_a_tool_on_any_model(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=256,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "x"}],
    )
    assert message.content[0].type == "tool_use" and message.stop_reason == "tool_use"


async def test_tool_use_stream_is_assembled_by_the_sdk(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="tool", max_tokens=256, tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "x"}]
    ) as stream:
        fragments = [e.partial_json async for e in stream if e.type == "input_json"]
        final = await stream.get_final_message()
    assert len([f for f in fragments if f]) > 1
    call = final.content[0]
    assert call.type == "tool_use" and call.input == TOOL_INPUT and final.stop_reason == "tool_use"


async def test_tool_use_without_result_is_rejected(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result` blocks"):
        await client.messages.create(
            model="m",
            max_tokens=64,
            messages=[
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
                },
                {"role": "user", "content": "y"},
            ],
        )


# -- thinking ----------------------------------------------------------------------------------------------


async def test_thinking_signature_round_trip(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    question: Any = {"role": "user", "content": "Why?"}
    message = await client.messages.create(model="m", max_tokens=2048, thinking=THINKING, messages=[question])
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == THINKING_TEXT
    assert thinking.signature == fake.sign(THINKING_TEXT)
    follow_up: Any = [question, message.to_param(), {"role": "user", "content": "And then?"}]
    again = await client.messages.create(model="m", max_tokens=2048, thinking=THINKING, messages=follow_up)
    assert again.content[1].type == "text" and again.content[1].text == "Hello! You said: And then?"

    tampered: Any = [
        question,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": THINKING_TEXT + " (edited)", "signature": thinking.signature}
            ],
        },
        {"role": "user", "content": "And then?"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        await client.messages.create(model="m", max_tokens=2048, messages=tampered)


async def test_thinking_stream(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="m", max_tokens=2048, thinking=THINKING, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = await stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == THINKING_TEXT
    assert thinking.signature == fake.sign(THINKING_TEXT)
    assert text.type == "text" and text.text == "Hello! You said: hi"


async def test_thinking_with_tools_needs_the_thinking_block_back(client: anthropic.AsyncAnthropic) -> None:
    question: Any = {"role": "user", "content": "Weather?"}
    first = await client.messages.create(
        model="tool", max_tokens=2048, thinking=THINKING, tools=[WEATHER_TOOL], messages=[question]
    )
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    call = first.content[1]
    assert call.type == "tool_use"
    result: Any = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
    }
    kwargs: Any = {"model": "m", "max_tokens": 2048, "thinking": THINKING, "tools": [WEATHER_TOOL]}
    done = await client.messages.create(**kwargs, messages=[question, first.to_param(), result])
    assert done.content[-1].type == "text"
    without_thinking: Any = {"role": "assistant", "content": [call.model_dump(exclude_none=True)]}
    with pytest.raises(anthropic.BadRequestError, match="must start with a thinking block"):
        await client.messages.create(**kwargs, messages=[question, without_thinking, result])


async def test_thinking_rules(client: anthropic.AsyncAnthropic) -> None:
    messages: Any = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError, match=r"greater than `thinking\.budget_tokens`"):
        await client.messages.create(model="m", max_tokens=1024, thinking=THINKING, messages=messages)
    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        await client.messages.create(
            model="m", max_tokens=2048, thinking=THINKING, messages=messages, extra_body={"temperature": 0.2}
        )
    with pytest.raises(anthropic.BadRequestError, match="forces tool use"):
        await client.messages.create(
            model="m",
            max_tokens=2048,
            thinking=THINKING,
            messages=messages,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "any"},
        )


# -- usage, stops ------------------------------------------------------------------------------------------


async def test_cache_usage_fields(client: anthropic.AsyncAnthropic) -> None:
    messages: Any = [{"role": "user", "content": "one two three four five six"}]
    plain = await client.messages.create(model="m", max_tokens=64, messages=messages)
    cached = await client.messages.create(model="cached-m", max_tokens=64, messages=messages)
    written = await client.messages.create(model="cache-write-m", max_tokens=64, messages=messages)
    total = plain.usage.input_tokens
    assert cached.usage.cache_read_input_tokens == total // 2
    assert cached.usage.input_tokens + cached.usage.cache_read_input_tokens == total
    assert written.usage.cache_creation_input_tokens == total // 2
    assert written.usage.cache_creation is not None
    assert written.usage.cache_creation.ephemeral_5m_input_tokens == total // 2


async def test_stop_sequence_and_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    messages: Any = [{"role": "user", "content": "alpha beta gamma"}]
    stopped = await client.messages.create(
        model="m", max_tokens=64, messages=messages, stop_sequences=["beta"]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "beta"
    assert stopped.content[0].type == "text" and stopped.content[0].text == "Hello! You said: alpha "
    short = await client.messages.create(model="m", max_tokens=2, messages=messages)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 2
    assert short.content[0].type == "text" and short.content[0].text == "Hello! You"


# -- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "exc", "status"),
    [
        ("fail-500", anthropic.InternalServerError, 500),
        ("fail-429", anthropic.RateLimitError, 429),
        ("fail-400", anthropic.BadRequestError, 400),
        ("overloaded", anthropic.InternalServerError, 529),
    ],
)
async def test_failure_models(
    client: anthropic.AsyncAnthropic, model: str, exc: type[Exception], status: int
) -> None:
    with pytest.raises(exc) as raised:
        await client.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    error = raised.value
    assert isinstance(error, anthropic.APIStatusError) and error.status_code == status
    assert isinstance(error.body, dict) and error.body["type"] == "error" and error.body["error"]["message"]
    assert error.request_id and error.request_id.startswith("req_")
    if model == "fail-429":
        assert error.response.headers["retry-after"] == "1"
    if model == "overloaded":
        assert isinstance(error, anthropic.OverloadedError)


async def test_wrong_key(fake: FakeAnthropic) -> None:
    async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="sk-ant-wrong", max_retries=0) as c:
        with pytest.raises(anthropic.AuthenticationError) as raised:
            await c.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": raised.value.request_id,
    }


async def test_raw_header_and_body_checks(http: aiohttp.ClientSession, fake: FakeAnthropic) -> None:
    url = f"{fake.base_url}/v1/messages"
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    async with http.post(url, json=body, headers={"anthropic-version": "2023-06-01"}) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["type"] == "authentication_error"
    async with http.post(url, json=body, headers=_headers(version=None)) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["message"] == "anthropic-version: header is required"
    async with http.post(url, json={**body, "max_tokens": None}, headers=_headers()) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["message"] == "max_tokens: Field required"
    async with http.get(f"{fake.base_url}/v1/nope", headers=_headers()) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["type"] == "not_found_error"


async def test_empty_text_blocks_are_rejected(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="text content blocks must be non-empty"):
        await client.messages.create(
            model="m",
            max_tokens=8,
            messages=[
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "x"}]}
            ],
        )
    with pytest.raises(anthropic.BadRequestError, match="non-empty content"):
        await client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": ""}])


async def test_error_event_mid_stream(client: anthropic.AsyncAnthropic) -> None:
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        async with client.messages.stream(
            model="stream-error", max_tokens=64, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    assert texts == ["Hello!"]


async def test_slow_stream_disconnect(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    stream = await client.messages.create(
        model="slow-stream", max_tokens=64, messages=[{"role": "user", "content": "x"}], stream=True
    )
    first = await stream.__anext__()
    second = await stream.__anext__()
    third = await stream.__anext__()
    assert (first.type, second.type, third.type) == (
        "message_start",
        "content_block_start",
        "content_block_delta",
    )
    await stream.close()
    assert await fake.wait_for_disconnect()
    assert fake.stream_disconnects == 1 and fake.stream_completed == 0
    fake.reset()
    assert fake.requests == [] and fake.stream_disconnects == 0


# -- count_tokens, models ----------------------------------------------------------------------------------


async def test_count_tokens(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    messages: Any = [{"role": "user", "content": "one two three"}]
    counted = await client.messages.count_tokens(model="m", messages=messages, system="Be brief.")
    created = await client.messages.create(model="m", max_tokens=8, messages=messages, system="Be brief.")
    assert counted.input_tokens == created.usage.input_tokens > 0
    assert fake.requests[0].path == "/v1/messages/count_tokens"


async def test_models(client: anthropic.AsyncAnthropic) -> None:
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert ids and all(i.startswith("claude-") for i in ids)
    one = await client.models.retrieve(ids[0])
    assert one.id == ids[0] and one.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        await client.models.retrieve("claude-unknown")
