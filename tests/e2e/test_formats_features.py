"""Cross-format features end to end: the official SDKs (and raw HTTP for wire-level checks)
against the matrix gateway (`m-<upstream>` models in front of one fake per wire format).

Covered: multi-turn tool loops whose reasoning signatures must survive a round trip through
another format; Responses state kept by hubgate (store, previous_response_id, retrieve,
delete, cancel, key isolation, streamed creates); Chat <-> Responses auto-detection; the
Anthropic path variants and count_tokens; the Gemini model list, countTokens, the JSON-array
stream and the /v1 routes; gateway errors in each caller's shape; mid-stream upstream errors
and client disconnects on translated streams; images; reasoning effort <-> thinking budget;
system prompts, stop sequences, max tokens, tool choice, parallel and error tool results;
cached-token usage in each API's convention.

The fakes answer "Hello! You said: <last user text>"; `*-tool` models call `get_weather`
with {"city": "Paris", "unit": "celsius"}; see tests/fakes/*_upstream.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from hubgate.app import create_app
from hubgate.formats import hub
from hubgate.settings import parse_settings
from tests.conftest import MATRIX_KEY, LiveGateway, Upstreams, free_port
from tests.e2e.callers import WEATHER_SCHEMA
from tests.fakes.anthropic_upstream import THINKING_TEXT

REPLY = "Hello! You said: hi there"
HIGH_BUDGET = hub.budget_for(hub.Effort.HIGH)  # 24576
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PNG_DATA_URL = f"data:image/png;base64,{PNG_B64}"

CHAT_TOOLS: Any = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
    }
]
ANTHROPIC_TOOLS: Any = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
RESPONSES_TOOLS: Any = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}
]
GEMINI_TOOLS: list[Any] = [
    gtypes.Tool(
        function_declarations=[
            gtypes.FunctionDeclaration(
                name="get_weather", description="Weather", parameters_json_schema=WEATHER_SCHEMA
            )
        ]
    )
]
NO_AFC = gtypes.AutomaticFunctionCallingConfig(disable=True)


# ---------------------------------------------------------------------------------------------------------
# clients and helpers


def chat_client(gw: LiveGateway, key: str = MATRIX_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def anthropic_client(gw: LiveGateway, key: str = MATRIX_KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)


def gemini_client(gw: LiveGateway, key: str = MATRIX_KEY, version: str = "v1beta") -> genai.Client:
    return genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=gw.url, api_version=version))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fresh_key(matrix_gateway: LiveGateway) -> tuple[str, str]:
    """(name, secret) of a key of this test's own, so its usage rows and stored responses are its own."""
    return await matrix_gateway.new_key()


def sent(fake: Any, mark: int, path_part: str) -> list[dict[str, Any]]:
    """Bodies the fake received since `mark` on paths containing `path_part`."""
    return [r.json for r in fake.requests[mark:] if path_part in r.path]


def last_sent(fake: Any, mark: int, path_part: str) -> dict[str, Any]:
    bodies = sent(fake, mark, path_part)
    assert bodies, f"the upstream got no request on {path_part!r}: {[r.path for r in fake.requests[mark:]]}"
    body: dict[str, Any] = bodies[-1]
    return body


def ant_headers(key: str = MATRIX_KEY) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


def goog_headers(key: str = MATRIX_KEY) -> dict[str, str]:
    return {"x-goog-api-key": key}


def bearer(key: str = MATRIX_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sse_events(raw: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each server-sent event in a body."""
    out: list[tuple[str | None, Any]] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data and data != ["[DONE]"]:
            out.append((name, json.loads("\n".join(data))))
    return out


def gemini_text(chunk: dict[str, Any]) -> str:
    parts = chunk["candidates"][0]["content"]["parts"]
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


async def wait_until(predicate: Any, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(await predicate())


# ---------------------------------------------------------------------------------------------------------
# 1. multi-turn tool loops across formats; reasoning signatures survive the round trip


async def test_chat_caller_anthropic_upstream_thinking_tool_loop(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    fake = upstreams.anthropic
    client = chat_client(matrix_gateway)
    messages: Any = [{"role": "user", "content": "weather in Paris?"}]
    first = await client.chat.completions.create(
        model="m-anthropic-tool", messages=messages, tools=CHAT_TOOLS, reasoning_effort="low"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    message = choice.message
    assert getattr(message, "reasoning_content", None) == THINKING_TEXT
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    call = message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}  # type: ignore[union-attr]

    # The assistant message goes back exactly as the SDK returned it, plus the tool's result.
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    mark = len(fake.requests)
    second = await client.chat.completions.create(
        model="m-anthropic-tool", messages=messages, tools=CHAT_TOOLS, reasoning_effort="low"
    )
    assert second.choices[0].message.tool_calls  # the fake's `tool` model calls again: the turn succeeded

    # The fake verified the signature; also check what the replayed turn looked like.
    body = last_sent(fake, mark, "/v1/messages")
    assistant, result = body["messages"][1], body["messages"][2]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": THINKING_TEXT,
        "signature": fake.sign(THINKING_TEXT),
    }
    tool_use = assistant["content"][-1]
    assert tool_use["type"] == "tool_use" and tool_use["id"] == call.id
    assert tool_use["input"] == {"city": "Paris", "unit": "celsius"}
    assert result["role"] == "user" and result["content"][0]["type"] == "tool_result"
    assert result["content"][0]["tool_use_id"] == call.id
    assert "21" in json.dumps(result["content"][0]["content"])


async def test_anthropic_caller_gemini_upstream_streamed_tool_loop(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    """Streamed first turn (the SDK accumulates the message), thinking on; Gemini's fake
    verifies the functionCall's thoughtSignature when the turn is replayed."""
    fake = upstreams.gemini
    client = anthropic_client(matrix_gateway)
    messages: Any = [{"role": "user", "content": "weather in Paris?"}]
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    async with client.messages.stream(
        model="m-gemini-tool", max_tokens=4096, messages=messages, tools=ANTHROPIC_TOOLS, thinking=thinking
    ) as stream:
        first = await stream.get_final_message()
    assert first.stop_reason == "tool_use"
    kinds = [b.type for b in first.content]
    assert kinds[0] == "thinking" and kinds[-1] == "tool_use", kinds
    assert any(b.type == "thinking" and b.thinking and b.signature for b in first.content)
    tool_use = next(b for b in first.content if b.type == "tool_use")
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "Paris", "unit": "celsius"}

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "21 degrees"}],
        },
    ]
    mark = len(fake.requests)
    second = await client.messages.create(
        model="m-gemini-tool", max_tokens=4096, messages=messages, tools=ANTHROPIC_TOOLS, thinking=thinking
    )
    text = "".join(b.text for b in second.content if b.type == "text")
    assert second.stop_reason == "end_turn"
    assert text.startswith("Thanks! get_weather said:") and "21 degrees" in text

    body = last_sent(fake, mark, ":generateContent")
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    call_parts = [p for p in model_turn["parts"] if "functionCall" in p]
    assert len(call_parts) == 1 and call_parts[0]["functionCall"]["name"] == "get_weather"
    issued = next(c for c in fake.issued_calls if c.id == call_parts[0]["functionCall"].get("id"))
    assert base64.b64decode(call_parts[0]["thoughtSignature"]) == issued.signature
    response_part = body["contents"][2]["parts"][0]["functionResponse"]
    assert response_part["name"] == "get_weather"


async def test_gemini_caller_anthropic_upstream_thinking_tool_loop(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    """The Anthropic thinking signature travels as a thoughtSignature (bytes in the SDK,
    sent back URL-safe base64) and must reach Anthropic byte for byte."""
    fake = upstreams.anthropic
    client = gemini_client(matrix_gateway)
    config = gtypes.GenerateContentConfig(
        tools=GEMINI_TOOLS,
        automatic_function_calling=NO_AFC,
        thinking_config=gtypes.ThinkingConfig(thinking_budget=2048, include_thoughts=True),
    )
    user = gtypes.Content(role="user", parts=[gtypes.Part(text="weather in Paris?")])
    first = await client.aio.models.generate_content(model="m-anthropic-tool", contents=[user], config=config)
    assert first.candidates and first.candidates[0].content
    model_content = first.candidates[0].content
    parts = model_content.parts or []
    thoughts = [p for p in parts if p.thought]
    assert thoughts and thoughts[0].text == THINKING_TEXT
    # the signature rides on the functionCall part, as Gemini's own do
    assert [p.function_call.name for p in parts if p.function_call and p.thought_signature] == ["get_weather"]
    calls = first.function_calls or []
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert dict(calls[0].args or {}) == {"city": "Paris", "unit": "celsius"}

    # As google-genai users do it: the model's content as returned, then an id-less functionResponse.
    answer = gtypes.Content(
        role="user", parts=[gtypes.Part.from_function_response(name="get_weather", response={"temp_c": 21})]
    )
    mark = len(fake.requests)
    second = await client.aio.models.generate_content(
        model="m-anthropic-tool", contents=[user, model_content, answer], config=config
    )
    assert second.function_calls  # the fake's `tool` model calls again: the turn was accepted

    body = last_sent(fake, mark, "/v1/messages")
    assistant, result = body["messages"][1], body["messages"][2]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": THINKING_TEXT,
        "signature": fake.sign(THINKING_TEXT),
    }
    tool_use = assistant["content"][-1]
    assert tool_use["type"] == "tool_use"
    assert result["content"][0]["type"] == "tool_result"
    assert result["content"][0]["tool_use_id"] == tool_use["id"]
    assert "21" in json.dumps(result["content"][0]["content"])

    # Gemini CLI drops thought parts from its history: the sealed signature still carries the text
    stripped = gtypes.Content(role="model", parts=[p for p in parts if not p.thought])
    mark = len(fake.requests)
    third = await client.aio.models.generate_content(
        model="m-anthropic-tool", contents=[user, stripped, answer], config=config
    )
    assert third.function_calls
    assistant = last_sent(fake, mark, "/v1/messages")["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": THINKING_TEXT,
        "signature": fake.sign(THINKING_TEXT),
    }


async def test_responses_caller_anthropic_upstream_tool_loop_with_previous_response_id(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    """hubgate keeps the conversation (reasoning signature included): the caller only sends
    the function_call_output and previous_response_id."""
    fake = upstreams.anthropic
    client = chat_client(matrix_gateway)
    first = await client.responses.create(
        model="m-anthropic-tool",
        input="weather in Paris?",
        tools=RESPONSES_TOOLS,
        reasoning={"effort": "low"},
    )
    assert first.status == "completed"
    kinds = [item.type for item in first.output]
    assert kinds[0] == "reasoning" and kinds[-1] == "function_call", kinds
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather"

    mark = len(fake.requests)
    second = await client.responses.create(
        model="m-anthropic-tool",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21 degrees"}],
        tools=RESPONSES_TOOLS,
        reasoning={"effort": "low"},
    )
    assert second.status == "completed"
    assert second.previous_response_id == first.id

    body = last_sent(fake, mark, "/v1/messages")
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"], body["messages"]
    assert body["messages"][0]["content"] in (
        "weather in Paris?",
        [{"type": "text", "text": "weather in Paris?"}],
    )
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {
        "type": "thinking",
        "thinking": THINKING_TEXT,
        "signature": fake.sign(THINKING_TEXT),
    }
    assert assistant[-1]["type"] == "tool_use" and assistant[-1]["id"] == call.call_id
    result = body["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call.call_id
    assert "21 degrees" in json.dumps(result["content"])


# ---------------------------------------------------------------------------------------------------------
# 2. Responses state kept by hubgate


@pytest.mark.parametrize("model", ["m-openai", "m-anthropic"])
async def test_responses_store_continue_retrieve_delete(
    model: str, matrix_gateway: LiveGateway, upstreams: Upstreams, fresh_key: tuple[str, str]
) -> None:
    fake, path = (
        (upstreams.openai, "/chat/completions")
        if model == "m-openai"
        else (upstreams.anthropic, "/v1/messages")
    )
    client = chat_client(matrix_gateway, fresh_key[1])
    first = await client.responses.create(model=model, input="my name is Ada", store=True)
    assert first.output_text == "Hello! You said: my name is Ada"

    mark = len(fake.requests)
    second = await client.responses.create(
        model=model, input="what is my name?", previous_response_id=first.id
    )
    assert second.output_text == "Hello! You said: what is my name?"
    assert second.previous_response_id == first.id
    # The upstream (not a Responses API) got the whole conversation from hubgate's store.
    body = last_sent(fake, mark, path)
    texts = json.dumps(body["messages"])
    assert "my name is Ada" in texts and "Hello! You said: my name is Ada" in texts
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]

    got = await client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text and got.status == "completed"

    # Another key sees nothing: not retrievable, not continuable, not deletable.
    _, other_secret = await matrix_gateway.new_key()
    other = chat_client(matrix_gateway, other_secret)
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as bad:
        await other.responses.create(model=model, input="hi", previous_response_id=first.id)
    assert "previous_response_id" in str(bad.value.body)
    with pytest.raises(openai.NotFoundError):
        await other.responses.delete(first.id)

    # Not a background response: cancel is refused.
    with pytest.raises(openai.BadRequestError):
        await client.responses.cancel(first.id)

    await client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(first.id)
    # The second answer is still there.
    assert (await client.responses.retrieve(second.id)).output_text == second.output_text


async def test_responses_store_false_is_not_kept(
    matrix_gateway: LiveGateway, fresh_key: tuple[str, str]
) -> None:
    client = chat_client(matrix_gateway, fresh_key[1])
    r = await client.responses.create(model="m-gemini", input="hi there", store=False)
    assert r.output_text == REPLY and r.model_dump().get("store") is False
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="m-gemini", input="hi", previous_response_id=r.id)
    assert bad.value.body["param"] == "previous_response_id"  # type: ignore[index]


async def test_responses_unknown_previous_response_id(matrix_gateway: LiveGateway) -> None:
    client = chat_client(matrix_gateway)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="m-openai", input="hi", previous_response_id="resp_doesnotexist")
    assert bad.value.status_code == 400
    assert bad.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert "previous_response_id" in bad.value.message or "resp_doesnotexist" in bad.value.message


async def test_responses_background_is_refused_naming_the_field(matrix_gateway: LiveGateway) -> None:
    client = chat_client(matrix_gateway)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="m-openai", input="hi", background=True)
    assert "background" in bad.value.message


@pytest.mark.parametrize("model", ["m-anthropic", "m-responses"])
async def test_streamed_responses_are_stored_with_the_full_event_sequence(
    model: str, matrix_gateway: LiveGateway, fresh_key: tuple[str, str]
) -> None:
    client = chat_client(matrix_gateway, fresh_key[1])
    events = await client.responses.create(model=model, input="hi there", stream=True)
    types: list[str] = []
    sequence: list[int] = []
    text, final = "", None
    async for ev in events:
        types.append(ev.type)
        sequence.append(ev.sequence_number)
        if ev.type == "response.output_text.delta":
            text += ev.delta
        elif ev.type == "response.completed":
            final = ev.response
    assert final is not None and text == REPLY and final.output_text == REPLY
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    collapsed = [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]
    assert collapsed == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") > 1  # really streamed, word by word

    stored = await client.responses.retrieve(final.id)
    assert stored.id == final.id and stored.output_text == REPLY

    # ... and it can be continued (streamed again, on another upstream format).
    events = await client.responses.create(
        model="m-openai", input="again", previous_response_id=final.id, stream=True
    )
    follow = None
    async for ev in events:
        if ev.type == "response.completed":
            follow = ev.response
    assert follow is not None and follow.output_text == "Hello! You said: again"
    assert (await client.responses.retrieve(follow.id)).previous_response_id == final.id


# ---------------------------------------------------------------------------------------------------------
# 3. Chat <-> Responses auto-detection


async def test_responses_body_on_the_chat_route(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{matrix_gateway.url}/v1/chat/completions",
        json={"model": "m-anthropic", "input": "hi there"},
        headers=bearer(),
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers.get("x-request-id")
        body = await resp.json()
    assert body["object"] == "response" and body["status"] == "completed"
    message = next(item for item in body["output"] if item["type"] == "message")
    assert message["content"][0]["text"] == REPLY
    assert body["usage"]["input_tokens"] > 0


async def test_responses_body_on_the_chat_route_streams_responses_events(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{matrix_gateway.url}/v1/chat/completions",
        json={"model": "m-gemini", "input": "hi there", "stream": True},
        headers=bearer(),
    ) as resp:
        assert resp.status == 200 and resp.headers.get("x-request-id")
        events = sse_events(await resp.text())
    names = [data["type"] for _, data in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert "".join(d["delta"] for _, d in events if d["type"] == "response.output_text.delta") == REPLY


async def test_chat_body_on_the_responses_route(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{matrix_gateway.url}/v1/responses",
        json={"model": "m-gemini", "messages": [{"role": "user", "content": "hi there"}]},
        headers=bearer(),
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers.get("x-request-id")
        body = await resp.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == REPLY
    assert body["usage"]["prompt_tokens"] > 0


# ---------------------------------------------------------------------------------------------------------
# 4. Anthropic routes


@pytest.mark.parametrize(
    "path",
    [
        "/v1/messages",
        "/openai/v1/messages",
        "/v1/v1/messages",
        "/openai/v1/v1/messages",
        "/api/v1/v1/messages",
    ],
)
async def test_anthropic_message_path_variants(
    path: str, matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    body = {"model": "m-openai", "max_tokens": 64, "messages": [{"role": "user", "content": "hi there"}]}
    async with http.post(f"{matrix_gateway.url}{path}", json=body, headers=ant_headers()) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers.get("x-request-id")
        answer = await resp.json()
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["content"] == [{"type": "text", "text": REPLY}]
    assert answer["stop_reason"] == "end_turn"


async def test_anthropic_count_tokens_forwarded_to_an_anthropic_channel(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    fake = upstreams.anthropic
    mark = len(fake.requests)
    counted = await anthropic_client(matrix_gateway).messages.count_tokens(
        model="m-anthropic",
        system="Be brief.",
        messages=[{"role": "user", "content": "hi there my friend"}],
    )
    assert [r.path for r in fake.requests[mark:]] == ["/v1/messages/count_tokens"]
    forwarded = fake.requests[mark].json
    assert forwarded["model"] == "claude-sonnet-4-5"
    # The fake's count: the words of system and messages, plus 3 per turn.
    assert counted.input_tokens == 2 + 4 + 3


async def test_anthropic_count_tokens_estimated_for_other_formats(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    mark = len(upstreams.openai.requests)
    counted = await anthropic_client(matrix_gateway).messages.count_tokens(
        model="m-openai", messages=[{"role": "user", "content": "hi there, how are you today?"}]
    )
    assert isinstance(counted.input_tokens, int) and counted.input_tokens > 0
    assert upstreams.openai.requests[mark:] == []  # estimated locally


# ---------------------------------------------------------------------------------------------------------
# 5. Gemini routes


async def test_gemini_model_list_sdk_and_raw(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    names = [m.name async for m in await gemini_client(matrix_gateway).aio.models.list()]
    assert {"models/m-gemini", "models/m-anthropic", "models/m-openai", "models/m-responses"} <= set(names)

    async with http.get(f"{matrix_gateway.url}/v1beta/models", headers=goog_headers()) as resp:
        assert resp.status == 200 and resp.headers.get("x-request-id")
        listed = await resp.json()
    entry = next(m for m in listed["models"] if m["name"] == "models/m-openai")
    assert "generateContent" in entry["supportedGenerationMethods"]


async def test_v1_models_answers_in_the_shape_of_the_key_header(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    url = f"{matrix_gateway.url}/v1/models"
    async with http.get(url, headers=goog_headers()) as resp:
        assert resp.status == 200
        gemini_shape = await resp.json()
    assert "data" not in gemini_shape
    assert "models/m-gemini" in {m["name"] for m in gemini_shape["models"]}
    assert all(m["name"].startswith("models/") for m in gemini_shape["models"])

    async with http.get(url, params={"key": MATRIX_KEY}) as resp:
        assert resp.status == 200
        assert "models/m-anthropic" in {m["name"] for m in (await resp.json())["models"]}

    async with http.get(url, headers=bearer()) as resp:
        assert resp.status == 200
        openai_shape = await resp.json()
    assert openai_shape["object"] == "list" and "models" not in openai_shape
    assert "m-gemini" in {m["id"] for m in openai_shape["data"]}


async def test_gemini_count_tokens_forwarded_and_estimated(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    client = gemini_client(matrix_gateway)
    mark = len(upstreams.gemini.requests)
    counted = await client.aio.models.count_tokens(model="m-gemini", contents="hi there my friend")
    recorded = upstreams.gemini.requests[mark:]
    assert [r.path for r in recorded] == ["/v1beta/models/gemini-2.5-flash:countTokens"]
    assert counted.total_tokens == 4 + 3  # the fake's count: words plus 3 per content

    mark = len(upstreams.anthropic.requests)
    estimated = await client.aio.models.count_tokens(model="m-anthropic", contents="hi there my friend")
    assert isinstance(estimated.total_tokens, int) and estimated.total_tokens > 0
    assert upstreams.anthropic.requests[mark:] == []


@pytest.mark.parametrize("model", ["m-openai", "m-anthropic", "m-gemini"])
async def test_gemini_json_array_stream(
    model: str, matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    """:streamGenerateContent without alt=sse: one JSON array of GenerateContentResponse chunks."""
    body = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}
    async with http.post(
        f"{matrix_gateway.url}/v1beta/models/{model}:streamGenerateContent", json=body, headers=goog_headers()
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.headers.get("x-request-id")
        raw = await resp.text()
    chunks = json.loads(raw)
    assert isinstance(chunks, list) and len(chunks) > 1
    assert "".join(gemini_text(c) for c in chunks if c.get("candidates")) == REPLY
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    usage = chunks[-1]["usageMetadata"]
    assert usage["promptTokenCount"] > 0 and usage["candidatesTokenCount"] > 0


async def test_gemini_methods_under_v1(
    matrix_gateway: LiveGateway, upstreams: Upstreams, http: aiohttp.ClientSession
) -> None:
    base = f"{matrix_gateway.url}/v1/models"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}
    async with http.post(f"{base}/m-anthropic:generateContent", json=body, headers=goog_headers()) as resp:
        assert resp.status == 200, await resp.text()
        assert gemini_text(await resp.json()) == REPLY
    async with http.post(
        f"{base}/m-openai:streamGenerateContent", params={"alt": "sse"}, json=body, headers=goog_headers()
    ) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        chunks = [data for _, data in sse_events(await resp.text())]
    assert "".join(gemini_text(c) for c in chunks if c.get("candidates")) == REPLY
    mark = len(upstreams.gemini.requests)
    async with http.post(f"{base}/m-gemini:countTokens", json=body, params={"key": MATRIX_KEY}) as resp:
        assert resp.status == 200
        assert (await resp.json())["totalTokens"] == 2 + 3
    assert upstreams.gemini.requests[mark].path.endswith("/models/gemini-2.5-flash:countTokens")

    # The current google-genai SDK on api_version v1.
    answer = await gemini_client(matrix_gateway, version="v1").aio.models.generate_content(
        model="m-responses", contents="hi there"
    )
    assert answer.text == REPLY


@pytest.mark.parametrize("model", ["m-openai", "m-anthropic", "m-responses"])
async def test_gemini_sse_stream_from_other_formats(
    model: str, matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    """alt=sse to a translated upstream is a real stream: several `data:` chunks, text word by word."""
    body = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}
    async with http.post(
        f"{matrix_gateway.url}/v1beta/models/{model}:streamGenerateContent",
        params={"alt": "sse"},
        json=body,
        headers=goog_headers(),
    ) as resp:
        assert resp.status == 200 and resp.headers.get("x-request-id")
        assert resp.headers["content-type"].startswith("text/event-stream")
        chunks = [data for _, data in sse_events(await resp.text())]
    assert len(chunks) > 1
    assert "".join(gemini_text(c) for c in chunks if c.get("candidates")) == REPLY
    assert chunks[-1]["usageMetadata"]["promptTokenCount"] > 0


# ---------------------------------------------------------------------------------------------------------
# 6. gateway-side errors in the caller's shape


async def test_bad_key_in_each_callers_shape(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    bad = "sk-not-a-real-key-0123456789"
    with pytest.raises(anthropic.AuthenticationError) as ant_err:
        await anthropic_client(matrix_gateway, bad).messages.create(
            model="m-anthropic", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert ant_err.value.status_code == 401
    assert ant_err.value.body["type"] == "error"  # type: ignore[index]
    assert ant_err.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]

    with pytest.raises(genai_errors.ClientError) as gem_err:
        await gemini_client(matrix_gateway, bad).aio.models.generate_content(model="m-gemini", contents="hi")
    assert gem_err.value.code == 401 and gem_err.value.status == "UNAUTHENTICATED"

    body = {"model": "m-anthropic", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(f"{matrix_gateway.url}/v1/messages", json=body, headers=ant_headers(bad)) as resp:
        assert resp.status == 401 and resp.headers.get("x-request-id")
        err = await resp.json()
    assert err["type"] == "error" and err["error"]["type"] == "authentication_error"
    assert err["error"]["message"]

    gbody = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    for url in (
        f"{matrix_gateway.url}/v1beta/models/m-gemini:generateContent",
        f"{matrix_gateway.url}/v1/models/m-gemini:streamGenerateContent?alt=sse",
    ):
        async with http.post(url, json=gbody, headers=goog_headers(bad)) as resp:
            assert resp.status == 401 and resp.headers.get("x-request-id")
            gerr = await resp.json()
        assert gerr["error"]["code"] == 401 and gerr["error"]["status"] == "UNAUTHENTICATED"
        assert gerr["error"]["message"]
    async with http.get(f"{matrix_gateway.url}/v1beta/models", headers=goog_headers(bad)) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["status"] == "UNAUTHENTICATED"


async def test_unknown_model_in_each_callers_shape(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    url = matrix_gateway.url
    async with http.post(
        f"{url}/v1/messages",
        json={"model": "m-nope", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
        headers=ant_headers(),
    ) as resp:
        assert resp.status == 404 and resp.headers.get("x-request-id")
        err = await resp.json()
    assert (
        err["type"] == "error"
        and err["error"]["type"] == "not_found_error"
        and "m-nope" in err["error"]["message"]
    )

    for gurl in (f"{url}/v1beta/models/m-nope:generateContent", f"{url}/v1/models/m-nope:countTokens"):
        async with http.post(
            gurl, json={"contents": [{"parts": [{"text": "hi"}]}]}, headers=goog_headers()
        ) as resp:
            assert resp.status == 404 and resp.headers.get("x-request-id")
            gerr = await resp.json()
        assert gerr["error"]["code"] == 404 and gerr["error"]["status"] == "NOT_FOUND"

    for path, body in (
        ("/v1/chat/completions", {"model": "m-nope", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"model": "m-nope", "input": "hi"}),
    ):
        async with http.post(f"{url}{path}", json=body, headers=bearer()) as resp:
            assert resp.status == 404 and resp.headers.get("x-request-id")
            oerr = await resp.json()
        assert oerr["error"]["code"] == "model_not_found" and oerr["error"]["param"] == "model"

    with pytest.raises(anthropic.NotFoundError):
        await anthropic_client(matrix_gateway).messages.create(
            model="m-nope", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(genai_errors.ClientError) as gem_err:
        await gemini_client(matrix_gateway).aio.models.generate_content(model="m-nope", contents="hi")
    assert gem_err.value.code == 404


async def test_malformed_json_in_each_callers_shape(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    url = matrix_gateway.url
    junk = b'{"model": "m-openai", "messages": ['
    json_type = {"content-type": "application/json"}
    async with http.post(f"{url}/v1/messages", data=junk, headers={**ant_headers(), **json_type}) as resp:
        assert resp.status == 400 and resp.headers.get("x-request-id")
        err = await resp.json()
    assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    async with http.post(
        f"{url}/v1beta/models/m-openai:generateContent", data=junk, headers={**goog_headers(), **json_type}
    ) as resp:
        assert resp.status == 400 and resp.headers.get("x-request-id")
        gerr = await resp.json()
    assert gerr["error"]["code"] == 400 and gerr["error"]["status"] == "INVALID_ARGUMENT"
    for path in ("/v1/chat/completions", "/v1/responses"):
        async with http.post(f"{url}{path}", data=junk, headers={**bearer(), **json_type}) as resp:
            assert resp.status == 400 and resp.headers.get("x-request-id")
            oerr = await resp.json()
        assert oerr["error"]["type"] == "invalid_request_error"


async def test_anthropic_body_without_max_tokens(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    body = {"model": "m-openai", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(f"{matrix_gateway.url}/v1/messages", json=body, headers=ant_headers()) as resp:
        assert resp.status == 400 and resp.headers.get("x-request-id")
        err = await resp.json()
    assert err["error"]["type"] == "invalid_request_error" and "max_tokens" in err["error"]["message"]


@pytest.mark.parametrize("model", ["m-anthropic", "m-gemini", "m-responses"])
async def test_chat_n_2_is_dropped_and_named(model: str, matrix_gateway: LiveGateway) -> None:
    raw = await chat_client(matrix_gateway).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi there"}], n=2
    )
    assert raw.headers["x-hubgate-dropped"] == "n"
    assert [c.message.content for c in raw.parse().choices] == [REPLY]


async def test_gemini_google_search_reaches_other_formats_as_their_web_search(
    matrix_gateway: LiveGateway, upstreams: Upstreams, http: aiohttp.ClientSession
) -> None:
    """Anthropic gets its server-side web search; Chat has none: dropped and named."""
    mark = len(upstreams.openai.requests)
    body = {"contents": [{"role": "user", "parts": [{"text": "news?"}]}], "tools": [{"googleSearch": {}}]}
    async with http.post(
        f"{matrix_gateway.url}/v1beta/models/m-openai:generateContent", json=body, headers=goog_headers()
    ) as resp:
        assert resp.status == 200
        assert resp.headers["x-hubgate-dropped"] == "tools[0].googleSearch:web_search"
    assert "tools" not in last_sent(upstreams.openai, mark, "/chat/completions")

    mark = len(upstreams.anthropic.requests)
    answer = await gemini_client(matrix_gateway).aio.models.generate_content(
        model="m-anthropic",
        contents="news?",
        config=gtypes.GenerateContentConfig(tools=[gtypes.Tool(google_search=gtypes.GoogleSearch())]),
    )
    assert answer.text == "Hello! You said: news?"
    sent = last_sent(upstreams.anthropic, mark, "/messages")
    assert sent["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]


async def test_upstream_errors_in_each_callers_shape(
    matrix_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    """An upstream 500 of another format reaches each caller with its status, in its own shape."""
    url = matrix_gateway.url
    async with http.post(
        f"{url}/v1/messages",
        json={"model": "m-gemini-fail", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
        headers=ant_headers(),
    ) as resp:
        assert resp.status == 500 and resp.headers.get("x-request-id")
        err = await resp.json()
    assert err["type"] == "error" and err["error"]["type"] == "api_error" and err["error"]["message"]

    async with http.post(
        f"{url}/v1beta/models/m-openai-fail:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers=goog_headers(),
    ) as resp:
        assert resp.status == 500 and resp.headers.get("x-request-id")
        gerr = await resp.json()
    assert gerr["error"]["code"] == 500 and gerr["error"]["status"] == "INTERNAL" and gerr["error"]["message"]

    for path, body in (
        (
            "/v1/chat/completions",
            {"model": "m-anthropic-fail", "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/v1/responses", {"model": "m-gemini-fail", "input": "hi"}),
    ):
        async with http.post(f"{url}{path}", json=body, headers=bearer()) as resp:
            assert resp.status == 500 and resp.headers.get("x-request-id")
            oerr = await resp.json()
        assert set(oerr["error"]) >= {"message", "type", "code", "param"} and oerr["error"]["message"]


# ---------------------------------------------------------------------------------------------------------
# 7. mid-stream upstream errors, client disconnects on translated streams

FEAT_KEY = "sk-test-feat-formats-0123456789abcdef"


@pytest.fixture(scope="module")
async def errors_gateway(
    upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveGateway]:
    """A private gateway (own SQLite file) whose public model reaches the Anthropic fake's
    `stream-error` model, which no matrix model maps to: one text delta, then an error event."""
    config = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('feat-db') / 'hubgate.db'}",
        "usage_flush_interval_s": 0.05,
        "channels": [
            {
                "name": "feat-anthropic",
                "type": "anthropic",
                "base_url": upstreams.anthropic.base_url,
                "api_key": upstreams.anthropic.api_key,
                "models": ["feat-stream-error"],
                "model_map": {"feat-stream-error": "stream-error"},
            }
        ],
        "keys": [{"name": "feat", "key": FEAT_KEY}],
    }
    settings = parse_settings(config, env={})
    app = create_app(settings)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield LiveGateway(url=f"http://127.0.0.1:{port}", app=app, settings=settings, fake=upstreams.openai)
    finally:
        await runner.cleanup()


async def _mid_stream_error_as_seen_by(caller: str, url: str, http: aiohttp.ClientSession) -> None:
    model = "feat-stream-error"
    if caller == "openai-chat":  # translated: the SDK raises on the error chunk after the first text
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=FEAT_KEY, max_retries=0)
        text = ""
        with pytest.raises(openai.APIError) as chat_err:
            stream = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi there"}], stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
        assert text == "Hello!"
        assert "overloaded" in str(chat_err.value.message).lower()
    elif caller == "anthropic":  # same format: the error event comes through
        ant = anthropic.AsyncAnthropic(base_url=url, api_key=FEAT_KEY, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as ant_err:
            async with ant.messages.stream(
                model=model, max_tokens=64, messages=[{"role": "user", "content": "hi there"}]
            ) as s:
                await s.get_final_message()
        assert "overloaded" in str(ant_err.value.body).lower()
    elif caller == "gemini":  # translated, alt=sse: an error object after the first chunk
        gbody = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}
        async with http.post(
            f"{url}/v1beta/models/{model}:streamGenerateContent?alt=sse",
            json=gbody,
            headers=goog_headers(FEAT_KEY),
        ) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            events = [data for _, data in sse_events(await resp.text())]
        assert events and gemini_text(events[0]) == "Hello!", events
        assert "error" in events[-1] and events[-1]["error"]["code"] >= 500, events[-1]
        assert events[-1]["error"]["status"] in ("UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED")
    else:  # Responses, translated: the stream fails rather than completing
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=FEAT_KEY, max_retries=0)
        seen: list[str] = []
        try:
            rstream = await client.responses.create(model=model, input="hi there", stream=True)
            async for ev in rstream:
                seen.append(ev.type)
        except openai.APIError:
            seen.append("raised")
        assert "response.output_text.delta" in seen and "response.completed" not in seen, seen
        assert seen[-1] in ("response.failed", "error", "raised"), seen


@pytest.mark.parametrize("caller", ["openai-chat", "anthropic", "gemini", "openai-responses"])
async def test_mid_stream_error_reaches_the_caller_in_its_shape(
    caller: str, errors_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    await _mid_stream_error_as_seen_by(caller, errors_gateway.url, http)
    # The usage row records the failure, not a success.
    row = (await errors_gateway.usage_rows("feat"))[-1]
    assert row["stream"] and row["status"] >= 500, (row["status"], row["error"])
    assert "overloaded" in (row["error"] or "").lower()


SLOW_CASES = {
    # "caller->upstream" -> (public slow model, the `upstreams` attribute of its fake)
    "anthropic->openai": ("m-openai-slow", "openai"),
    "chat->gemini": ("m-gemini-slow", "gemini"),
    "gemini->anthropic": ("m-anthropic-slow", "anthropic"),
    "responses->anthropic": ("m-anthropic-slow", "anthropic"),
}


def _slow_request(case: str, url: str, key: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    model = SLOW_CASES[case][0]
    caller = case.split("->")[0]
    if caller == "anthropic":
        body = {
            "model": model,
            "max_tokens": 256,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        return f"{url}/v1/messages", ant_headers(key), body
    if caller == "chat":
        return (
            f"{url}/v1/chat/completions",
            bearer(key),
            {
                "model": model,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    if caller == "responses":
        return f"{url}/v1/responses", bearer(key), {"model": model, "stream": True, "input": "hi"}
    return (
        f"{url}/v1beta/models/{model}:streamGenerateContent?alt=sse",
        goog_headers(key),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )


@pytest.mark.parametrize("case", sorted(SLOW_CASES))
async def test_client_disconnect_during_a_translated_stream(
    case: str, matrix_gateway: LiveGateway, upstreams: Upstreams, fresh_key: tuple[str, str]
) -> None:
    fake = getattr(upstreams, SLOW_CASES[case][1])
    before = fake.stream_disconnects
    url, headers, body = _slow_request(case, matrix_gateway.url, fresh_key[1])
    async with aiohttp.ClientSession() as session:
        resp = await session.post(url, json=body, headers=headers)
        assert resp.status == 200
        assert b"Hello" in await asyncio.wait_for(resp.content.readuntil(b"Hello"), 3)
        resp.close()  # hang up mid-stream

    async def upstream_saw_it() -> bool:
        return bool(fake.stream_disconnects > before)

    assert await wait_until(upstream_saw_it), "the upstream stream was not cancelled"

    async def recorded_499() -> bool:
        rows = await matrix_gateway.usage_rows(fresh_key[0])
        return bool(rows) and rows[-1]["status"] == 499

    assert await wait_until(recorded_499), await matrix_gateway.usage_rows(fresh_key[0])
    row = (await matrix_gateway.usage_rows(fresh_key[0]))[-1]
    assert row["stream"] and row["channel"] == f"up-{SLOW_CASES[case][1]}"


# ---------------------------------------------------------------------------------------------------------
# 8. images


async def test_chat_image_data_url_to_anthropic_and_gemini(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    client = chat_client(matrix_gateway)
    content: Any = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    ]
    mark = len(upstreams.anthropic.requests)
    r = await client.chat.completions.create(
        model="m-anthropic", messages=[{"role": "user", "content": content}]
    )
    assert r.choices[0].message.content == "Hello! You said: what is this"
    blocks = last_sent(upstreams.anthropic, mark, "/v1/messages")["messages"][0]["content"]
    assert {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    } in blocks

    mark = len(upstreams.gemini.requests)
    await client.chat.completions.create(model="m-gemini", messages=[{"role": "user", "content": content}])
    parts = last_sent(upstreams.gemini, mark, ":generateContent")["contents"][0]["parts"]
    inline = [p["inlineData"] for p in parts if "inlineData" in p]
    assert inline == [{"mimeType": "image/png", "data": PNG_B64}]


async def test_chat_image_url_to_anthropic(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    content: Any = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    mark = len(upstreams.anthropic.requests)
    await chat_client(matrix_gateway).chat.completions.create(
        model="m-anthropic", messages=[{"role": "user", "content": content}]
    )
    blocks = last_sent(upstreams.anthropic, mark, "/v1/messages")["messages"][0]["content"]
    assert {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}} in blocks


async def test_anthropic_image_to_openai(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    mark = len(upstreams.openai.requests)
    await anthropic_client(matrix_gateway).messages.create(
        model="m-openai",
        max_tokens=64,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {"type": "text", "text": "what is this"},
                ],
            }
        ],
    )
    message = last_sent(upstreams.openai, mark, "/chat/completions")["messages"][0]
    images = [p for p in message["content"] if p["type"] == "image_url"]
    assert [i["image_url"]["url"] for i in images] == [PNG_DATA_URL]


# ---------------------------------------------------------------------------------------------------------
# 9. reasoning, system prompts, stop sequences, max tokens, tool choice, tool results


async def test_chat_reasoning_effort_to_anthropic_thinking(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    mark = len(upstreams.anthropic.requests)
    r = await chat_client(matrix_gateway).chat.completions.create(
        model="m-anthropic", messages=[{"role": "user", "content": "hi there"}], reasoning_effort="high"
    )
    body = last_sent(upstreams.anthropic, mark, "/v1/messages")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": HIGH_BUDGET}
    assert body["max_tokens"] > HIGH_BUDGET
    message = r.choices[0].message
    assert message.content == REPLY
    assert getattr(message, "reasoning_content", None) == THINKING_TEXT
    assert r.usage is not None and r.usage.completion_tokens > 0


async def test_chat_reasoning_effort_to_gemini_thinking_config(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    mark = len(upstreams.gemini.requests)
    r = await chat_client(matrix_gateway).chat.completions.create(
        model="m-gemini", messages=[{"role": "user", "content": "hi there"}], reasoning_effort="high"
    )
    config = last_sent(upstreams.gemini, mark, ":generateContent")["generationConfig"]
    assert config["thinkingConfig"]["thinkingBudget"] == HIGH_BUDGET
    assert r.choices[0].message.content == REPLY


async def test_anthropic_thinking_budget_to_openai_reasoning_effort(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    mark = len(upstreams.openai.requests)
    r = await anthropic_client(matrix_gateway).messages.create(
        model="m-openai",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "hi there"}],
    )
    assert last_sent(upstreams.openai, mark, "/chat/completions")["reasoning_effort"] == "low"
    assert [b.type for b in r.content] == ["text"] and r.content[0].text == REPLY  # type: ignore[union-attr]


async def test_anthropic_caller_gets_thinking_blocks_from_gemini(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    mark = len(upstreams.gemini.requests)
    r = await anthropic_client(matrix_gateway).messages.create(
        model="m-gemini",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "hi there"}],
    )
    config = last_sent(upstreams.gemini, mark, ":generateContent")["generationConfig"]["thinkingConfig"]
    assert config["thinkingBudget"] == 2048 and config["includeThoughts"] is True
    assert [b.type for b in r.content] == ["thinking", "text"]
    thinking = r.content[0]
    assert thinking.type == "thinking" and thinking.thinking.startswith("**Considering the request**")
    assert thinking.signature
    assert r.content[1].text == REPLY  # type: ignore[union-attr]


async def test_system_prompt_placement(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    client = chat_client(matrix_gateway)
    messages: Any = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi there"}]

    mark = len(upstreams.anthropic.requests)
    await client.chat.completions.create(model="m-anthropic", messages=messages)
    body = last_sent(upstreams.anthropic, mark, "/v1/messages")
    assert body["system"] in ("You are terse.", [{"type": "text", "text": "You are terse."}])
    assert [m["role"] for m in body["messages"]] == ["user"]

    mark = len(upstreams.gemini.requests)
    await client.chat.completions.create(model="m-gemini", messages=messages)
    body = last_sent(upstreams.gemini, mark, ":generateContent")
    assert body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert [c.get("role") for c in body["contents"]] == ["user"]

    # And back: an Anthropic `system` reaches an OpenAI upstream as the leading system message.
    mark = len(upstreams.openai.requests)
    await anthropic_client(matrix_gateway).messages.create(
        model="m-openai", max_tokens=64, system="You are terse.", messages=[{"role": "user", "content": "hi"}]
    )
    first = last_sent(upstreams.openai, mark, "/chat/completions")["messages"][0]
    assert first["role"] in ("system", "developer") and "You are terse." in json.dumps(first["content"])


async def test_multi_turn_history_to_gemini(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    mark = len(upstreams.gemini.requests)
    r = await anthropic_client(matrix_gateway).messages.create(
        model="m-gemini",
        max_tokens=64,
        messages=[
            {"role": "user", "content": "my name is Ada"},
            {"role": "assistant", "content": "Nice to meet you, Ada."},
            {"role": "user", "content": "hi there"},
        ],
    )
    assert r.content[0].text == REPLY  # type: ignore[union-attr]
    contents = last_sent(upstreams.gemini, mark, ":generateContent")["contents"]
    assert [(c["role"], c["parts"]) for c in contents] == [
        ("user", [{"text": "my name is Ada"}]),
        ("model", [{"text": "Nice to meet you, Ada."}]),
        ("user", [{"text": "hi there"}]),
    ]


async def test_stop_sequences_and_max_tokens(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    client = chat_client(matrix_gateway)
    messages: Any = [{"role": "user", "content": "hi there"}]

    mark = len(upstreams.anthropic.requests)
    stopped = await client.chat.completions.create(model="m-anthropic", messages=messages, stop=["said"])
    assert last_sent(upstreams.anthropic, mark, "/v1/messages")["stop_sequences"] == ["said"]
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == "Hello! You "

    mark = len(upstreams.anthropic.requests)
    cut = await client.chat.completions.create(model="m-anthropic", messages=messages, max_tokens=2)
    assert last_sent(upstreams.anthropic, mark, "/v1/messages")["max_tokens"] == 2
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content == "Hello! You"

    # Anthropic caller -> Gemini: stop_sequences and max_tokens land in generationConfig.
    mark = len(upstreams.gemini.requests)
    await anthropic_client(matrix_gateway).messages.create(
        model="m-gemini", max_tokens=77, stop_sequences=["END"], messages=[{"role": "user", "content": "hi"}]
    )
    config = last_sent(upstreams.gemini, mark, ":generateContent")["generationConfig"]
    assert config["stopSequences"] == ["END"] and config["maxOutputTokens"] == 77


async def test_tool_choice_translation(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    client = chat_client(matrix_gateway)
    messages: Any = [{"role": "user", "content": "weather in Paris?"}]
    forced: Any = {"type": "function", "function": {"name": "get_weather"}}

    mark = len(upstreams.anthropic.requests)
    r = await client.chat.completions.create(
        model="m-anthropic", messages=messages, tools=CHAT_TOOLS, tool_choice=forced
    )
    body = last_sent(upstreams.anthropic, mark, "/v1/messages")
    assert body["tool_choice"]["type"] == "tool" and body["tool_choice"]["name"] == "get_weather"
    assert body["tools"][0]["name"] == "get_weather" and body["tools"][0]["input_schema"]["type"] == "object"
    assert r.choices[0].finish_reason == "tool_calls"

    mark = len(upstreams.gemini.requests)
    await client.chat.completions.create(
        model="m-gemini", messages=messages, tools=CHAT_TOOLS, tool_choice=forced
    )
    fcc = last_sent(upstreams.gemini, mark, ":generateContent")["toolConfig"]["functionCallingConfig"]
    assert fcc["mode"] == "ANY" and fcc.get("allowedFunctionNames") == ["get_weather"]

    mark = len(upstreams.anthropic.requests)
    await client.chat.completions.create(
        model="m-anthropic", messages=messages, tools=CHAT_TOOLS, tool_choice="none"
    )
    body = last_sent(upstreams.anthropic, mark, "/v1/messages")
    assert body["tool_choice"]["type"] == "none"

    mark = len(upstreams.anthropic.requests)
    await client.chat.completions.create(
        model="m-anthropic", messages=messages, tools=CHAT_TOOLS, parallel_tool_calls=False
    )
    choice = last_sent(upstreams.anthropic, mark, "/v1/messages")["tool_choice"]
    assert choice == {"type": "auto", "disable_parallel_tool_use": True}


async def test_streamed_tool_call_arguments_arrive_in_increments(matrix_gateway: LiveGateway) -> None:
    stream = await chat_client(matrix_gateway).chat.completions.create(
        model="m-anthropic-tool",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=CHAT_TOOLS,
        stream=True,
    )
    fragments: list[str] = []
    async for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                if tc.function and tc.function.arguments:
                    fragments.append(tc.function.arguments)
    assert len(fragments) > 1
    assert json.loads("".join(fragments)) == {"city": "Paris", "unit": "celsius"}


PARALLEL_HISTORY: Any = [
    {"role": "user", "content": "weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
    {"role": "tool", "tool_call_id": "call_b", "content": "rainy"},
    {"role": "user", "content": "hi there"},
]


async def test_parallel_tool_calls_in_history(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    client = chat_client(matrix_gateway)
    mark = len(upstreams.anthropic.requests)
    r = await client.chat.completions.create(model="m-anthropic", messages=PARALLEL_HISTORY, tools=CHAT_TOOLS)
    # (The Anthropic fake echoes the whole last user turn, tool results merged into it included.)
    assert r.choices[0].message.content == "Hello! You said: sunny rainy hi there"
    msgs = last_sent(upstreams.anthropic, mark, "/v1/messages")["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    uses = [(b["id"], b["input"]) for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert uses == [("call_a", {"city": "Paris"}), ("call_b", {"city": "Rome"})]
    results = [b for b in msgs[2]["content"] if b["type"] == "tool_result"]
    assert [b["tool_use_id"] for b in results] == ["call_a", "call_b"]
    assert msgs[2]["content"][: len(results)] == results  # tool results lead their turn

    mark = len(upstreams.gemini.requests)
    r = await client.chat.completions.create(model="m-gemini", messages=PARALLEL_HISTORY, tools=CHAT_TOOLS)
    # (The Gemini fake answers the first functionResponse of the last turn.)
    assert r.choices[0].message.content == 'Thanks! get_weather said: {"result":"sunny"}'
    contents = last_sent(upstreams.gemini, mark, ":generateContent")["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    calls = [p["functionCall"] for p in contents[1]["parts"] if "functionCall" in p]
    assert [(c["name"], c["args"]) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    responses = [p["functionResponse"] for p in contents[2]["parts"] if "functionResponse" in p]
    assert [r["name"] for r in responses] == ["get_weather", "get_weather"]
    assert "sunny" in json.dumps(responses[0]) and "rainy" in json.dumps(responses[1])


async def test_error_tool_results(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    ant = anthropic_client(matrix_gateway)
    history: Any = [
        {"role": "user", "content": "weather in Atlantis?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_x", "name": "get_weather", "input": {"city": "Atlantis"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_x",
                    "is_error": True,
                    "content": "unknown city",
                },
                {"type": "text", "text": "hi there"},
            ],
        },
    ]
    # Anthropic caller -> Gemini: functionResponse.response = {"error": ...}
    mark = len(upstreams.gemini.requests)
    await ant.messages.create(model="m-gemini", max_tokens=64, messages=history, tools=ANTHROPIC_TOOLS)
    contents = last_sent(upstreams.gemini, mark, ":generateContent")["contents"]
    fr = next(p["functionResponse"] for c in contents for p in c["parts"] if "functionResponse" in p)
    assert fr["name"] == "get_weather" and fr["response"] == {"error": "unknown city"}

    # Anthropic caller -> OpenAI: the tool message says it is an error.
    mark = len(upstreams.openai.requests)
    await ant.messages.create(model="m-openai", max_tokens=64, messages=history, tools=ANTHROPIC_TOOLS)
    msgs = last_sent(upstreams.openai, mark, "/chat/completions")["messages"]
    tool_msg = next(m for m in msgs if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == "toolu_x" and "Error" in json.dumps(tool_msg["content"])
    assert "unknown city" in json.dumps(tool_msg["content"])

    # Gemini caller -> Anthropic: {"error": ...} becomes an is_error tool_result.
    mark = len(upstreams.anthropic.requests)
    await gemini_client(matrix_gateway).aio.models.generate_content(
        model="m-anthropic",
        contents=[
            gtypes.Content(role="user", parts=[gtypes.Part(text="weather in Atlantis?")]),
            gtypes.Content(
                role="model",
                parts=[
                    gtypes.Part(
                        function_call=gtypes.FunctionCall(name="get_weather", args={"city": "Atlantis"})
                    )
                ],
            ),
            gtypes.Content(
                role="user",
                parts=[
                    gtypes.Part.from_function_response(name="get_weather", response={"error": "unknown city"})
                ],
            ),
        ],
        config=gtypes.GenerateContentConfig(tools=GEMINI_TOOLS, automatic_function_calling=NO_AFC),
    )
    msgs = last_sent(upstreams.anthropic, mark, "/v1/messages")["messages"]
    result = msgs[-1]["content"][0]
    assert result["type"] == "tool_result" and result.get("is_error") is True
    assert "unknown city" in json.dumps(result["content"])
    assert result["tool_use_id"] == msgs[1]["content"][0]["id"]


# ---------------------------------------------------------------------------------------------------------
# 10. cached tokens, each API's semantics


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_cached_tokens_chat_caller_anthropic_upstream(
    stream: bool, matrix_gateway: LiveGateway, upstreams: Upstreams, fresh_key: tuple[str, str]
) -> None:
    client = chat_client(matrix_gateway, fresh_key[1])
    messages: Any = [{"role": "user", "content": "a fairly long prompt that has been cached before today"}]
    if stream:
        chunks = await client.chat.completions.create(
            model="m-anthropic-cached", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        usage = None
        async for chunk in chunks:
            usage = chunk.usage or usage
    else:
        usage = (await client.chat.completions.create(model="m-anthropic-cached", messages=messages)).usage
    assert usage is not None and usage.prompt_tokens_details is not None
    # The fake: total = 3 + 10 words; half is a cache read, the rest plain input.
    total = 3 + 10
    assert usage.prompt_tokens_details.cached_tokens == total // 2 > 0
    assert usage.prompt_tokens == total  # input + cache reads (+ writes): OpenAI's convention
    row = (await matrix_gateway.usage_rows(fresh_key[0]))[-1]
    assert (row["prompt_tokens"], row["cached_tokens"]) == (usage.prompt_tokens, total // 2)
    assert row["completion_tokens"] == usage.completion_tokens


async def test_cached_tokens_anthropic_caller_openai_upstream(
    matrix_gateway: LiveGateway, fresh_key: tuple[str, str]
) -> None:
    r = await anthropic_client(matrix_gateway, fresh_key[1]).messages.create(
        model="m-openai-cached",
        max_tokens=64,
        messages=[{"role": "user", "content": "a fairly long prompt that has been cached before today"}],
    )
    row = (await matrix_gateway.usage_rows(fresh_key[0]))[-1]
    prompt = row["prompt_tokens"]
    assert prompt == 3 + 10  # the OpenAI fake: words + 3 per message
    assert r.usage.cache_read_input_tokens == prompt // 2 > 0
    assert r.usage.input_tokens == prompt - prompt // 2  # Anthropic's input excludes cache reads
    assert not r.usage.cache_creation_input_tokens
    assert row["cached_tokens"] == prompt // 2


async def test_cached_tokens_gemini_and_responses_callers(
    matrix_gateway: LiveGateway, fresh_key: tuple[str, str]
) -> None:
    prompt = "a fairly long prompt that has been cached before today"
    g = await gemini_client(matrix_gateway, fresh_key[1]).aio.models.generate_content(
        model="m-anthropic-cached", contents=prompt
    )
    assert g.usage_metadata is not None
    # Gemini's promptTokenCount includes cachedContentTokenCount.
    assert g.usage_metadata.prompt_token_count == 13
    assert g.usage_metadata.cached_content_token_count == 6

    r = await chat_client(matrix_gateway, fresh_key[1]).responses.create(
        model="m-gemini-cached", input=prompt
    )
    assert r.usage is not None
    prompt_count = 10 + 3  # the Gemini fake: words + 3 per content
    assert r.usage.input_tokens == prompt_count
    assert r.usage.input_tokens_details.cached_tokens == prompt_count // 2
    row = (await matrix_gateway.usage_rows(fresh_key[0]))[-1]
    assert (row["prompt_tokens"], row["cached_tokens"]) == (prompt_count, prompt_count // 2)
