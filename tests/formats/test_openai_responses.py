"""The OpenAI Responses codec: golden fixtures, the SDK's own types as the judge of what the
encoders write, round trips (some as hypothesis properties), bad input, and the codec against the
fake Responses upstream."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from hubgate.errors import BadGateway, InvalidRequest
from hubgate.formats import hub
from hubgate.formats import openai_responses as codec
from hubgate.formats.openai_responses import ResponsesOptions
from tests.fakes.responses_upstream import DEFAULT_API_KEY, TOOL_ARGUMENTS, FakeResponses

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai_responses"
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def sse_events(raw: str | bytes) -> list[hub.SSEEvent]:
    """Parse server-sent events (what the relay hands a StreamDecoder)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].removeprefix(" "))
        events.append(hub.SSEEvent(name, "\n".join(data)))
    return events


def frames(raw: bytes) -> list[dict[str, Any]]:
    """Check an encoder's output frame by frame against the SDK's event union; return the payloads."""
    payloads = []
    for event in sse_events(raw):
        payload = json.loads(event.data)
        assert payload["type"] == event.event
        EVENTS.validate_python(payload)
        payloads.append(payload)
    assert raw.endswith(b"\n\n") and b"[DONE]" not in raw
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    return payloads


def encode_stream(events: Iterable[hub.StreamEvent], **kwargs: Any) -> tuple[bytes, codec.StreamEncoder]:
    encoder = codec.StreamEncoder("gpt-test", **kwargs)
    raw = b"".join(encoder.feed(e) for e in events) + encoder.close()
    return raw, encoder


def decode_stream(raw: str | bytes) -> list[hub.StreamEvent]:
    decoder = codec.StreamDecoder()
    out: list[hub.StreamEvent] = []
    for event in sse_events(raw):
        out += decoder.feed(event)
    return out + decoder.close()


Block = tuple[Any, ...]


def blocks(events: Iterable[hub.StreamEvent]) -> list[Block]:
    """Fold stream events into content blocks: ("text", s), ("thinking", text, signature, redacted),
    ("call", id, name, arguments, signature). Thinking after a signature starts a new block."""
    out: list[list[Any]] = []
    calls: dict[int, list[Any]] = {}
    for ev in events:
        last = out[-1] if out else None
        if isinstance(ev, hub.TextDelta):
            if last is None or last[0] != "text":
                out.append(["text", ""])
            out[-1][1] += ev.text
        elif isinstance(ev, hub.ThinkingDelta):
            if ev.redacted is not None:
                out.append(["thinking", "", None, ev.redacted])
                continue
            if ev.text:
                if last is None or last[0] != "thinking" or last[2] is not None or last[3] is not None:
                    out.append(["thinking", "", None, None])
                out[-1][1] += ev.text
            if ev.signature is not None:
                last = out[-1] if out else None
                if last is None or last[0] != "thinking" or last[2] is not None or last[3] is not None:
                    out.append(["thinking", "", None, None])
                out[-1][2] = ev.signature
        elif isinstance(ev, hub.ToolCallStart):
            calls[ev.index] = ["call", ev.id, ev.name, "", ev.signature]
            out.append(calls[ev.index])
        elif isinstance(ev, hub.ToolCallDelta):
            calls[ev.index][3] += ev.arguments
    return [tuple(b) for b in out]


def collect(events: list[hub.StreamEvent], response_id: str = "resp_collected") -> hub.Response:
    """A hub.Response from stream events (what a relay does for a non-streaming caller)."""
    parts: list[hub.Part] = []
    for block in blocks(events):
        if block[0] == "text":
            parts.append(hub.TextPart(block[1]))
        elif block[0] == "thinking":
            parts.append(hub.ThinkingPart(block[1], signature=block[2], redacted=block[3]))
        else:
            parts.append(hub.ToolCallPart(block[1], block[2], block[3], signature=block[4]))
    finish = next(e.reason for e in events if isinstance(e, hub.Finish))
    usage = [e.usage for e in events if isinstance(e, hub.UsageUpdate)]
    return hub.Response(response_id, "gpt-test", tuple(parts), finish, usage[-1] if usage else hub.Usage())


def without_volatile(response: dict[str, Any]) -> dict[str, Any]:
    """A response object minus what differs run to run (ids, timestamps)."""
    out = {k: v for k, v in response.items() if k not in ("id", "created_at", "completed_at")}
    out["output"] = [{k: v for k, v in item.items() if k != "id"} for item in response["output"]]
    return out


# ---------------------------------------------------------------------------------------------------------
# golden fixtures: requests


def test_golden_request_decodes_to_the_hub() -> None:
    req = codec.decode_request(fixture_json("request_full.json"))
    assert req.model == "gpt-5-mini"
    assert req.system == (
        hub.TextPart("You are a terse weather assistant."),
        hub.TextPart("Always answer in metric units."),
    )
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "assistant", "user"]
    user, turn, results, answer, last = req.messages
    assert user.parts == (
        hub.TextPart("What is the weather like here?"),
        hub.ImagePart(data="/9j/4AAQSkZJRgABAQ", media_type="image/jpeg", detail="low"),
        hub.ImagePart(url="https://example.com/paris.png"),
        hub.DocumentPart(data="JVBERi0xLjQK", media_type="application/pdf", name="trip.pdf"),
    )
    # reasoning + text + two calls of one turn are one assistant message; OpenAI's own
    # encrypted reasoning only an OpenAI upstream reads (which gets the body as it came)
    assert turn.parts == (
        hub.ThinkingPart("**Locating the user**\n\nThe photo shows Paris."),
        hub.TextPart("That looks like Paris; checking."),
        hub.ToolCallPart("call_Xk2sJ9mQ4vT7bN1pR6wE3yZ8", "get_weather", '{"city":"Paris","unit":"celsius"}'),
        hub.ToolCallPart("call_Hh5tQ2wL8nB4vK9mD1sF6gJ3", "get_time", '{"city":"Paris"}'),
    )
    # consecutive outputs are one tool message; names come from the calls
    assert results.parts == (
        hub.ToolResultPart(
            "call_Xk2sJ9mQ4vT7bN1pR6wE3yZ8",
            (hub.TextPart('{"temp_c": 21, "sky": "clear"}'),),
            name="get_weather",
        ),
        hub.ToolResultPart(
            "call_Hh5tQ2wL8nB4vK9mD1sF6gJ3",
            (hub.TextPart("14:05"), hub.ImagePart(url="https://example.com/clock.png")),
            name="get_time",
        ),
    )
    assert answer.parts == (hub.TextPart("It is 21 C and clear at 14:05."),)
    assert last.parts == (hub.TextPart("Thanks! Reply as JSON."),)
    assert req.tools[0].strict is True and req.tools[1].description is None
    assert req.tool_choice == hub.ToolChoice("auto")
    assert (req.parallel_tool_calls, req.max_tokens, req.temperature, req.top_p) == (True, 2048, 0.2, 0.9)
    assert req.response_format is not None
    assert (req.response_format.type, req.response_format.name) == ("json_schema", "weather_reply")
    assert req.reasoning == hub.Reasoning(effort=hub.Effort.LOW, include_thoughts=True)
    assert (req.user, req.stream) == ("user-1234", False)


def test_golden_request_encodes_for_a_responses_upstream() -> None:
    req = codec.decode_request(fixture_json("request_full.json"))
    expected = fixture_json("request_full.upstream.json")
    # OpenAI's own encrypted reasoning does not go through the hub (it passes through to
    # OpenAI upstreams as it came): the only difference
    expected["input"] = [item for item in expected["input"] if item["type"] != "reasoning"]
    assert codec.encode_request(req, "gpt-5-mini-2025-08-07") == expected


def test_golden_request_options() -> None:
    options = codec.request_options(fixture_json("request_full.json"))
    assert options == ResponsesOptions(
        store=True,
        metadata={"session": "s-42"},
        instructions="You are a terse weather assistant.",
        include=("reasoning.encrypted_content",),
        truncation="disabled",
        reasoning_summary="auto",
    )
    assert codec.request_options({"model": "m", "input": "x"}) == ResponsesOptions()
    assert codec.request_options({"store": False, "previous_response_id": "resp_1"}) == ResponsesOptions(
        store=False, previous_response_id="resp_1"
    )


def test_input_items_for_storage() -> None:
    assert codec.input_items({"input": "hi"}) == [{"type": "message", "role": "user", "content": "hi"}]
    items = fixture_json("request_full.json")["input"]
    assert codec.input_items({"input": items}) == items
    assert codec.input_items({"previous_response_id": "resp_1"}) == []


# ---------------------------------------------------------------------------------------------------------
# golden fixtures: responses


def test_golden_response_decodes() -> None:
    resp = codec.decode_response(fixture_json("response_reasoning_tool.json"))
    assert resp.id == "resp_68a1f0c2d4e08190b1a3c5d7e9f1a2b30c4d5e6f7a8b9c0d"
    assert resp.model == "gpt-5-mini-2025-08-07"
    assert resp.created == 1755440834
    assert resp.parts == (
        hub.ThinkingPart(
            "**Checking the weather**\n\nThe user wants the weather in Paris.\n\n"
            "**Calling the tool**\n\nI will call get_weather.",
            signature="gAAAAABoofDDx1Qk9l0hVv3Zb2P8nY6rT4mW1sE7uJ0cA5dF3gH9kL2pO8iU6yR4eW1qZ0xC3vB5nM7",
        ),
        hub.TextPart("Let me check the weather in Paris."),
        hub.ToolCallPart("call_Xk2sJ9mQ4vT7bN1pR6wE3yZ8", "get_weather", '{"city":"Paris","unit":"celsius"}'),
    )
    assert resp.finish_reason is hub.FinishReason.TOOL_CALLS
    assert resp.usage == hub.Usage(
        prompt_tokens=1204, completion_tokens=161, cached_tokens=1024, reasoning_tokens=128
    )

    incomplete = codec.decode_response(fixture_json("response_incomplete.json"))
    assert incomplete.finish_reason is hub.FinishReason.LENGTH
    assert incomplete.parts == (hub.TextPart("Once upon a time, in a quiet village by the sea, there lived"),)


@pytest.mark.parametrize("name", ["response_reasoning_tool.json", "response_incomplete.json"])
def test_golden_response_re_encodes_as_the_api_would(name: str) -> None:
    original = fixture_json(name)
    resp = codec.decode_response(original)
    encoded = codec.encode_response(resp, original["model"])
    Response.model_validate(encoded)
    assert encoded["id"] == original["id"]
    assert encoded["created_at"] == original["created_at"]
    assert [item["id"][:3] for item in encoded["output"]] == [item["id"][:3] for item in original["output"]]
    expected = without_volatile(original)
    got = without_volatile(encoded)
    # one summary part per reasoning item after the round trip
    for item in expected["output"]:
        if item["type"] == "reasoning":
            item["summary"] = [
                {"type": "summary_text", "text": "\n\n".join(s["text"] for s in item["summary"])}
            ]
    expected["usage"]["input_tokens_details"].setdefault("cache_write_tokens", 0)
    for key in ("status", "incomplete_details", "output", "usage", "error", "object", "model"):
        assert got[key] == expected[key], key


def test_encode_response_echoes_the_request() -> None:
    body = fixture_json("request_full.json")
    req = codec.decode_request(body)
    resp = hub.Response("chatcmpl-abc", "gpt-5-mini", (hub.TextPart('{"reply": "ok"}'),), created=1755440000)
    encoded = codec.encode_response(resp, "gpt-5-mini", options=codec.request_options(body), request=req)
    parsed = Response.model_validate(encoded)
    assert parsed.id.startswith("resp_") and parsed.id != "resp_chatcmpl-abc"
    assert parsed.output_text == '{"reply": "ok"}'
    assert "output_text" not in encoded
    assert encoded["instructions"] == "You are a terse weather assistant."
    assert encoded["metadata"] == {"session": "s-42"}
    assert encoded["store"] is True and encoded["truncation"] == "disabled"
    assert encoded["reasoning"] == {"effort": "low", "summary": "auto"}
    assert encoded["text"]["format"]["name"] == "weather_reply"
    assert [t["name"] for t in encoded["tools"]] == ["get_weather", "get_time"]
    assert (encoded["temperature"], encoded["top_p"], encoded["max_output_tokens"]) == (0.2, 0.9, 2048)
    assert encoded["user"] == "user-1234"
    assert encoded["completed_at"] >= encoded["created_at"] == 1755440000

    bare = codec.encode_response(resp, "m")
    Response.model_validate(bare)
    assert (bare["tools"], bare["tool_choice"], bare["store"], bare["metadata"]) == ([], "auto", True, {})


@pytest.mark.parametrize(
    ("reason", "status", "details"),
    [
        (hub.FinishReason.STOP, "completed", None),
        (hub.FinishReason.LENGTH, "incomplete", {"reason": "max_output_tokens"}),
        (hub.FinishReason.CONTENT_FILTER, "incomplete", {"reason": "content_filter"}),
        (hub.FinishReason.ERROR, "failed", None),
    ],
)
def test_encode_response_status(reason: hub.FinishReason, status: str, details: Any) -> None:
    encoded = codec.encode_response(hub.Response("resp_x", "m", (hub.TextPart("a"),), reason), "m")
    Response.model_validate(encoded)
    assert encoded["status"] == status
    assert encoded["incomplete_details"] == details
    assert (encoded["error"] is not None) is (status == "failed")
    assert (encoded["completed_at"] is not None) is (status == "completed")


def test_decode_response_rejects_what_is_not_a_response() -> None:
    with pytest.raises(BadGateway):
        codec.decode_response({"object": "chat.completion", "choices": []})
    with pytest.raises(BadGateway):
        codec.decode_response({"output": [{"type": "function_call", "arguments": "{}"}]})


def test_decode_response_skips_hosted_tool_items_and_reads_refusals() -> None:
    resp = codec.decode_response(
        {
            "id": "resp_1",
            "status": "completed",
            "output": [
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "message", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
            ],
        }
    )
    assert resp.parts == (hub.TextPart("I can't help with that."),)
    assert resp.finish_reason is hub.FinishReason.STOP
    assert resp.usage == hub.Usage()


def test_decode_error() -> None:
    body = {"error": {"message": "Invalid 'input': bad.", "type": "invalid_request_error", "param": "input"}}
    assert codec.decode_error(400, orjson.dumps(body)) == "Invalid 'input': bad."
    assert codec.decode_error(502, b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert codec.decode_error(503, b"") == "The upstream answered with HTTP 503."
    assert codec.decode_error(500, b'{"message": "flat"}') == "flat"


# ---------------------------------------------------------------------------------------------------------
# golden fixtures: streams


def test_golden_text_stream_decodes() -> None:
    raw = (FIXTURES / "stream_text.sse").read_text()
    events = decode_stream(raw)
    start = events[0]
    assert isinstance(start, hub.Start) and start.id.startswith("resp_") and start.model == "gpt-4o-mini"
    assert "".join(e.text for e in events if isinstance(e, hub.TextDelta)) == "Hello! You said: Say hi"
    assert events[-2:] == [
        hub.Finish(hub.FinishReason.STOP),
        hub.UsageUpdate(hub.Usage(prompt_tokens=5, completion_tokens=5)),
    ]


def test_golden_reasoning_tool_stream_decodes() -> None:
    raw = (FIXTURES / "stream_reasoning_tool.sse").read_text()
    events = decode_stream(raw)
    final = json.loads(sse_events(raw)[-1].data)["response"]
    reasoning, call = final["output"]
    assert blocks(events) == [
        ("thinking", reasoning["summary"][0]["text"], reasoning["encrypted_content"], None),
        ("call", call["call_id"], "get_weather", TOOL_ARGUMENTS, None),
    ]
    assert sum(isinstance(e, hub.ToolCallDelta) for e in events) == 4
    assert events[-2] == hub.Finish(hub.FinishReason.TOOL_CALLS)
    usage = events[-1]
    assert isinstance(usage, hub.UsageUpdate) and usage.usage.reasoning_tokens == 14


def test_golden_failed_stream_decodes_to_an_error() -> None:
    events = decode_stream((FIXTURES / "stream_failed.sse").read_text())
    assert isinstance(events[0], hub.Start)
    assert events[1:] == [
        hub.TextDelta("The answer"),
        hub.StreamError(500, "The model produced invalid content."),
    ]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_reasoning_tool.sse", "stream_failed.sse"])
def test_golden_streams_re_encode_with_the_real_event_sequence(name: str) -> None:
    raw = (FIXTURES / name).read_text()
    original = [json.loads(e.data) for e in sse_events(raw)]
    hub_events = decode_stream(raw)
    start = hub_events[0]
    assert isinstance(start, hub.Start)
    encoded, encoder = encode_stream(hub_events)
    payloads = frames(encoded)
    assert [p["type"] for p in payloads] == [p["type"] for p in original]
    assert payloads[0]["response"]["id"] == start.id  # a resp_ id from upstream is kept
    final = payloads[-1]["response"]
    assert encoder.final_response == final
    assert without_volatile(final)["output"] == without_volatile(original[-1]["response"])["output"]
    again = decode_stream(encoded)
    assert again[0] == dataclasses.replace(start, model="gpt-test")
    assert again[1:] == hub_events[1:]


# ---------------------------------------------------------------------------------------------------------
# the stream encoder


def test_stream_encoder_full_sequence_and_final_response() -> None:
    events: list[hub.StreamEvent] = [
        hub.Start("msg_01anthropic", "claude", created=1755440000),
        hub.ThinkingDelta("Let me "),
        hub.ThinkingDelta("think."),
        hub.ThinkingDelta(signature="EqQBCkgIAxAB"),
        hub.TextDelta("Checking"),
        hub.TextDelta(" now."),
        hub.ToolCallStart(0, "toolu_01", "get_weather"),
        hub.ToolCallDelta(0, '{"city":'),
        hub.ToolCallDelta(0, '"Paris"}'),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
        hub.UsageUpdate(hub.Usage(prompt_tokens=10, completion_tokens=20, reasoning_tokens=5)),
    ]
    raw, encoder = encode_stream(events, options=ResponsesOptions(store=False, metadata={"k": "v"}))
    payloads = frames(raw)
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = payloads[0]["response"]
    assert created["id"].startswith("resp_") and created["created_at"] == 1755440000
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    text_delta = payloads[11]
    assert set(text_delta) == {
        "type",
        "item_id",
        "output_index",
        "content_index",
        "delta",
        "logprobs",
        "sequence_number",
    }
    assert (text_delta["output_index"], text_delta["content_index"], text_delta["logprobs"]) == (1, 0, [])
    final = encoder.final_response
    assert final is not None and final == payloads[-1]["response"]
    parsed = Response.model_validate(final)
    assert parsed.status == "completed" and parsed.output_text == "Checking now."
    assert [item.type for item in parsed.output] == ["reasoning", "message", "function_call"]
    assert final["output"][0]["encrypted_content"] == "EqQBCkgIAxAB"
    assert final["output"][2]["arguments"] == '{"city":"Paris"}'
    assert final["output"][2]["call_id"] == "toolu_01"
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 5}
    assert (final["store"], final["metadata"]) == (False, {"k": "v"})
    # the items streamed and the items stored are the same
    done_items = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert done_items == final["output"]
    assert encoder.feed(hub.TextDelta("late")) == b"" and encoder.close() == b""


def test_stream_encoder_emits_as_input_arrives() -> None:
    encoder = codec.StreamEncoder("m", response_id="resp_fixed", created=1)
    assert b"response.created" in encoder.feed(hub.Start("x", "m"))
    out = encoder.feed(hub.TextDelta("Hi"))
    assert out.count(b"event: ") == 3 and b'"delta":"Hi"' in out
    assert encoder.feed(hub.UsageUpdate(hub.Usage(1, 1))) == b""
    assert encoder.final_response is None
    assert b"response.output_item.done" in encoder.feed(hub.Finish(hub.FinishReason.STOP))
    assert encoder.final_response is None
    tail = encoder.close()
    assert tail.startswith(b"event: response.completed\n")
    assert encoder.final_response is not None and encoder.final_response["id"] == "resp_fixed"


@pytest.mark.parametrize(
    ("reason", "event", "details"),
    [
        (hub.FinishReason.LENGTH, "response.incomplete", {"reason": "max_output_tokens"}),
        (hub.FinishReason.CONTENT_FILTER, "response.incomplete", {"reason": "content_filter"}),
        (hub.FinishReason.ERROR, "response.failed", None),
    ],
)
def test_stream_encoder_terminal_events(reason: hub.FinishReason, event: str, details: Any) -> None:
    raw, encoder = encode_stream([hub.Start("x", "m"), hub.TextDelta("cut"), hub.Finish(reason)])
    last = frames(raw)[-1]
    assert last["type"] == event
    assert last["response"]["incomplete_details"] == details
    assert encoder.final_response == last["response"]
    decoded = decode_stream(raw)
    if event == "response.failed":
        assert decoded[-1] == hub.StreamError(500, last["response"]["error"]["message"])
    else:
        assert decoded[-2] == hub.Finish(reason)


def test_stream_encoder_error_mid_stream() -> None:
    raw, encoder = encode_stream(
        [hub.Start("x", "m"), hub.TextDelta("partial"), hub.StreamError(429, "Rate limit reached")]
    )
    payloads = frames(raw)
    # as the API does: no done events for what was cut, the failed response holds it as incomplete
    assert [p["type"] for p in payloads][-3:] == [
        "response.content_part.added",
        "response.output_text.delta",
        "response.failed",
    ]
    failed = payloads[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "rate_limit_exceeded", "message": "Rate limit reached"}
    assert failed["output"][0]["status"] == "incomplete"
    assert failed["output"][0]["content"][0]["text"] == "partial"
    assert encoder.final_response == failed
    assert decode_stream(raw)[-1] == hub.StreamError(429, "Rate limit reached")


def test_stream_encoder_without_finish_or_start() -> None:
    raw, _ = encode_stream([hub.TextDelta("no start")])
    payloads = frames(raw)
    assert payloads[0]["type"] == "response.created"
    assert payloads[-1]["type"] == "response.failed"
    raw, _ = encode_stream([])
    assert [p["type"] for p in frames(raw)] == ["response.created", "response.in_progress", "response.failed"]


def test_stream_encoder_parallel_tool_calls_may_interleave() -> None:
    events: list[hub.StreamEvent] = [
        hub.Start("resp_p", "m"),
        hub.ToolCallStart(0, "call_a", "f"),
        hub.ToolCallStart(1, "call_b", "g"),
        hub.ToolCallDelta(0, '{"x":'),
        hub.ToolCallDelta(1, "{}"),
        hub.ToolCallDelta(0, "1}"),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
    ]
    raw, encoder = encode_stream(events)
    frames(raw)
    assert encoder.final_response is not None
    assert [(o["call_id"], o["arguments"]) for o in encoder.final_response["output"]] == [
        ("call_a", '{"x":1}'),
        ("call_b", "{}"),
    ]
    assert blocks(decode_stream(raw)) == [
        ("call", "call_a", "f", '{"x":1}', None),
        ("call", "call_b", "g", "{}", None),
    ]


def test_stream_encoder_separates_signed_thinking_blocks_and_redacted_thinking() -> None:
    events: list[hub.StreamEvent] = [
        hub.Start("resp_t", "m"),
        hub.ThinkingDelta("one"),
        hub.ThinkingDelta(signature="sig1"),
        hub.ThinkingDelta("two"),
        hub.ThinkingDelta(signature="sig2"),
        hub.ThinkingDelta(redacted="opaque"),
        hub.TextDelta("answer"),
        hub.Finish(hub.FinishReason.STOP),
    ]
    raw, encoder = encode_stream(events)
    frames(raw)
    assert encoder.final_response is not None
    output = encoder.final_response["output"]
    assert [o["type"] for o in output] == ["reasoning", "reasoning", "reasoning", "message"]
    assert output[2] == {
        "id": output[2]["id"],
        "type": "reasoning",
        "summary": [],
        "encrypted_content": "hubgate.redacted_thinking:opaque",
    }
    assert blocks(decode_stream(raw)) == blocks(events)
    # a redacted block sent back by the caller is redacted thinking again
    replay = codec.decode_request({"model": "m", "input": [output[2], {"role": "user", "content": "go"}]})
    assert replay.messages[0].parts == (hub.ThinkingPart(redacted="opaque"),)


# ---------------------------------------------------------------------------------------------------------
# the stream decoder


def _sse(*payloads: dict[str, Any]) -> str:
    return "".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n" for p in payloads)


def test_stream_decoder_catches_up_on_items_sent_whole() -> None:
    """Some upstreams send no deltas, only whole items (or only the final response)."""
    response = {"id": "resp_w", "model": "m", "created_at": 5, "status": "in_progress"}
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}]}
    message = {"id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "Hi"}]}
    call = {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'}
    raw = _sse(
        {"type": "response.created", "response": response},
        {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
        {"type": "response.output_item.added", "output_index": 1, "item": {**call, "arguments": ""}},
        {
            "type": "response.function_call_arguments.done",
            "output_index": 1,
            "item_id": "fc_1",
            "arguments": '{"a":1}',
        },
        {
            "type": "response.completed",
            "response": {
                **response,
                "status": "completed",
                "output": [reasoning, call, message],
                "usage": None,
            },
        },
    )
    events = decode_stream(raw)
    assert events[0] == hub.Start("resp_w", "m", 5)
    assert blocks(events) == [
        ("thinking", "hm", None, None),
        ("call", "c1", "f", '{"a":1}', None),
        ("text", "Hi"),
    ]
    assert events[-1] == hub.Finish(hub.FinishReason.TOOL_CALLS)


def test_stream_decoder_errors() -> None:
    decoder = codec.StreamDecoder()
    assert decoder.feed(hub.SSEEvent("response.created", '{"type":"response.created","response":{"id":"r"}}'))
    assert decoder.close() == [
        hub.StreamError(502, "The upstream stream ended before the response was complete.")
    ]

    decoder = codec.StreamDecoder()
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None}
    assert decoder.feed(hub.SSEEvent("error", json.dumps(error))) == [hub.StreamError(429, "Slow down")]
    assert decoder.feed(hub.SSEEvent("response.output_text.delta", '{"delta":"x"}')) == []
    assert decoder.close() == []

    decoder = codec.StreamDecoder()
    assert decoder.feed(hub.SSEEvent(None, "not json")) == [
        hub.StreamError(502, "The upstream sent an event that is not a JSON object.")
    ]
    assert codec.StreamDecoder().feed(hub.SSEEvent(None, "[DONE]")) == []


def test_stream_decoder_joins_summary_parts_like_decode_response() -> None:
    at = {"item_id": "rs_1", "output_index": 0}
    raw = _sse(
        {"type": "response.created", "response": {"id": "resp_s"}},
        {"type": "response.reasoning_summary_part.added", **at, "summary_index": 0},
        {"type": "response.reasoning_summary_text.delta", **at, "summary_index": 0, "delta": "a"},
        {"type": "response.reasoning_summary_part.added", **at, "summary_index": 1},
        {"type": "response.reasoning_summary_text.delta", **at, "summary_index": 1, "delta": "b"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "reasoning",
                "summary": [{"text": "a"}, {"text": "b"}],
                "encrypted_content": "E",
            },
        },
        {"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": None}},
    )
    events = decode_stream(raw)
    assert blocks(events) == [("thinking", "a\n\nb", "E", None)]
    assert events[-1] == hub.Finish(hub.FinishReason.LENGTH)


# ---------------------------------------------------------------------------------------------------------
# bad input


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "input": "hi", **fields}


def _item(item: Any) -> dict[str, Any]:
    return _body(input=[item])


def _user(*content: Any) -> dict[str, Any]:
    return _item({"role": "user", "content": list(content)})


BAD_REQUESTS: list[tuple[Any, str]] = [
    ({"input": "hi"}, "model"),
    ({"model": 3, "input": "hi"}, "model"),
    ({"model": "m"}, "input"),
    (_body(input=5), "input"),
    (_body(input=["hi"]), "input[0]"),
    (_item({"type": "message", "content": "x"}), "input[0].role"),
    (_user({"type": "input_image", "image_url": "data:image/png,abc"}), "input[0].content[0].image_url"),
    (
        _user({"type": "input_image", "image_url": "https://e.com/a.png", "detail": "max"}),
        "input[0].content[0].detail",
    ),
    (_user({"type": "input_text"}), "input[0].content[0].text"),
    (_item({"type": "function_call", "name": "f", "arguments": "{}"}), "input[0].call_id"),
    (_item({"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}), "input[0].arguments"),
    (_item({"type": "function_call_output", "output": "x"}), "input[0].call_id"),
    (_item({"type": "function_call_output", "call_id": "c", "output": 5}), "input[0].output"),
    (
        _item({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text"}]}),
        "input[0].summary[0].text",
    ),
    (
        _item({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": 5}),
        "input[0].encrypted_content",
    ),
    (_body(tools=[{"type": "function", "function": {"name": "chat_style"}}]), "tools[0].name"),
    (_body(tools=[{**WEATHER, "parameters": "x"}]), "tools[0].parameters"),
    (_body(tools={"type": "function"}), "tools"),
    (_body(tools=[{"name": "untyped"}]), "tools[0].type"),
    (_body(tools=[{"type": "namespace", "tools": []}]), "tools[0].name"),
    (_body(tool_choice="sometimes"), "tool_choice"),
    (_body(tool_choice={"type": "function"}), "tool_choice.name"),
    (_body(text={"format": {"type": "json_schema", "schema": {}}}), "text.format.name"),
    (_body(text={"format": {"type": "json_schema", "name": "x"}}), "text.format.schema"),
    (_body(text="json"), "text"),
    (_body(reasoning="high"), "reasoning"),
    (_body(temperature="hot"), "temperature"),
    (_body(top_p=True), "top_p"),
    (_body(max_output_tokens=1.5), "max_output_tokens"),
    (_body(parallel_tool_calls="yes"), "parallel_tool_calls"),
    (_body(stream="yes"), "stream"),
    (_body(user=7), "user"),
    (_body(background=True), "background"),
    (_body(conversation="conv_1"), "conversation"),
    (_body(prompt={"id": "pmpt_1"}), "prompt"),
    (_body(metadata={"a": 1}), "metadata.a"),
    (_body(metadata=[]), "metadata"),
    (_body(store="no"), "store"),
    (_body(include=[1]), "include[0]"),
    (_body(truncation="sometimes"), "truncation"),
    (_body(previous_response_id=5), "previous_response_id"),
    (_body(instructions=["x"]), "instructions"),
]


D = hub.Drop
DROPPED: list[tuple[Any, list[hub.Drop]]] = [
    (_item({"type": "item_reference", "id": "msg_1"}), [D("input[0]", "item_reference", "item")]),
    (_item({"id": "msg_1"}), [D("input[0]", "untyped", "item")]),
    (_item({"type": "web_search_call", "id": "ws_1"}), [D("input[0]", "web_search_call", "item")]),
    (_item({"type": "local_shell_call", "call_id": "c"}), [D("input[0]", "local_shell_call", "item")]),
    (_item({"role": "tool", "content": "x"}), [D("input[0]", "tool", "message")]),
    (
        _user({"type": "input_image", "file_id": "file-1"}),
        [D("input[0].content[0]", "input_image", "content")],
    ),
    (_user({"type": "input_file", "file_id": "file-1"}), [D("input[0].content[0]", "input_file", "content")]),
    (_user({"type": "input_audio", "input_audio": {}}), [D("input[0].content[0]", "input_audio", "content")]),
    (
        _item({"role": "system", "content": [{"type": "input_image", "image_url": "x"}]}),
        [D("input[0].content[0]", "input_image", "content")],
    ),
    (
        _item(
            {
                "type": "function_call_output",
                "call_id": "c",
                "output": [{"type": "input_file", "file_data": "x"}],
            }
        ),
        [D("input[0].output[0]", "input_file", "content")],
    ),
    (
        _item({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABsecret"}),
        [D("input[0].encrypted_content", "reasoning", "item")],
    ),
    (
        _body(tools=[WEATHER, {"type": "file_search", "vector_store_ids": ["vs_1"]}]),
        [D("tools[1]", "file_search", "tool")],
    ),
    (_body(tools=[{"type": "computer_use_preview"}]), [D("tools[0]", "computer_use_preview", "tool")]),
    (_body(tools=[{"type": "code_interpreter"}]), [D("tools[0]", "code_interpreter", "tool")]),
    (_body(tools=[{"type": "mcp", "server_label": "x"}]), [D("tools[0]", "mcp", "tool")]),
    (_body(tools=[{"type": "image_generation"}]), [D("tools[0]", "image_generation", "tool")]),
    (_body(tools=[{"type": "local_shell"}]), [D("tools[0]", "local_shell", "tool")]),
    (_body(tool_choice={"type": "web_search_preview"}), [D("tool_choice", "web_search_preview")]),
    (_body(text={"format": {"type": "xml"}}), [D("text.format", "xml")]),
    (_body(text={"verbosity": "low"}), [D("text.verbosity")]),
    (_body(reasoning={"effort": "extreme"}), [D("reasoning.effort", "extreme")]),
    (_body(reasoning={"summary": "long"}), [D("reasoning.summary", "long")]),
    (
        _body(
            include=["reasoning.encrypted_content"],
            prompt_cache_key="k",
            client_metadata={},
            service_tier="auto",
        ),
        [D("include"), D("prompt_cache_key"), D("client_metadata"), D("service_tier")],
    ),
    (_body(store=False, metadata={"a": "b"}, truncation="auto"), []),
]


@pytest.mark.parametrize(("body", "dropped"), DROPPED)
def test_decode_drops_and_names_what_the_hub_cannot_carry(body: Any, dropped: list[hub.Drop]) -> None:
    assert list(codec.decode_request(body).dropped) == dropped


@pytest.mark.parametrize(("body", "param"), BAD_REQUESTS)
def test_bad_requests_name_the_field(body: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        codec.decode_request(body)
    assert info.value.param == param
    assert info.value.status == 400
    assert f"'{param}'" in info.value.message


def test_encode_request_drops_what_the_responses_api_cannot_express() -> None:
    base = hub.Request(model="m", messages=(hub.Message("user", (hub.TextPart("x"),)),))
    drops: list[hub.Drop] = []
    body = codec.encode_request(dataclasses.replace(base, stop=("END",), seed=3), "m", drops=drops)
    assert "stop" not in body and drops == [hub.Drop("stop"), hub.Drop("seed")]
    wrong = hub.Message("user", (hub.TextPart("q"), hub.ToolCallPart("c", "f")))
    drops = []
    body = codec.encode_request(dataclasses.replace(base, messages=(wrong,)), "m", drops=drops)
    assert drops == [hub.Drop("messages[0].parts[1]", "tool_call", "content")]
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}
    ]


# ---------------------------------------------------------------------------------------------------------
# decode / encode details


def test_decode_request_shapes() -> None:
    req = codec.decode_request({"model": "m", "input": "hello", "stream": True})
    assert req.messages == (hub.Message("user", (hub.TextPart("hello"),)),)
    assert req.stream is True and req.system == () and req.reasoning is None
    # a continuation may carry only new items, or none
    assert codec.decode_request({"model": "m", "previous_response_id": "resp_1"}).messages == ()
    req = codec.decode_request(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "input_file", "file_url": "https://e.com/f.pdf"}]},
                {"type": "function_call_output", "call_id": "unknown", "output": ""},
                {"type": "reasoning", "id": "rs_empty", "summary": []},
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_object"}},
            "reasoning": {"effort": "xhigh"},
        }
    )
    assert req.messages == (
        hub.Message("user", (hub.TextPart("a"),)),
        hub.Message("user", (hub.DocumentPart(url="https://e.com/f.pdf"),)),
        hub.Message("tool", (hub.ToolResultPart("unknown", ()),)),
    )
    assert req.tool_choice == hub.ToolChoice("tool", "f")
    assert req.response_format == hub.ResponseFormat("json_object")
    assert req.reasoning == hub.Reasoning(effort=hub.Effort.HIGH, include_thoughts=False)


@pytest.mark.parametrize(
    ("reasoning", "expected", "include"),
    [
        (hub.Reasoning(effort=hub.Effort.MINIMAL, include_thoughts=False), {"effort": "minimal"}, True),
        (hub.Reasoning(budget_tokens=3000), {"effort": "medium", "summary": "auto"}, True),
        (hub.Reasoning(budget_tokens=-1, include_thoughts=False), {"effort": "medium"}, True),
        (hub.Reasoning(budget_tokens=0), {"effort": "none"}, False),
        (hub.Reasoning(budget_tokens=100_000), {"effort": "high", "summary": "auto"}, True),
        (None, None, False),
    ],
)
def test_encode_request_reasoning(reasoning: hub.Reasoning | None, expected: Any, include: bool) -> None:
    req = hub.Request(model="m", messages=(hub.Message("user", (hub.TextPart("x"),)),), reasoning=reasoning)
    body = codec.encode_request(req, "up")
    assert body.get("reasoning") == expected
    assert ("include" in body) is include
    assert body["store"] is False and body["model"] == "up"


def test_encode_request_thinking_from_other_formats() -> None:
    turn = hub.Message(
        "assistant",
        (
            hub.ThinkingPart("unsigned thoughts"),  # e.g. reasoning_content from a chat upstream
            hub.ThinkingPart(redacted="abc"),
            hub.ThinkingPart("signed", signature="sig"),
            hub.TextPart("answer"),
        ),
    )
    req = hub.Request(model="m", messages=(hub.Message("user", (hub.TextPart("x"),)), turn))
    body = codec.encode_request(req, "up")
    items = body["input"][1:]
    assert [i["type"] for i in items] == ["reasoning", "reasoning", "message"]
    assert items[0]["encrypted_content"] == "hubgate.redacted_thinking:abc" and items[0]["summary"] == []
    assert items[1]["summary"] == [{"type": "summary_text", "text": "signed"}]
    assert items[1]["id"].startswith("rs_")
    assert body["include"] == ["reasoning.encrypted_content"]


def test_gemini_call_signatures_ride_in_extra_content() -> None:
    call = hub.ToolCallPart("call_g", "f", "{}", signature="CiQBthought")
    encoded = codec.encode_response(hub.Response("resp_g", "m", (call,), hub.FinishReason.TOOL_CALLS), "m")
    reasoning, item = encoded["output"]
    assert item["extra_content"] == {"google": {"thought_signature": "CiQBthought"}}
    # a caller sending the item back unchanged returns the signature
    turn = codec.decode_request({"model": "m", "input": [{"role": "user", "content": "x"}, item]})
    assert turn.messages[1].parts == (call,)
    # OpenAI rejects unknown fields, so a Responses upstream never sees it
    assert "extra_content" not in codec.encode_request(turn, "up")["input"][1]
    # callers that drop what they do not know (Codex) keep the reasoning item before the call
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"] == "CiQBthought"
    bare = {k: v for k, v in item.items() if k != "extra_content"}
    turn = codec.decode_request({"model": "m", "input": [{"role": "user", "content": "x"}, reasoning, bare]})
    assert turn.messages[1].parts == (
        hub.ThinkingPart(signature="CiQBthought"),
        dataclasses.replace(call, signature=None),
    )


def test_encode_request_images_and_documents() -> None:
    parts = (
        hub.ImagePart(data="iVBORw0KGgo"),  # no media type: sniffed
        hub.ImagePart(data="R0lGODlh", media_type="image/gif", detail="high"),
        hub.DocumentPart(data="JVBERi0x"),
        hub.DocumentPart(url="https://e.com/a.pdf", name="a.pdf"),
    )
    req = hub.Request(model="m", messages=(hub.Message("user", parts),))
    content = codec.encode_request(req, "up")["input"][0]["content"]
    assert content == [
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo", "detail": "auto"},
        {"type": "input_image", "image_url": "data:image/gif;base64,R0lGODlh", "detail": "high"},
        {"type": "input_file", "filename": "document", "file_data": "data:application/pdf;base64,JVBERi0x"},
        {"type": "input_file", "file_url": "https://e.com/a.pdf", "filename": "a.pdf"},
    ]


# ---------------------------------------------------------------------------------------------------------
# properties

_texts = st.text(min_size=1, max_size=24)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
_b64 = st.from_regex(r"[A-Za-z0-9+/]{4,24}", fullmatch=True)
_signatures = st.from_regex(r"[A-Za-z0-9_\-=]{1,40}", fullmatch=True)
_arguments = st.dictionaries(_names, st.integers() | st.text(max_size=6), max_size=3).map(json.dumps)
_text_parts = st.builds(hub.TextPart, _texts)
_url_images = st.builds(
    hub.ImagePart, url=st.just("https://example.com/a.png"), detail=st.sampled_from([None, "low", "high"])
)
_images = _url_images | st.builds(
    hub.ImagePart,
    data=_b64,
    media_type=st.sampled_from(["image/png", "image/jpeg"]),
    detail=st.sampled_from([None, "low", "high", "original"]),
)
_documents = st.builds(
    hub.DocumentPart, data=_b64, media_type=st.just("application/pdf"), name=st.just("a.pdf")
) | st.builds(
    hub.DocumentPart, url=st.just("https://example.com/a.pdf"), name=st.sampled_from([None, "a.pdf"])
)
_replayable_thinking = st.builds(hub.ThinkingPart, st.text(max_size=24), signature=_signatures) | st.builds(
    hub.ThinkingPart, redacted=_signatures
)
_tool_output = st.sampled_from([0, 1, 2]).flatmap(
    lambda n: (
        st.tuples()
        if n == 0
        else st.tuples(_text_parts)
        if n == 1
        else st.tuples(_text_parts | _url_images, _text_parts | _images)
    )
)


@st.composite
def hub_requests(draw: st.DrawFn) -> hub.Request:
    messages: list[hub.Message] = []
    for turn in range(draw(st.integers(1, 3))):
        messages.append(
            hub.Message(
                "user", tuple(draw(st.lists(_text_parts | _images | _documents, min_size=1, max_size=3)))
            )
        )
        if not draw(st.booleans()):
            continue
        parts: list[hub.Part] = []
        if draw(st.booleans()):
            parts.append(draw(_replayable_thinking))
        parts += draw(st.lists(_text_parts, max_size=2))
        calls = [
            hub.ToolCallPart(f"call_{turn}_{i}", draw(_names), draw(_arguments))
            for i in range(draw(st.integers(0, 2)))
        ]
        if parts or calls:
            messages.append(hub.Message("assistant", (*parts, *calls)))
        if calls:
            results = [hub.ToolResultPart(c.id, draw(_tool_output), name=c.name) for c in calls]
            messages.append(hub.Message("tool", tuple(results)))
    tools = draw(
        st.lists(
            st.builds(
                hub.Tool,
                _names,
                st.none() | _texts,
                st.just(WEATHER["parameters"]),
                st.none() | st.booleans(),
            ),
            max_size=2,
            unique_by=lambda t: t.name,
        )
    )
    effort = draw(st.none() | st.sampled_from([e for e in hub.Effort if e is not hub.Effort.NONE]))
    return hub.Request(
        model="up",
        messages=tuple(messages),
        system=tuple(draw(st.lists(_text_parts, max_size=1))),
        tools=tuple(tools),
        tool_choice=draw(
            st.none()
            | st.builds(hub.ToolChoice, st.sampled_from(["auto", "none", "required"]))
            | st.builds(hub.ToolChoice, st.just("tool"), _names)
        ),
        parallel_tool_calls=draw(st.none() | st.booleans()),
        max_tokens=draw(st.none() | st.integers(1, 100_000)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        response_format=draw(
            st.none()
            | st.builds(hub.ResponseFormat, st.sampled_from(["text", "json_object"]))
            | st.builds(
                hub.ResponseFormat,
                st.just("json_schema"),
                st.just({"type": "object"}),
                _names,
                st.none() | st.booleans(),
            )
        ),
        reasoning=None
        if effort is None
        else hub.Reasoning(effort=effort, include_thoughts=draw(st.booleans())),
        user=draw(st.none() | _texts),
        stream=draw(st.booleans()),
    )


@PROPERTY
@given(hub_requests())
def test_property_request_round_trip(req: hub.Request) -> None:
    wire = orjson.loads(orjson.dumps(codec.encode_request(req, "up")))
    decoded = codec.decode_request(wire)
    assert dataclasses.replace(decoded, dropped=()) == req
    assert set(decoded.dropped) <= {hub.Drop("include")}


@st.composite
def hub_responses(draw: st.DrawFn) -> hub.Response:
    thinking = _replayable_thinking | st.builds(hub.ThinkingPart, _texts)
    parts: list[hub.Part] = []
    for i, drawn in enumerate(draw(st.lists(_text_parts | thinking | st.none(), max_size=5))):
        signature = draw(st.none() | _signatures)  # Gemini's, on the call
        parts.append(drawn or hub.ToolCallPart(f"call_{i}", draw(_names), draw(_arguments), signature))
    has_calls = any(isinstance(p, hub.ToolCallPart) for p in parts)
    reason = draw(st.sampled_from([None, hub.FinishReason.LENGTH, hub.FinishReason.CONTENT_FILTER]))
    if reason is None:
        reason = hub.FinishReason.TOOL_CALLS if has_calls else hub.FinishReason.STOP
    return hub.Response(
        id="resp_" + draw(st.from_regex(r"[0-9a-f]{8,48}", fullmatch=True)),
        model="gpt-test",
        parts=tuple(parts),
        finish_reason=reason,
        usage=draw(st.builds(hub.Usage, *[st.integers(0, 10**6)] * 5)),
        created=draw(st.integers(1, 2**31)),
    )


@PROPERTY
@given(hub_responses())
def test_property_response_round_trip(resp: hub.Response) -> None:
    encoded = codec.encode_response(resp, "gpt-test")
    Response.model_validate(encoded)
    assert codec.decode_response(orjson.loads(orjson.dumps(encoded))) == dataclasses.replace(
        resp, parts=tuple(_with_call_reasoning(resp.parts))
    )


def _with_call_reasoning(items: Iterable[Any]) -> list[Any]:
    """Parts or stream events as they come back: a signed call is preceded by a reasoning
    item holding its signature."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, hub.ToolCallPart) and item.signature is not None:
            out.append(hub.ThinkingPart(signature=item.signature))
        elif isinstance(item, hub.ToolCallStart) and item.signature is not None:
            out.append(hub.ThinkingDelta(signature=item.signature))
        out.append(item)
    return out


def _block_events(block: Block, index: int) -> list[hub.StreamEvent]:
    kind = block[0]
    if kind == "text":
        return [hub.TextDelta(chunk) for chunk in block[1]]
    if kind == "redacted":
        return [hub.ThinkingDelta(redacted=block[1])]
    if kind == "thinking":
        events: list[hub.StreamEvent] = [hub.ThinkingDelta(chunk) for chunk in block[1]]
        return events + ([hub.ThinkingDelta(signature=block[2])] if block[2] is not None else [])
    _, call_id, name, chunks, signature = block
    start = hub.ToolCallStart(index, call_id, name, signature=signature)
    return [start, *(hub.ToolCallDelta(index, c) for c in chunks)]


_chunks = st.lists(_texts, min_size=1, max_size=4)
_stream_blocks = st.lists(
    st.tuples(st.just("text"), _chunks)
    | st.tuples(st.just("thinking"), _chunks, st.none() | _signatures)
    | st.tuples(st.just("thinking"), st.just([]), _signatures)
    | st.tuples(st.just("redacted"), _signatures)
    | st.tuples(st.just("call"), st.just(""), _names, st.lists(_texts, max_size=3), st.none() | _signatures),
    max_size=6,
)


@PROPERTY
@given(
    _stream_blocks,
    st.sampled_from([None, hub.FinishReason.LENGTH, hub.FinishReason.CONTENT_FILTER]),
    st.builds(hub.Usage, *[st.integers(0, 10**6)] * 5),
)
def test_property_stream_encoder_to_decoder(
    generated: list[Block], reason: hub.FinishReason | None, usage: hub.Usage
) -> None:
    events: list[hub.StreamEvent] = [hub.Start("resp_prop", "gpt-test", created=7)]
    calls = 0
    for block in generated:
        if block[0] == "call":
            block = ("call", f"call_{calls}", *block[2:])
            events += _block_events(block, calls)
            calls += 1
        else:
            events += _block_events(block, calls)
    if reason is None:
        reason = hub.FinishReason.TOOL_CALLS if calls else hub.FinishReason.STOP
    events += [hub.Finish(reason), hub.UsageUpdate(usage)]

    raw, encoder = encode_stream(events)
    payloads = frames(raw)
    decoded = decode_stream(raw)
    events = _with_call_reasoning(events)

    assert decoded[0] == hub.Start("resp_prop", "gpt-test", created=7)
    assert blocks(decoded) == blocks(events)
    assert decoded[-2:] == [hub.Finish(reason), hub.UsageUpdate(usage)]
    assert encoder.final_response == payloads[-1]["response"]
    # the stored final response says what the stream said
    stored = codec.decode_response(payloads[-1]["response"])
    expected = dataclasses.replace(collect(events, "resp_prop"), created=7)
    assert _joined_reasoning(stored) == _joined_reasoning(expected)


def _joined_reasoning(response: hub.Response) -> hub.Response:
    """Unsigned thinking followed by a call's signature is one reasoning part in the hub's
    collected view but two reasoning items on the wire (the stream had closed the first):
    the same content either way."""
    parts: list[Any] = []
    for part in response.parts:
        last = parts[-1] if parts else None
        if (
            isinstance(part, hub.ThinkingPart)
            and isinstance(last, hub.ThinkingPart)
            and last.signature is None
            and last.redacted is None
            and not part.text
            and part.signature is not None
        ):
            parts[-1] = dataclasses.replace(last, signature=part.signature)
        else:
            parts.append(part)
    return dataclasses.replace(response, parts=tuple(parts))


# ---------------------------------------------------------------------------------------------------------
# the official SDK as the caller: a tiny server that answers through the codec


Answer = Callable[[hub.Request], list[hub.StreamEvent]]


def _echo(req: hub.Request) -> list[hub.StreamEvent]:
    last = next(
        p.text
        for m in reversed(req.messages)
        if m.role == "user"
        for p in m.parts
        if isinstance(p, hub.TextPart)
    )
    events: list[hub.StreamEvent] = [hub.Start("chatcmpl-upstream", "up")]
    if req.reasoning is not None:
        events += [
            hub.ThinkingDelta("Thinking about "),
            hub.ThinkingDelta(last),
            hub.ThinkingDelta(signature="sig-1"),
        ]
    if req.tools:
        events += [
            hub.ToolCallStart(0, "call_sdk", req.tools[0].name),
            hub.ToolCallDelta(0, '{"city":'),
            hub.ToolCallDelta(0, ' "Paris"}'),
            hub.Finish(hub.FinishReason.TOOL_CALLS),
        ]
    else:
        events += [hub.TextDelta("You said: "), hub.TextDelta(last), hub.Finish(hub.FinishReason.STOP)]
    return [*events, hub.UsageUpdate(hub.Usage(prompt_tokens=11, completion_tokens=7, cached_tokens=3))]


@pytest.fixture
async def sdk() -> AsyncIterator[tuple[openai.AsyncOpenAI, list[dict[str, Any]]]]:
    stored: list[dict[str, Any]] = []

    async def create(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        try:
            req = codec.decode_request(body)
            options = codec.request_options(body)
        except InvalidRequest as exc:
            error = {"message": exc.message, "type": exc.openai_type, "param": exc.param, "code": exc.code}
            return web.json_response({"error": error}, status=400)
        events = _echo(req)
        if not req.stream:
            answer = codec.encode_response(collect(events), req.model, options=options, request=req)
            stored.append(answer)
            return web.json_response(answer)
        encoder = codec.StreamEncoder(req.model, options=options, request=req)
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        for event in events:
            await out.write(encoder.feed(event))
        await out.write(encoder.close())
        assert encoder.final_response is not None
        stored.append(encoder.final_response)
        return out

    app = web.Application()
    app.router.add_post("/v1/responses", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0
        ) as client:
            yield client, stored
    finally:
        await runner.cleanup()


async def test_sdk_create_reads_the_encoded_response(
    sdk: tuple[openai.AsyncOpenAI, list[dict[str, Any]]],
) -> None:
    client, _ = sdk
    response = await client.responses.create(
        model="gpt-x",
        input="hello",
        instructions="Be nice.",
        metadata={"a": "b"},
        reasoning={"effort": "low"},
    )
    assert response.output_text == "You said: hello"
    assert [o.type for o in response.output] == ["reasoning", "message"]
    assert response.output[0].type == "reasoning" and response.output[0].encrypted_content == "sig-1"
    assert response.instructions == "Be nice." and response.metadata == {"a": "b"}
    assert response.usage is not None and response.usage.input_tokens_details.cached_tokens == 3


async def test_sdk_stream_helper_accumulates_the_encoded_stream(
    sdk: tuple[openai.AsyncOpenAI, list[dict[str, Any]]],
) -> None:
    client, stored = sdk
    async with client.responses.stream(
        model="gpt-x", input="hi there", reasoning={"effort": "low"}
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == "You said: hi there"
    assert final.id == stored[-1]["id"]
    assert (
        final.output[0].type == "reasoning" and final.output[0].summary[0].text == "Thinking about hi there"
    )


async def test_sdk_stream_function_call(sdk: tuple[openai.AsyncOpenAI, list[dict[str, Any]]]) -> None:
    client, _ = sdk
    tool: Any = WEATHER
    async with client.responses.stream(model="gpt-x", input="weather?", tools=[tool]) as stream:
        snapshots = [e.snapshot async for e in stream if e.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    assert snapshots == ['{"city":', '{"city": "Paris"}']
    (call,) = final.output
    assert call.type == "function_call" and call.call_id == "call_sdk" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}


async def test_sdk_sees_a_400_naming_the_field(sdk: tuple[openai.AsyncOpenAI, list[dict[str, Any]]]) -> None:
    client, _ = sdk
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-x", input="x", tools=[{"type": "function", "name": "f", "parameters": "x"}]
        )
    assert info.value.param == "tools[0].parameters"


# ---------------------------------------------------------------------------------------------------------
# the codec against the fake Responses upstream


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeResponses, aiohttp.ClientSession]]:
    async with (
        FakeResponses() as fake,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}) as http,
    ):
        yield fake, http


async def _call(http: aiohttp.ClientSession, fake: FakeResponses, body: dict[str, Any]) -> tuple[int, bytes]:
    async with http.post(f"{fake.base_url}/responses", json=body) as resp:
        return resp.status, await resp.read()


async def test_codec_against_the_fake_upstream(upstream: tuple[FakeResponses, aiohttp.ClientSession]) -> None:
    fake, http = upstream
    tool = hub.Tool("get_weather", "Weather", WEATHER["parameters"])
    first = hub.Request(
        model="m",
        messages=(hub.Message("user", (hub.TextPart("weather?"),)),),
        tools=(tool,),
        tool_choice=hub.ToolChoice("required"),
        reasoning=hub.Reasoning(budget_tokens=2000),  # e.g. from an Anthropic caller
    )
    status, raw = await _call(http, fake, codec.encode_request(first, "tool"))
    assert status == 200, raw
    answer = codec.decode_response(orjson.loads(raw))
    thinking, call = answer.parts
    assert isinstance(thinking, hub.ThinkingPart) and thinking.signature in fake.issued
    assert isinstance(call, hub.ToolCallPart) and call.arguments == TOOL_ARGUMENTS
    assert answer.finish_reason is hub.FinishReason.TOOL_CALLS
    assert fake.requests[-1].json["reasoning"] == {"effort": "low", "summary": "auto"}

    # the next turn replays the signed reasoning; the fake verifies it
    second = dataclasses.replace(
        first,
        messages=(
            *first.messages,
            hub.Message("assistant", answer.parts),
            hub.Message("tool", (hub.ToolResultPart(call.id, (hub.TextPart("sunny"),)),)),
            hub.Message("user", (hub.TextPart("thanks"),)),
        ),
        tool_choice=None,
        stream=True,
    )
    status, raw = await _call(http, fake, codec.encode_request(second, "gpt-4o-mini"))
    assert status == 200, raw
    events = decode_stream(raw)
    assert [b for b in blocks(events) if b[0] == "text"] == [("text", "Hello! You said: thanks")]
    assert events[-2] == hub.Finish(hub.FinishReason.STOP)

    forged = dataclasses.replace(
        second,
        messages=(*first.messages, hub.Message("assistant", (hub.ThinkingPart("x", signature="forged"),))),
    )
    status, raw = await _call(http, fake, codec.encode_request(forged, "gpt-4o-mini"))
    assert status == 400
    assert "could not be verified" in codec.decode_error(status, raw)


async def test_a_caller_body_reaches_the_fake_upstream(
    upstream: tuple[FakeResponses, aiohttp.ClientSession],
) -> None:
    fake, http = upstream
    body = {
        "model": "gpt-5",
        "input": [{"role": "user", "content": "one two three"}],
        "max_output_tokens": 2,
        "stream": True,
    }
    status, raw = await _call(http, fake, codec.encode_request(codec.decode_request(body), "gpt-4o-mini"))
    assert status == 200
    events = decode_stream(raw)
    assert "".join(e.text for e in events if isinstance(e, hub.TextDelta)) == "Hello! You"
    assert events[-2] == hub.Finish(hub.FinishReason.LENGTH)
    usage = events[-1]
    assert isinstance(usage, hub.UsageUpdate) and usage.usage.completion_tokens == 2


# ---------------------------------------------------------------------------------------------------------
# namespace and custom tools (Codex)

NS_TOOL = {
    "type": "namespace",
    "name": "mcp__files",
    "description": "Files server",
    "tools": [
        {"type": "function", "name": "read_file", "description": "Read", "parameters": {"type": "object"}},
        {"type": "web_search"},
    ],
}
PATCH_TOOL = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
}


def _tool_request() -> hub.Request:
    return codec.decode_request(
        _body(
            tools=[{"type": "function", "name": "read_file", "parameters": {}}, NS_TOOL, PATCH_TOOL],
            input=[
                {"role": "user", "content": "go"},
                {"type": "function_call", "call_id": "c1", "name": "read_file", "namespace": "mcp__files",
                 "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "text"},
                {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin"},
                {"type": "custom_tool_call_output", "call_id": "c2", "output": "ok"},
            ],
        )
    )  # fmt: skip


def test_namespace_and_custom_tools_decode_to_functions() -> None:
    req = _tool_request()
    plain, flat, patch = req.tools
    assert (plain.name, plain.namespace) == ("read_file", None)
    assert (flat.name, flat.namespace, flat.original) == ("mcp__files__read_file", "mcp__files", "read_file")
    assert flat.description == "Read\n\n(mcp__files: Files server)"
    assert patch.custom and patch.parameters["required"] == ["input"]
    assert patch.description is not None and patch.description.endswith("lark grammar:\nstart: /.+/")
    assert req.dropped == (hub.Drop("tools[1].tools[1]", "web_search", "tool"),)
    calls = [p for m in req.messages for p in m.parts if isinstance(p, hub.ToolCallPart)]
    assert [(c.name, c.arguments) for c in calls] == [
        ("mcp__files__read_file", "{}"),
        ("apply_patch", '{"input":"*** Begin"}'),
    ]
    results = [p for m in req.messages for p in m.parts if isinstance(p, hub.ToolResultPart)]
    assert [(r.name, r.content) for r in results] == [
        ("mcp__files__read_file", (hub.TextPart("text"),)),
        ("apply_patch", (hub.TextPart("ok"),)),
    ]


def test_calls_go_back_with_their_namespace_or_as_custom_tool_calls() -> None:
    req = _tool_request()
    answer = hub.Response(
        id="r",
        model="m",
        parts=(
            hub.ToolCallPart("k1", "mcp__files__read_file", '{"path":"a"}'),
            hub.ToolCallPart("k2", "apply_patch", '{"input":"*** Begin Patch"}'),
            hub.ToolCallPart("k3", "read_file", "{}"),
        ),
        finish_reason=hub.FinishReason.TOOL_CALLS,
    )
    output = codec.encode_response(answer, "gpt-test", request=req)["output"]
    assert [(o["type"], o["name"], o.get("namespace")) for o in output] == [
        ("function_call", "read_file", "mcp__files"),
        ("custom_tool_call", "apply_patch", None),
        ("function_call", "read_file", None),
    ]
    assert output[1]["input"] == "*** Begin Patch" and output[1]["call_id"] == "k2"
    Response.model_validate(codec.encode_response(answer, "gpt-test", request=req))


def test_streamed_calls_go_back_with_their_namespace_or_as_custom_tool_calls() -> None:
    events: list[hub.StreamEvent] = [
        hub.Start("r", "m"),
        hub.ToolCallStart(0, "k1", "mcp__files__read_file"),
        hub.ToolCallDelta(0, '{"path":'),
        hub.ToolCallDelta(0, '"a"}'),
        hub.ToolCallStart(1, "k2", "apply_patch"),
        hub.ToolCallDelta(1, '{"input":"*** Begin'),
        hub.ToolCallDelta(1, ' Patch"}'),
        hub.Finish(hub.FinishReason.TOOL_CALLS),
    ]
    raw, encoder = encode_stream(events, request=_tool_request())
    payloads = frames(raw)
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert [(i["type"], i["name"], i.get("namespace")) for i in done] == [
        ("function_call", "read_file", "mcp__files"),
        ("custom_tool_call", "apply_patch", None),
    ]
    assert done[1]["input"] == "*** Begin Patch"
    custom = [p for p in payloads if p["type"].startswith("response.custom_tool_call_input")]
    assert [(p["type"], p.get("delta") or p.get("input")) for p in custom] == [
        ("response.custom_tool_call_input.delta", "*** Begin Patch"),
        ("response.custom_tool_call_input.done", "*** Begin Patch"),
    ]
    assert encoder.final_response is not None and encoder.final_response["output"] == done


def test_flat_names_fit_every_upstream() -> None:
    long_ns = {**NS_TOOL, "name": "mcp__" + "x" * 70}
    tools = codec.decode_request(_body(tools=[long_ns, {**NS_TOOL, "name": "a.b"}])).tools
    names = [t.name for t in tools]
    assert all(len(n) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in names)
    assert len(set(names)) == len(names) and names[1] == "a_b__read_file"


def test_developer_messages_after_the_conversation_started_stay_in_place() -> None:
    req = codec.decode_request(
        _body(
            instructions="base",
            input=[
                {"role": "developer", "content": "first"},
                {"role": "user", "content": "q"},
                {"role": "developer", "content": [{"type": "input_text", "text": "later"}]},
            ],
        )
    )
    assert req.system == (hub.TextPart("base"), hub.TextPart("first"))
    assert [m.role for m in req.messages] == ["user", "system"]
    body = codec.encode_request(req, "m")
    assert body["input"][-1] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "later"}],
    }
