"""Public model names (issue 15 part 3): every answer names the model the caller asked
for, never the upstream's, in pass-through too; the bytes are untouched when the names agree.

Two gateways: one in front of a canned OpenAI upstream (fixed bytes, so the answer can be
compared byte for byte), and the caller x upstream matrix for the four caller formats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from hubgate.formats.names import Rename, StreamRename
from tests.conftest import ALICE_KEY, MATRIX_KEY, LiveGateway, free_port, live_gateway

KEY = "sk-test-names-0123456789abcdef"
DATED = b'"canned-1-2025-01-01"'  # the upstream answers with a dated name, as OpenAI does
# Odd but valid formatting on purpose: spaces, escapes, the model after the choices in one chunk.
CHUNKS = tuple(
    chunk.replace(b"@M@", DATED)
    for chunk in (
        b'data: {"id": "c-1", "object": "chat.completion.chunk", "created": 1, "model": @M@,'
        b' "choices": [{"index": 0, "delta": {"role": "assistant", "content": "caf\\u00e9 \\"model\\": {"}}],'
        b' "usage": null}\n\n',
        b'data: {"id":"c-1","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":'
        b'{"content":"]}"},"finish_reason":"stop"}],"usage":null,"model":@M@}\n\n',
        b'data: {"id":"c-1","object":"chat.completion.chunk","created":1,"model":@M@,'
        b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
        b"data: [DONE]\n\n",
    )
)
ANSWER = (
    b'{\n  "id": "c-2",\n  "object": "chat.completion",\n  "created": 1,\n  "model": @M@,\n'
    b'  "choices": [{"index": 0, "message": {"role": "assistant", "content": "caf\\u00e9"},'
    b' "finish_reason": "stop"}],\n'
    b'  "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}\n}'
).replace(b"@M@", DATED)


async def _canned(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if not body.get("stream"):
        return web.Response(body=ANSWER, content_type="application/json")
    out = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await out.prepare(request)
    for chunk in CHUNKS:
        await out.write(chunk)
    await out.write_eof()
    return out


@pytest.fixture(scope="module")
async def canned(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveGateway]:
    """A gateway whose only channel is the canned upstream: `canned-1` as it is, `pub-1` mapped to it."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _canned)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    db: Path = tmp_path_factory.mktemp("names") / "hubgate.db"
    config = {
        "database_url": f"sqlite+aiosqlite:///{db}",
        "channels": [
            {
                "name": "canned",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{port}/v1",
                "api_key": "sk-up",
                "models": ["canned-1", "pub-1"],
                "model_map": {"pub-1": "canned-1"},
            },
        ],
        "keys": [{"name": "names", "key": KEY}],
    }
    try:
        async with live_gateway(config, None) as gw:
            yield gw
    finally:
        await runner.cleanup()


async def _post(url: str, body: dict[str, Any], key: str = KEY, **headers: str) -> tuple[int, bytes]:
    headers = {"authorization": f"Bearer {key}", **headers}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.read()


def _chat(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}  # nothing of the upstream's chunks dropped
    return body


async def test_equal_names_pass_untouched(canned: LiveGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(self: object, data: bytes) -> bytes:
        raise AssertionError("renamed although the names agree")

    for cls in (Rename, StreamRename):
        monkeypatch.setattr(cls, "apply", never)
    url = f"{canned.url}/v1/chat/completions"
    assert await _post(url, _chat("canned-1", stream=True)) == (200, b"".join(CHUNKS))
    assert await _post(url, _chat("canned-1", stream=False)) == (200, ANSWER)


@pytest.mark.parametrize("model", ["pub-1", "canned/canned-1", "canned/pub-1"])
async def test_mapped_names_only_the_model_changes(canned: LiveGateway, model: str) -> None:
    url = f"{canned.url}/v1/chat/completions"
    public = b'"' + model.encode() + b'"'
    status, streamed = await _post(url, _chat(model, stream=True))
    assert status == 200 and streamed == b"".join(CHUNKS).replace(DATED, public)
    status, answered = await _post(url, _chat(model, stream=False))
    assert status == 200 and answered == ANSWER.replace(DATED, public)


# -- the four caller formats on same-format upstreams (pass-through), and one translated path ------------

UPSTREAM_NAMES = (b"gpt-4o-mini", b"claude-sonnet-4-5", b"gemini-2.5-flash", b"gpt-5-mini")


def _events(raw: bytes) -> list[dict[str, Any]]:
    found = []
    for event in raw.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip().startswith(b"{"):
                found.append(orjson.loads(line[5:]))
    return found


def _request(caller: str, model: str, stream: bool) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Path, body and headers of a small generation request in the caller's format."""
    if caller == "chat":
        return "/v1/chat/completions", _chat(model, stream), {}
    if caller == "responses":
        return "/v1/responses", {"model": model, "input": "hi", "stream": stream}, {}
    if caller == "anthropic":
        messages = [{"role": "user", "content": "hi"}]
        body = {"model": model, "max_tokens": 64, "messages": messages, "stream": stream}
        return "/v1/messages", body, {"anthropic-version": "2023-06-01"}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{action}", {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {}


def _named(caller: str, obj: dict[str, Any]) -> str | None:
    """Where the caller's format names the model in one answer object or stream event."""
    if caller == "gemini":
        return obj.get("modelVersion")
    if caller == "responses" and isinstance(obj.get("response"), dict):
        return obj["response"].get("model")
    if caller == "anthropic" and isinstance(obj.get("message"), dict):
        return obj["message"].get("model")
    return obj.get("model")


CASES = [
    ("chat", "m-openai"),
    ("responses", "m-responses"),
    ("anthropic", "m-anthropic"),
    ("gemini", "m-gemini"),
]


@pytest.mark.parametrize(("caller", "model"), [*CASES, ("chat", "m-anthropic")])
async def test_every_answer_names_the_callers_model(
    matrix_gateway: LiveGateway, caller: str, model: str
) -> None:
    path, body, headers = _request(caller, model, stream=True)
    status, raw = await _post(matrix_gateway.url + path, body, MATRIX_KEY, **headers)
    assert status == 200, raw
    assert not any(name in raw for name in UPSTREAM_NAMES), raw
    events = _events(raw)
    named = [_named(caller, e) for e in events if _named(caller, e) is not None]
    assert named and set(named) == {model}
    if caller in ("chat", "gemini"):  # every chunk names it
        assert len(named) == len(events)
    if caller == "responses":  # created, in_progress, completed; and the stored response
        assert len(named) >= 3
        streamed_id = next(e["response"]["id"] for e in events if e.get("type") == "response.completed")
        assert (await _stored(matrix_gateway, streamed_id))["model"] == model

    path, body, headers = _request(caller, model, stream=False)
    status, raw = await _post(matrix_gateway.url + path, body, MATRIX_KEY, **headers)
    answer = orjson.loads(raw)
    assert status == 200 and _named(caller, answer) == model, answer
    if caller == "responses":  # the stored response too
        assert (await _stored(matrix_gateway, answer["id"]))["model"] == model


async def _stored(gw: LiveGateway, response_id: str) -> dict[str, Any]:
    """GET /v1/responses/{id}."""
    headers = {"authorization": f"Bearer {MATRIX_KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.url}/v1/responses/{response_id}", headers=headers) as got,
    ):
        stored: dict[str, Any] = await got.json()
        assert got.status == 200, stored
        return stored


async def test_embeddings_name_the_callers_model(matrix_gateway: LiveGateway) -> None:
    body = {"model": "embed-o", "input": "hello"}
    status, raw = await _post(f"{matrix_gateway.url}/v1/embeddings", body, MATRIX_KEY)
    assert status == 200 and orjson.loads(raw)["model"] == "embed-o"
    assert b"text-embedding-3-small" not in raw


async def test_completions_stream_names_the_callers_model(gateway: LiveGateway) -> None:
    model = "main/gpt-3.5-turbo-instruct"  # a pinned channel: the caller's form, not the upstream's name
    body = {"model": model, "prompt": "hi", "max_tokens": 5, "stream": True}
    status, raw = await _post(f"{gateway.url}/v1/completions", body, ALICE_KEY)
    events = _events(raw)
    assert status == 200 and events and all(e["model"] == model for e in events), raw


async def test_media_json_names_the_callers_model(gateway: LiveGateway) -> None:
    body = {"model": "main/omni-moderation-latest", "input": "have a nice day"}
    status, raw = await _post(f"{gateway.url}/v1/moderations", body, ALICE_KEY)
    assert status == 200 and orjson.loads(raw)["model"] == "main/omni-moderation-latest", raw
