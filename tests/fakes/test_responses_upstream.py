"""The fake Responses upstream checked against the official ``openai`` SDK (and a few raw wire checks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from .responses_upstream import DEFAULT_API_KEY, TOOL_ARGUMENTS, FakeResponses

WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
REASONING: Any = {"effort": "low", "summary": "auto"}
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@pytest.fixture
async def fake() -> AsyncIterator[FakeResponses]:
    async with FakeResponses() as server:
        yield server


@pytest.fixture
async def client(fake: FakeResponses) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=DEFAULT_API_KEY, max_retries=0) as c:
        yield c


async def _raw_events(fake: FakeResponses, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """POST a streaming body and split the answer into (event name, data) pairs."""
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/responses", json={**body, "stream": True}, headers=headers) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = await resp.text()
    frames = text.split("\n\n")
    assert frames[-1] == ""
    pairs = []
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        pairs.append((event_line[len("event: ") :], json.loads(data_line[len("data: ") :])))
    return pairs


# -- text --------------------------------------------------------------------------------------------------


async def test_text_non_stream(fake: FakeResponses, client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="gpt-4o-mini", input="hi there", instructions="Be brief.")
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == "Hello! You said: hi there"
    (message,) = response.output
    assert message.type == "message"
    assert message.id.startswith("msg_")
    assert message.role == "assistant"
    assert response.instructions == "Be brief."
    assert response.to_dict()["store"] is True
    assert response.usage is not None
    # "hi there" + "Be brief." = 4 words, one input item -> 4 + 3
    assert response.usage.input_tokens == 7
    assert response.usage.output_tokens == 5
    assert response.usage.total_tokens == 12
    assert response.usage.output_tokens_details.reasoning_tokens == 0

    (recorded,) = fake.requests
    assert recorded.path == "/v1/responses"
    assert recorded.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert recorded.json["input"] == "hi there"


async def test_json_body_is_a_valid_sdk_response(fake: FakeResponses) -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    body = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "hello"}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/responses", json=body, headers=headers) as resp,
    ):
        payload = await resp.json()
    assert "output_text" not in payload  # an SDK convenience property, not a wire field
    response = Response.model_validate(payload)
    assert response.output_text == "Hello! You said: hello"


async def test_text_stream_event_sequence(fake: FakeResponses) -> None:
    events = await _raw_events(fake, {"model": "gpt-4o-mini", "input": "tell me a story"})
    names = [name for name, _ in events]
    deltas = names.count("response.output_text.delta")
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert deltas == 7
    for seq, (name, data) in enumerate(events):
        assert data["type"] == name
        assert data["sequence_number"] == seq
        EVENTS.validate_python(data)
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert text == "Hello! You said: tell me a story"
    created, completed = events[0][1]["response"], events[-1][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert completed["id"] == created["id"]
    assert completed["output"][0]["content"][0]["text"] == text
    assert fake.stream_completed == 1


async def test_stream_iteration_with_the_sdk(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="gpt-4o-mini", input="hello", stream=True)
    events = [event async for event in stream]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hello! You said: hello"
    )


async def test_stream_helper_accumulates_the_final_response(client: openai.AsyncOpenAI) -> None:
    async with client.responses.stream(model="gpt-4o-mini", input="hello there") as stream:
        snapshots = [event.snapshot async for event in stream if event.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert snapshots[-1] == "Hello! You said: hello there"
    assert final.output_text == "Hello! You said: hello there"
    assert final.status == "completed"


async def test_max_output_tokens_makes_the_answer_incomplete(client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="gpt-4o-mini", input="one two three", max_output_tokens=2)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "Hello! You"

    stream = await client.responses.create(
        model="gpt-4o-mini", input="one two three", max_output_tokens=2, stream=True
    )
    events = [event async for event in stream]
    assert events[-1].type == "response.incomplete"


# -- function calling --------------------------------------------------------------------------------------


async def test_function_call_non_stream(client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="tool", input="weather in Paris?", tools=[WEATHER_TOOL])
    (call,) = response.output
    assert call.type == "function_call"
    assert call.id is not None and call.id.startswith("fc_")
    assert call.call_id.startswith("call_")
    assert call.name == "get_weather"
    assert call.status == "completed"
    assert json.loads(call.arguments) == {"city": "Paris", "unit": "celsius"}
    assert response.output_text == ""


async def test_function_call_stream_and_the_round_trip(
    fake: FakeResponses, client: openai.AsyncOpenAI
) -> None:
    async with client.responses.stream(
        model="gpt-4o-mini",
        input="weather?",
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
    ) as stream:
        deltas = [e.delta async for e in stream if e.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    assert len(deltas) > 1
    assert "".join(deltas) == TOOL_ARGUMENTS
    (call,) = final.output
    assert call.type == "function_call"

    follow_up = await client.responses.create(
        model="gpt-4o-mini",
        store=False,
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
        ],
    )
    assert follow_up.output_text == "Hello! You said: weather?"
    assert fake.requests[-1].json["input"][2]["output"] == "sunny, 21 C"


async def test_function_call_output_needs_its_call(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-4o-mini",
            input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}],
        )
    assert "call_nope" in info.value.message


# -- reasoning ---------------------------------------------------------------------------------------------


async def test_reasoning_with_encrypted_content_round_trip(client: openai.AsyncOpenAI) -> None:
    first = await client.responses.create(
        model="gpt-4o-mini",
        input="think hard",
        reasoning=REASONING,
        include=["reasoning.encrypted_content"],
        store=False,
    )
    reasoning, message = first.output
    assert reasoning.type == "reasoning"
    assert reasoning.id.startswith("rs_")
    assert reasoning.summary[0].type == "summary_text"
    assert "think hard" in reasoning.summary[0].text
    assert reasoning.encrypted_content
    assert message.type == "message"
    assert first.usage is not None and first.usage.output_tokens_details.reasoning_tokens > 0

    replay: list[Any] = [item.model_dump(exclude_none=True) for item in first.output]
    second = await client.responses.create(
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "think hard"}, *replay, {"role": "user", "content": "again"}],
        reasoning=REASONING,
        store=False,
    )
    assert second.output_text == "Hello! You said: again"

    forged: Any = {**replay[0], "encrypted_content": "gAAAAABforged"}
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="gpt-4o-mini", input=[forged, {"role": "user", "content": "x"}])
    assert bad.value.code == "invalid_encrypted_content"

    unencrypted: Any = {k: v for k, v in replay[0].items() if k != "encrypted_content"}
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(
            model="gpt-4o-mini", input=[unencrypted, {"role": "user", "content": "x"}]
        )


async def test_reasoning_without_include_has_no_encrypted_content(client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="gpt-4o-mini", input="hi", reasoning=REASONING)
    assert response.output[0].type == "reasoning"
    assert response.output[0].encrypted_content is None
    plain = await client.responses.create(model="gpt-4o-mini", input="hi", reasoning={"effort": "none"})
    assert [item.type for item in plain.output] == ["message"]


async def test_reasoning_stream(fake: FakeResponses) -> None:
    events = await _raw_events(
        fake,
        {
            "model": "tool",
            "input": "weather?",
            "tools": [WEATHER_TOOL],
            "reasoning": REASONING,
            "include": ["reasoning.encrypted_content"],
        },
    )
    names = [n for n, _ in events]
    first_call = names.index("response.function_call_arguments.delta")
    summary_deltas = names.count("response.reasoning_summary_text.delta")
    call_deltas = names.count("response.function_call_arguments.delta")
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * summary_deltas,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * call_deltas,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert first_call > 0 and call_deltas == 4
    for _, data in events:
        EVENTS.validate_python(data)
    reasoning_done = events[names.index("response.output_item.done")][1]["item"]
    assert reasoning_done["encrypted_content"] in fake.issued
    assert events[-1][1]["response"]["output"][0] == reasoning_done


# -- state -------------------------------------------------------------------------------------------------


async def test_previous_response_id(client: openai.AsyncOpenAI) -> None:
    first = await client.responses.create(model="gpt-4o-mini", input="remember me")
    second = await client.responses.create(
        model="gpt-4o-mini", input="and now?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o-mini", input="x", previous_response_id="resp_unknown")
    assert info.value.param == "previous_response_id"
    unstored = await client.responses.create(model="gpt-4o-mini", input="x", store=False)
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(model="gpt-4o-mini", input="x", previous_response_id=unstored.id)


# -- errors ------------------------------------------------------------------------------------------------


async def test_errors(fake: FakeResponses, client: openai.AsyncOpenAI) -> None:
    async with openai.AsyncOpenAI(
        base_url=fake.base_url, api_key="sk-wrong-key-123456", max_retries=0
    ) as bad:
        with pytest.raises(openai.AuthenticationError) as auth:
            await bad.responses.create(model="gpt-4o-mini", input="x")
    assert auth.value.code == "invalid_api_key"
    assert "sk-wrong-key-123456" not in auth.value.message

    with pytest.raises(openai.InternalServerError) as server:
        await client.responses.create(model="fail-500", input="x")
    assert server.value.status_code == 500

    with pytest.raises(openai.RateLimitError) as limited:
        await client.responses.create(model="fail-429", input="x")
    assert limited.value.response.headers["retry-after"] == "1"
    assert limited.value.code == "rate_limit_exceeded"

    with pytest.raises(openai.BadRequestError) as missing:
        await client.responses.create(model="gpt-4o-mini")
    assert missing.value.param == "input"


async def test_missing_key_and_unknown_route(fake: FakeResponses) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.base_url}/responses", json={"model": "m", "input": "x"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["type"] == "invalid_request_error"
        async with http.get(f"{fake.base_url}/nope") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["message"] == "Invalid URL (GET /v1/nope)"


async def test_slow_stream_disconnect(fake: FakeResponses, client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="slow-stream", input="x", stream=True)
    seen = []
    async for event in stream:
        seen.append(event.type)
        if event.type == "response.output_text.delta":
            break
    await stream.close()
    assert seen[0] == "response.created"
    assert await fake.wait_for_disconnect()
    assert fake.stream_disconnects == 1
    assert fake.stream_completed == 0
    fake.reset()
    assert fake.requests == [] and fake.stream_disconnects == 0
