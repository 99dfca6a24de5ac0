"""POST /v1/responses/compact: native on a Responses channel, a model-written summary elsewhere,
and the compaction item works as input on the next turn."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import MATRIX_KEY, LiveGateway, Upstreams


def _client(gw: LiveGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=MATRIX_KEY, max_retries=0)


CONVERSATION = [
    {"role": "user", "content": "My name is Ada and I like ferns."},
    {"role": "assistant", "content": "Nice to meet you, Ada."},
    {"role": "user", "content": "Remember that."},
]


@pytest.mark.parametrize("upstream", ["openai", "anthropic", "gemini"])
async def test_compaction_by_summary_then_continue(
    matrix_gateway: LiveGateway, upstreams: Upstreams, upstream: str
) -> None:
    client = _client(matrix_gateway)
    compacted = await client.responses.compact(model=f"m-{upstream}", input=CONVERSATION)  # type: ignore[arg-type]
    assert compacted.object == "response.compaction"
    kinds = [item.type for item in compacted.output]
    assert kinds == ["message", "message", "compaction"]  # the user messages, then the compaction item
    assert compacted.usage.input_tokens > 0 and compacted.usage.output_tokens > 0
    # The upstream was asked, in its own format, for a summary of the whole conversation.
    fake = getattr(upstreams, upstream)
    sent = str(fake.requests[-1].json)
    assert "compacting a conversation" in sent and "ferns" in sent
    # The compaction item is valid input for the next turn, on any channel.
    follow = [
        *(i.model_dump(exclude_none=True) for i in compacted.output),
        {"role": "user", "content": "hi there"},
    ]
    answer = await client.responses.create(model="m-gemini", input=follow)  # type: ignore[arg-type]
    assert answer.output_text == "Hello! You said: hi there"
    assert "Summary of the earlier conversation" in str(upstreams.gemini.requests[-1].json)


async def test_native_compaction_on_a_responses_channel(
    matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    client = _client(matrix_gateway)
    first = await client.responses.create(model="m-responses", input="My name is Ada.")
    compacted = await client.responses.compact(
        model="m-responses", previous_response_id=first.id, input=[{"role": "user", "content": "and?"}]
    )
    assert compacted.output[-1].type == "compaction"
    assert compacted.output[-1].encrypted_content == "gAAAA-opaque"  # type: ignore[union-attr]
    recorded = upstreams.responses.requests[-1]
    assert recorded.path == "/v1/responses/compact"
    # hubgate resolved previous_response_id itself: the whole conversation went upstream.
    assert "My name is Ada." in str(recorded.json["input"])
    # An opaque (OpenAI-made) compaction item cannot be translated to another format.
    follow = [*(i.model_dump(exclude_none=True) for i in compacted.output), {"role": "user", "content": "x"}]
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="m-anthropic", input=follow)  # type: ignore[arg-type]
    assert "encrypted_content" in str(info.value)


async def test_compact_needs_something_to_compact(matrix_gateway: LiveGateway) -> None:
    with pytest.raises(openai.BadRequestError):
        await _client(matrix_gateway).responses.compact(model="m-openai")
