"""The Gemini codec: golden fixtures, the SDK's own types as the judge, bad input, schemas, usage,
and property tests for request and stream round trips."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
import pydantic
import pytest
from aiohttp import web
from google import genai
from google.genai import models as genai_models
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubgate.errors import BadGateway, InvalidRequest
from hubgate.formats import gemini, hub
from hubgate.formats.gemini import wire
from hubgate.formats.sse import EventSplitter
from tests.fakes.gemini_upstream import DEFAULT_API_KEY, FakeGemini, schema_violations

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gemini"
SIG1 = "CiQB0e2Kb+Fq0x8uTq3m/2pyhP7rC9r4sVwWqv1D3E9a0nSa1ZwKYwHR7YpvXn+wB0YwFQ=="
SIG2 = "CikB0e2Kb3z8uV+eN/Pw1cE0nXzT4a8ZmFqRk2/3vR9s+Yq1hJc7kA=="


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse_events(raw: bytes) -> list[hub.SSEEvent]:
    """Split an SSE byte stream the way the relay does, into parsed events."""
    events = []
    for frame in EventSplitter().feed(raw):
        data = [line[6:] for line in frame.decode().split("\n") if line.startswith("data: ")]
        events.append(hub.SSEEvent(None, "\n".join(data)))
    return events


def decode_stream(raw: bytes) -> list[hub.StreamEvent]:
    decoder = gemini.StreamDecoder()
    out: list[hub.StreamEvent] = []
    for event in sse_events(raw):
        out += decoder.feed(event)
    return out + decoder.close()


def sdk_response(body: dict[str, Any]) -> types.GenerateContentResponse:
    """Parse a body the way google-genai does, and also strictly (extra fields forbidden)."""
    types.GenerateContentResponse.model_validate(body)  # raises on any key the SDK does not know
    converted = genai_models._GenerateContentResponse_from_mldev(body)
    return types.GenerateContentResponse._from_response(response=converted, kwargs={})


def walk(schema: Any) -> Iterable[dict[str, Any]]:
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    yield from walk(sub)
            elif key in ("items", "anyOf"):
                yield from walk(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from walk(item)


# =========================================================================================== requests


def test_sdk_request_decodes() -> None:
    req = gemini.decode_request(load("request_sdk.json"))
    assert req.model == "gemini-2.5-flash"
    assert req.system == (hub.TextPart("You are a concise assistant."),)
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user"]

    user, assistant, tool, follow_up = req.messages
    assert user.parts[1] == hub.ImagePart(
        data="iVBORw0KGgo+/w==", media_type="image/png"
    )  # URL-safe -> standard
    thinking, call = assistant.parts
    assert thinking == hub.ThinkingPart("**Checking the weather**\n\nI should call the weather tool.")
    assert call == hub.ToolCallPart(
        "call_0", "get_weather", '{"city":"Paris","unit":"celsius"}', signature=SIG1
    )
    (result,) = tool.parts
    assert result == hub.ToolResultPart("call_0", (hub.TextPart("18°C, light rain"),), name="get_weather")
    assert follow_up.parts == (hub.TextPart("And should I take an umbrella?"),)

    weather, search = req.tools
    assert weather.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        },
        "required": ["city"],
    }
    assert search.parameters["additionalProperties"] is False  # parametersJsonSchema is JSON Schema already
    assert req.tool_choice == hub.ToolChoice("auto")
    assert (req.temperature, req.top_p, req.top_k, req.max_tokens, req.seed) == (0.4, 0.9, 40, 1024, 7)
    assert req.stop == ("END",)
    assert req.response_format is None
    assert req.reasoning == hub.Reasoning(budget_tokens=2048, include_thoughts=True)


def test_sdk_request_reencodes_to_golden_upstream_body() -> None:
    body = gemini.encode_request(gemini.decode_request(load("request_sdk.json")), "gemini-2.5-flash")
    assert body == load("request_sdk.upstream.json")


def test_encoded_request_uses_only_fields_the_sdk_knows() -> None:
    body = load("request_sdk.upstream.json")
    for content in body["contents"]:
        types.Content.model_validate(content)
    for tool in body["tools"]:
        types.Tool.model_validate(tool)
    types.GenerationConfig.model_validate(body["generationConfig"])
    types.ToolConfig.model_validate(body["toolConfig"])
    for decl in body["tools"][0]["functionDeclarations"]:
        assert schema_violations(decl["parameters"], "p") == []


def test_model_injected_with_models_prefix_and_stream_flag() -> None:
    body = {"model": "models/gemini-2.5-pro", "stream": True, "contents": [{"parts": [{"text": "hi"}]}]}
    req = gemini.decode_request(body)
    assert req.model == "gemini-2.5-pro" and req.stream is True
    assert req.messages == (hub.Message("user", (hub.TextPart("hi"),)),)


def test_function_responses_pair_by_id_then_by_name_in_order() -> None:
    body = {
        "model": "m",
        "contents": [
            {"role": "user", "parts": [{"text": "weather in two cities"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "w", "args": {"c": "A"}}, "thoughtSignature": SIG1},
                    {"functionCall": {"name": "w", "args": {"c": "B"}}},
                    {"functionCall": {"id": "fc_9", "name": "t", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "fc_9", "name": "t", "response": {"output": 12}}},
                    {"functionResponse": {"name": "w", "response": {"result": "sun"}}},
                    {"functionResponse": {"name": "w", "response": {"error": "timeout"}}},
                ],
            },
        ],
    }
    req = gemini.decode_request(body)
    calls = req.messages[1].parts
    assert [c.id for c in calls if isinstance(c, hub.ToolCallPart)] == ["call_0", "call_1", "fc_9"]
    results = [p for p in req.messages[2].parts if isinstance(p, hub.ToolResultPart)]
    assert [(r.tool_call_id, r.content[0], r.is_error) for r in results] == [
        ("fc_9", hub.TextPart("12"), False),
        ("call_0", hub.TextPart("sun"), False),
        ("call_1", hub.TextPart("timeout"), True),
    ]
    # synthetic ids stay out of the upstream body; real ones go back
    upstream = gemini.encode_request(req, "m")
    sent = [p["functionCall"] for p in upstream["contents"][1]["parts"]]
    assert [c.get("id") for c in sent] == [None, None, "fc_9"]
    responses = [p["functionResponse"] for p in upstream["contents"][2]["parts"]]
    assert [r.get("id") for r in responses] == ["fc_9", None, None]
    assert responses[2]["response"] == {"error": "timeout"}


def test_signature_on_text_part_becomes_thinking_part_before_it() -> None:
    body = {
        "model": "m",
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "a thought", "thought": True},
                    {"text": " continued", "thought": True},
                    {"text": "Hello!", "thoughtSignature": SIG2.replace("+", "-").replace("/", "_")},
                ],
            },
        ],
    }
    req = gemini.decode_request(body)
    assert req.messages[1].parts == (hub.ThinkingPart("a thought continued", SIG2), hub.TextPart("Hello!"))
    upstream = gemini.encode_request(req, "m")
    # thought text is not sent back; its signature returns to the part it came on
    assert upstream["contents"][1]["parts"] == [{"text": "Hello!", "thoughtSignature": SIG2}]


def test_thinking_signature_without_a_free_next_part_gets_its_own_part() -> None:
    req = hub.Request(
        model="m",
        messages=(
            hub.Message("user", (hub.TextPart("q"),)),
            hub.Message(
                "assistant",
                (
                    hub.ThinkingPart("pondering", SIG1),
                    hub.ToolCallPart("toolu_1", "f", "{}", signature=SIG2),
                    hub.ThinkingPart("", "c2lnLTM="),
                ),
            ),
        ),
    )
    parts = gemini.encode_request(req, "m")["contents"][1]["parts"]
    assert parts == [
        {"text": "", "thoughtSignature": SIG1},
        {"functionCall": {"id": "toolu_1", "name": "f", "args": {}}, "thoughtSignature": SIG2},
        {"text": "", "thoughtSignature": "c2lnLTM="},
    ]


def test_tool_choice_and_allowed_function_names() -> None:
    def decode(config: dict[str, Any]) -> hub.Request:
        decls = [
            {"name": n, "parameters": {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}}}
            for n in "abc"
        ]
        return gemini.decode_request(
            {
                "model": "m",
                "contents": [{"parts": [{"text": "x"}]}],
                "tools": [{"functionDeclarations": decls}],
                "toolConfig": {"functionCallingConfig": config},
            }
        )

    assert decode({"mode": "NONE"}).tool_choice == hub.ToolChoice("none")
    assert decode({"mode": "ANY"}).tool_choice == hub.ToolChoice("required")
    assert decode({"mode": "ANY", "allowedFunctionNames": ["b"]}).tool_choice == hub.ToolChoice("tool", "b")
    narrowed = decode({"mode": "ANY", "allowed_function_names": ["a", "c"]})
    assert narrowed.tool_choice == hub.ToolChoice("required")
    assert [t.name for t in narrowed.tools] == ["a", "c"]
    assert decode({"mode": "VALIDATED"}).tool_choice == hub.ToolChoice("auto")

    base = hub.Request(model="m", messages=(hub.Message("user", (hub.TextPart("x"),)),))
    for choice, expected in [
        (hub.ToolChoice("auto"), {"mode": "AUTO"}),
        (hub.ToolChoice("none"), {"mode": "NONE"}),
        (hub.ToolChoice("required"), {"mode": "ANY"}),
        (hub.ToolChoice("tool", "f"), {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ]:
        encoded = gemini.encode_request(dataclasses.replace(base, tool_choice=choice), "m")
        assert encoded["toolConfig"] == {"functionCallingConfig": expected}


@pytest.mark.parametrize(
    ("config", "reasoning"),
    [
        ({"thinkingBudget": -1}, hub.Reasoning(budget_tokens=-1, include_thoughts=False)),
        (
            {"thinkingBudget": 0},
            hub.Reasoning(effort=hub.Effort.NONE, budget_tokens=0, include_thoughts=False),
        ),
        ({"thinking_level": "low", "include_thoughts": True}, hub.Reasoning(effort=hub.Effort.LOW)),
        ({"thinkingLevel": "HIGH"}, hub.Reasoning(effort=hub.Effort.HIGH, include_thoughts=False)),
        ({"includeThoughts": True}, hub.Reasoning(include_thoughts=True)),
    ],
)
def test_thinking_config_decodes(config: dict[str, Any], reasoning: hub.Reasoning) -> None:
    body = {
        "model": "m",
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"thinkingConfig": config},
    }
    assert gemini.decode_request(body).reasoning == reasoning


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        (hub.Reasoning(effort=hub.Effort.MEDIUM), {"thinkingBudget": 8192, "includeThoughts": True}),
        (hub.Reasoning(effort=hub.Effort.NONE, include_thoughts=False), {"thinkingBudget": 0}),
        (
            hub.Reasoning(budget_tokens=-1, include_thoughts=False),
            {"thinkingBudget": -1, "includeThoughts": False},
        ),
        (
            hub.Reasoning(effort=hub.Effort.HIGH, budget_tokens=3000),
            {"thinkingBudget": 3000, "includeThoughts": True},
        ),
    ],
)
def test_reasoning_encodes_to_thinking_config(reasoning: hub.Reasoning, thinking: dict[str, Any]) -> None:
    req = hub.Request(model="m", messages=(hub.Message("user", (hub.TextPart("x"),)),), reasoning=reasoning)
    assert gemini.encode_request(req, "m")["generationConfig"]["thinkingConfig"] == thinking


def test_response_formats() -> None:
    def decode(config: dict[str, Any]) -> hub.ResponseFormat | None:
        body = {"model": "m", "contents": [{"parts": [{"text": "x"}]}], "generationConfig": config}
        return gemini.decode_request(body).response_format

    assert decode({"responseMimeType": "application/json"}) == hub.ResponseFormat("json_object")
    schema = {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}, "propertyOrdering": ["a"]}
    expected = hub.ResponseFormat("json_schema", {"type": "object", "properties": {"a": {"type": "integer"}}})
    assert decode({"responseMimeType": "application/json", "responseSchema": schema}) == expected
    raw = {"type": "object", "additionalProperties": False}
    fmt = decode({"response_mime_type": "application/json", "response_json_schema": raw})
    assert fmt == hub.ResponseFormat("json_schema", raw)

    req = hub.Request(
        model="m",
        messages=(hub.Message("user", (hub.TextPart("x"),)),),
        response_format=hub.ResponseFormat(
            "json_schema",
            {
                "type": "object",
                "properties": {"b": {"type": "string"}, "a": {"type": "integer"}},
                "additionalProperties": False,
            },
            name="out",
            strict=True,
        ),
    )
    config = gemini.encode_request(req, "m")["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"b": {"type": "STRING"}, "a": {"type": "INTEGER"}},
            "propertyOrdering": ["b", "a"],
        },
    }
    json_object = dataclasses.replace(req, response_format=hub.ResponseFormat("json_object"))
    assert gemini.encode_request(json_object, "m")["generationConfig"] == {
        "responseMimeType": "application/json"
    }


def test_media_encoding() -> None:
    parts = (
        hub.ImagePart(url="https://example.com/cat.JPG?size=large"),
        hub.ImagePart(url="data:image/webp;base64,UklGRg=="),
        hub.DocumentPart(data="JVBERi0=", media_type="application/pdf"),
        hub.DocumentPart(url="gs://bucket/report", media_type="application/pdf"),
    )
    req = hub.Request(model="m", messages=(hub.Message("user", parts),))
    assert gemini.encode_request(req, "m")["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?size=large"}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report"}},
    ]


def test_tool_result_images_and_functions_without_parameters() -> None:
    req = hub.Request(
        model="m",
        messages=(
            hub.Message("user", (hub.TextPart("look"),)),
            hub.Message("assistant", (hub.ToolCallPart("call_x", "snap"),)),
            hub.Message(
                "tool",
                (
                    hub.ToolResultPart(
                        "call_x", (hub.TextPart("done"), hub.ImagePart(data="iVBO", media_type="image/png"))
                    ),
                ),
            ),
        ),
        tools=(hub.Tool("snap", "Take a photo"),),
    )
    body = gemini.encode_request(req, "m")
    assert body["tools"] == [{"functionDeclarations": [{"name": "snap", "description": "Take a photo"}]}]
    assert body["contents"][2]["parts"] == [
        {
            "functionResponse": {
                "id": "call_x",
                "name": "snap",  # found from the matching call
                "response": {"result": "done"},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}],
            }
        }
    ]
    back = gemini.decode_request({"model": "m", **body})
    assert back.messages[2].parts == (
        hub.ToolResultPart(
            "call_x",
            (hub.TextPart("done"), hub.ImagePart(data="iVBO", media_type="image/png")),
            name="snap",
        ),
    )
    assert back.tools == (hub.Tool("snap", "Take a photo"),)


# -- bad input --------------------------------------------------------------------------------------------

USER = {"role": "user", "parts": [{"text": "hi"}]}

D = hub.Drop


def _gem(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "contents": [USER], **extra}


@pytest.mark.parametrize(
    ("body", "dropped"),
    [
        (
            {"model": "m", "contents": [USER, {"role": "assistant", "parts": [{"text": "x"}]}]},
            [D("contents[1]", "assistant", "message")],
        ),
        (
            {"model": "m", "contents": [{"parts": [{"text": "q"}, {}]}]},
            [D("contents[0].parts[1]", "empty", "content")],
        ),
        (
            {
                "model": "m",
                "contents": [
                    {"parts": [{"text": "q"}, {"inlineData": {"mimeType": "audio/wav", "data": "AA=="}}]}
                ],
            },
            [D("contents[0].parts[1].inlineData", "audio/wav", "content")],
        ),
        (
            {
                "model": "m",
                "contents": [
                    {"parts": [{"text": "q"}, {"executableCode": {"language": "PYTHON", "code": "1"}}]}
                ],
            },
            [D("contents[0].parts[1]", "executableCode", "content")],
        ),
        (
            _gem(tools=[{"code_execution": {}}, {"urlContext": {}}]),
            [D("tools[0]", "codeExecution", "tool"), D("tools[1]", "urlContext", "tool")],
        ),
        (
            _gem(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
            [D("toolConfig.functionCallingConfig.mode", "SOMETIMES")],
        ),
        (
            _gem(cachedContent="cachedContents/abc", safetySettings=[], labels={}),
            [D("cachedContent"), D("safetySettings"), D("labels")],
        ),
        (_gem(generationConfig={"candidateCount": 2}), [D("generationConfig.candidateCount")]),
        (
            _gem(generationConfig={"responseMimeType": "text/x.enum"}),
            [D("generationConfig.responseMimeType", "text/x.enum")],
        ),
        (
            _gem(generationConfig={"responseModalities": ["TEXT", "IMAGE"]}),
            [D("generationConfig.responseModalities", "IMAGE")],
        ),
        (
            _gem(generationConfig={"thinkingConfig": {"thinkingLevel": "EXTREME"}}),
            [D("generationConfig.thinkingConfig.thinkingLevel", "EXTREME")],
        ),
        (
            _gem(generationConfig={"mediaResolution": "LOW", "response_logprobs": True}),
            [D("generationConfig.mediaResolution"), D("generationConfig.response_logprobs")],
        ),
        (
            _gem(systemInstruction={"parts": [{"inlineData": {}}]}),
            [D("systemInstruction.parts[0]", "inlineData", "content")],
        ),
        (_gem(system_instruction={"parts": [{"text": "s"}]}, generation_config={"max_output_tokens": 5}), []),
    ],
)
def test_decode_drops_and_names_what_the_hub_cannot_carry(
    body: dict[str, Any], dropped: list[hub.Drop]
) -> None:
    assert list(gemini.decode_request(body).dropped) == dropped


def test_google_search_is_a_hosted_web_search_both_ways() -> None:
    req = gemini.decode_request(_gem(tools=[{"googleSearch": {}}, {"functionDeclarations": [{"name": "f"}]}]))
    assert req.hosted_tools == (hub.HostedTool("web_search", "tools[0].googleSearch"),)
    assert req.dropped == ()
    body = gemini.encode_request(req, "m")
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}]


def test_encode_merges_system_messages_into_the_system_instruction() -> None:
    req = hub.Request(
        model="m",
        messages=(
            hub.Message("user", (hub.TextPart("q"),)),
            hub.Message("system", (hub.TextPart("reminder"),)),
            hub.Message("user", (hub.TextPart("more"),)),
        ),
        system=(hub.TextPart("base"),),
        user="u1",
        parallel_tool_calls=False,
    )
    drops: list[hub.Drop] = []
    body = gemini.encode_request(req, "m", drops=drops)
    assert body["systemInstruction"] == {"parts": [{"text": "base"}, {"text": "reminder"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "q"}, {"text": "more"}]}]
    assert drops == [hub.Drop("parallel_tool_calls"), hub.Drop("user")]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"contents": [USER]}, "model"),
        ({"model": "m"}, "contents"),
        ({"model": "m", "contents": {"parts": []}}, "contents"),
        ({"model": "m", "contents": []}, "contents"),
        ({"model": "m", "contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
        (
            {"model": "m", "contents": [{"parts": [{"fileData": {"fileUri": "https://x.example/clip"}}]}]},
            "contents[0].parts[0].fileData.mimeType",
        ),
        (
            {"model": "m", "contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "contents[0].parts[0].functionResponse",
        ),
        (
            {"model": "m", "contents": [{"parts": [{"functionCall": {"name": "f", "args": {}}}]}]},
            "contents[0].parts[0].functionCall",
        ),
        (
            {
                "model": "m",
                "contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}],
            },
            "contents[0].parts[0].functionCall.args",
        ),
        (
            {
                "model": "m",
                "contents": [USER],
                "tools": [{"functionDeclarations": [{"description": "no name"}]}],
            },
            "tools[0].functionDeclarations[0].name",
        ),
        (
            {"model": "m", "contents": [USER], "toolConfig": {"functionCallingConfig": {"mode": 3}}},
            "toolConfig.functionCallingConfig.mode",
        ),
        (
            {"model": "m", "contents": [USER], "generationConfig": {"temperature": "hot"}},
            "generationConfig.temperature",
        ),
        (
            {"model": "m", "contents": [USER], "generationConfig": {"maxOutputTokens": 1.5}},
            "generationConfig.maxOutputTokens",
        ),
        (
            {"model": "m", "contents": [USER], "systemInstruction": {"parts": [{"text": 3}]}},
            "systemInstruction.parts[0].text",
        ),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        gemini.decode_request(body)
    assert info.value.param == param
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("parts", "param"),
    [
        ((hub.ImagePart(url="https://example.com/picture"),), "messages[0].parts[0].media_type"),
        ((hub.ImagePart(data="AAAA"),), "messages[0].parts[0].media_type"),
        ((hub.ToolResultPart("nobody", (hub.TextPart("x"),)),), "messages[0].parts[0].name"),
    ],
)
def test_inexpressible_hub_requests(parts: tuple[hub.Part, ...], param: str) -> None:
    req = hub.Request(model="m", messages=(hub.Message("user", parts),))
    with pytest.raises(InvalidRequest) as info:
        gemini.encode_request(req, "m")
    assert info.value.param == param


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    req = hub.Request(
        model="m",
        messages=(
            hub.Message("user", (hub.TextPart("q"),)),
            hub.Message("assistant", (hub.ToolCallPart("c", "f", arguments),)),
        ),
    )
    with pytest.raises(InvalidRequest) as info:
        gemini.encode_request(req, "m")
    assert info.value.param == "messages[1].parts[0].arguments"


# ========================================================================================== responses


def test_text_response() -> None:
    body = load("response_text.json")
    resp = gemini.decode_response(body)
    assert resp == hub.Response(
        id="Zt5xaJzLNbCpqtsPj7O7qA4",
        model="gemini-2.0-flash",
        parts=(hub.TextPart("It is 18°C with light rain in Paris. Take an umbrella."),),
        finish_reason=hub.FinishReason.STOP,
        usage=hub.Usage(prompt_tokens=41, completion_tokens=15),
    )
    encoded = gemini.encode_response(resp, "gemini-2.0-flash")
    assert encoded["candidates"][0] == {k: v for k, v in body["candidates"][0].items() if k != "avgLogprobs"}
    assert encoded["usageMetadata"] == {
        "promptTokenCount": 41,
        "candidatesTokenCount": 15,
        "totalTokenCount": 56,
    }
    sdk = sdk_response(encoded)
    assert sdk.text == resp.parts[0].text  # type: ignore[union-attr]
    assert sdk.response_id == "Zt5xaJzLNbCpqtsPj7O7qA4"


def test_thinking_and_parallel_tool_calls_response() -> None:
    body = load("response_thinking_tool.json")
    resp = gemini.decode_response(body)
    thought, first, second = resp.parts
    assert thought == hub.ThinkingPart(
        "**Looking up the weather**\n\nThe user asks about Paris; I will call get_weather."
    )
    assert isinstance(first, hub.ToolCallPart) and isinstance(second, hub.ToolCallPart)
    assert (first.name, json.loads(first.arguments), first.signature) == (
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
        SIG1,
    )
    assert second.signature is None and json.loads(second.arguments)["city"] == "Lyon"
    assert wire.is_synthetic_call_id(first.id) and first.id != second.id
    assert resp.finish_reason is hub.FinishReason.TOOL_CALLS
    # promptTokenCount already includes the cache; thoughts count as completion
    assert resp.usage == hub.Usage(
        prompt_tokens=64, completion_tokens=198, cached_tokens=32, reasoning_tokens=160
    )
    assert resp.usage.total_tokens == body["usageMetadata"]["totalTokenCount"]

    encoded = gemini.encode_response(resp, "gemini-2.5-flash")
    parts = encoded["candidates"][0]["content"]["parts"]
    original = body["candidates"][0]["content"]["parts"]
    assert parts[0] == original[0]
    assert parts[1] == {
        "functionCall": {"id": first.id, **original[1]["functionCall"]},
        "thoughtSignature": SIG1,
    }
    assert encoded["candidates"][0]["finishReason"] == "STOP"
    assert encoded["usageMetadata"] == {
        "promptTokenCount": 64,
        "candidatesTokenCount": 38,
        "totalTokenCount": 262,
        "cachedContentTokenCount": 32,
        "thoughtsTokenCount": 160,
    }
    sdk = sdk_response(encoded)
    assert [c.args for c in sdk.function_calls or []] == [
        {"city": "Paris", "unit": "celsius"},
        {"city": "Lyon", "unit": "celsius"},
    ]
    assert sdk.candidates and sdk.candidates[0].content and sdk.candidates[0].content.parts
    assert sdk.candidates[0].content.parts[1].thought_signature == base64.b64decode(SIG1)
    assert gemini.decode_response(encoded) == resp


def test_signed_text_response_round_trips_exactly() -> None:
    body = load("response_signed_text.json")
    resp = gemini.decode_response(body)
    assert resp.parts == (
        hub.TextPart("Bonjour ! "),
        hub.ThinkingPart("", SIG2),
        hub.TextPart("Comment puis-je vous aider ?"),
    )
    assert resp.usage.reasoning_tokens == 94 and resp.usage.completion_tokens == 103
    encoded = gemini.encode_response(resp, "gemini-3-pro-preview")
    assert encoded["candidates"][0]["content"] == body["candidates"][0]["content"]
    assert sdk_response(encoded).text == "Bonjour ! Comment puis-je vous aider ?"


def test_blocked_prompt_and_max_tokens() -> None:
    blocked = gemini.decode_response(load("response_blocked.json"))
    assert blocked.parts == () and blocked.finish_reason is hub.FinishReason.CONTENT_FILTER
    assert blocked.usage == hub.Usage(prompt_tokens=12)

    cut = gemini.decode_response(load("response_max_tokens.json"))
    assert cut.parts == () and cut.finish_reason is hub.FinishReason.LENGTH
    assert cut.usage == hub.Usage(prompt_tokens=8, completion_tokens=99, reasoning_tokens=99)
    encoded = gemini.encode_response(cut, "gemini-2.5-pro")
    assert encoded["candidates"][0] == {
        "content": {"role": "model"},
        "finishReason": "MAX_TOKENS",
        "index": 0,
    }
    assert sdk_response(encoded).text is None


@pytest.mark.parametrize(
    ("gemini_reason", "called", "hub_reason", "back"),
    [
        ("STOP", False, hub.FinishReason.STOP, "STOP"),
        ("STOP", True, hub.FinishReason.TOOL_CALLS, "STOP"),
        ("MAX_TOKENS", True, hub.FinishReason.LENGTH, "MAX_TOKENS"),
        ("SAFETY", False, hub.FinishReason.CONTENT_FILTER, "SAFETY"),
        ("RECITATION", False, hub.FinishReason.CONTENT_FILTER, "SAFETY"),
        ("PROHIBITED_CONTENT", False, hub.FinishReason.CONTENT_FILTER, "SAFETY"),
        ("MALFORMED_FUNCTION_CALL", False, hub.FinishReason.ERROR, "OTHER"),
        ("OTHER", False, hub.FinishReason.ERROR, "OTHER"),
        ("SOMETHING_NEW", False, hub.FinishReason.ERROR, "OTHER"),
    ],
)
def test_finish_reasons(gemini_reason: str, called: bool, hub_reason: hub.FinishReason, back: str) -> None:
    assert wire.finish_from_gemini(gemini_reason, called_tools=called) is hub_reason
    assert wire.finish_to_gemini(hub_reason) == back


def test_untranslatable_output_is_a_bad_gateway() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}],
                }
            }
        ]
    }
    with pytest.raises(BadGateway):
        gemini.decode_response(body)
    with pytest.raises(BadGateway):
        gemini.decode_response([])  # type: ignore[arg-type]


def test_encode_response_refuses_tool_arguments_that_are_not_an_object() -> None:
    resp = hub.Response(id="r", model="m", parts=(hub.ToolCallPart("c", "f", "[1]"),))
    with pytest.raises(BadGateway):
        gemini.encode_response(resp, "m")


def test_redacted_thinking_is_left_out_of_answers() -> None:
    resp = hub.Response(id="r", model="m", parts=(hub.ThinkingPart(redacted="opaque"), hub.TextPart("hi")))
    assert gemini.encode_response(resp, "m")["candidates"][0]["content"]["parts"] == [{"text": "hi"}]


def test_decode_error() -> None:
    body = (FIXTURES / "error_api_key.json").read_bytes()
    assert gemini.decode_error(400, body) == "API key not valid. Please pass a valid API key."
    assert gemini.decode_error(503, b'[{"error": {"code": 503, "message": "overloaded"}}]') == "overloaded"
    assert gemini.decode_error(502, b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert gemini.decode_error(500, b"") == "Gemini upstream answered HTTP 500."
    assert gemini.decode_error(500, b'{"unexpected": 1}') == "Gemini upstream answered HTTP 500."


# -- usage ------------------------------------------------------------------------------------------------


def test_usage_semantics() -> None:
    meta = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "toolUsePromptTokenCount": 5,
        "totalTokenCount": 155,
    }
    usage = wire.usage_from_gemini(meta)
    assert usage == hub.Usage(prompt_tokens=105, completion_tokens=50, cached_tokens=60, reasoning_tokens=30)
    assert usage.total_tokens == meta["totalTokenCount"]
    assert wire.usage_to_gemini(usage) == {
        "promptTokenCount": 105,
        "candidatesTokenCount": 20,
        "totalTokenCount": 155,
        "cachedContentTokenCount": 60,
        "thoughtsTokenCount": 30,
    }
    assert wire.usage_from_gemini({"prompt_token_count": 3, "candidates_token_count": 2}) == hub.Usage(3, 2)
    assert wire.usage_from_gemini({}) == hub.Usage()


# ============================================================================================ streams


def test_stream_text_fixture() -> None:
    events = decode_stream((FIXTURES / "stream_text.sse").read_bytes())
    assert events[0] == hub.Start(id="AdVRaMmDCYekqtsPrb_-iAw", model="gemini-2.5-flash")
    texts = [e.text for e in events if isinstance(e, hub.TextDelta)]
    assert "".join(texts).endswith("5.  **Italian:** Ciao") and len(texts) == 2
    assert events[-2:] == [
        hub.Finish(hub.FinishReason.STOP),
        hub.UsageUpdate(hub.Usage(prompt_tokens=5, completion_tokens=230, reasoning_tokens=186)),
    ]


def test_stream_thinking_tool_fixture() -> None:
    events = decode_stream((FIXTURES / "stream_thinking_tool.sse").read_bytes())
    assert events[1:] == [
        hub.ThinkingDelta("**Planning the lookup**\n\nThe user wants the weather in Paris."),
        hub.ThinkingDelta(" I'll call get_weather with celsius."),
        hub.ToolCallStart(0, events[3].id, "get_weather", SIG1),  # type: ignore[union-attr]
        hub.ToolCallDelta(0, '{"city":"Paris","unit":"celsius"}'),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
        hub.UsageUpdate(hub.Usage(prompt_tokens=48, completion_tokens=131, reasoning_tokens=110)),
    ]


def test_stream_signature_in_last_chunk() -> None:
    events = decode_stream((FIXTURES / "stream_signature_last.sse").read_bytes())
    assert [e for e in events if isinstance(e, hub.TextDelta | hub.ThinkingDelta)] == [
        hub.TextDelta("Hello"),
        hub.TextDelta(" there, how can I help?"),
        hub.ThinkingDelta("", SIG2),
    ]


def test_stream_error_chunk() -> None:
    events = decode_stream((FIXTURES / "stream_error.sse").read_bytes())
    assert events[1:] == [
        hub.TextDelta("The first part of"),
        hub.StreamError(503, "The model is overloaded. Please try again later."),
    ]


def test_truncated_or_garbled_streams_end_in_an_error() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes().split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    events = decode_stream(raw)
    assert isinstance(events[-1], hub.StreamError) and events[-1].status == 502
    assert isinstance(events[-2], hub.UsageUpdate)  # the usage seen so far still counts

    nameless = {"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}
    decoder = gemini.StreamDecoder()
    events = decoder.feed(hub.SSEEvent(None, json.dumps(nameless)))
    assert events[-1] == hub.StreamError(502, "Gemini sent a functionCall without a name.")

    decoder = gemini.StreamDecoder()
    assert decoder.feed(hub.SSEEvent(None, "{oops")) == [
        hub.StreamError(502, "Gemini sent a stream chunk that is not JSON.")
    ]
    assert decoder.feed(hub.SSEEvent(None, "{}")) == [] and decoder.close() == []


def test_stream_blocked_prompt() -> None:
    decoder = gemini.StreamDecoder()
    chunk = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    events = decoder.feed(hub.SSEEvent(None, json.dumps(chunk))) + decoder.close()
    assert [type(e) for e in events] == [hub.Start, hub.Finish, hub.UsageUpdate]
    assert events[1] == hub.Finish(hub.FinishReason.CONTENT_FILTER)


TOOL_STREAM: list[hub.StreamEvent] = [
    hub.Start(id="resp-1", model="upstream-model"),
    hub.ThinkingDelta("Let me "),
    hub.ThinkingDelta("check."),
    hub.ThinkingDelta("", SIG1),
    hub.TextDelta("Checking"),
    hub.ToolCallStart(0, "call_a", "get_weather", SIG2),
    hub.ToolCallDelta(0, '{"city": '),
    hub.ToolCallDelta(0, '"Paris"}'),
    hub.ToolCallStart(1, "call_b", "get_time"),
    hub.ToolCallDelta(1, ""),
    hub.Finish(hub.FinishReason.TOOL_CALLS),
    hub.UsageUpdate(hub.Usage(prompt_tokens=10, completion_tokens=7, cached_tokens=4, reasoning_tokens=3)),
]


def encode_all(
    events: Iterable[hub.StreamEvent], model: str = "gemini-2.5-flash", **kwargs: Any
) -> list[bytes]:
    encoder = gemini.StreamEncoder(model, **kwargs)
    return [encoder.feed(e) for e in events] + [encoder.close()]


def test_stream_encoder_frames_and_buffering() -> None:
    outputs = encode_all(TOOL_STREAM)
    assert outputs[0] == b""  # Start writes nothing
    assert all(o == b"" or (o.startswith(b"data: ") and o.endswith(b"\r\n\r\n")) for o in outputs)
    assert outputs[6] == b"" and outputs[7] == b""  # argument fragments are held
    call_a = json.loads(outputs[8][6:])  # the next ToolCallStart completes call_a
    assert call_a["candidates"][0]["content"]["parts"] == [
        {
            "functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": SIG2,
        }
    ]
    assert outputs[10] == b"" and outputs[11] == b""  # Finish and usage wait for the last chunk
    last = json.loads(outputs[12][6:])
    assert last["candidates"] == [
        {
            "content": {
                "parts": [{"functionCall": {"id": "call_b", "name": "get_time", "args": {}}}],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ]
    assert last["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 4,
        "totalTokenCount": 17,
        "cachedContentTokenCount": 4,
        "thoughtsTokenCount": 3,
    }
    chunks = [json.loads(o[6:]) for o in outputs if o]
    assert {c["responseId"] for c in chunks} == {"resp-1"} and {c["modelVersion"] for c in chunks} == {
        "gemini-2.5-flash"
    }
    for chunk in chunks:
        sdk_response(chunk)
    thought_parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks[:3]]
    assert thought_parts == [
        {"text": "Let me ", "thought": True},
        {"text": "check.", "thought": True},
        {"text": "", "thoughtSignature": SIG1},
    ]


def test_stream_encoder_json_array_form() -> None:
    raw = b"".join(encode_all(TOOL_STREAM, sse=False, response_id="fixed"))
    assert raw.startswith(b"[{") and raw.endswith(b"}]") and b",\r\n{" in raw
    chunks = json.loads(raw)
    assert len(chunks) == 6 and {c["responseId"] for c in chunks} == {"fixed"}
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert b"".join(encode_all([], sse=False)) == b"[]"


def test_stream_encoder_error_chunk() -> None:
    events = [
        hub.Start(id="r", model="m"),
        hub.TextDelta("partial"),
        hub.ToolCallStart(0, "c", "f"),
        hub.StreamError(529, "Overloaded"),
    ]
    outputs = encode_all(events)
    error = json.loads(outputs[3][6:])
    assert error == {"error": {"code": 529, "message": "Overloaded", "status": "INTERNAL"}}
    assert outputs[4] == b""  # nothing after the error, the cut-off call included
    array = json.loads(b"".join(encode_all([hub.StreamError(429, "slow down")], sse=False)))
    assert array == [{"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}]


def test_stream_encoder_bad_tool_arguments_become_an_error_chunk() -> None:
    events = [
        hub.Start(id="r", model="m"),
        hub.ToolCallStart(0, "c", "f"),
        hub.ToolCallDelta(0, "{broken"),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
    ]
    outputs = encode_all(events)
    assert json.loads(outputs[3][6:])["error"]["code"] == 502


def test_fixture_streams_survive_encoder_and_decoder() -> None:
    for name in (
        "stream_text.sse",
        "stream_thinking_tool.sse",
        "stream_signature_last.sse",
        "stream_error.sse",
    ):
        events = decode_stream((FIXTURES / name).read_bytes())
        start = events[0]
        assert isinstance(start, hub.Start)
        again = decode_stream(b"".join(encode_all(events, start.model)))
        assert again == events, name


# -- the SDK reading what the encoders write -------------------------------------------------------------


@pytest.fixture
async def encoder_server() -> AsyncIterator[str]:
    """Serves encode_response / StreamEncoder output for TOOL_STREAM, for the real SDK to read."""

    async def generate(request: web.Request) -> web.StreamResponse:
        spec = request.match_info["spec"]
        if spec.endswith(":streamGenerateContent"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for chunk in encode_all(TOOL_STREAM):
                if chunk:
                    await response.write(chunk)
            await response.write_eof()
            return response
        resp = hub.Response(
            id="r-1",
            model="upstream",
            parts=(hub.ThinkingPart("plan", SIG1), hub.TextPart("Answer.")),
            usage=hub.Usage(prompt_tokens=3, completion_tokens=5, reasoning_tokens=2),
        )
        return web.json_response(gemini.encode_response(resp, "gemini-2.5-flash"))

    app = web.Application()
    app.router.add_post("/v1beta/models/{spec}", generate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_sdk_reads_encoded_answers(encoder_server: str) -> None:
    client = genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=encoder_server, api_version="v1beta")
    )
    answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="q")
    assert answer.text == "Answer."
    assert answer.candidates and answer.candidates[0].content and answer.candidates[0].content.parts
    thought = answer.candidates[0].content.parts[0]
    assert thought.thought and thought.text == "plan" and thought.thought_signature == base64.b64decode(SIG1)
    assert answer.usage_metadata and answer.usage_metadata.thoughts_token_count == 2

    chunks = [
        c
        async for c in await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="q")
    ]
    calls = [fc for c in chunks for fc in c.function_calls or []]
    assert [(fc.id, fc.name, fc.args) for fc in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {}),
    ]
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.total_token_count == 17


# -- the codec against the fake upstream's strictness ---------------------------------------------------


def collect(events: list[hub.StreamEvent]) -> tuple[hub.Part, ...]:
    """Assemble streamed events into response parts (what a relay stores for the next turn)."""
    parts: list[hub.Part] = []
    calls: dict[int, list[Any]] = {}
    for e in events:
        if isinstance(e, hub.TextDelta):
            parts.append(hub.TextPart(e.text))
        elif isinstance(e, hub.ThinkingDelta):
            wire.add_thinking(parts, e.text, e.signature)
        elif isinstance(e, hub.ToolCallStart):
            calls[e.index] = [e.id, e.name, "", e.signature]
        elif isinstance(e, hub.ToolCallDelta):
            calls[e.index][2] += e.arguments
    return (*parts, *(hub.ToolCallPart(i, n, a, signature=s) for i, n, a, s in calls.values()))


async def _post(http: aiohttp.ClientSession, fake: FakeGemini, model: str, body: Any, stream: bool) -> Any:
    method = "streamGenerateContent" if stream else "generateContent"
    url = f"{fake.base_url}/v1beta/models/{model}:{method}"
    params = {"alt": "sse"} if stream else {}
    async with http.post(url, json=body, params=params, headers={"x-goog-api-key": DEFAULT_API_KEY}) as resp:
        raw = await resp.read()
        if resp.status != 200:
            return resp.status, gemini.decode_error(resp.status, raw)
    if stream:
        return 200, decode_stream(raw)
    return 200, gemini.decode_response(json.loads(raw))


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_turn_round_trips_through_the_fake(stream: bool) -> None:
    first_turn = hub.Request(
        model="tool",
        messages=(hub.Message("user", (hub.TextPart("Place an order for Paris"),)),),
        system=(hub.TextPart("Use tools."),),
        tools=(hub.Tool("create_order", "Create an order", Order.model_json_schema()),),
        reasoning=hub.Reasoning(effort=hub.Effort.LOW, include_thoughts=True),
    )
    async with FakeGemini() as fake, aiohttp.ClientSession() as http:
        status, answer = await _post(http, fake, "tool", gemini.encode_request(first_turn, "tool"), stream)
        assert status == 200  # the sanitised pydantic schema passed Gemini's parser
        if stream:
            parts = collect(answer)
            assert answer[-2] == hub.Finish(hub.FinishReason.TOOL_CALLS)
        else:
            parts = answer.parts
            assert answer.finish_reason is hub.FinishReason.TOOL_CALLS
            assert answer.usage.reasoning_tokens == 24
        thought, call = parts
        assert isinstance(thought, hub.ThinkingPart) and thought.text and thought.signature
        assert isinstance(call, hub.ToolCallPart) and call.signature and call.id.startswith("fc_")
        assert json.loads(call.arguments) == {"city": "Paris", "unit": "celsius"}

        result = hub.ToolResultPart(call.id, (hub.TextPart("order 42 created"),))
        second_turn = dataclasses.replace(
            first_turn,
            messages=(*first_turn.messages, hub.Message("assistant", parts), hub.Message("tool", (result,))),
        )
        status, answer = await _post(http, fake, "tool", gemini.encode_request(second_turn, "tool"), stream)
        assert status == 200
        text = "".join(
            p.text for p in (collect(answer) if stream else answer.parts) if isinstance(p, hub.TextPart)
        )
        assert text == 'Thanks! create_order said: {"result":"order 42 created"}'

        unsigned = hub.Message("assistant", (dataclasses.replace(call, signature=None),))
        lost = dataclasses.replace(
            second_turn, messages=(*first_turn.messages, unsigned, hub.Message("tool", (result,)))
        )
        status, message = await _post(http, fake, "tool", gemini.encode_request(lost, "tool"), stream)
        assert status == 400 and message.startswith("Function call is missing a thought_signature")


# =========================================================================================== schemas


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(pydantic.BaseModel):
    """A postal address."""

    street: str
    city: str = pydantic.Field(description="City name", examples=["Paris"])


class Tree(pydantic.BaseModel):
    label: str
    children: list[Tree] = []


class Order(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    id: uuid.UUID
    kind: Literal["order"] = "order"
    unit: Unit = Unit.CELSIUS
    priority: Priority
    shipping: Address | None = None
    addresses: list[Address]
    notes: str | int | None = None
    tags: dict[str, int] = {}
    due: dt.datetime
    quantity: int = pydantic.Field(ge=1, le=99, default=1)
    tree: Tree | None = None


def test_sanitises_a_pydantic_schema() -> None:
    schema = Order.model_json_schema()
    assert "$defs" in schema and schema["additionalProperties"] is False
    out = gemini.sanitize_schema(schema)
    assert schema_violations(out, "parameters") == []  # the fake applies Gemini's parser rules
    assert all(
        node.get("type") in (None, "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT")
        for node in walk(out)
    )
    props = out["properties"]
    assert out["type"] == "OBJECT" and out["required"] == ["id", "priority", "addresses", "due"]
    assert props["id"] == {"title": "Id", "type": "STRING"}  # format uuid is not Gemini's
    assert props["kind"] == {"title": "Kind", "enum": ["order"], "type": "STRING"}
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"] and props["unit"]["type"] == "STRING"
    assert (
        props["priority"]["type"] == "INTEGER" and "Allowed values: 1, 2." in props["priority"]["description"]
    )
    assert props["shipping"]["nullable"] is True and props["shipping"]["properties"]["city"] == {
        "title": "City",
        "description": "City name",
        "type": "STRING",
    }
    assert props["addresses"]["items"]["required"] == ["street", "city"]
    assert props["notes"] == {
        "title": "Notes",
        "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}],
        "nullable": True,
    }
    assert props["tags"] == {"title": "Tags", "type": "OBJECT"}  # maps have no Gemini form
    assert props["due"] == {"title": "Due", "type": "STRING", "format": "date-time"}
    assert props["quantity"] == {"title": "Quantity", "minimum": 1, "maximum": 99, "type": "INTEGER"}
    tree = props["tree"]
    assert tree["nullable"] is True and tree["properties"]["children"]["items"] == {"type": "OBJECT"}


def test_fake_upstream_accepts_every_sanitised_declaration() -> None:
    req = hub.Request(
        model="m",
        messages=(hub.Message("user", (hub.TextPart("x"),)),),
        tools=(hub.Tool("create_order", "Create an order", Order.model_json_schema()),),
        response_format=hub.ResponseFormat("json_schema", Tree.model_json_schema()),
    )
    body = gemini.encode_request(req, "m")
    assert schema_violations(body["tools"][0]["functionDeclarations"][0]["parameters"], "p") == []
    response_schema = body["generationConfig"]["responseSchema"]
    assert schema_violations(response_schema, "r") == []
    assert response_schema["propertyOrdering"] == ["label", "children"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"], "maxLength": 5}, {"type": "STRING", "maxLength": 5, "nullable": True}),
        ({"type": ["string", "integer"]}, {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}),
        ({"type": "null"}, {"nullable": True}),
        (
            {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
            {"anyOf": [{"type": "STRING"}, {"type": "BOOLEAN"}]},
        ),
        (
            {
                "anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}],
                "description": "d",
                "$defs": {"X": {"type": "integer"}},
            },
            {"type": "INTEGER", "description": "d", "nullable": True},
        ),
        ({"const": 3, "type": "integer"}, {"description": "Allowed values: 3.", "type": "INTEGER"}),
        ({"enum": ["a", None]}, {"enum": ["a"], "type": "STRING", "nullable": True}),
        ({"type": "string", "format": "email"}, {"type": "STRING"}),
        ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
        (
            {"type": "integer", "format": "int64", "exclusiveMinimum": 0, "multipleOf": 2},
            {"type": "INTEGER", "format": "int64"},
        ),
        (
            {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "uniqueItems": True},
            {"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}},
        ),
        (
            {
                "allOf": [
                    {"$ref": "#/definitions/A"},
                    {"properties": {"b": {"type": "number"}}, "required": ["b"]},
                ],
                "definitions": {
                    "A": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "zz"]}
                },
            },
            {
                "type": "OBJECT",
                "properties": {"a": {"type": "STRING"}, "b": {"type": "NUMBER"}},
                "required": ["a", "b"],
            },
        ),
        (
            {"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}},
            {"type": "OBJECT", "properties": {"x": {"type": "OBJECT"}}},
        ),
        (
            {"properties": {"n": True}, "default": {}, "examples": [{}], "$id": "urn:x"},
            {"type": "OBJECT", "properties": {"n": {}}},
        ),
        (True, {}),
    ],
)
def test_schema_sanitiser_cases(schema: Any, expected: dict[str, Any]) -> None:
    assert gemini.sanitize_schema(schema) == expected


def test_gemini_schema_reads_back_into_json_schema() -> None:
    gemini_schema = {
        "type": "OBJECT",
        "properties": {
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "max_items": "5", "min_items": 1},
            "mode": {"type": "STRING", "format": "enum", "enum": ["a", "b"], "nullable": True},
            "size": {"any_of": [{"type": "INTEGER"}, {"type": "STRING"}], "nullable": True, "example": 3},
        },
        "required": ["tags"],
        "property_ordering": ["tags", "mode", "size"],
    }
    assert gemini.to_json_schema(gemini_schema) == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5, "minItems": 1},
            "mode": {"type": ["string", "null"], "enum": ["a", "b", None]},
            "size": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}], "examples": [3]},
        },
        "required": ["tags"],
    }


# ======================================================================================== properties

texts = st.text(min_size=1, max_size=20)
names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
signatures = st.binary(min_size=1, max_size=24).map(lambda b: base64.b64encode(b).decode())
json_args = st.dictionaries(names, st.one_of(st.integers(-1000, 1000), texts, st.booleans()), max_size=3)
simple_types = st.sampled_from(["string", "integer", "number", "boolean"])


@st.composite
def object_schemas(draw: st.DrawFn) -> dict[str, Any]:
    props = draw(
        st.dictionaries(
            names,
            st.builds(
                lambda t, d: {"type": t, **({"description": d} if d else {})},
                simple_types,
                st.none() | texts,
            ),
            min_size=1,
            max_size=3,
        )
    )
    required = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
    return {"type": "object", "properties": props, **({"required": required} if required else {})}


@st.composite
def requests(draw: st.DrawFn) -> hub.Request:
    ids = iter(f"toolu_{n}" for n in range(1000))
    tools = tuple(
        hub.Tool(name, draw(st.none() | texts), draw(object_schemas()))
        for name in draw(st.lists(names, unique=True, max_size=3))
    )
    messages: list[hub.Message] = []
    for _ in range(draw(st.integers(1, 3))):
        user_parts: list[hub.Part] = [hub.TextPart(draw(texts))]
        if draw(st.booleans()):
            user_parts.append(
                draw(
                    st.sampled_from(
                        [
                            hub.ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
                            hub.ImagePart(url="https://example.com/a.png", media_type="image/png"),
                            hub.DocumentPart(data="JVBERi0=", media_type="application/pdf"),
                        ]
                    )
                )
            )
        messages.append(hub.Message("user", tuple(user_parts)))
        assistant: list[hub.Part] = []
        if draw(st.booleans()):
            assistant += [hub.ThinkingPart("", draw(signatures)), hub.TextPart(draw(texts))]
        elif draw(st.booleans()):
            assistant.append(hub.TextPart(draw(texts)))
        calls = [
            hub.ToolCallPart(
                next(ids), draw(names), orjson.dumps(draw(json_args)).decode(), draw(st.none() | signatures)
            )
            for _ in range(draw(st.integers(0 if assistant else 1, 2)))
        ]
        assistant += calls
        if assistant:
            messages.append(hub.Message("assistant", tuple(assistant)))
        if calls:
            results = tuple(
                hub.ToolResultPart(
                    c.id, (hub.TextPart(draw(st.text(max_size=20))),), draw(st.booleans()), c.name
                )
                for c in calls
            )
            messages.append(hub.Message("tool", results))
    reasoning = draw(
        st.none()
        | st.builds(
            hub.Reasoning, budget_tokens=st.integers(1, 30000) | st.just(-1), include_thoughts=st.booleans()
        )
        | st.just(hub.Reasoning(effort=hub.Effort.NONE, budget_tokens=0, include_thoughts=False))
    )
    tool_choice = draw(
        st.none()
        | st.sampled_from([hub.ToolChoice("auto"), hub.ToolChoice("none"), hub.ToolChoice("required")])
        | (
            st.sampled_from([t.name for t in tools]).map(lambda n: hub.ToolChoice("tool", n))
            if tools
            else st.nothing()
        )
    )
    fmt = draw(
        st.none()
        | st.just(hub.ResponseFormat("json_object"))
        | object_schemas().map(lambda s: hub.ResponseFormat("json_schema", s))
    )
    floats = st.floats(0, 2, allow_nan=False)
    return hub.Request(
        model="gemini-2.5-flash",
        messages=tuple(messages),
        system=tuple(hub.TextPart(t) for t in draw(st.lists(texts, max_size=2))),
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=draw(st.none() | st.integers(1, 65536)),
        temperature=draw(st.none() | floats),
        top_p=draw(st.none() | floats),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=tuple(draw(st.lists(texts, max_size=3))),
        seed=draw(st.none() | st.integers(0, 2**31 - 1)),
        presence_penalty=draw(st.none() | floats),
        frequency_penalty=draw(st.none() | floats),
        response_format=fmt,
        reasoning=reasoning,
        stream=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_request_round_trip(req: hub.Request) -> None:
    body = gemini.encode_request(req, req.model)
    json.dumps(body)  # plain JSON
    for content in body["contents"]:
        types.Content.model_validate(content)
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])
    back = gemini.decode_request({"model": req.model, "stream": req.stream, **body})
    assert back == req


@st.composite
def stream_scripts(draw: st.DrawFn) -> tuple[list[hub.StreamEvent], hub.FinishReason, hub.Usage]:
    events: list[hub.StreamEvent] = [hub.Start(id="resp", model="m")]
    calls = 0
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["text", "thinking", "signature", "call"]))
        if kind == "text":
            events.append(hub.TextDelta(draw(texts)))
        elif kind == "thinking":
            events.append(hub.ThinkingDelta(draw(texts), draw(st.none() | signatures)))
        elif kind == "signature":
            events.append(hub.ThinkingDelta("", draw(signatures)))
        else:
            args = orjson.dumps(draw(json_args)).decode()
            cut = draw(st.integers(0, len(args)))
            events.append(
                hub.ToolCallStart(calls, f"call_{calls}x", draw(names), draw(st.none() | signatures))
            )
            events += [hub.ToolCallDelta(calls, args[:cut]), hub.ToolCallDelta(calls, args[cut:])]
            calls += 1
    reason = draw(st.sampled_from(list(hub.FinishReason)))
    if reason is hub.FinishReason.TOOL_CALLS and not calls:
        reason = hub.FinishReason.STOP
    elif reason is hub.FinishReason.STOP and calls:
        reason = hub.FinishReason.TOOL_CALLS
    reasoning = draw(st.integers(0, 500))
    prompt = draw(st.integers(0, 10_000))
    usage = hub.Usage(
        prompt_tokens=prompt,
        completion_tokens=reasoning + draw(st.integers(0, 500)),
        cached_tokens=draw(st.integers(0, prompt)),
        reasoning_tokens=reasoning,
    )
    events += [hub.Finish(reason), hub.UsageUpdate(usage)]
    return events, reason, usage


def summarise(events: list[hub.StreamEvent]) -> dict[str, Any]:
    calls: dict[int, list[Any]] = {}
    for e in events:
        if isinstance(e, hub.ToolCallStart):
            calls[e.index] = [e.id, e.name, e.signature, ""]
        elif isinstance(e, hub.ToolCallDelta):
            calls[e.index][3] += e.arguments
    return {
        "text": "".join(e.text for e in events if isinstance(e, hub.TextDelta)),
        "thinking": "".join(e.text for e in events if isinstance(e, hub.ThinkingDelta)),
        "signatures": [e.signature for e in events if isinstance(e, hub.ThinkingDelta) and e.signature],
        "calls": [[i, n, s, json.loads(a or "{}")] for i, n, s, a in calls.values()],
        "finish": [e.reason for e in events if isinstance(e, hub.Finish)],
        "usage": [e.usage for e in events if isinstance(e, hub.UsageUpdate)][-1:],
        "errors": [e for e in events if isinstance(e, hub.StreamError)],
    }


@settings(max_examples=150, deadline=None)
@given(stream_scripts(), st.booleans())
def test_stream_round_trip(
    script: tuple[list[hub.StreamEvent], hub.FinishReason, hub.Usage], sse: bool
) -> None:
    events, reason, usage = script
    raw = b"".join(encode_all(events, sse=sse))
    if sse:
        decoded = decode_stream(raw)
    else:
        decoder = gemini.StreamDecoder()
        decoded = [
            e for chunk in json.loads(raw) for e in decoder.feed(hub.SSEEvent(None, json.dumps(chunk)))
        ]
        decoded += decoder.close()
    assert decoded[0] == hub.Start(id="resp", model="gemini-2.5-flash")
    got, want = summarise(decoded), summarise(events)
    assert got == want
    assert got["finish"] == [reason] and got["usage"] == [usage]
