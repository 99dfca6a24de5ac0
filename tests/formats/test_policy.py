"""The translation policy's shared pieces: the x-hubgate-dropped header and flat tool names."""

from __future__ import annotations

import re

from hubgate.formats import anthropic, hub, policy


def test_header_names_each_drop_once_in_order() -> None:
    drops = [
        hub.Drop("include"),
        hub.Drop("tools[5]", "web_search", "tool"),
        hub.Drop("include"),
        hub.Drop("messages[3].content[1]", "document", "content"),
    ]
    assert policy.header_value(drops) == "include, tools[5]:web_search, messages[3].content[1]:document"


def test_header_is_bounded_and_safe() -> None:
    drops = [hub.Drop(f"tools[{i}]", "x" * 40, "tool") for i in range(200)]
    value = policy.header_value(drops)
    assert len(value) <= policy.MAX_HEADER_CHARS
    assert re.search(r", \+\d+ more$", value)
    shown = value.split(", ")[:-1]
    assert int(value.rsplit("+", 1)[1].split()[0]) == 200 - len(shown)
    # a type name comes from the caller: nothing but safe characters reaches the header
    evil = policy.header_value([hub.Drop("tools[0]", "a\r\nSet-Cookie: x=1", "tool")])
    assert evil == "tools[0]:a__Set-Cookie:_x_1"  # no CR, LF or space
    assert len(policy.header_value([hub.Drop("x" * 500)])) == policy.MAX_ENTRY_CHARS


def test_flat_names_are_valid_unique_and_bounded() -> None:
    taken: set[str] = {"ns__f"}
    first = policy.flat_name("ns", "f", taken)
    assert first != "ns__f" and len(first) <= 64 and first in taken
    assert policy.flat_name("mcp__srv__", "tool", set()) == "mcp__srv__tool"
    long = policy.flat_name("n" * 60, "tool:with spaces", set())
    assert len(long) == 64 and re.fullmatch(r"[A-Za-z0-9_-]+", long)


def test_anthropic_thinking_is_left_out_when_the_callers_reasoning_was_lost() -> None:
    """Anthropic refuses thinking mid tool loop without the call's signed thinking block."""
    messages = (
        hub.Message("user", (hub.TextPart("go"),)),
        hub.Message("assistant", (hub.ThinkingPart("unsigned"), hub.ToolCallPart("c", "f", "{}"))),
        hub.Message("tool", (hub.ToolResultPart("c", (hub.TextPart("r"),), name="f"),)),
    )
    req = hub.Request(
        model="m",
        messages=messages,
        tools=(hub.Tool("f"),),
        reasoning=hub.Reasoning(effort=hub.Effort.LOW),
    )
    drops: list[hub.Drop] = []
    body = anthropic.encode_request(req, "claude", drops=drops)
    assert "thinking" not in body and drops == [hub.Drop("reasoning")]
    signed = (
        messages[0],
        hub.Message("assistant", (hub.ThinkingPart("t", signature="s"), messages[1].parts[1])),
        messages[2],
    )
    drops = []
    body = anthropic.encode_request(
        hub.Request(model="m", messages=signed, tools=req.tools, reasoning=req.reasoning),
        "claude",
        drops=drops,
    )
    assert body["thinking"]["type"] == "enabled" and drops == []
