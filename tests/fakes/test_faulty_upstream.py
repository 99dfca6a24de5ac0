"""The fault-injecting fake checked on its own, with the official ``openai`` SDK and raw aiohttp."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from .faulty_upstream import FAULTY_API_KEY, PROMPT_TOKENS, REPLY, FakeFaulty, chunk_text, error_message

HELLO: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeFaulty]:
    async with FakeFaulty() as server:
        yield server


@pytest.fixture
async def client(fake: FakeFaulty) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=fake.base_url, api_key=FAULTY_API_KEY, max_retries=0, timeout=5
    ) as c:
        yield c


def _post(
    session: aiohttp.ClientSession, fake: FakeFaulty, model: str, *, stream: bool = False, **timeout: float
) -> Any:
    body = {"model": model, "messages": HELLO, "stream": stream}
    return session.post(
        f"{fake.base_url}/chat/completions",
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {FAULTY_API_KEY}", "Content-Type": "application/json"},
        timeout=aiohttp.ClientTimeout(**timeout) if timeout else aiohttp.ClientTimeout(total=5),
    )


def _message(err: openai.APIStatusError) -> Any:
    body: Any = err.body
    return body["message"] if isinstance(body, dict) else None


async def _events(resp: aiohttp.ClientResponse, count: int) -> list[bytes]:
    """The first `count` SSE events of a stream (read as they arrive)."""
    buf = b""
    while buf.count(b"\n\n") < count:
        buf += await resp.content.readany()
    return [e + b"\n\n" for e in buf.split(b"\n\n")[:count]]


async def test_ok_answers_like_openai(fake: FakeFaulty, client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model="ok", messages=HELLO)
    assert reply.choices[0].message.content == REPLY
    assert reply.usage is not None and reply.usage.prompt_tokens == PROMPT_TOKENS
    assert reply.usage.completion_tokens == len(REPLY.split())

    stream = await client.chat.completions.create(
        model="ok~tagged", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == PROMPT_TOKENS + len(
        REPLY.split()
    )
    assert fake.hits == {"ok": 1, "ok~tagged": 1}
    assert fake.completed == {"ok": 1, "ok~tagged": 1}
    assert [r.json["model"] for r in fake.requests] == ["ok", "ok~tagged"]


async def test_statuses_with_and_without_retry_after(fake: FakeFaulty, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as server:
        await client.chat.completions.create(model="status-500", messages=HELLO)
    assert server.value.status_code == 500 and _message(server.value) == error_message(500)
    for code in (502, 503):
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model=f"status-{code}", messages=HELLO, stream=True)
        assert info.value.status_code == code and _message(info.value) == error_message(code)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="status-429-retry-7", messages=HELLO)
    assert limited.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.RateLimitError) as bare:
        await client.chat.completions.create(model="status-429", messages=HELLO)
    assert "retry-after" not in bare.value.response.headers
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="status-400", messages=HELLO)
    assert bad.value.param == "messages"
    with pytest.raises(openai.UnprocessableEntityError):
        await client.chat.completions.create(model="status-422", messages=HELLO)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="no-such-fault", messages=HELLO)
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(model="ok", messages=HELLO)
    assert fake.hits["status-429"] == 1 and fake.hits["status-503"] == 1


async def test_first_byte_delay_comes_before_the_status_line(fake: FakeFaulty) -> None:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with _post(session, fake, "first-byte-200") as resp:
            assert resp.status == 200 and (await resp.json())["choices"][0]["message"]["content"] == REPLY
        assert time.monotonic() - started >= 0.2
        with pytest.raises(TimeoutError):
            async with _post(session, fake, "first-byte-2000", total=0.1):
                pass
    assert await fake.wait_for_disconnect("first-byte-2000")


async def test_stall_sends_n_chunks_then_nothing(fake: FakeFaulty) -> None:
    async with aiohttp.ClientSession() as session:
        async with _post(session, fake, "stall-after-2", stream=True, sock_read=0.2) as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            events = await _events(resp, 2)
            assert [orjson.loads(e[6:])["choices"][0]["delta"]["content"] for e in events] == [
                chunk_text(0),
                chunk_text(1),
            ]
            with pytest.raises(TimeoutError):
                await resp.content.read()
        async with _post(session, fake, "stall-after-0", sock_read=0.2) as resp:  # not streamed
            assert resp.status == 200 and resp.content_type == "application/json"
            with pytest.raises(TimeoutError):
                await resp.read()
    assert await fake.wait_for_disconnect("stall-after-2")
    assert await fake.wait_for_disconnect("stall-after-0")


async def test_drip_keeps_coming(fake: FakeFaulty) -> None:
    async with (
        aiohttp.ClientSession() as session,
        _post(session, fake, "drip-20", stream=True, sock_read=0.5) as resp,
    ):
        started = time.monotonic()
        events = await _events(resp, 6)
        assert time.monotonic() - started >= 0.08  # paced, not a burst
        assert all(e.startswith(b"data: {") for e in events)
    assert await fake.wait_for_disconnect("drip-20")


async def test_reset_before_any_response(fake: FakeFaulty) -> None:
    async with aiohttp.ClientSession() as session:
        for stream in (False, True):
            with pytest.raises(aiohttp.ClientConnectionError):
                async with _post(session, fake, "reset-before", stream=stream):
                    pass
    assert fake.hits["reset-before"] == 2
    assert fake.disconnects["reset-before"] == 0


async def test_reset_during_a_stream_and_a_body(fake: FakeFaulty, client: openai.AsyncOpenAI) -> None:
    async with aiohttp.ClientSession() as session:
        async with _post(session, fake, "reset-during-2", stream=True) as resp:
            assert resp.status == 200
            events = await _events(resp, 2)
            assert chunk_text(1).encode() in events[1]
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.content.read()
        async with _post(session, fake, "reset-during-0") as resp:  # not streamed: half a body
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    stream = await client.chat.completions.create(model="reset-during-3", messages=HELLO, stream=True)
    seen = ""
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            seen += chunk.choices[0].delta.content or ""
    assert seen == "".join(chunk_text(i) for i in range(3))


async def test_malformed_json_and_sse(fake: FakeFaulty) -> None:
    async with aiohttp.ClientSession() as session:
        async with _post(session, fake, "bad-json") as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            raw = await resp.read()
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(raw)
        async with _post(session, fake, "bad-sse", stream=True) as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            text = (await resp.read()).decode()
    events = text.split("\n\n")
    assert [orjson.loads(e[6:])["choices"][0]["delta"]["content"] for e in events[:2]] == [
        chunk_text(0),
        chunk_text(1),
    ]
    assert events[2] == "this line is not server-sent events at all"
    assert events[3].startswith("data: {") and "[DONE]" not in text
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(events[3][6:])
