"""The Anthropic Messages codec: golden fixtures, the SDK's own types as the judge of what
we emit, the fake upstream as the judge of request bodies, and property-based round trips."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2
import orjson
import pydantic
import pytest
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubgate.errors import BadGateway, InvalidRequest
from hubgate.formats import anthropic as codec
from hubgate.formats import hub
from hubgate.formats.sse import EventSplitter, parse_event
from tests.fakes.anthropic_upstream import DEFAULT_API_KEY, THINKING_TEXT, TOOL_INPUT, FakeAnthropic

FIXTURES = Path(__file__).parent.parent / "fixtures" / "anthropic"
STREAM_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def fixture_json(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def sse_events(raw: bytes) -> list[hub.SSEEvent]:
    splitter = EventSplitter()
    events = [parse_event(e) for e in splitter.feed(raw)]
    assert splitter.flush() == b""
    return [e for e in events if e is not None]


def decode_stream(raw: bytes) -> list[hub.StreamEvent]:
    decoder = codec.StreamDecoder()
    out: list[hub.StreamEvent] = []
    for event in sse_events(raw):
        out += decoder.feed(event)
    return out + decoder.close()


def encode_stream(events: Iterable[hub.StreamEvent], model: str = "claude-test", **kwargs: Any) -> bytes:
    encoder = codec.StreamEncoder(model, **kwargs)
    return b"".join(encoder.feed(e) for e in events) + encoder.close()


def validate_frames(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Every frame is `event: NAME` + JSON data whose `type` is NAME, and every message event
    parses as the SDK's RawMessageStreamEvent."""
    frames = []
    for event in sse_events(raw):
        data = orjson.loads(event.data)
        assert event.event == data["type"]
        if event.event not in ("ping", "error"):
            STREAM_EVENT.validate_python(data)
        frames.append((str(event.event), data))
    return frames


async def sdk_final_message(raw: bytes) -> anthropic.types.Message:
    """What the official SDK's stream helper assembles from `raw`."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    async with (
        anthropic.AsyncAnthropic(api_key="k", base_url="http://sdk.test", http_client=http_client) as client,
        client.messages.stream(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        return await stream.get_final_message()


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return body | overrides


def hub_request(*messages: hub.Message, **overrides: Any) -> hub.Request:
    return hub.Request(
        model="any", messages=messages or (hub.Message("user", (hub.TextPart("hi"),)),), **overrides
    )


def user(*parts: hub.Part) -> hub.Message:
    return hub.Message("user", parts)


def assistant(*parts: hub.Part) -> hub.Message:
    return hub.Message("assistant", parts)


def tool(*parts: hub.Part) -> hub.Message:
    return hub.Message("tool", parts)


T = hub.TextPart

# =========================================================================== decode_request


def test_golden_request_decodes() -> None:
    req = codec.decode_request(fixture_json("request_full.json"))
    assert req.model == "claude-sonnet-4-6" and req.max_tokens == 4096 and req.stream
    assert req.system == (
        T("You are a weather assistant."),
        T("Answer in one sentence."),
    )  # empty block dropped
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user", "assistant", "tool"]
    first = req.messages[0].parts
    assert first[0] == T("What is in this picture, and what does the report say?")
    assert first[1] == hub.ImagePart(data="iVBORw0KGgo=", media_type="image/png")
    assert first[2] == hub.ImagePart(url="https://example.com/cloud.jpg")
    assert first[3] == hub.DocumentPart(data="JVBERi0xLjQ=", media_type="application/pdf", name="Report")
    assert first[4] == hub.DocumentPart(
        data=base64.b64encode(b"Rain expected.").decode(), media_type="text/plain"
    )
    assert first[5] == hub.DocumentPart(url="https://example.com/forecast.pdf", media_type="application/pdf")
    assert len(first) == 6  # the trailing empty text block is gone
    assert req.messages[1].parts == (
        hub.ThinkingPart("The user wants the weather.", signature="EqQBCkgIARABGAIiQL1"),
        hub.ThinkingPart(redacted="EmwKAhgBEgy3va3pzix"),
        T("Let me check the weather."),
        hub.ToolCallPart("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris","unit":"celsius"}'),
    )
    # a user turn with tool results and text -> a tool message, then a user message
    assert req.messages[2].parts == (
        hub.ToolResultPart("toolu_01A09q90qw90lq917835lq9", (T("18C, sunny"),), name="get_weather"),
    )
    assert req.messages[3].parts == (T("Thanks! And tomorrow?"),)
    results = req.messages[5].parts
    assert results[0] == hub.ToolResultPart(
        "toolu_02", (T("service down"),), is_error=True, name="get_weather"
    )
    assert results[1] == hub.ToolResultPart(
        "toolu_03",
        (T("Here is the map:"), hub.ImagePart(data="/9j/4AAQ", media_type="image/jpeg")),
        name="get_map",
    )
    assert [t.name for t in req.tools] == ["get_weather", "get_map"]
    assert req.tools[1].strict is True and req.tools[0].description == "Current weather in a city"
    assert req.tool_choice == hub.ToolChoice("auto") and req.parallel_tool_calls is False
    assert req.reasoning == hub.Reasoning(budget_tokens=2048)
    assert req.top_p == 0.98 and req.stop == ("\n\nHuman:",) and req.user == "user-1234"


def test_golden_request_reencodes() -> None:
    original = fixture_json("request_full.json")
    body = codec.encode_request(codec.decode_request(original), "claude-sonnet-4-6")
    # what changes on the way through: cache_control and empty text blocks are gone, a
    # one-text tool result becomes a string; everything else is as the caller sent it
    expected = orjson.loads(orjson.dumps(original).replace(b',"cache_control":{"type":"ephemeral"}', b""))
    expected["system"] = [b for b in expected["system"] if b["text"]]
    expected["messages"][0]["content"].pop()
    expected["messages"][4]["content"][0]["content"] = "service down"
    expected["tools"][0].pop("cache_control", None)
    assert body == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (request(max_tokens=None), "max_tokens"),
        (request(max_tokens="10"), "max_tokens"),
        (request(model=None), "model"),
        (request(messages=[]), "messages"),
        (request(messages=[{"role": 3, "content": "x"}]), "messages.0.role"),
        (request(messages=[{"role": "user", "content": 3}]), "messages.0.content"),
        (request(messages=[{"role": "system", "content": 3}]), "messages.0.content"),
        (request(messages=[{"role": "user", "content": [{"text": "no type"}]}]), "messages.0.content.0.type"),
        (
            request(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
                    }
                ]
            ),
            "messages.0.content.0.input",
        ),
        (request(tools=[{"name": "f"}]), "tools.0.input_schema"),
        (request(tools=[{"type": 7}]), "tools.0.type"),
        (request(tool_choice={"type": "tool"}), "tool_choice.name"),
        (request(thinking={"type": "enabled", "budget_tokens": 512}), "thinking.budget_tokens"),
        (request(thinking={"type": "enabled"}), "thinking.budget_tokens"),
        (request(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}), "max_tokens"),
        (request(thinking={"type": None}), "thinking.type"),
        (request(temperature=1.5), "temperature"),
        (request(stop_sequences=[1]), "stop_sequences.0"),
        (request(system=[{"type": "text", "text": 3}]), "system.0.text"),
        (request(stream="yes"), "stream"),
    ],
)
def test_decode_rejects_malformed_input_with_the_field_named(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        codec.decode_request(body)
    assert raised.value.param == param
    assert raised.value.message.startswith(f"{param}: ")


def _with_user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return request(messages=[{"role": "user", "content": [{"type": "text", "text": "q"}, *blocks]}])


@pytest.mark.parametrize(
    ("body", "dropped"),
    [
        (
            _with_user({"type": "search_result", "source": "s"}),
            [hub.Drop("messages.0.content.1", "search_result", "content")],
        ),
        (
            _with_user({"type": "thinking", "thinking": "x"}),
            [hub.Drop("messages.0.content.1", "thinking", "content")],
        ),
        (
            request(
                messages=[
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": [{"type": "image"}]},
                ]
            ),
            [hub.Drop("messages.1.content.0", "image", "content")],
        ),
        (
            _with_user({"type": "image", "source": {"type": "file", "file_id": "f"}}),
            [hub.Drop("messages.0.content.1.source", "file", "content")],
        ),
        (
            _with_user({"type": "document", "context": "c", "source": {"type": "text", "data": "d"}}),
            [hub.Drop("messages.0.content.1.context")],
        ),
        (
            _with_user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}),
            [hub.Drop("messages.0.content.1.content.0", "document", "content")],
        ),
        (
            request(messages=[{"role": "critic", "content": "x"}, {"role": "user", "content": "q"}]),
            [hub.Drop("messages.0", "critic", "message")],
        ),
        (
            request(tools=[{"type": "bash_20250124", "name": "bash"}]),
            [hub.Drop("tools.0", "bash_20250124", "tool")],
        ),
        (request(tool_choice={"type": "maybe"}), [hub.Drop("tool_choice", "maybe")]),
        (request(thinking={"type": "sometimes"}), [hub.Drop("thinking", "sometimes")]),
        (request(output_config={"effort": "extreme"}), [hub.Drop("output_config.effort", "extreme")]),
        (request(output_config={"format": {"type": "regex"}}), [hub.Drop("output_config.format", "regex")]),
        (request(system=[{"type": "image"}]), [hub.Drop("system.0", "image", "content")]),
        (
            request(context_management={"edits": []}, container="c1"),
            [hub.Drop("context_management"), hub.Drop("container")],
        ),
        (request(cache_control={"type": "ephemeral"}), []),
    ],
)
def test_decode_drops_and_names_what_the_hub_cannot_carry(
    body: dict[str, Any], dropped: list[hub.Drop]
) -> None:
    assert list(codec.decode_request(body).dropped) == dropped


def test_decode_keeps_system_messages_in_place() -> None:
    """Claude Code 2.1 sends its system reminders as role-system messages after the first
    user turn; the real API takes them, so the gateway must too."""
    req = codec.decode_request(
        request(
            messages=[
                {"role": "user", "content": "hi"},
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "reminder", "cache_control": {"type": "ephemeral"}}],
                },
                {"role": "developer", "content": "dev note"},
                {"role": "user", "content": "go on"},
            ]
        )
    )
    assert [m.role for m in req.messages] == ["user", "system", "system", "user"]
    assert req.messages[1].parts == (T("reminder"),) and req.messages[2].parts == (T("dev note"),)
    assert req.dropped == ()


def test_decode_maps_web_search_server_tool_and_thinking_variants() -> None:
    req = codec.decode_request(
        request(
            tools=[
                {
                    "type": "web_search_20250305",
                    "name": "web_search",
                    "max_uses": 3,
                    "allowed_domains": ["a.org"],
                }
            ],
            thinking={"type": "adaptive"},
            output_config={"effort": "xhigh"},
        )
    )
    assert req.hosted_tools == (
        hub.HostedTool("web_search", "tools.0", max_uses=3, allowed_domains=("a.org",)),
    )
    assert req.reasoning == hub.Reasoning(effort=hub.Effort.HIGH)
    assert codec.decode_request(request(thinking={"type": "disabled"})).reasoning == hub.Reasoning(
        effort=hub.Effort.NONE, budget_tokens=0
    )


def test_encode_merges_system_messages_and_sends_web_search() -> None:
    req = hub_request(
        user(T("q")),
        hub.Message("system", (T("reminder"),)),
        user(T("more")),
        system=(T("base"),),
        hosted_tools=(hub.HostedTool("web_search", "tools[3]", max_uses=2),),
        seed=7,
    )
    drops: list[hub.Drop] = []
    body = codec.encode_request(req, "claude-test", drops=drops)
    assert body["system"] == [{"type": "text", "text": "base"}, {"type": "text", "text": "reminder"}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "text", "text": "more"}]}
    ]
    assert body["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    assert drops == [hub.Drop("seed")]


def test_decode_drops_empty_text_and_empty_messages() -> None:
    req = codec.decode_request(
        request(
            system="",
            messages=[
                {"role": "user", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "x"}]},
                {"role": "assistant", "content": [{"type": "text", "text": ""}]},
            ],
        )
    )
    assert req.system == ()
    assert req.messages == (user(T("x")),)


def test_decode_thinking_modes() -> None:
    def reasoning(**fields: Any) -> hub.Reasoning | None:
        return codec.decode_request(request(max_tokens=4096, **fields)).reasoning

    assert reasoning() is None
    assert reasoning(thinking={"type": "disabled"}) == hub.Reasoning(effort=hub.Effort.NONE, budget_tokens=0)
    assert reasoning(thinking={"type": "adaptive"}) == hub.Reasoning()
    assert reasoning(thinking={"type": "adaptive", "display": "omitted"}) == hub.Reasoning(
        include_thoughts=False
    )
    assert reasoning(thinking={"type": "adaptive"}, output_config={"effort": "max"}) == hub.Reasoning(
        effort=hub.Effort.HIGH
    )
    assert reasoning(output_config={"effort": "low"}) == hub.Reasoning(effort=hub.Effort.LOW)
    assert reasoning(thinking={"type": "enabled", "budget_tokens": 1024}) == hub.Reasoning(budget_tokens=1024)


def test_decode_tool_choice_and_options() -> None:
    def decoded(**fields: Any) -> hub.Request:
        return codec.decode_request(request(**fields))

    assert decoded(tool_choice={"type": "any"}).tool_choice == hub.ToolChoice("required")
    assert decoded(tool_choice={"type": "none"}).tool_choice == hub.ToolChoice("none")
    forced = decoded(tool_choice={"type": "tool", "name": "f", "disable_parallel_tool_use": True})
    assert forced.tool_choice == hub.ToolChoice("tool", "f") and forced.parallel_tool_calls is False
    assert (
        decoded(tool_choice={"type": "auto", "disable_parallel_tool_use": False}).parallel_tool_calls is None
    )
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    fmt = decoded(output_config={"format": {"type": "json_schema", "schema": schema}}).response_format
    assert fmt == hub.ResponseFormat("json_schema", schema=schema)
    sampled = decoded(temperature=0.5, top_p=0.9, top_k=40, metadata={"user_id": None})
    assert (sampled.temperature, sampled.top_p, sampled.top_k, sampled.user) == (0.5, 0.9, 40, None)


def test_decode_tool_result_without_a_known_call_has_no_name() -> None:
    req = codec.decode_request(
        request(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}])
    )
    assert req.messages == (tool(hub.ToolResultPart("toolu_x")),)


# =========================================================================== encode_request


def test_encode_merges_turns_and_puts_tool_results_first() -> None:
    call = hub.ToolCallPart("call_1", "f", '{"x": 1}')
    body = codec.encode_request(
        hub_request(
            user(T("a")),
            user(T("b")),
            assistant(T("c")),
            assistant(call),
            user(T("before")),  # unusual, but Anthropic wants tool_result first in the turn
            tool(hub.ToolResultPart("call_1", (T("r"),))),
            user(T("after")),
        ),
        "claude-test",
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "c"},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "r"},
                {"type": "text", "text": "before"},
                {"type": "text", "text": "after"},
            ],
        },
    ]


def test_encode_never_emits_empty_text() -> None:
    body = codec.encode_request(
        hub_request(
            user(T(""), T("q")),
            assistant(T(""), hub.ThinkingPart("no signature"), hub.ToolCallPart("c", "f")),
            tool(hub.ToolResultPart("c", (T(""),))),
            user(T("")),
            system=(T(""),),
        ),
        "claude-test",
    )
    assert "system" not in body
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c"}]},
    ]
    assert b'"text":""' not in orjson.dumps(body)


def test_encode_keeps_signed_and_redacted_thinking_in_order() -> None:
    body = codec.encode_request(
        hub_request(
            user(T("q")),
            assistant(hub.ThinkingPart("t1", signature="s1"), hub.ThinkingPart(redacted="r"), T("a")),
            user(T("q2")),
        ),
        "claude-test",
    )
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "t1", "signature": "s1"},
        {"type": "redacted_thinking", "data": "r"},
        {"type": "text", "text": "a"},
    ]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ((user(T("q")), assistant(hub.ToolCallPart("c", "f", "{not json"))), "messages.1"),
        ((user(T("q")), assistant(hub.ToolCallPart("c", "f", "[1, 2]"))), "messages.1"),
        ((user(hub.ImagePart(data="AAAA")),), "messages.0"),
        ((user(hub.ImagePart()),), "messages.0"),
        ((user(hub.DocumentPart(data="!!", media_type="text/plain")),), "messages.0"),
        ((user(T("")),), "messages"),
    ],
)
def test_encode_rejects_what_cannot_be_sent_at_all(messages: tuple[hub.Message, ...], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        codec.encode_request(hub_request(*messages), "claude-test")
    assert raised.value.param == param


@pytest.mark.parametrize(
    ("messages", "dropped"),
    [
        (
            (user(T("q")), assistant(T("a"), hub.ImagePart(url="https://x/y.png"))),
            hub.Drop("messages.1.parts.1", "image", "content"),
        ),
        ((user(T("q"), hub.ToolCallPart("c", "f")),), hub.Drop("messages.0.parts.1", "tool_call", "content")),
        (
            (user(T("q"), hub.DocumentPart(data="AAAA", media_type="application/msword")),),
            hub.Drop("messages.0.parts.1", "application/msword", "content"),
        ),
    ],
)
def test_encode_drops_and_names_what_anthropic_cannot_take(
    messages: tuple[hub.Message, ...], dropped: hub.Drop
) -> None:
    drops: list[hub.Drop] = []
    codec.encode_request(hub_request(*messages), "claude-test", drops=drops)
    assert drops == [dropped]


def test_encode_media() -> None:
    body = codec.encode_request(
        hub_request(
            user(
                hub.ImagePart(url="data:image/png;base64,iVBOR"),
                hub.ImagePart(url="https://x/y.png", detail="high"),
                hub.DocumentPart(
                    data=base64.b64encode("héllo".encode()).decode(), media_type="text/markdown", name="n"
                ),
                hub.DocumentPart(url="https://x/doc.pdf"),
            )
        ),
        "claude-test",
    )
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
            "title": "n",
        },
        {"type": "document", "source": {"type": "url", "url": "https://x/doc.pdf"}},
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (hub.ToolChoice("auto"), None, {"type": "auto"}),
        (hub.ToolChoice("required"), None, {"type": "any"}),
        (hub.ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (hub.ToolChoice("tool", "f"), None, {"type": "tool", "name": "f"}),
        (hub.ToolChoice("none"), False, {"type": "none"}),
    ],
)
def test_encode_tool_choice(choice: hub.ToolChoice | None, parallel: bool | None, expected: Any) -> None:
    body = codec.encode_request(
        hub_request(tools=(hub.Tool("f", parameters={}),), tool_choice=choice, parallel_tool_calls=parallel),
        "m",
    )
    assert body.get("tool_choice") == expected
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    # without tools there is nothing to choose from: Anthropic rejects a lone tool_choice
    assert "tool_choice" not in codec.encode_request(hub_request(tool_choice=choice), "m")


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "thinking", "sent_max"),
    [
        (None, None, None, hub.DEFAULT_MAX_TOKENS),
        (hub.Reasoning(effort=hub.Effort.NONE), None, {"type": "disabled"}, hub.DEFAULT_MAX_TOKENS),
        (hub.Reasoning(effort=hub.Effort.MINIMAL), 4000, {"type": "enabled", "budget_tokens": 1024}, 4000),
        (
            hub.Reasoning(effort=hub.Effort.HIGH),
            None,
            {"type": "enabled", "budget_tokens": 24576},
            24576 + 8192,
        ),
        (hub.Reasoning(effort=hub.Effort.MEDIUM), 1000, {"type": "enabled", "budget_tokens": 8192}, 9192),
        (hub.Reasoning(budget_tokens=100), 5000, {"type": "enabled", "budget_tokens": 1024}, 5000),
        (hub.Reasoning(budget_tokens=-1), 5000, {"type": "adaptive"}, 5000),
        (hub.Reasoning(include_thoughts=False), 5000, {"type": "adaptive", "display": "omitted"}, 5000),
        (hub.Reasoning(budget_tokens=0, effort=hub.Effort.HIGH), 5000, {"type": "disabled"}, 5000),
    ],
)
def test_encode_thinking(
    reasoning: hub.Reasoning | None, max_tokens: int | None, thinking: Any, sent_max: int
) -> None:
    body = codec.encode_request(hub_request(reasoning=reasoning, max_tokens=max_tokens), "m")
    assert body.get("thinking") == thinking
    assert body["max_tokens"] == sent_max
    if thinking and "budget_tokens" in thinking:
        assert body["max_tokens"] > thinking["budget_tokens"]


def test_encode_sampling_rules() -> None:
    plain = codec.encode_request(
        hub_request(temperature=1.7, top_p=0.5, top_k=20, seed=7, presence_penalty=1.0), "m"
    )
    assert (plain["temperature"], plain["top_p"], plain["top_k"]) == (
        1.0,
        0.5,
        20,
    )  # clamped to Anthropic's 0..1
    assert not {"seed", "presence_penalty", "frequency_penalty"} & plain.keys()
    thinking = hub.Reasoning(effort=hub.Effort.LOW)
    with_thinking = codec.encode_request(
        hub_request(reasoning=thinking, temperature=0.2, top_p=0.5, top_k=20), "m"
    )
    assert not {"temperature", "top_p", "top_k"} & with_thinking.keys()
    assert codec.encode_request(hub_request(reasoning=thinking, top_p=0.97), "m")["top_p"] == 0.97
    forced = codec.encode_request(
        hub_request(reasoning=thinking, tools=(hub.Tool("f"),), tool_choice=hub.ToolChoice("required")), "m"
    )
    assert "thinking" not in forced and forced["tool_choice"] == {"type": "any"}


def test_encode_response_format_and_misc() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    body = codec.encode_request(
        hub_request(
            response_format=hub.ResponseFormat("json_schema", schema=schema, name="x", strict=True),
            stop=("END",),
            user="u1",
            stream=True,
            system=(T("Be brief."),),
        ),
        "claude-test",
    )
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert body["system"] == "Be brief."
    assert (body["stop_sequences"], body["metadata"], body["stream"], body["model"]) == (
        ["END"],
        {"user_id": "u1"},
        True,
        "claude-test",
    )
    as_object = codec.encode_request(hub_request(response_format=hub.ResponseFormat("json_object")), "m")
    assert "output_config" not in as_object and "JSON object" in as_object["system"]
    both = codec.encode_request(
        hub_request(response_format=hub.ResponseFormat("json_object"), system=(T("Be brief."),)), "m"
    )
    assert both["system"][0]["text"] == "Be brief." and "JSON" in both["system"][1]["text"]
    assert "stream" not in codec.encode_request(hub_request(), "m")


# ==================================================================== against the fake upstream


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


async def post(fake: FakeAnthropic, body: dict[str, Any]) -> tuple[int, bytes]:
    headers = {"x-api-key": DEFAULT_API_KEY, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/v1/messages", json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.read()


async def test_encoded_requests_are_accepted_by_the_fake(fake: FakeAnthropic) -> None:
    """An OpenAI-style conversation (tool loop, empty content, consecutive users) through the
    hub is a body the strict fake accepts, and its answer decodes."""
    req = hub_request(
        user(T("What's the weather?")),
        assistant(T(""), hub.ToolCallPart("call_abc", "get_weather", '{"city": "Paris"}')),
        tool(hub.ToolResultPart("call_abc", (T("18C"),), name="get_weather")),
        user(T("thanks")),
        tools=(
            hub.Tool(
                "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}
            ),
        ),
        max_tokens=None,
        temperature=1.4,
        response_format=hub.ResponseFormat("json_schema", schema={"type": "object"}),
    )
    status, raw = await post(fake, codec.encode_request(req, "claude-test"))
    assert status == 200, raw
    resp = codec.decode_response(orjson.loads(raw))
    assert resp.parts == (T("Hello! You said: 18C thanks"),)
    assert resp.finish_reason is hub.FinishReason.STOP and resp.usage.prompt_tokens > 0


async def test_thinking_round_trips_through_the_hub_to_the_fake(fake: FakeAnthropic) -> None:
    """Answer (stream) -> hub -> next request: the signature survives, so the fake accepts it."""
    tools = (hub.Tool("get_weather", parameters={"type": "object", "properties": {}}),)
    first = hub_request(
        user(T("Weather?")), tools=tools, reasoning=hub.Reasoning(effort=hub.Effort.LOW), stream=True
    )
    status, raw = await post(fake, codec.encode_request(first, "tool"))
    assert status == 200
    events = decode_stream(raw)
    thinking = "".join(e.text for e in events if isinstance(e, hub.ThinkingDelta))
    signature = next(e.signature for e in events if isinstance(e, hub.ThinkingDelta) and e.signature)
    start = next(e for e in events if isinstance(e, hub.ToolCallStart))
    arguments = "".join(e.arguments for e in events if isinstance(e, hub.ToolCallDelta))
    assert thinking == THINKING_TEXT and orjson.loads(arguments) == TOOL_INPUT
    assert events[-2] == hub.Finish(hub.FinishReason.TOOL_CALLS)

    turn = assistant(
        hub.ThinkingPart(thinking, signature=signature), hub.ToolCallPart(start.id, start.name, arguments)
    )
    result = tool(hub.ToolResultPart(start.id, (T("sunny"),), name=start.name))
    second = hub_request(
        user(T("Weather?")), turn, result, tools=tools, reasoning=hub.Reasoning(effort=hub.Effort.LOW)
    )
    status, raw = await post(fake, codec.encode_request(second, "claude-test"))
    assert status == 200, raw
    assert codec.decode_response(orjson.loads(raw)).parts[-1] == T("Hello! You said: sunny")

    tampered = hub_request(
        user(T("Weather?")),
        assistant(hub.ThinkingPart(thinking + "!", signature=signature), turn.parts[1]),
        result,
        tools=tools,
        reasoning=hub.Reasoning(effort=hub.Effort.LOW),
    )
    status, raw = await post(fake, codec.encode_request(tampered, "claude-test"))
    assert status == 400 and "signature" in codec.decode_error(status, raw)


async def test_cache_usage_from_the_fake(fake: FakeAnthropic) -> None:
    body = codec.encode_request(hub_request(user(T("one two three four five six seven"))), "cached-claude")
    status, raw = await post(fake, body)
    wire = orjson.loads(raw)["usage"]
    usage = codec.decode_response(orjson.loads(raw)).usage
    assert wire["cache_read_input_tokens"] > 0
    assert usage.cached_tokens == wire["cache_read_input_tokens"]
    assert usage.prompt_tokens == wire["input_tokens"] + wire["cache_read_input_tokens"]
    status, raw = await post(fake, {**body, "model": "cache-write-claude", "stream": True})
    assert status == 200
    streamed = [e for e in decode_stream(raw) if isinstance(e, hub.UsageUpdate)][-1].usage
    assert streamed.cache_write_tokens > 0 and streamed.prompt_tokens == usage.prompt_tokens


# ====================================================================== responses and errors


def test_golden_response_decodes_and_reencodes() -> None:
    original = fixture_json("response_message.json")
    resp = codec.decode_response(original)
    assert resp.id == "msg_01XFDUDYJgAACzvnptvVoYEL" and resp.model == "claude-sonnet-4-6"
    assert resp.parts == (
        hub.ThinkingPart(
            "The user asks about Paris weather; call the tool.", signature="EqQBCkgIARABGAIiQL1ywGtdd4"
        ),
        hub.ThinkingPart(redacted="EmwKAhgBEgy3va3pzix0LaFzdJ"),
        T("I'll look that up."),
        hub.ToolCallPart("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris","unit":"celsius"}'),
    )
    assert resp.finish_reason is hub.FinishReason.TOOL_CALLS
    assert resp.usage == hub.Usage(
        prompt_tokens=12 + 30 + 2000,
        completion_tokens=95,
        cached_tokens=2000,
        cache_write_tokens=30,
        reasoning_tokens=40,
    )
    encoded = codec.encode_response(resp, "claude-sonnet-4-6")
    SDKMessage.model_validate(encoded)
    expected = dict(original)
    expected["content"] = [b for b in original["content"] if b.get("text") != ""]
    expected["content"][2] = {"type": "text", "text": "I'll look that up."}  # citations: null is not repeated
    expected["usage"] = {
        k: v for k, v in original["usage"].items() if k not in ("cache_creation", "service_tier")
    }
    assert encoded == expected


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", hub.FinishReason.STOP),
        ("stop_sequence", hub.FinishReason.STOP),
        ("pause_turn", hub.FinishReason.STOP),
        ("max_tokens", hub.FinishReason.LENGTH),
        ("model_context_window_exceeded", hub.FinishReason.LENGTH),
        ("tool_use", hub.FinishReason.TOOL_CALLS),
        ("refusal", hub.FinishReason.CONTENT_FILTER),
        (None, hub.FinishReason.STOP),
        ("something_new", hub.FinishReason.STOP),
    ],
)
def test_stop_reasons(stop_reason: str | None, finish: hub.FinishReason) -> None:
    body = {
        "id": "msg_1",
        "content": [],
        "stop_reason": stop_reason,
        "stop_sequence": "END" if stop_reason == "stop_sequence" else None,
    }
    resp = codec.decode_response(body)
    assert resp.finish_reason is finish
    encoded = codec.encode_response(resp, "m")
    if stop_reason in ("end_turn", "stop_sequence", "max_tokens", "tool_use", "refusal"):
        assert encoded["stop_reason"] == stop_reason
    assert encoded["stop_sequence"] == body["stop_sequence"]


def test_encode_response_shapes() -> None:
    resp = hub.Response(
        id="chatcmpl-abc",
        model="gpt-4o",
        parts=(
            T(""),
            hub.ThinkingPart("reasoning without signature"),
            T("answer"),
            hub.ToolCallPart("call_1", "f", ""),
        ),
        finish_reason=hub.FinishReason.CONTENT_FILTER,
        usage=hub.Usage(prompt_tokens=5, completion_tokens=2, cached_tokens=4, cache_write_tokens=3),
    )
    encoded = codec.encode_response(resp, "claude-alias")
    SDKMessage.model_validate(encoded)
    assert encoded["id"] == "msg_chatcmpl-abc" and encoded["model"] == "claude-alias"
    assert encoded["content"] == [
        {"type": "thinking", "thinking": "reasoning without signature", "signature": ""},
        {"type": "text", "text": "answer"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {}},
    ]
    assert encoded["stop_reason"] == "refusal"
    # prompt 5 < cached 4 + written 3: input_tokens never goes negative
    assert encoded["usage"] == {
        "input_tokens": 0,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 4,
        "output_tokens": 2,
    }
    with pytest.raises(BadGateway):
        codec.encode_response(hub.Response("x", "m", (hub.ToolCallPart("c", "f", '{"cut'),)), "m")


def test_tool_call_signature_rides_on_a_thinking_block_and_comes_back() -> None:
    """A Gemini call signature reaches an Anthropic caller as a signed empty thinking block
    before the tool_use; sent back, it is a ThinkingPart right before the call."""
    call = hub.ToolCallPart("call_1", "f", '{"a":1}', signature="gem-sig")
    encoded = codec.encode_response(hub.Response("r1", "gemini", (T("hi"), call)), "m")
    SDKMessage.model_validate(encoded)
    assert encoded["content"][1:] == [
        {"type": "thinking", "thinking": "", "signature": "gem-sig"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    streamed = encode_stream(
        [hub.Start("r1", "g"), hub.ToolCallStart(0, "call_1", "f", "gem-sig"), hub.ToolCallDelta(0, "{}")]
    )
    starts = [d["content_block"]["type"] for n, d in validate_frames(streamed) if n == "content_block_start"]
    assert starts == ["thinking", "tool_use"]
    back = codec.decode_request(
        request(
            messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": encoded["content"]}]
        )
    )
    assert back.messages[1].parts == (
        T("hi"),
        hub.ThinkingPart("", signature="gem-sig"),
        hub.ToolCallPart("call_1", "f", '{"a":1}'),
    )
    # Anthropic upstreams never see the foreign call signature
    sent = codec.encode_request(hub_request(user(T("q")), assistant(call)), "m")
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}
    ]


def test_decode_response_skips_unknown_blocks_and_rejects_garbage() -> None:
    body = fixture_json("response_message.json")
    body["content"] = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "text", "text": "kept"},
    ]
    assert codec.decode_response(body).parts == (T("kept"),)
    with pytest.raises(BadGateway):
        codec.decode_response({"type": "message"})
    with pytest.raises(BadGateway):
        codec.decode_response({"content": ["text"]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ((FIXTURES / "error_overloaded.json").read_bytes(), "Overloaded"),
        (b'{"error": "plain"}', "plain"),
        (b"<html>bad gateway</html>", "<html>bad gateway</html>"),
        (b"", "Anthropic answered HTTP 529"),
        (b"[]", "Anthropic answered HTTP 529"),
    ],
)
def test_decode_error(body: bytes, message: str) -> None:
    assert codec.decode_error(529, body) == message


# ============================================================================= stream decoder


def test_golden_stream_text() -> None:
    events = decode_stream((FIXTURES / "stream_text.sse").read_bytes())
    start_usage = hub.Usage(prompt_tokens=29 + 1024, completion_tokens=1, cached_tokens=1024)
    assert events == [
        hub.Start("msg_01UodR8c3ezAK8rAfi8HAs8g", "claude-haiku-4-5-20251001"),
        hub.UsageUpdate(start_usage),
        hub.TextDelta("Hello"),
        hub.TextDelta("! How can"),
        hub.TextDelta(" I help you today?"),
        hub.Finish(hub.FinishReason.STOP),
        hub.UsageUpdate(hub.Usage(prompt_tokens=29 + 1024, completion_tokens=12, cached_tokens=1024)),
    ]


def test_golden_stream_thinking_and_tools() -> None:
    events = decode_stream((FIXTURES / "stream_thinking_tool.sse").read_bytes())
    assert events == [
        hub.Start("msg_01UodR8c3ezAK8rAfi8HAs8g", "claude-haiku-4-5-20251001"),
        hub.UsageUpdate(hub.Usage(prompt_tokens=572, completion_tokens=2, cache_write_tokens=100)),
        hub.ThinkingDelta("I need to"),
        hub.ThinkingDelta(" check the weather."),
        hub.ThinkingDelta(signature="EqQBCkgIARABGAIiQL1ywGtdd4"),
        hub.TextDelta("Checking both cities."),
        hub.ToolCallStart(
            0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"
        ),  # index counts tool_use blocks only
        hub.ToolCallDelta(0, '{"city": "Pa'),
        hub.ToolCallDelta(0, 'ris", "unit":'),
        hub.ToolCallDelta(0, ' "celsius"}'),
        hub.ToolCallStart(1, "toolu_02", "get_weather"),
        hub.ToolCallDelta(1, '{"city": "Oslo"}'),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
        # an older message_delta with output_tokens only: message_start's input side is kept
        hub.UsageUpdate(hub.Usage(prompt_tokens=572, completion_tokens=89, cache_write_tokens=100)),
    ]


def test_golden_stream_error_event() -> None:
    events = decode_stream((FIXTURES / "stream_error.sse").read_bytes())
    assert events[-2:] == [hub.TextDelta("Hel"), hub.StreamError(529, "Overloaded")]


def test_stream_decoder_edge_cases() -> None:
    decoder = codec.StreamDecoder()
    assert decoder.feed(hub.SSEEvent("ping", '{"type": "ping"}')) == []
    assert decoder.feed(
        hub.SSEEvent(None, '{"type":"message_start","message":{"id":"msg_1","model":"m"}}')
    ) == [hub.Start("msg_1", "m")]
    assert (
        decoder.feed(
            hub.SSEEvent(
                "content_block_delta",
                '{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}',
            )
        )
        == []
    )
    assert decoder.close() == [
        hub.StreamError(502, "The Anthropic stream ended before the message was complete.")
    ]
    assert decoder.close() == []  # once failed, nothing more

    broken = codec.StreamDecoder()
    assert broken.feed(hub.SSEEvent("message_start", "{not json")) == [
        hub.StreamError(502, "Anthropic sent a stream event that is not JSON")
    ]
    assert broken.feed(hub.SSEEvent("message_stop", '{"type":"message_stop"}')) == []

    stopped = codec.StreamDecoder()
    stopped.feed(hub.SSEEvent("message_stop", '{"type":"message_stop"}'))
    assert stopped.close() == [hub.Finish(hub.FinishReason.STOP)]


def test_stream_decoder_merges_usage_field_by_field() -> None:
    decoder = codec.StreamDecoder()
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "m",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1},
        },
    }
    decoder.feed(hub.SSEEvent("message_start", orjson.dumps(start).decode()))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"output_tokens": 7, "input_tokens": 12, "cache_read_input_tokens": None},
    }
    events = decoder.feed(hub.SSEEvent("message_delta", orjson.dumps(delta).decode()))
    assert events == [
        hub.Finish(hub.FinishReason.LENGTH),
        hub.UsageUpdate(hub.Usage(prompt_tokens=17, completion_tokens=7, cached_tokens=5)),
    ]
    assert decoder.close() == []


# ============================================================================= stream encoder

RICH_EVENTS: list[hub.StreamEvent] = [
    hub.Start("chatcmpl-1", "gpt-4o"),
    hub.UsageUpdate(hub.Usage(prompt_tokens=40)),
    hub.ThinkingDelta("Let me "),
    hub.ThinkingDelta("think."),
    hub.ThinkingDelta(signature="sig-1"),
    hub.ThinkingDelta(redacted="opaque"),
    hub.TextDelta(""),
    hub.TextDelta("Hello"),
    hub.TextDelta(" there"),
    hub.ToolCallStart(0, "call_1", "get_weather"),
    hub.ToolCallDelta(0, '{"city":'),
    hub.ToolCallDelta(0, ' "Paris"}'),
    hub.ToolCallStart(1, "call_2", "get_time"),
    hub.ToolCallDelta(1, "{}"),
    hub.Finish(hub.FinishReason.TOOL_CALLS),
    hub.UsageUpdate(hub.Usage(prompt_tokens=40, completion_tokens=9, cached_tokens=30, reasoning_tokens=4)),
]


def test_stream_encoder_order_and_shapes() -> None:
    frames = validate_frames(encode_stream(RICH_EVENTS, model="claude-alias"))
    names = [(n, d.get("index")) for n, d in frames]
    assert names == [
        ("message_start", None),
        ("content_block_start", 0),
        ("ping", None),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("content_block_start", 3),
        ("content_block_delta", 3),
        ("content_block_delta", 3),
        ("content_block_stop", 3),
        ("content_block_start", 4),
        ("content_block_delta", 4),
        ("content_block_stop", 4),
        ("message_delta", None),
        ("message_stop", None),
    ]
    message = frames[0][1]["message"]
    assert message["id"] == "msg_chatcmpl-1" and message["model"] == "claude-alias"
    assert (
        message["usage"]["input_tokens"] == 0
    )  # usage came after Start: the real count goes in message_delta
    assert frames[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert frames[5][1]["delta"] == {"type": "signature_delta", "signature": "sig-1"}
    assert frames[7][1]["content_block"] == {"type": "redacted_thinking", "data": "opaque"}
    assert frames[9][1]["content_block"] == {"type": "text", "text": ""}
    assert frames[13][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {},
    }
    assert frames[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None, "stop_details": None},
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 30,
            "output_tokens": 9,
            "output_tokens_details": {"thinking_tokens": 4},
        },
    }


async def test_stream_encoder_output_through_the_sdk() -> None:
    final = await sdk_final_message(encode_stream(RICH_EVENTS))
    assert [b.type for b in final.content] == [
        "thinking",
        "redacted_thinking",
        "text",
        "tool_use",
        "tool_use",
    ]
    thinking, _, text, call, second = final.content
    assert thinking.type == "thinking" and (thinking.thinking, thinking.signature) == (
        "Let me think.",
        "sig-1",
    )
    assert text.type == "text" and text.text == "Hello there"
    assert call.type == "tool_use" and call.input == {"city": "Paris"} and call.id == "call_1"
    assert second.type == "tool_use" and second.input == {}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (
        10,
        30,
        9,
    )


def test_stream_encoder_emits_as_events_arrive() -> None:
    encoder = codec.StreamEncoder("m", response_id="msg_fixed")
    assert b'"id":"msg_fixed"' in encoder.feed(hub.Start("other", "x"))
    assert b"text_delta" in encoder.feed(hub.TextDelta("a"))
    assert encoder.feed(hub.TextDelta("")) == b""
    assert b"content_block_stop" in encoder.feed(hub.Finish(hub.FinishReason.STOP, stop_sequence="END"))
    assert encoder.feed(hub.UsageUpdate(hub.Usage(1, 1))) == b""
    tail = validate_frames(encoder.close())
    assert [n for n, _ in tail] == ["message_delta", "message_stop"]
    assert (
        tail[0][1]["delta"]["stop_reason"] == "stop_sequence"
        and tail[0][1]["delta"]["stop_sequence"] == "END"
    )
    assert encoder.close() == b"" and encoder.feed(hub.TextDelta("late")) == b""


def test_stream_encoder_signature_only_and_kind_changes() -> None:
    frames = validate_frames(
        encode_stream(
            [
                hub.Start("msg_1", "m"),
                hub.TextDelta("a"),
                hub.ThinkingDelta(signature="only-sig"),  # e.g. display: omitted
                hub.ThinkingDelta("more"),  # after a signature: a new thinking block
                hub.TextDelta("b"),
            ]
        )
    )
    blocks = [d["content_block"]["type"] for n, d in frames if n == "content_block_start"]
    assert blocks == ["text", "thinking", "thinking", "text"]
    deltas = [d["delta"]["type"] for n, d in frames if n == "content_block_delta"]
    assert deltas == ["text_delta", "signature_delta", "thinking_delta", "text_delta"]
    assert frames[-2][1]["delta"]["stop_reason"] == "end_turn"  # no Finish came: a natural end


def test_stream_encoder_without_content_or_start() -> None:
    usage = hub.Usage(prompt_tokens=12)
    frames = validate_frames(encode_stream([hub.UsageUpdate(usage), hub.Finish(hub.FinishReason.LENGTH)]))
    assert [n for n, _ in frames] == ["message_start", "ping", "message_delta", "message_stop"]
    assert frames[0][1]["message"]["usage"]["input_tokens"] == 12  # known before message_start
    assert frames[0][1]["message"]["id"].startswith("msg_")
    assert frames[2][1]["delta"]["stop_reason"] == "max_tokens"


def test_stream_encoder_error() -> None:
    encoder = codec.StreamEncoder("m")
    encoder.feed(hub.Start("msg_1", "m"))
    encoder.feed(hub.TextDelta("partial"))
    frame = encoder.feed(hub.StreamError(529, "Overloaded"))
    error = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert frame == b"event: error\ndata: " + error + b"\n\n"
    assert encoder.close() == b"" and encoder.feed(hub.TextDelta("x")) == b""
    assert b'"api_error"' in codec.StreamEncoder("m").feed(hub.StreamError(502, "upstream broke"))


async def test_stream_error_reaches_the_sdk_as_an_exception() -> None:
    raw = encode_stream([hub.Start("msg_1", "m"), hub.TextDelta("x"), hub.StreamError(429, "slow down")])
    with pytest.raises(anthropic.APIStatusError, match="slow down"):
        await sdk_final_message(raw)


def test_decoder_and_encoder_agree_on_the_golden_transcript() -> None:
    raw = (FIXTURES / "stream_thinking_tool.sse").read_bytes()
    events = decode_stream(raw)
    again = decode_stream(encode_stream(events))
    assert again[0] == hub.Start("msg_01UodR8c3ezAK8rAfi8HAs8g", "claude-test")
    assert [e for e in again[1:] if not isinstance(e, hub.UsageUpdate)] == [
        e for e in events[1:] if not isinstance(e, hub.UsageUpdate)
    ]
    assert [e for e in again if isinstance(e, hub.UsageUpdate)][-1] == events[-1]


# ============================================================================ property tests

texts = st.text(min_size=1, max_size=12)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=10)
names = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
arguments = st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(
    lambda d: orjson.dumps(d).decode()
)
b64 = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())

user_parts = st.one_of(
    texts.map(T),
    st.builds(hub.ImagePart, data=b64, media_type=st.sampled_from(["image/png", "image/jpeg"])),
    st.builds(hub.ImagePart, url=st.just("https://example.com/a.png")),
    st.builds(hub.DocumentPart, data=b64, media_type=st.just("application/pdf"), name=st.none() | texts),
    st.builds(
        hub.DocumentPart,
        data=texts.map(lambda s: base64.b64encode(s.encode()).decode()),
        media_type=st.just("text/plain"),
        name=st.none() | texts,
    ),
    st.builds(
        hub.DocumentPart, url=st.just("https://example.com/a.pdf"), media_type=st.just("application/pdf")
    ),
)
thinking_parts = st.one_of(
    st.builds(hub.ThinkingPart, text=st.text(max_size=12), signature=texts),
    st.builds(hub.ThinkingPart, redacted=texts),
)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[hub.Message, ...]:
    """Conversations in the canonical shape the decoder produces: alternating turns, tool
    results right after the calls (with their names), no empty text."""
    messages = [user(*draw(st.lists(user_parts, min_size=1, max_size=3)))]
    for _ in range(draw(st.integers(0, 3))):
        thinking = draw(st.lists(thinking_parts, max_size=2))
        text = draw(st.lists(texts.map(T), max_size=2))
        calls = draw(
            st.lists(
                st.builds(hub.ToolCallPart, id=ids, name=names, arguments=arguments),
                max_size=2,
                unique_by=lambda c: c.id,
            )
        )
        if not (thinking or text or calls):
            text = [T("ok")]
        messages.append(assistant(*thinking, *text, *calls))
        if calls:
            results = [
                hub.ToolResultPart(
                    c.id,
                    tuple(
                        draw(
                            st.lists(
                                texts.map(T)
                                | st.builds(hub.ImagePart, data=b64, media_type=st.just("image/png")),
                                max_size=2,
                            )
                        )
                    ),
                    is_error=draw(st.booleans()),
                    name=c.name,
                )
                for c in calls
            ]
            messages.append(tool(*results))
            follow = draw(st.lists(user_parts, max_size=2))
            if follow:
                messages.append(user(*follow))
        else:
            messages.append(user(*draw(st.lists(user_parts, min_size=1, max_size=2))))
    return tuple(messages)


@st.composite
def requests(draw: st.DrawFn) -> hub.Request:
    tools = tuple(
        draw(
            st.lists(
                st.builds(
                    hub.Tool,
                    name=names,
                    description=st.none() | texts,
                    parameters=st.just({"type": "object", "properties": {"a": {"type": "string"}}}),
                    strict=st.sampled_from([None, True]),
                ),
                max_size=2,
                unique_by=lambda t: t.name,
            )
        )
    )
    choice = None
    parallel = None
    if tools:
        choice = draw(
            st.sampled_from(
                [
                    None,
                    hub.ToolChoice("auto"),
                    hub.ToolChoice("required"),
                    hub.ToolChoice("none"),
                    hub.ToolChoice("tool", tools[0].name),
                ]
            )
        )
        if choice is not None and choice.mode != "none":
            parallel = draw(st.sampled_from([None, False]))
    forced = choice is not None and choice.mode in ("required", "tool")
    max_tokens = draw(st.integers(1, 64000))
    reasoning_options: list[Any] = [None, hub.Reasoning(effort=hub.Effort.NONE, budget_tokens=0)]
    if not forced:
        reasoning_options += [hub.Reasoning(), hub.Reasoning(include_thoughts=False)]
        if max_tokens > 1024:
            budget = draw(st.integers(1024, max_tokens - 1))
            reasoning_options.append(
                hub.Reasoning(budget_tokens=budget, include_thoughts=draw(st.booleans()))
            )
    reasoning = draw(st.sampled_from(reasoning_options))
    thinking_on = reasoning is not None and reasoning.budget_tokens != 0
    unit = st.floats(0, 1, allow_nan=False)
    return hub.Request(
        model=draw(names),
        messages=draw(conversations()),
        system=tuple(draw(st.lists(texts.map(T), max_size=2))),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=None if thinking_on else draw(st.none() | unit),
        top_p=draw(st.none() | (st.floats(0.95, 1) if thinking_on else unit)),
        top_k=None if thinking_on else draw(st.none() | st.integers(1, 500)),
        stop=tuple(draw(st.lists(texts, max_size=2))),
        response_format=draw(
            st.none() | st.just(hub.ResponseFormat("json_schema", schema={"type": "object"}))
        ),
        reasoning=reasoning,
        user=draw(st.none() | texts),
        stream=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_property_request_round_trip(req: hub.Request) -> None:
    """Whatever Messages can express comes back unchanged through encode -> decode."""
    body = codec.encode_request(req, req.model)
    assert b'"text":""' not in orjson.dumps(body)
    assert codec.decode_request(orjson.loads(orjson.dumps(body))) == req


usages = st.builds(
    lambda cached, written, fresh, out, reasoning: hub.Usage(
        prompt_tokens=cached + written + fresh,
        completion_tokens=out + reasoning,
        cached_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    ),
    *(st.integers(0, 10**6) for _ in range(5)),
)


@given(usages)
def test_property_usage_round_trip(usage: hub.Usage) -> None:
    body = {
        "id": "msg_1",
        "content": [],
        "usage": codec.encode_response(hub.Response("msg_1", "m", (), usage=usage), "m")["usage"],
    }
    assert codec.decode_response(body).usage == usage


finishes = st.one_of(
    st.builds(hub.Finish, st.sampled_from([f for f in hub.FinishReason if f is not hub.FinishReason.ERROR])),
    st.builds(hub.Finish, st.just(hub.FinishReason.STOP), texts),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            thinking_parts, texts.map(T), st.builds(hub.ToolCallPart, id=ids, name=names, arguments=arguments)
        ),
        max_size=5,
    ),
    finishes,
    usages,
)
def test_property_response_round_trip(parts: list[hub.Part], finish: hub.Finish, usage: hub.Usage) -> None:
    resp = hub.Response("msg_x", "m", tuple(parts), finish.reason, usage, finish.stop_sequence)
    encoded = codec.encode_response(resp, "m")
    SDKMessage.model_validate(encoded)
    assert codec.decode_response(encoded) == resp


segments = st.one_of(
    st.tuples(st.just("text"), st.lists(st.text(max_size=6), min_size=1, max_size=3)),
    st.tuples(st.just("thinking"), st.lists(st.text(max_size=6), max_size=3), texts),
    st.tuples(st.just("redacted"), texts),
    st.tuples(st.just("tool"), ids, names, st.lists(st.text(max_size=6), max_size=3)),
)


def hub_events(segs: list[tuple[Any, ...]], finish: hub.Finish, usage: hub.Usage) -> list[hub.StreamEvent]:
    events: list[hub.StreamEvent] = [hub.Start("msg_p", "m")]
    tool_index = 0
    for seg in segs:
        if seg[0] == "text":
            events += [hub.TextDelta(t) for t in seg[1]]
        elif seg[0] == "thinking":
            events += [hub.ThinkingDelta(t) for t in seg[1]] + [hub.ThinkingDelta(signature=seg[2])]
        elif seg[0] == "redacted":
            events.append(hub.ThinkingDelta(redacted=seg[1]))
        else:
            events.append(hub.ToolCallStart(tool_index, seg[1], seg[2]))
            events += [hub.ToolCallDelta(tool_index, a) for a in seg[3]]
            tool_index += 1
    return [*events, finish, hub.UsageUpdate(usage)]


def summary(events: list[hub.StreamEvent]) -> dict[str, Any]:
    """What a caller ends up with: text, thinking blocks (closed by their signature),
    redacted blocks, tool calls, finish, the last usage."""
    thinking: list[list[str]] = []
    open_thinking = False
    out: dict[str, Any] = {"text": "", "redacted": [], "tools": {}, "finish": None, "usage": None}
    for e in events:
        if isinstance(e, hub.TextDelta):
            out["text"] += e.text
        elif isinstance(e, hub.ThinkingDelta) and e.redacted is not None:
            out["redacted"].append(e.redacted)
        elif isinstance(e, hub.ThinkingDelta):
            if not open_thinking:
                thinking.append(["", ""])
                open_thinking = True
            thinking[-1][0] += e.text
            if e.signature:
                thinking[-1][1] = e.signature
                open_thinking = False
        elif isinstance(e, hub.ToolCallStart):
            out["tools"][e.index] = [e.id, e.name, ""]
        elif isinstance(e, hub.ToolCallDelta):
            out["tools"][e.index][2] += e.arguments
        elif isinstance(e, hub.Finish):
            out["finish"] = e
        elif isinstance(e, hub.UsageUpdate):
            out["usage"] = e.usage
    out["thinking"] = thinking
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(segments, max_size=6), finishes, usages)
def test_property_stream_round_trip(
    segs: list[tuple[Any, ...]], finish: hub.Finish, usage: hub.Usage
) -> None:
    """hub events -> our Anthropic SSE -> our decoder: text, thinking with signatures, tool
    calls, finish and usage all survive; every frame is a valid SDK stream event."""
    events = hub_events(segs, finish, usage)
    raw = encode_stream(events)
    validate_frames(raw)
    decoded = decode_stream(raw)
    assert decoded[0] == hub.Start("msg_p", "claude-test")
    assert summary(decoded) == summary(events)
