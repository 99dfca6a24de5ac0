"""The model field rewritten on an answer's bytes (formats/names.py)."""

from __future__ import annotations

import orjson
import pytest

from hubgate.formats.names import Rename, answer_rename, stream_rename
from hubgate.formats.registry import WireFormat

CHAT = answer_rename(WireFormat.OPENAI_CHAT, "fo-401")


def _data(raw: bytes) -> object:
    return orjson.loads(raw.split(b"data: ", 1)[1])


def test_openai_chunk_rewritten_in_place() -> None:
    event = b'data: {"id":"c-1","object":"chat.completion.chunk","created":1,"model":"ok","choices":[]}\n\n'
    assert CHAT.apply(event) == event.replace(b'"model":"ok"', b'"model":"fo-401"')


@pytest.mark.parametrize(
    "body",
    [
        # the key after the content (a tokenizer walk); content holding braces, quotes and the key itself
        {"choices": [{"delta": {"content": 'a "model":"x" {[}]\\'}}], "model": "ok", "id": "c"},
        # the key last (the cheap check from the end)
        {"choices": [{"delta": {"content": "}{"}}], "model": "ok"},
        # a string value "model" before the key
        {"role": "model", "model": "ok"},
        # a nested "model" first: only the top-level one is the answer's
        {"tools": [{"type": "image_generation", "model": "gpt-image-1"}], "model": "ok"},
    ],
)
def test_only_the_top_level_field(body: dict[str, object]) -> None:
    raw = orjson.dumps(body)
    out = orjson.loads(CHAT.apply(raw))
    assert out == {**body, "model": "fo-401"}


def test_spaced_json_and_escaping() -> None:
    rename = answer_rename(WireFormat.OPENAI_CHAT, 'we"ird\\name/é')
    raw = b'{ "id" : "x",\n  "model" :  "ok" , "n": 1 }'
    assert orjson.loads(rename.apply(raw)) == {"id": "x", "model": 'we"ird\\name/é', "n": 1}


def test_untouched_without_a_string_field() -> None:
    escaped = b'{"content":"\\"model\\": \\"ok\\""}'
    for raw in (b"data: [DONE]\n\n", b'{"model":null}', b'{"id":"x"}', escaped):
        assert CHAT.apply(raw) is raw


def test_responses_and_anthropic_nested() -> None:
    responses = stream_rename(WireFormat.OPENAI_RESPONSES, "pub")
    created = (
        b'event: response.created\ndata: {"type":"response.created","response":{"id":"r",'
        b'"tools":[{"type":"image_generation","model":"gpt-image-1"}],"model":"up"}}\n\n'
    )
    data = _data(responses.apply(created))
    assert isinstance(data, dict)
    assert data["response"]["model"] == "pub" and data["response"]["tools"][0]["model"] == "gpt-image-1"
    delta = b'event: response.output_text.delta\ndata: {"type":"x","delta":"model"}\n\n'
    assert responses.apply(delta) is delta
    anthropic = stream_rename(WireFormat.ANTHROPIC, "pub")
    start = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"up"}}\n\n'
    assert anthropic.apply(start) == start.replace(b'"up"', b'"pub"')


def test_gemini_model_version() -> None:
    rename = stream_rename(WireFormat.GEMINI, "pub")
    chunk = b'data: {"candidates":[{"content":{"role":"model","parts":[]}}],"modelVersion":"up"}\n\n'
    assert rename.apply(chunk) == chunk.replace(b'"up"', b'"pub"')
    assert (
        rename.rename == Rename(b'"modelVersion"', None, b'"pub"') and rename.rename.field == "modelVersion"
    )


def test_stream_rename_reuses_the_last_head_only_when_it_is_the_same() -> None:
    rename = stream_rename(WireFormat.OPENAI_CHAT, "pub")
    head = b'data: {"id":"c","created":1,"model":"up",'
    first, second = head + b'"choices":[{"x":1}]}\n\n', head + b'"choices":[{"x":2}]}\n\n'
    assert rename.apply(first) == first.replace(b'"up"', b'"pub"')
    assert rename.apply(second) == second.replace(b'"up"', b'"pub"')  # from the remembered head
    longer = b'data: {"id":"c","created":1,"model":"up-2","choices":[]}\n\n'  # a head that only begins alike
    assert rename.apply(longer) == longer.replace(b'"up-2"', b'"pub"')
    nested = b'data: {"id":"c","created":1,"x":{"model":"up"},"model":"up"}\n\n'
    assert orjson.loads(rename.apply(nested)[6:]) == {
        "id": "c",
        "created": 1,
        "x": {"model": "up"},
        "model": "pub",
    }
    assert rename.apply(b"data: [DONE]\n\n") == b"data: [DONE]\n\n"
