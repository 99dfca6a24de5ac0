"""`openai.whole_events`: a chunk's events checked at once agree with the event-by-event
path (plausible_event, chunk_usage, drop_null_usage) wherever it takes the chunk."""

from __future__ import annotations

import random

import orjson
import pytest

from hubgate.formats import openai as oa
from hubgate.formats.sse import EventSplitter


def _chunk(
    rng: random.Random,
    usage: object = None,
    choices: bool = True,
    text: str | None = None,
    spaced: bool | None = None,
) -> bytes:
    """`spaced`: Python's json.dumps separators instead of OpenAI's compact ones (None: at random)."""
    text = text if text is not None else rng.choice(["hi", "[DONE]", '"usage": 1', "\u00e9"])
    delta = [{"index": 0, "delta": {"content": text}}] if choices else []
    obj = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": delta, "usage": usage}
    sep = rng.choice([b"data: ", b"data:", b"data:  "])
    raw = orjson.dumps(obj)
    if spaced or (spaced is None and rng.random() < 0.2):
        raw = raw.replace(b'"usage":', b'"usage": ').replace(b",", b", ")
    return sep + raw + b"\n\n"


def _stream(rng: random.Random) -> bytes:
    events = [_chunk(rng) for _ in range(rng.randrange(0, 6))]
    if rng.random() < 0.5:
        events.append(_chunk(rng, {"prompt_tokens": 5, "completion_tokens": rng.randrange(9)}, choices=False))
    if rng.random() < 0.1:
        events.insert(0, rng.choice([b": keep-alive\n\n", b"event: x\ndata: {}\n\n", b"data: nope\n\n"]))
    if rng.random() < 0.5:
        events.append(rng.choice([b"data: [DONE]\n\n", b"data:[DONE]\n\n"]))
    if rng.random() < 0.05:
        rng.shuffle(events)
    return b"".join(events)


def _reference(whole: bytes, strip: bool) -> tuple[bytes, bool, oa.Usage | None] | None:
    out, final, usage = [], False, None
    for event in EventSplitter.split(whole):
        if len(event) < 24 and b"[DONE]" in event:
            final = True
        if not oa.plausible_event(event):
            return None
        found = oa.chunk_usage(event)
        if found is not None:
            usage = found.usage
            if strip and found.usage_only:
                continue
        out.append(oa.drop_null_usage(event) if strip else event)
    return b"".join(out), final, usage


def test_whole_events_agree_with_the_event_by_event_path() -> None:
    rng = random.Random(11)
    taken = 0
    for _ in range(5_000):
        whole = _stream(rng)
        if not whole:
            continue
        strip = rng.random() < 0.5
        batch = oa.whole_events(whole, strip)
        expected = _reference(whole, strip)
        if batch is None:
            continue  # the event-by-event path decides
        taken += 1
        assert expected is not None, whole
        assert (batch.data, batch.final, batch.usage) == expected, whole
    assert taken > 1_000  # plain OpenAI streams take the fast path (a '[DONE]' text too)


@pytest.mark.parametrize("spaced", [False, True])
def test_a_bench_like_stream_is_taken_whole(spaced: bool) -> None:
    """One upstream's serializer, compact (OpenAI's) or spaced (json.dumps's): taken at once."""
    rng = random.Random(1)
    events = [_chunk(rng, text=f"word{i:02d} [DONE]", spaced=spaced) for i in range(20)]
    usage = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":20}}\n\n'
    whole = b"".join(events) + usage + b"data: [DONE]\n\n"
    batch = oa.whole_events(whole, strip_usage=True)
    assert batch is not None and batch.final
    assert batch.usage is not None and batch.usage.completion_tokens == 20
    assert b'"usage"' not in batch.data.replace(b'\\"usage\\"', b"")
    assert batch.data.endswith(b"data: [DONE]\n\n") and batch.data.count(b"\n\n") == 21


def test_done_before_the_last_event_or_a_long_done_is_left_to_the_event_path() -> None:
    assert oa.whole_events(b'data: [DONE]\n\ndata: {"a":1}\n\n', False) is None
    long_done = b'data: {"a":1}\n\ndata:        [DONE]         \n\n'
    batch = oa.whole_events(long_done, False)
    assert batch is not None and not batch.final  # the event-by-event path does not take it as the end either
    assert oa.whole_events(b"", False) is None
