"""Usage hubgate counts itself when the upstream reports none."""

from __future__ import annotations

import orjson

from hubgate.formats import hub
from hubgate.metering.estimate import PER_IMAGE, PER_MESSAGE
from hubgate.metering.tokenizer import count_tokens_sync
from hubgate.metering.usage import (
    DeliveredText,
    estimate_prompt_tokens,
    estimate_usage,
    estimated_usage,
    prompt_tokens_sync,
)


def test_a_stream_aborted_before_output_bills_no_completion_tokens() -> None:
    assert estimated_usage(120, "") == hub.Usage(prompt_tokens=120)


def test_completion_is_counted_from_the_delivered_text() -> None:
    usage = estimated_usage(10, "hello world", reasoning_text="tiktoken is great!", model="gpt-4o")
    assert usage == hub.Usage(prompt_tokens=10, completion_tokens=2 + 6, reasoning_tokens=6)


def test_negative_prompt_counts_are_clamped() -> None:
    assert estimated_usage(-3, "").prompt_tokens == 0


def _stream() -> list[hub.StreamEvent]:
    return [
        hub.Start(id="r1", model="gpt-4o"),
        hub.ThinkingDelta(text="tiktoken is "),
        hub.ThinkingDelta(text="great!"),
        hub.ThinkingDelta(signature="sig"),
        hub.TextDelta(text="hello "),
        hub.TextDelta(text="world"),
        hub.ToolCallStart(index=0, id="call_1", name="lookup"),
        hub.ToolCallDelta(index=0, arguments='{"q": '),
        hub.ToolCallDelta(index=0, arguments='"x"}'),
        hub.Finish(reason=hub.FinishReason.TOOL_CALLS),
    ]


async def test_delivered_stream_text_is_estimated_off_the_loop() -> None:
    delivered = DeliveredText()
    for event in _stream():
        delivered.add(event)
    answer = count_tokens_sync('hello worldlookup{"q": "x"}')
    usage = await estimate_usage(50, delivered, model="gpt-4o")
    assert usage == hub.Usage(prompt_tokens=50, completion_tokens=answer + 6, reasoning_tokens=6)


async def test_a_stream_cut_before_any_delta_bills_only_the_prompt() -> None:
    delivered = DeliveredText()
    delivered.add(hub.Start(id="r1", model="gpt-4o"))
    assert await estimate_usage(50, delivered) == hub.Usage(prompt_tokens=50)


def test_a_response_counts_like_its_stream() -> None:
    response = hub.Response(
        id="r1",
        model="gpt-4o",
        parts=(
            hub.ThinkingPart(text="tiktoken is great!"),
            hub.TextPart(text="hello world"),
            hub.ToolCallPart(id="call_1", name="lookup", arguments='{"q": "x"}'),
        ),
    )
    from_response, from_stream = DeliveredText(), DeliveredText()
    from_response.add_response(response)
    for event in _stream():
        from_stream.add(event)
    assert "".join(from_response.text) == "".join(from_stream.text)
    assert "".join(from_response.reasoning) == "".join(from_stream.reasoning)


async def test_prompt_tokens_with_the_real_tokenizer() -> None:
    tool = hub.Tool(name="lookup", description="Find a thing", parameters={"type": "object"})
    req = hub.Request(
        model="gpt-4o",
        system=(hub.TextPart(text="Be brief."),),
        messages=(
            hub.Message(
                role="user", parts=(hub.TextPart(text="hello world"), hub.ImagePart(url="https://x/y.png"))
            ),
            hub.Message(role="assistant", parts=(hub.ToolCallPart(id="c1", name="lookup", arguments="{}"),)),
            hub.Message(
                role="tool",
                parts=(hub.ToolResultPart(tool_call_id="c1", content=(hub.TextPart(text="found it"),)),),
            ),
        ),
        tools=(tool,),
    )
    counted = prompt_tokens_sync(req)
    texts = ["Be brief.", "hello world", "lookup", "{}", "found it", "lookup", "Find a thing"]
    texts.append(orjson.dumps({"type": "object"}).decode())
    # each text is counted for real (joined by newlines); framing and images are fixed
    assert counted == 3 * PER_MESSAGE + PER_IMAGE + count_tokens_sync("\n".join(texts))
    assert await estimate_prompt_tokens(req) == counted
