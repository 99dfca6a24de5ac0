from __future__ import annotations

import pytest

from hubgate.errors import InvalidRequest
from hubgate.formats import openai as oa
from hubgate.formats.hub import Usage
from hubgate.formats.sse import EventSplitter

STREAM = (
    b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n'
    b'data: {"choices":[{"delta":{"content":"b"}}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,'
    b'"prompt_tokens_details":{"cached_tokens":3}}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("size", [1, 2, 7, 64, len(STREAM)])
def test_splitter_rebuilds_events_whatever_the_chunking(size: int) -> None:
    splitter = EventSplitter()
    events: list[bytes] = []
    for i in range(0, len(STREAM), size):
        events += splitter.feed(STREAM[i : i + size])
    assert b"".join(events) == STREAM
    assert len(events) == 4
    assert splitter.flush() == b""


def test_splitter_normalises_crlf_and_keeps_truncated_tail() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\r\n\r\ndata: 2") == [b"data: 1\n\n"]
    assert splitter.flush() == b"data: 2"


def test_chunk_usage_skips_null_and_reads_the_usage_chunk() -> None:
    events = EventSplitter().feed(STREAM)
    assert oa.chunk_usage(events[0]) is None
    found = oa.chunk_usage(events[2])
    assert found is not None and found.usage_only
    assert found.usage == Usage(prompt_tokens=5, completion_tokens=2, cached_tokens=3)
    assert oa.chunk_usage(events[3]) is None


def test_usage_on_a_chunk_with_choices_is_not_usage_only() -> None:
    event = b'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n'
    found = oa.chunk_usage(event)
    assert found is not None and not found.usage_only


def test_drop_null_usage() -> None:
    assert oa.drop_null_usage(b'data: {"a":1,"usage":null}\n\n') == b'data: {"a":1}\n\n'
    assert oa.drop_null_usage(b'data: {"a": 1, "usage": null}\n\n') == b'data: {"a": 1}\n\n'


def test_parse_usage_ignores_garbage() -> None:
    assert oa.parse_usage(None) is None
    assert oa.parse_usage({"prompt_tokens": "7", "completion_tokens": -1}) == Usage(0, 0, 0)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": ["robot"], "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user"}], "stream": "yes"}, "stream"),
        ({"model": "m", "messages": [{"role": "user"}], "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user"}], "temperature": "hot"}, "temperature"),
    ],
)
def test_check_chat_names_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        oa.check_chat(body)
    assert info.value.param == param
    assert param.split("[")[0] in info.value.message


def test_check_chat_accepts_a_real_request() -> None:
    info = oa.check_chat(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "assistant", "content": None, "tool_calls": []}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
        }
    )
    assert info == oa.RequestInfo(model="gpt-4o-mini", stream=True, include_usage=True)


def test_check_embeddings() -> None:
    assert oa.check_embeddings({"model": "e", "input": [[1, 2], [3]]}).model == "e"
    assert oa.check_embeddings({"input": "x"}, model_override="path-model").model == "path-model"
    with pytest.raises(InvalidRequest):
        oa.check_embeddings({"model": "e", "input": []})
    with pytest.raises(InvalidRequest):
        oa.check_embeddings({"model": "e", "input": "x", "encoding_format": "int8"})
