"""The OpenAI Chat Completions codec against golden wire fixtures, the official SDK's
own types and stream accumulator, and hypothesis round trips through the hub."""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from hubgate.errors import InvalidRequest
from hubgate.formats import hub
from hubgate.formats.openai_chat import (
    IGNORED_FIELDS,
    StreamDecoder,
    StreamEncoder,
    decode_error,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from hubgate.formats.sse import EventSplitter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai_chat"
JSON = dict[str, Any]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse_events(raw: bytes) -> list[hub.SSEEvent]:
    """Parse an SSE transcript the way the relay does (whole events, then fields)."""
    events = []
    for block in EventSplitter().feed(raw):
        name, data = None, []
        for line in block.decode().split("\n"):  # only CR/LF end SSE lines, not U+0085 or U+2028
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        events.append(hub.SSEEvent(name, "\n".join(data)))
    return events


def decode_stream(raw: bytes) -> list[hub.StreamEvent]:
    decoder = StreamDecoder()
    out = [e for event in sse_events(raw) for e in decoder.feed(event)]
    return out + decoder.close()


def encode_stream(events: list[hub.StreamEvent], **kwargs: Any) -> bytes:
    kwargs.setdefault("include_usage", True)
    encoder = StreamEncoder(kwargs.pop("model", "gpt-test"), **kwargs)
    return b"".join(encoder.feed(e) for e in events) + encoder.close()


def payloads(raw: bytes) -> list[Any]:
    """Each frame's JSON (or the string "[DONE]"), checking the framing on the way."""
    assert raw.endswith(b"\n\n")
    out = []
    for frame in raw[:-2].split(b"\n\n"):
        assert frame.startswith(b"data: ") and b"\n" not in frame
        data = frame[6:].decode()
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def sdk_client(body: bytes, content_type: str = "text/event-stream") -> openai.OpenAI:
    """The real openai client, answered by `body` through a mock transport (no network)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.test/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
        _strict_response_validation=True,
    )


def request_body(**overrides: Any) -> JSON:
    body: JSON = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    body.update(overrides)
    return body


# ------------------------------------------------------------------ requests


def test_decode_full_request_fixture() -> None:
    req = decode_request(load("request_full.json"))
    assert [p.text for p in req.system] == [
        "You are a terse travel assistant.",
        "Answer in metric units.",
        "Mention an umbrella if it rains.",  # the mid-conversation system message, in order
    ]
    user, assistant, tool, last = req.messages
    assert user.parts == (
        hub.TextPart("What is the weather where this photo was taken?"),
        hub.ImagePart(url="https://example.com/photo.jpg", detail="high"),
        hub.ImagePart(data="iVBORw0KGgoAAAANSUhEUg==", media_type="image/png"),
        hub.DocumentPart(data="JVBERi0xLjQK", media_type="application/pdf", name="itinerary.pdf"),
    )
    thinking, text, paris, rome = assistant.parts
    assert thinking == hub.ThinkingPart(
        "The photo looks like Paris; the itinerary mentions Rome.", signature="EqQBCkgIARABGAIiQL"
    )
    assert text == hub.TextPart("Let me check both cities.")
    assert paris == hub.ToolCallPart(
        "call_paris", "get_weather", '{"city":"Paris"}', signature="CiQBjz1rX1sig"
    )
    assert rome == hub.ToolCallPart("call_rome", "get_weather", '{"city":"Rome"}')
    assert tool.role == "tool"  # two consecutive tool messages, merged
    assert tool.parts == (
        hub.ToolResultPart("call_paris", (hub.TextPart("18 C, light rain"),), name="get_weather"),
        hub.ToolResultPart("call_rome", (hub.TextPart("27 C"), hub.TextPart("sunny")), name="get_weather"),
    )
    assert last == hub.Message("user", (hub.TextPart("Which one should I visit first?"),))
    assert req.tools[0].strict is True and req.tools[0].parameters["required"] == ["city"]
    assert req.tool_choice == hub.ToolChoice("auto")
    assert (req.max_tokens, req.temperature, req.top_p, req.seed) == (1024, 0.3, 0.9, 7)
    assert req.stop == ("\n\nUser:",)
    assert req.response_format is not None and req.response_format.name == "advice"
    assert req.reasoning == hub.Reasoning(effort=hub.Effort.LOW)
    assert (req.user, req.stream, req.include_usage) == ("user-1234", True, True)


def test_encode_request_matches_golden_upstream_body() -> None:
    req = decode_request(load("request_full.json"))
    assert encode_request(req, "gpt-4.1") == load("request_full.upstream.json")


def test_include_usage_is_off_unless_the_caller_asks() -> None:
    assert decode_request(request_body(stream=True)).include_usage is False
    asked = decode_request(request_body(stream=True, stream_options={"include_usage": True}))
    assert asked.include_usage is True


def test_streaming_upstream_request_always_asks_for_usage() -> None:
    req = decode_request(request_body(stream=True))
    body = encode_request(req, "up")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "stream" not in encode_request(decode_request(request_body()), "up")


def test_legacy_functions_map_to_tools() -> None:
    req = decode_request(
        request_body(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "function_call": {"name": "w", "arguments": "{}"}},
                {"role": "function", "name": "w", "content": "sunny"},
            ],
            functions=[{"name": "w", "parameters": {"type": "object", "properties": {}}}],
            function_call={"name": "w"},
        )
    )
    assert req.tools == (hub.Tool("w"),)
    assert req.tool_choice == hub.ToolChoice("tool", "w")
    call = req.messages[1].parts[0]
    assert isinstance(call, hub.ToolCallPart) and call.name == "w"
    assert req.messages[2].parts == (hub.ToolResultPart(call.id, (hub.TextPart("sunny"),), name="w"),)


def test_reasoning_from_extensions_and_effort() -> None:
    assert decode_request(request_body(reasoning_effort="xhigh")).reasoning == hub.Reasoning(
        effort=hub.Effort.HIGH
    )
    thinking = {"type": "enabled", "budget_tokens": 4000}
    assert decode_request(request_body(thinking=thinking)).reasoning == hub.Reasoning(budget_tokens=4000)
    assert decode_request(request_body(top_k=40)).top_k == 40


def test_ignored_fields_are_accepted_and_listed() -> None:
    extras = {
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
        "service_tier": "auto",
        "store": True,
        "metadata": {"a": "b"},
        "prediction": {"type": "content", "content": "x"},
        "modalities": ["text"],
        "n": 1,
    }
    assert set(extras) - {"modalities", "n"} <= IGNORED_FIELDS
    assert decode_request(request_body(**extras)).messages[0].parts == (hub.TextPart("hi"),)


def _user(*parts: JSON) -> JSON:
    return {"messages": [{"role": "user", "content": list(parts)}]}


BAD_REQUESTS: list[tuple[JSON, str]] = [
    ({"temperature": "hot"}, "temperature"),
    ({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
    ({"reasoning_effort": 3}, "reasoning_effort"),
    (_user({"type": "text", "text": 3}), "messages[0].content[0].text"),
    ({"messages": []}, "messages"),
    ({"stop": 5}, "stop"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function.name"),
    ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    (
        _user({"type": "image_url", "image_url": {"url": "data:image/png,raw"}}),
        "messages[0].content[0].image_url.url",
    ),
    (_user({"type": "image_url", "image_url": {}}), "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    (
        {
            "messages": [
                {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}
            ]
        },
        "messages[0].tool_calls[0].id",
    ),
    (
        {
            "messages": [
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}
            ]
        },
        "messages[0].tool_calls[0].function.arguments",
    ),
    (
        {"messages": [{"role": "assistant", "thinking_blocks": [{"type": "mystery"}]}]},
        "messages[0].thinking_blocks[0]",
    ),
]


D = hub.Drop
DROPPED: list[tuple[JSON, list[hub.Drop]]] = [
    ({"n": 2}, [D("n")]),
    ({"frobnicate": True, "nothing": None}, [D("frobnicate")]),
    ({"audio": {"voice": "alloy", "format": "wav"}}, [D("audio")]),
    ({"modalities": ["text", "audio"]}, [D("modalities")]),
    (
        {"prompt_cache_key": "k", "service_tier": "auto", "store": True},
        [D("prompt_cache_key"), D("service_tier"), D("store")],
    ),
    ({"reasoning_effort": "extreme"}, [D("reasoning_effort", "extreme")]),
    ({"thinking": {"type": "adaptive"}}, [D("thinking", "adaptive")]),
    ({"response_format": {"type": "xml"}}, [D("response_format", "xml")]),
    ({"tool_choice": {"type": "allowed_tools"}}, [D("tool_choice", "allowed_tools")]),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, [D("tools[0]", "custom", "tool")]),
    (
        _user(
            {"type": "text", "text": "q"},
            {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
        ),
        [D("messages[0].content[1]", "input_audio", "content")],
    ),
    (
        _user({"type": "text", "text": "q"}, {"type": "file", "file": {"file_id": "file-abc"}}),
        [D("messages[0].content[1]", "file", "content")],
    ),
    (
        {
            "messages": [
                {"role": "system", "content": [{"type": "image_url"}]},
                {"role": "user", "content": "q"},
            ]
        },
        [D("messages[0].content[0]", "image_url", "content")],
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "audio": {"id": "a1"}},
            ]
        },
        [D("messages[1].audio")],
    ),
    (
        {"messages": [{"role": "critic", "content": "x"}, {"role": "user", "content": "q"}]},
        [D("messages[0]", "critic", "message")],
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "x", "input": "i"}}],
                },
            ]
        },
        [D("messages[1].tool_calls[0]", "custom", "content")],
    ),
]


@pytest.mark.parametrize(("overrides", "dropped"), DROPPED)
def test_what_the_hub_cannot_carry_is_dropped_and_named(overrides: JSON, dropped: list[hub.Drop]) -> None:
    assert list(decode_request(request_body(**overrides)).dropped) == dropped


def test_web_search_options_is_a_hosted_web_search() -> None:
    req = decode_request(request_body(web_search_options={}))
    assert req.hosted_tools == (hub.HostedTool("web_search", "web_search_options"),) and req.dropped == ()
    drops: list[hub.Drop] = []
    body = encode_request(req, "up", drops=drops)
    assert "web_search_options" not in body and drops == [D("web_search_options", "web_search", "tool")]


def test_system_messages_in_place_stay_in_place() -> None:
    req = hub.Request(
        model="m",
        messages=(
            hub.Message("user", (hub.TextPart("q"),)),
            hub.Message("system", (hub.TextPart("reminder"),)),
        ),
        system=(hub.TextPart("base"),),
    )
    assert encode_request(req, "up")["messages"] == [
        {"role": "system", "content": "base"},
        {"role": "user", "content": "q"},
        {"role": "system", "content": "reminder"},
    ]


@pytest.mark.parametrize(("overrides", "param"), BAD_REQUESTS)
def test_bad_input_is_a_400_naming_the_field(overrides: JSON, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_request(request_body(**overrides))
    assert caught.value.param == param
    assert caught.value.status == 400


def test_tool_result_images_go_in_a_user_message_after_the_tool_messages() -> None:
    image = hub.ImagePart(data="AAAA", media_type="image/jpeg")
    result = hub.ToolResultPart("call_1", (hub.TextPart("a chart"), image), name="plot")
    req = hub.Request(model="m", messages=(hub.Message("tool", (result,)),))
    assert encode_request(req, "up")["messages"] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "a chart"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call call_1:"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
            ],
        },
    ]


def test_error_tool_results_read_as_errors() -> None:
    failed = hub.ToolResultPart("c", (hub.TextPart("no such city"),), is_error=True)
    empty = hub.ToolResultPart("d", (), is_error=True)
    req = hub.Request(model="m", messages=(hub.Message("tool", (failed, empty)),))
    contents = [m["content"] for m in encode_request(req, "up")["messages"]]
    assert contents == ["Error: no such city", "Error"]


def test_reasoning_history_is_sent_only_when_present() -> None:
    plain = hub.Message("assistant", (hub.TextPart("hi"),))
    body = encode_request(hub.Request(model="m", messages=(plain,)), "up")
    assert body["messages"] == [{"role": "assistant", "content": "hi"}]
    unsigned = hub.Message("assistant", (hub.ThinkingPart("hmm"), hub.TextPart("hi")))
    message = encode_request(hub.Request(model="m", messages=(unsigned,)), "up")["messages"][0]
    assert message == {"role": "assistant", "content": "hi", "reasoning_content": "hmm"}
    redacted = hub.Message("assistant", (hub.ThinkingPart(redacted="opaque"),))
    message = encode_request(hub.Request(model="m", messages=(redacted,)), "up")["messages"][0]
    assert message == {
        "role": "assistant",
        "content": "",
        "thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}],
    }


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        (hub.Reasoning(effort=hub.Effort.HIGH), "high"),
        (hub.Reasoning(budget_tokens=3000), "medium"),
        (hub.Reasoning(budget_tokens=1024), "minimal"),
        (hub.Reasoning(budget_tokens=100_000), "high"),
        (hub.Reasoning(budget_tokens=0), None),
        (hub.Reasoning(budget_tokens=-1), None),
        (hub.Reasoning(effort=hub.Effort.NONE), None),
    ],
)
def test_reasoning_effort_for_the_upstream(reasoning: hub.Reasoning, effort: str | None) -> None:
    body = encode_request(hub.Request(model="m", messages=(), reasoning=reasoning), "up")
    assert body.get("reasoning_effort") == effort


def test_inexpressible_hub_content_is_dropped_and_named() -> None:
    doc = hub.Message("user", (hub.TextPart("q"), hub.DocumentPart(url="https://example.com/a.pdf")))
    drops: list[hub.Drop] = []
    body = encode_request(hub.Request(model="m", messages=(doc,)), "up", drops=drops)
    assert body["messages"] == [{"role": "user", "content": "q"}]
    assert drops == [hub.Drop("messages[0].parts[1]", "document", "content")]
    image_reply = hub.Message(
        "assistant", (hub.TextPart("a"), hub.ImagePart(url="https://example.com/a.png"))
    )
    drops = []
    encode_request(hub.Request(model="m", messages=(image_reply,)), "up", drops=drops)
    assert drops == [hub.Drop("messages[0].parts[1]", "image", "content")]
    forced = hub.Request(model="m", messages=(), tool_choice=hub.ToolChoice("required"))
    drops = []
    assert "tool_choice" not in encode_request(forced, "up", drops=drops)
    assert drops == [hub.Drop("tool_choice")]


def test_upstream_body_uses_only_sdk_parameters() -> None:
    """Every field we send is a parameter of the SDK's create() (top_k is the one extension)."""
    accepted = set(inspect.signature(openai.resources.chat.Completions.create).parameters)
    body = encode_request(replace(decode_request(load("request_full.json")), top_k=5), "up")
    assert set(body) - accepted == {"top_k"}


# ----------------------------------------------------------------- responses


def _as_openai_sends_it(body: JSON) -> JSON:
    """What encode_response should reproduce: no service tier, no fingerprint of ours."""
    expected = copy.deepcopy(body)
    expected.pop("service_tier", None)
    expected["system_fingerprint"] = None
    return expected


@pytest.mark.parametrize("name", ["response_text.json", "response_tool_calls.json"])
def test_openai_responses_round_trip_exactly(name: str) -> None:
    body = load(name)
    resp = decode_response(body)
    encoded = encode_response(resp, body["model"])
    assert encoded == _as_openai_sends_it(body)
    ChatCompletion.model_validate(encoded, strict=True)


def test_decode_text_response() -> None:
    resp = decode_response(load("response_text.json"))
    assert resp.id == "chatcmpl-CAf3mZ0qH8pWbYb9e3bQ3nTq5X1Lk"
    assert resp.parts == (hub.TextPart("Paris first: it is cooler, and Rome will still be sunny next week."),)
    assert resp.finish_reason is hub.FinishReason.STOP
    assert resp.usage == hub.Usage(prompt_tokens=2113, completion_tokens=17, cached_tokens=1920)
    assert resp.created == 1756400000


def test_decode_tool_call_response() -> None:
    resp = decode_response(load("response_tool_calls.json"))
    assert [p.kind for p in resp.parts] == ["tool_call", "tool_call"]
    assert resp.finish_reason is hub.FinishReason.TOOL_CALLS
    assert resp.parts[1] == hub.ToolCallPart(
        "call_H2sV7nQy8dKf1aJo6WbE0rTp", "get_weather", '{"city":"Rome"}'
    )


def test_deepseek_reasoning_response() -> None:
    resp = decode_response(load("response_deepseek_reasoning.json"))
    assert resp.parts == (
        hub.ThinkingPart("Compare the tenths: 1 < 8, so 9.11 < 9.8."),
        hub.TextPart("9.11 is smaller than 9.8."),
    )
    assert resp.usage.reasoning_tokens == 118
    encoded = encode_response(resp, "deepseek-reasoner")
    message = encoded["choices"][0]["message"]
    assert encoded["id"] == "chatcmpl-5f0e3c1a-8b7d-4a52-9c1e-2d4b6f8a0c13"
    assert message["reasoning_content"] == "Compare the tenths: 1 < 8, so 9.11 < 9.8."
    assert message["thinking_blocks"] == [{"type": "thinking", "thinking": message["reasoning_content"]}]
    assert encoded["usage"]["completion_tokens_details"]["reasoning_tokens"] == 118
    ChatCompletion.model_validate(encoded, strict=True)


def test_thinking_blocks_keep_signatures_and_round_trip() -> None:
    body = load("response_thinking_blocks.json")
    resp = decode_response(body)
    assert resp.parts[:2] == (
        hub.ThinkingPart("The user wants Paris weather.", signature="ErUBCkYIBRgCIkB0"),
        hub.ThinkingPart(redacted="EmwKAhgBEgy3va3p"),
    )
    assert resp.usage == hub.Usage(3041, 96, cached_tokens=2048, cache_write_tokens=512, reasoning_tokens=40)
    message = encode_response(resp, "claude")["choices"][0]["message"]
    assert message["thinking_blocks"] == body["choices"][0]["message"]["thinking_blocks"]
    assert decode_response(encode_response(resp, "claude")).parts == resp.parts


def test_encode_response_shape_for_a_translated_answer() -> None:
    resp = hub.Response(
        id="msg_01XFDUDYJgAACzvnptvVoYEL",
        model="claude-sonnet-4-5",
        parts=(hub.ToolCallPart("toolu_1", "f", '{"x":1}', signature="sig"),),
        finish_reason=hub.FinishReason.TOOL_CALLS,
        usage=hub.Usage(10, 5),
    )
    encoded = encode_response(resp, "my-alias")
    assert encoded["id"] == "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL"
    assert encoded["model"] == "my-alias" and encoded["created"] > 1_600_000_000
    message = encoded["choices"][0]["message"]
    assert message["content"] is None and message["refusal"] is None
    assert message["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "sig"}}
    assert "reasoning_content" not in message
    completion = sdk_client(json.dumps(encoded).encode(), "application/json").chat.completions.create(
        model="my-alias", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.tool_calls is not None
    assert completion.usage is not None and completion.usage.total_tokens == 15


def test_error_finish_reads_as_stop_for_sdk_callers() -> None:
    resp = hub.Response(
        id="x", model="m", parts=(hub.TextPart("partial"),), finish_reason=hub.FinishReason.ERROR
    )
    encoded = encode_response(resp, "m")
    assert encoded["choices"][0]["finish_reason"] == "stop"
    ChatCompletion.model_validate(encoded, strict=True)


def test_refusal_and_legacy_function_call_responses() -> None:
    body = {
        "id": "chatcmpl-1",
        "choices": [
            {"message": {"content": None, "refusal": "I can't help with that."}, "finish_reason": "stop"},
        ],
    }
    assert decode_response(body).parts == (hub.TextPart("I can't help with that."),)
    legacy = {
        "choices": [
            {"message": {"function_call": {"name": "f", "arguments": "{}"}}, "finish_reason": "function_call"}
        ]
    }
    resp = decode_response(legacy)
    assert resp.finish_reason is hub.FinishReason.TOOL_CALLS
    assert [(p.kind, getattr(p, "name", None)) for p in resp.parts] == [("tool_call", "f")]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            429,
            b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
            "Rate limit reached",
        ),
        (400, b'[{"error":{"code":400,"message":"Bad key","status":"INVALID_ARGUMENT"}}]', "Bad key"),
        (500, b'{"error":"boom"}', "boom"),
        (404, b'{"detail":"Not Found"}', "Not Found"),  # FastAPI-based servers (vLLM)
        (400, b'{"object":"error","message":"bad model","code":400}', "bad model"),
        (502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (503, b"", "HTTP 503"),
    ],
)
def test_decode_error(status: int, body: bytes, message: str) -> None:
    assert decode_error(status, body) == message


# ------------------------------------------------------------- stream decoder


def test_decode_openai_text_stream() -> None:
    events = decode_stream((FIXTURES / "stream_text.sse").read_bytes())
    assert events[0] == hub.Start(
        "chatcmpl-CAf6Qh5Ejx0r3oTqYzWn8uVb2KdLp", "gpt-4o-mini-2024-07-18", 1756400300
    )
    assert "".join(e.text for e in events if isinstance(e, hub.TextDelta)) == "Paris first: cooler now."
    assert events[-2:] == [
        hub.Finish(hub.FinishReason.STOP),
        hub.UsageUpdate(hub.Usage(prompt_tokens=2113, completion_tokens=6, cached_tokens=1920)),
    ]


def test_decode_parallel_tool_call_stream() -> None:
    events = decode_stream((FIXTURES / "stream_tool_calls.sse").read_bytes())
    starts = [e for e in events if isinstance(e, hub.ToolCallStart)]
    assert starts == [
        hub.ToolCallStart(0, "call_9p4bXk0mB1uQ2eYw3ZcR5tLs", "get_weather"),
        hub.ToolCallStart(1, "call_H2sV7nQy8dKf1aJo6WbE0rTp", "get_weather"),
    ]
    args = [
        "".join(e.arguments for e in events if isinstance(e, hub.ToolCallDelta) and e.index == i)
        for i in (0, 1)
    ]
    assert args == ['{"city": "Paris"}', '{"city": "Rome"}']
    assert not any(isinstance(e, hub.TextDelta) for e in events)
    assert events[-2] == hub.Finish(hub.FinishReason.TOOL_CALLS)


def test_azure_prompt_filter_chunk_is_ignored() -> None:
    events = decode_stream((FIXTURES / "stream_azure.sse").read_bytes())
    assert events == [
        hub.Start("chatcmpl-AzUre5kQ2mX8pL0vT7nB3cW9yH1dE", "gpt-4o-2024-11-20", 1756400400),
        hub.TextDelta("Hello"),
        hub.TextDelta(" there"),
        hub.Finish(hub.FinishReason.STOP),
    ]


def test_deepseek_reasoning_stream() -> None:
    events = decode_stream((FIXTURES / "stream_deepseek_reasoning.sse").read_bytes())
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Start", *["ThinkingDelta"] * 3, "TextDelta", "TextDelta", "Finish", "UsageUpdate"]
    assert "".join(e.text for e in events if isinstance(e, hub.ThinkingDelta)) == "Compare the tenths: 1 < 8."
    usage = events[-1]
    assert isinstance(usage, hub.UsageUpdate) and usage.usage.reasoning_tokens == 118


def test_gemini_tool_call_in_one_delta_keeps_signature_and_arguments() -> None:
    events = decode_stream((FIXTURES / "stream_gemini_tool_signature.sse").read_bytes())
    assert events[1:4] == [
        hub.ToolCallStart(
            0, "function-call-13617373401563584765", "get_weather", signature="CiQBjz1rX1sigQ7v"
        ),
        hub.ToolCallDelta(0, '{"city":"Paris"}'),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
    ]
    assert events[4] == hub.UsageUpdate(hub.Usage(54, 71, reasoning_tokens=56))


def test_error_event_ends_the_stream() -> None:
    raw = (FIXTURES / "stream_error.sse").read_bytes()
    events = decode_stream(raw + b'data: {"choices":[{"delta":{"content":"late"}}]}\n\n')
    assert events[-1] == hub.StreamError(
        500, "The server had an error while processing your request. Sorry about that!"
    )
    assert hub.TextDelta("late") not in events
    assert not any(isinstance(e, hub.Finish) for e in events)


def feed_json(decoder: StreamDecoder, chunk: JSON, event: str | None = None) -> list[hub.StreamEvent]:
    return decoder.feed(hub.SSEEvent(event, json.dumps(chunk)))


def test_vllm_reasoning_field_and_usage_chunk_without_choices() -> None:
    decoder = StreamDecoder()
    first = {"id": "x", "model": "m", "choices": [{"index": 0, "delta": {"reasoning": "hm"}}]}
    assert feed_json(decoder, first) == [hub.Start("x", "m"), hub.ThinkingDelta("hm")]
    usage = {"id": "x", "choices": None, "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    assert feed_json(decoder, usage) == [hub.UsageUpdate(hub.Usage(3, 2))]


def test_tool_calls_without_index_or_with_a_reused_index() -> None:
    decoder = StreamDecoder()
    indexless = {"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}  # arguments as an object
    assert feed_json(decoder, {"choices": [{"delta": {"tool_calls": [indexless]}}]})[1:] == [
        hub.ToolCallStart(0, "c1", "f"),
        hub.ToolCallDelta(0, '{"a":1}'),
    ]
    reused = {"index": 0, "id": "c2", "function": {"name": "g", "arguments": "{}"}}  # Mistral-style
    assert feed_json(decoder, {"choices": [{"delta": {"tool_calls": [reused]}}]}) == [
        hub.ToolCallStart(1, "c2", "g"),
        hub.ToolCallDelta(1, "{}"),
    ]
    more = {"index": 0, "function": {"arguments": " "}}
    assert feed_json(decoder, {"choices": [{"delta": {"tool_calls": [more]}}]}) == [hub.ToolCallDelta(1, " ")]


def test_only_the_first_choice_is_read() -> None:
    decoder = StreamDecoder()
    chunk = {"choices": [{"index": 1, "delta": {"content": "b"}}, {"index": 0, "delta": {"content": "a"}}]}
    assert feed_json(decoder, chunk)[1:] == [hub.TextDelta("a")]


def test_broken_chunks_and_error_events_become_stream_errors() -> None:
    assert StreamDecoder().feed(hub.SSEEvent(None, "not json")) == [
        hub.StreamError(502, "The upstream sent an invalid stream chunk: not json")
    ]
    assert StreamDecoder().feed(hub.SSEEvent("error", "overloaded")) == [hub.StreamError(500, "overloaded")]
    limited = {"error": {"message": "slow down", "type": "rate_limit_error"}}
    assert feed_json(StreamDecoder(), limited) == [hub.StreamError(429, "slow down")]


def test_a_stream_that_ends_without_finish_reason_still_finishes() -> None:
    decoder = StreamDecoder()
    feed_json(decoder, {"id": "x", "choices": [{"delta": {"content": "a"}}]})
    assert decoder.close() == [hub.Finish(hub.FinishReason.STOP)]


# ------------------------------------------------------------- stream encoder


TOOL_EVENTS: list[hub.StreamEvent] = [
    hub.Start("msg_01", "claude-sonnet-4-5", 1756400800),
    hub.ThinkingDelta("Need the "),
    hub.ThinkingDelta("weather."),
    hub.ThinkingDelta(signature="ErUBsig"),
    hub.TextDelta("Checking"),
    hub.TextDelta(" now."),
    hub.ToolCallStart(0, "toolu_a", "get_weather", signature="gsig"),
    hub.ToolCallDelta(0, '{"city":'),
    hub.ToolCallDelta(0, '"Paris"}'),
    hub.ToolCallStart(1, "toolu_b", "get_time"),
    hub.ToolCallDelta(1, "{}"),
    hub.Finish(hub.FinishReason.TOOL_CALLS),
    hub.UsageUpdate(hub.Usage(100, 1)),
    hub.UsageUpdate(hub.Usage(100, 40, cached_tokens=64, reasoning_tokens=12)),
]


def test_encoded_chunks_validate_as_sdk_types_with_one_id() -> None:
    frames = payloads(encode_stream(TOOL_EVENTS, model="my-alias"))
    assert frames[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(f, strict=True) for f in frames[:-1]]
    assert {(c.id, c.created, c.model) for c in chunks} == {("chatcmpl-msg_01", 1756400800, "my-alias")}
    assert all("usage" in f and f["system_fingerprint"] is None for f in frames[:-1])
    assert frames[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert frames[3]["choices"][0]["delta"] == {
        "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "ErUBsig"}]
    }
    assert frames[6]["choices"][0]["delta"]["tool_calls"] == [
        {
            "index": 0,
            "id": "toolu_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
            "extra_content": {"google": {"thought_signature": "gsig"}},
        }
    ]
    finish, usage = frames[-3], frames[-2]
    assert finish["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 40  # the last update wins
    assert all(f["usage"] is None for f in frames[:-2])


def test_sdk_accumulates_the_encoded_stream() -> None:
    client = sdk_client(encode_stream(TOOL_EVENTS))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in stream:
        state.handle_chunk(chunk)
    final = state.get_final_completion()
    choice = final.choices[0]
    assert choice.message.content == "Checking now."
    assert choice.finish_reason == "tool_calls"
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    assert calls == [("toolu_a", "get_weather", '{"city":"Paris"}'), ("toolu_b", "get_time", "{}")]
    assert final.usage is not None and final.usage.prompt_tokens_details is not None
    assert (final.usage.total_tokens, final.usage.prompt_tokens_details.cached_tokens) == (140, 64)


def test_without_include_usage_chunks_look_like_openai_without_usage() -> None:
    frames = payloads(encode_stream(TOOL_EVENTS, include_usage=False))
    assert all("usage" not in f for f in frames[:-1])
    assert frames[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_text_stream_re_encodes_to_the_same_chunks() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    original = payloads(raw)
    again = payloads(encode_stream(decode_stream(raw), model="gpt-4o-mini-2024-07-18"))
    for frame in original[:-1]:
        frame.pop("service_tier"), frame.pop("obfuscation")
        frame["system_fingerprint"] = None
    assert again == original


def test_stream_error_frame_makes_the_sdk_raise() -> None:
    events: list[hub.StreamEvent] = [
        hub.Start("a", "m"),
        hub.TextDelta("Par"),
        hub.StreamError(529, "Overloaded"),
        hub.TextDelta("x"),
    ]
    raw = encode_stream(events)
    frames = payloads(raw)
    assert frames[-2:] == [
        {"error": {"message": "Overloaded", "type": "api_error", "param": None, "code": None}},
        "[DONE]",
    ]
    stream = sdk_client(raw).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    seen = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "Par"]


def test_each_event_is_written_at_once_and_start_is_implied() -> None:
    encoder = StreamEncoder("m", include_usage=False, response_id="chatcmpl-fixed", created=5)
    first = encoder.feed(hub.TextDelta("a"))  # no Start seen: the role chunk comes first
    assert [f["choices"][0]["delta"] for f in payloads(first)] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "a"},
    ]
    assert payloads(first)[0]["id"] == "chatcmpl-fixed" and payloads(first)[0]["created"] == 5
    assert encoder.feed(hub.Start("other", "m")) == b""
    assert payloads(encoder.feed(hub.TextDelta("b")))[0]["choices"][0]["delta"] == {"content": "b"}
    assert encoder.feed(hub.UsageUpdate(hub.Usage(1, 1))) == b""  # not asked for
    closing = payloads(encoder.close())
    assert closing[0]["choices"][0]["finish_reason"] == "stop" and closing[-1] == "[DONE]"


# ------------------------------------------------------------- properties

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)
_ident = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
_b64 = st.from_regex(r"[A-Za-z0-9+/]{4,16}={0,2}", fullmatch=True)
_args = st.dictionaries(_ident, st.integers() | _text, max_size=3).map(lambda d: json.dumps(d))
_floats = st.floats(0, 2, allow_nan=False, width=32)

_user_part = st.one_of(
    _text.map(hub.TextPart),
    st.builds(
        hub.ImagePart,
        url=_ident.map(lambda s: f"https://example.com/{s}.png"),
        detail=st.sampled_from([None, "low", "high"]),
    ),
    st.builds(hub.ImagePart, data=_b64, media_type=st.sampled_from(["image/png", "image/jpeg"])),
    st.builds(
        hub.DocumentPart,
        data=_b64,
        media_type=st.just("application/pdf"),
        name=_ident.map(lambda s: s + ".pdf"),
    ),
)
_thinking = st.builds(hub.ThinkingPart, text=st.just("") | _text, signature=st.none() | _b64) | st.builds(
    hub.ThinkingPart, redacted=_b64
)


@st.composite
def _turns(draw: st.DrawFn) -> tuple[hub.Message, ...]:
    messages: list[hub.Message] = []
    for turn in range(draw(st.integers(1, 4))):
        messages.append(hub.Message("user", tuple(draw(st.lists(_user_part, min_size=1, max_size=3)))))
        names = draw(st.lists(_ident, max_size=2))
        calls = [
            hub.ToolCallPart(f"call_{turn}_{k}", name, draw(_args), signature=draw(st.none() | _b64))
            for k, name in enumerate(names)
        ]
        thinking = draw(st.lists(_thinking, max_size=2))
        texts = [hub.TextPart(t) for t in draw(st.lists(_text, max_size=2))]
        messages.append(hub.Message("assistant", (*thinking, *texts, *calls)))
        if calls:
            results = tuple(
                hub.ToolResultPart(
                    c.id, tuple(map(hub.TextPart, draw(st.lists(_text, max_size=2)))), name=c.name
                )
                for c in calls
            )
            messages.append(hub.Message("tool", results))
    return tuple(messages)


@st.composite
def chat_requests(draw: st.DrawFn) -> hub.Request:
    tools = tuple(
        hub.Tool(
            name,
            draw(st.none() | _text),
            {"type": "object", "properties": {}},
            draw(st.none() | st.booleans()),
        )
        for name in draw(st.lists(_ident, max_size=2, unique=True))
    )
    choice = None
    if tools:
        choice = draw(
            st.none()
            | st.sampled_from([hub.ToolChoice(m) for m in ("auto", "none", "required")])
            | st.sampled_from(tools).map(lambda t: hub.ToolChoice("tool", t.name))
        )
    fmt = draw(
        st.none()
        | st.sampled_from([hub.ResponseFormat("text"), hub.ResponseFormat("json_object")])
        | st.builds(
            hub.ResponseFormat,
            st.just("json_schema"),
            st.just({"type": "object"}),
            _ident,
            st.none() | st.booleans(),
        )
    )
    effort = st.sampled_from([hub.Effort.MINIMAL, hub.Effort.LOW, hub.Effort.MEDIUM, hub.Effort.HIGH])
    stream = draw(st.booleans())
    return hub.Request(
        model="upstream-model",
        messages=draw(_turns()),
        system=tuple(map(hub.TextPart, draw(st.lists(_text, max_size=1)))),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=draw(st.none() | st.booleans()) if tools else None,
        max_tokens=draw(st.none() | st.integers(1, 100_000)),
        temperature=draw(st.none() | _floats),
        top_p=draw(st.none() | _floats),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=tuple(draw(st.lists(_text, max_size=4))),
        seed=draw(st.none() | st.integers(0, 2**31)),
        presence_penalty=draw(st.none() | _floats),
        frequency_penalty=draw(st.none() | _floats),
        response_format=fmt,
        reasoning=draw(st.none() | effort.map(lambda e: hub.Reasoning(effort=e))),
        user=draw(st.none() | _ident),
        stream=stream,
        include_usage=stream,  # an upstream stream always asks for usage
    )


def _chat_meaning(message: hub.Message) -> hub.Message:
    """What Chat keeps of an assistant turn: unsigned reasoning travels as one text."""
    thinking = [p for p in message.parts if isinstance(p, hub.ThinkingPart)]
    if message.role != "assistant" or any(p.signature or p.redacted for p in thinking):
        return message
    rest = tuple(p for p in message.parts if not isinstance(p, hub.ThinkingPart))
    text = "".join(p.text for p in thinking)
    return hub.Message("assistant", ((hub.ThinkingPart(text),) if text else ()) + rest)


@settings(max_examples=200, deadline=None)
@given(chat_requests())
def test_request_round_trip_preserves_meaning(req: hub.Request) -> None:
    wire = json.loads(json.dumps(encode_request(req, "upstream-model")))
    assert decode_request(wire) == replace(req, messages=tuple(map(_chat_meaning, req.messages)))


@st.composite
def hub_streams(draw: st.DrawFn) -> list[hub.StreamEvent]:
    events: list[hub.StreamEvent] = [hub.Start(draw(_ident), "m", draw(st.integers(1, 2**31)))]
    calls = 0
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["text", "thinking", "signature", "call", "args"]))
        if kind == "text":
            events.append(hub.TextDelta(draw(_text)))
        elif kind == "thinking":
            events.append(hub.ThinkingDelta(draw(_text)))
        elif kind == "signature":
            events.append(hub.ThinkingDelta(signature=draw(_b64)))
        elif kind == "call" or calls == 0:
            events.append(hub.ToolCallStart(calls, f"call_{calls}", draw(_ident), draw(st.none() | _b64)))
            calls += 1
        else:
            events.append(hub.ToolCallDelta(draw(st.integers(0, calls - 1)), draw(_text)))
    reasons = [r for r in hub.FinishReason if r is not hub.FinishReason.ERROR]
    events.append(hub.Finish(draw(st.sampled_from(reasons))))
    for _ in range(draw(st.integers(0, 2))):
        usage = hub.Usage(*draw(st.tuples(*[st.integers(0, 10**6)] * 5)))
        events.append(hub.UsageUpdate(usage))
    return events


def _summary(events: list[hub.StreamEvent]) -> JSON:
    """What a caller sees of a stream: texts, signatures, calls, finish and the last usage."""
    calls: dict[int, list[str]] = {}
    summary: JSON = {
        "text": "",
        "thinking": "",
        "signatures": [],
        "calls": calls,
        "finish": [],
        "usage": None,
    }
    for e in events:
        if isinstance(e, hub.TextDelta):
            summary["text"] += e.text
        elif isinstance(e, hub.ThinkingDelta):
            summary["thinking"] += e.text
            summary["signatures"] += [e.signature] if e.signature else []
        elif isinstance(e, hub.ToolCallStart):
            calls[e.index] = [e.id, e.name, e.signature or "", ""]
        elif isinstance(e, hub.ToolCallDelta):
            calls[e.index][3] += e.arguments
        elif isinstance(e, hub.Finish):
            summary["finish"].append(e.reason)
        elif isinstance(e, hub.UsageUpdate):
            summary["usage"] = e.usage
    return summary


@settings(max_examples=200, deadline=None)
@given(hub_streams())
def test_stream_encode_then_decode_gives_back_the_stream(events: list[hub.StreamEvent]) -> None:
    back = decode_stream(encode_stream(events))
    assert _summary(back) == _summary(events)
    start = events[0]
    assert isinstance(start, hub.Start)
    assert back[0] == replace(start, id=f"chatcmpl-{start.id}", model="gpt-test")


def _chunks(raw: bytes) -> Iterator[JSON]:
    yield from (f for f in payloads(raw) if f != "[DONE]")


@settings(max_examples=50, deadline=None)
@given(hub_streams(), st.booleans())
def test_every_encoded_chunk_is_a_valid_sdk_chunk(events: list[hub.StreamEvent], include_usage: bool) -> None:
    for frame in _chunks(encode_stream(events, include_usage=include_usage)):
        ChatCompletionChunk.model_validate(frame, strict=True)
