"""The fake Gemini upstream checked against the official ``google-genai`` SDK (and raw wire checks)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from .gemini_upstream import DEFAULT_API_KEY, TOOL_ARGS, FakeGemini

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather in a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "city": types.Schema(type=types.Type.STRING),
            "unit": types.Schema(type=types.Type.STRING, enum=["celsius", "fahrenheit"]),
        },
        required=["city"],
    ),
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)
TOOL_CONFIG = types.GenerateContentConfig(
    tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AFC
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    async with FakeGemini() as server:
        yield server


def _client(fake: FakeGemini, key: str = DEFAULT_API_KEY, api_version: str | None = "v1beta") -> genai.Client:
    options = types.HttpOptions(base_url=fake.base_url, api_version=api_version)
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return _client(fake)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


# -- generateContent ---------------------------------------------------------------------------------------


async def test_generate_content_text(fake: FakeGemini, client: genai.Client) -> None:
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents="hi there",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.2),
    )
    assert response.text == "Hello! You said: hi there"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == "gemini-2.5-flash"
    assert response.response_id
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count == 5
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert usage.thoughts_token_count is None and usage.cached_content_token_count is None

    recorded = fake.requests[-1]
    assert recorded.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert recorded.headers["x-goog-api-key"] == DEFAULT_API_KEY
    assert recorded.json["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert recorded.json["generationConfig"] == {"temperature": 0.2}


async def test_stream_generate_content(fake: FakeGemini, client: genai.Client) -> None:
    chunks = [
        chunk
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="stream this please"
        )
    ]
    assert len(chunks) > 3
    assert "".join(c.text or "" for c in chunks) == "Hello! You said: stream this please"
    assert (
        chunks[-1].candidates is not None
        and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    )
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert len({c.response_id for c in chunks}) == 1
    assert fake.requests[-1].query == {"alt": "sse"}
    assert fake.stream_completed == 1


async def test_stream_wire_forms(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    url = f"{fake.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "one two"}]}]}
    headers = {"x-goog-api-key": DEFAULT_API_KEY}
    async with http.post(url, params={"alt": "sse"}, json=body, headers=headers) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = await resp.read()
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: ") for f in frames[:-1])
    sse_chunks = [json.loads(f[6:]) for f in frames[:-1]]

    async with http.post(url, json=body, headers=headers) as resp:
        assert resp.headers["content-type"].startswith("application/json")
        array = json.loads(await resp.read())
    assert isinstance(array, list) and len(array) == len(sse_chunks)
    strip = lambda c: {k: v for k, v in c.items() if k != "responseId"}  # noqa: E731
    assert [strip(c) for c in array] == [strip(c) for c in sse_chunks]
    assert array[-1]["candidates"][0]["finishReason"] == "STOP"


# -- function calling and thought signatures ----------------------------------------------------------------


async def test_function_call_round_trip_with_signature(fake: FakeGemini, client: genai.Client) -> None:
    first = await client.aio.models.generate_content(
        model="tool", contents="What's the weather in Paris?", config=TOOL_CONFIG
    )
    assert first.function_calls is not None and len(first.function_calls) == 1
    call = first.function_calls[0]
    assert call.name == "get_weather" and call.args == TOOL_ARGS and call.id
    assert first.candidates is not None and first.candidates[0].content is not None
    parts = first.candidates[0].content.parts or []
    assert parts[0].thought_signature  # bytes, decoded by the SDK

    history = [
        _user("What's the weather in Paris?"),
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"result": "sunny"})],
        ),
    ]
    second = await client.aio.models.generate_content(model="tool", contents=history, config=TOOL_CONFIG)
    assert second.text == 'Thanks! get_weather said: {"result":"sunny"}'
    sent_signature = fake.requests[-1].json["contents"][1]["parts"][0]["thoughtSignature"]
    assert sent_signature.startswith("----")  # the SDK re-encodes URL-safe; the fake compares bytes


async def _call_history(client: genai.Client) -> list[Any]:
    first = await client.aio.models.generate_content(model="tool", contents="weather?", config=TOOL_CONFIG)
    assert first.candidates is not None and first.candidates[0].content is not None
    model_turn = first.candidates[0].content.model_dump(mode="json", by_alias=True, exclude_none=True)
    return [
        {"role": "user", "parts": [{"text": "weather?"}]},
        model_turn,
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "rain"}}}],
        },
    ]


@pytest.mark.parametrize("tamper", ["drop", "replace"])
async def test_missing_or_foreign_signature_is_rejected(
    fake: FakeGemini, client: genai.Client, http: aiohttp.ClientSession, tamper: str
) -> None:
    contents = await _call_history(client)
    part = contents[1]["parts"][0]
    if tamper == "drop":
        del part["thoughtSignature"]
    else:
        part["thoughtSignature"] = base64.b64encode(b"not the signature").decode()
    url = f"{fake.base_url}/v1beta/models/tool:generateContent"
    async with http.post(
        url, json={"contents": contents}, headers={"x-goog-api-key": DEFAULT_API_KEY}
    ) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Function call is missing a thought_signature in functionCall parts.")
    assert "`default_api:get_weather`" in error["message"]


async def test_sdk_surfaces_missing_signature_as_api_error(client: genai.Client) -> None:
    history = [
        _user("weather?"),
        types.Content(
            role="model", parts=[types.Part.from_function_call(name="get_weather", args={"city": "Rome"})]
        ),
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={})]
        ),
    ]
    with pytest.raises(errors.ClientError) as info:
        await client.aio.models.generate_content(model="tool", contents=history, config=TOOL_CONFIG)
    assert info.value.code == 400 and "thought_signature" in (info.value.message or "")


async def test_only_the_current_turn_is_checked(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    unsigned_call = {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
    contents = [
        {"role": "user", "parts": [{"text": "weather in Rome?"}]},
        {"role": "model", "parts": [unsigned_call]},  # an earlier turn: not validated
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sun"}}}],
        },
        {"role": "model", "parts": [{"text": "Sunny."}]},
        {"role": "user", "parts": [{"text": "thanks"}]},
    ]
    url = f"{fake.base_url}/v1beta/models/gemini-3-pro-preview:generateContent"
    headers = {"x-goog-api-key": DEFAULT_API_KEY}
    async with http.post(url, json={"contents": contents}, headers=headers) as resp:
        assert resp.status == 200
    async with http.post(url, json={"contents": contents[:3]}, headers=headers) as resp:
        assert resp.status == 400  # the same call in the current turn is


async def test_thinking_parts_and_usage(fake: FakeGemini, client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=512)
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="think", config=config
    )
    assert response.candidates is not None and response.candidates[0].content is not None
    parts = response.candidates[0].content.parts or []
    assert parts[0].thought is True and parts[0].thought_signature and parts[0].text
    assert response.text == "Hello! You said: think"  # .text skips thoughts
    usage = response.usage_metadata
    assert usage is not None and usage.thoughts_token_count == 24
    assert (
        usage.total_token_count == (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0) + 24
    )
    # the SDK sends the nested thinking config with snake_case keys; the fake reads both spellings
    assert fake.requests[-1].json["generationConfig"]["thinkingConfig"] == {
        "include_thoughts": True,
        "thinking_budget": 512,
    }


async def test_thinking_off_reports_no_thoughts(client: genai.Client) -> None:
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    response = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="x", config=config)
    assert response.usage_metadata is not None and response.usage_metadata.thoughts_token_count is None


async def test_cached_models_report_cached_tokens(client: genai.Client) -> None:
    response = await client.aio.models.generate_content(model="cached-gemini", contents="one two three four")
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count
    assert usage.cached_content_token_count == usage.prompt_token_count // 2


# -- schema strictness -------------------------------------------------------------------------------------


async def test_rejects_json_schema_keys_gemini_does_not_know(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    parameters = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}}},
        "additionalProperties": False,
        "$defs": {"Tag": {"type": "string"}},
    }
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters}]}],
    }
    url = f"{fake.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    async with http.post(url, json=body, headers={"x-goog-api-key": DEFAULT_API_KEY}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    lines = error["message"].split("\n")
    at = "'tools[0].function_declarations[0].parameters'"
    assert f'Invalid JSON payload received. Unknown name "$schema" at {at}: Cannot find field.' in lines
    assert (
        f'Invalid JSON payload received. Unknown name "additionalProperties" at {at}: Cannot find field.'
        in lines
    )
    assert any('"$ref"' in line and "properties[0].value.items" in line for line in lines)
    fields = {v["field"] for v in error["details"][0]["fieldViolations"]}
    assert "tools[0].function_declarations[0].parameters" in fields


async def test_sdk_schema_with_additional_properties_is_rejected(client: genai.Client) -> None:
    loose = types.FunctionDeclaration(
        name="f",
        parameters_json_schema=None,
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"m": types.Schema(type=types.Type.OBJECT, additional_properties={"type": "string"})},
        ),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[loose])], automatic_function_calling=NO_AFC
    )
    with pytest.raises(errors.ClientError) as info:
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="x", config=config)
    assert info.value.code == 400 and 'Unknown name "additional_properties"' in (info.value.message or "")


async def test_rejects_object_parameters_without_properties(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [
            {"functionDeclarations": [{"name": "ping", "parameters": {"type": "OBJECT", "properties": {}}}]}
        ],
    }
    url = f"{fake.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    async with http.post(url, json=body, headers={"x-goog-api-key": DEFAULT_API_KEY}) as resp:
        assert resp.status == 400
        message = (await resp.json())["error"]["message"]
    assert "parameters.properties: should be non-empty for OBJECT type" in message


# -- other methods -----------------------------------------------------------------------------------------


async def test_count_tokens(client: genai.Client) -> None:
    result = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="one two three")
    assert result.total_tokens == 3 + 3


async def test_embed_content(fake: FakeGemini, client: genai.Client) -> None:
    result = await client.aio.models.embed_content(model="gemini-embedding-001", contents=["alpha", "beta"])
    assert result.embeddings is not None and len(result.embeddings) == 2
    first, second = (e.values or [] for e in result.embeddings)
    assert len(first) == 8 and first != second
    assert fake.requests[-1].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"


async def test_embed_content_single_method(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    url = f"{fake.base_url}/v1beta/models/gemini-embedding-001:embedContent"
    body = {"content": {"parts": [{"text": "alpha"}]}, "outputDimensionality": 4}
    async with http.post(url, json=body, params={"key": DEFAULT_API_KEY}) as resp:
        assert resp.status == 200
        assert len((await resp.json())["embedding"]["values"]) == 4


async def test_list_models(client: genai.Client) -> None:
    names = [m.name async for m in await client.aio.models.list()]
    assert "models/gemini-2.5-flash" in names


async def test_sdk_default_api_version(fake: FakeGemini) -> None:
    client = _client(fake, api_version=None)
    response = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="v1 please")
    assert response.text == "Hello! You said: v1 please"
    assert fake.requests[-1].path.startswith("/v1/models/")  # google-genai 3.x defaults to v1


# -- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "code", "status", "kind"),
    [
        ("fail-500", 500, "INTERNAL", errors.ServerError),
        ("fail-429", 429, "RESOURCE_EXHAUSTED", errors.ClientError),
        ("fail-400", 400, "INVALID_ARGUMENT", errors.ClientError),
    ],
)
async def test_failure_models(
    client: genai.Client, model: str, code: int, status: str, kind: type[errors.APIError]
) -> None:
    with pytest.raises(kind) as info:
        await client.aio.models.generate_content(model=model, contents="x")
    assert info.value.code == code and info.value.status == status


async def test_bad_key(fake: FakeGemini) -> None:
    with pytest.raises(errors.ClientError) as info:
        await _client(fake, key="wrong").aio.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 400 and info.value.message == "API key not valid. Please pass a valid API key."
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_missing_key(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    url = f"{fake.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    async with http.post(url, json={"contents": []}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["status"] == "PERMISSION_DENIED"


async def test_empty_contents(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    url = f"{fake.base_url}/v1/models/gemini-2.5-flash:generateContent"
    async with http.post(url, json={"contents": []}, params={"key": DEFAULT_API_KEY}) as resp:
        assert resp.status == 400
        assert "contents is not specified" in (await resp.json())["error"]["message"]


async def test_slow_stream_disconnect_is_observed(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    url = f"{fake.base_url}/v1beta/models/slow-stream:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    resp = await http.post(url, json=body, params={"alt": "sse", "key": DEFAULT_API_KEY})
    first = await resp.content.readuntil(b"\r\n\r\n")
    assert b'"Hello!"' in first
    resp.close()
    assert await fake.wait_for_disconnect()
    assert fake.stream_completed == 0
