"""The Realtime API WebSocket proxy (`GET /v1/realtime`) against tests/fakes/realtime_upstream.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from hubgate.settings import parse_settings
from tests.conftest import LiveGateway, _serve, free_port
from tests.fakes.realtime_upstream import DELTAS, FakeRealtime

MODEL = "gpt-realtime"
MAPPED = "rt-mapped"  # -> gpt-4o-realtime-preview upstream


@pytest.fixture(scope="module")
async def fake_realtime() -> AsyncIterator[FakeRealtime]:
    async with FakeRealtime() as fake:
        yield fake


@pytest.fixture(scope="module")
async def rt_gateway(database_url: str, fake_realtime: FakeRealtime) -> AsyncIterator[LiveGateway]:
    config = {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 0,
        "channels": [
            {
                "name": "rt",
                "type": "openai",
                "base_url": fake_realtime.base_url,
                "api_key": fake_realtime.api_key,
                "models": [MODEL, MAPPED],
                "model_map": {MAPPED: "gpt-4o-realtime-preview"},
            },
            {  # unreachable, tried first for "rt-failover"
                "name": "rt-dead",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-dead",
                "models": ["rt-failover", "rt-dead-only"],
                "priority": 10,
            },
            {
                "name": "rt-backup",
                "type": "openai",
                "base_url": fake_realtime.base_url,
                "api_key": fake_realtime.api_key,
                "models": ["rt-failover"],
                "model_map": {"rt-failover": MODEL},
            },
            {"name": "echo", "type": "echo", "models": ["echo-only"]},
            {
                "name": "rt-azure",
                "type": "azure",
                "base_url": fake_realtime.root_url,
                "api_key": fake_realtime.api_key,
                "api_version": "2025-04-01-preview",
                "models": ["azure-realtime"],
                "model_map": {"azure-realtime": "my-realtime-deployment"},
            },
        ],
        "pricing": {MODEL: {"input": 5, "output": 20}},
    }
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield LiveGateway(url=url, app=app, settings=settings, fake=None)  # type: ignore[arg-type]
    finally:
        await runner.cleanup()


def ws_url(gw: LiveGateway, model: str = MODEL, prefix: str = "") -> str:
    return gw.url.replace("http://", "ws://") + f"{prefix}/v1/realtime?model={model}"


async def recv_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    event: dict[str, Any] = orjson.loads(msg.data)
    return event


async def one_response(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    await ws.send_str(orjson.dumps({"type": "response.create"}).decode())
    events = []
    while True:
        event = await recv_json(ws)
        events.append(event)
        if event["type"] == "response.done":
            return events


async def wait_rows(gw: LiveGateway, name: str, n: int = 1) -> list[dict[str, Any]]:
    for _ in range(100):
        rows = await gw.usage_rows(name)
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.05)
    return await gw.usage_rows(name)


async def test_header_auth_relays_frames_and_meters_one_row(
    rt_gateway: LiveGateway, fake_realtime: FakeRealtime
) -> None:
    name, secret = await rt_gateway.new_key()
    fake_realtime.reset()
    headers = {"Authorization": f"Bearer {secret}", "OpenAI-Beta": "realtime=v1"}
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(rt_gateway, MAPPED), headers=headers) as ws:
        assert (await recv_json(ws))["type"] == "session.created"
        first = await one_response(ws)
        assert [e["type"] for e in first] == [
            "response.created",
            *["response.output_text.delta"] * len(DELTAS),
            "response.done",
        ]
        assert "".join(e["delta"] for e in first if "delta" in e) == "".join(DELTAS)
        await ws.send_bytes(b"\x00\x01binary")
        echoed = await ws.receive(timeout=5)
        assert echoed.type is aiohttp.WSMsgType.BINARY and echoed.data == b"\x00\x01binary"
        await ws.send_str('{"type":"input_audio_buffer.append","audio":"AAAA"}')
        await one_response(ws)  # a second response.done: summed into the same row
    session = fake_realtime.sessions[-1]
    assert session.model == "gpt-4o-realtime-preview"
    assert session.frames == [
        '{"type":"response.create"}',
        b"\x00\x01binary",
        '{"type":"input_audio_buffer.append","audio":"AAAA"}',
        '{"type":"response.create"}',
    ]
    handshake = fake_realtime.requests[-1]
    assert handshake.headers["authorization"] == f"Bearer {fake_realtime.api_key}"
    assert handshake.headers["openai-beta"] == "realtime=v1"
    assert handshake.query == {"model": "gpt-4o-realtime-preview"}
    assert await asyncio.wait_for(session.ended.wait(), 5)
    rows = await wait_rows(rt_gateway, name)
    assert len(rows) == 1
    row = rows[0]
    usage = fake_realtime.usage
    assert row["endpoint"] == "realtime"
    assert row["model"] == MAPPED and row["upstream_model"] == "gpt-4o-realtime-preview"
    assert row["channel"] == "rt" and row["status"] == 200
    assert row["prompt_tokens"] == 2 * usage["input_tokens"]
    assert row["completion_tokens"] == 2 * usage["output_tokens"]
    assert row["cached_tokens"] == 2 * usage["input_token_details"]["cached_tokens"]


async def test_subprotocol_auth_echoes_realtime(rt_gateway: LiveGateway, fake_realtime: FakeRealtime) -> None:
    name, secret = await rt_gateway.new_key()
    protocols = ("realtime", f"openai-insecure-api-key.{secret}", "openai-beta.realtime-v1")
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(ws_url(rt_gateway, prefix="/api"), protocols=protocols) as ws,
    ):
        assert ws.protocol == "realtime"
        assert (await recv_json(ws))["type"] == "session.created"
        done = (await one_response(ws))[-1]
        assert done["response"]["usage"] == fake_realtime.usage
    assert fake_realtime.requests[-1].headers["openai-beta"] == "realtime=v1"
    rows = await wait_rows(rt_gateway, name)
    assert len(rows) == 1
    assert rows[0]["prompt_tokens"] == fake_realtime.usage["input_tokens"]
    assert rows[0]["completion_tokens"] == fake_realtime.usage["output_tokens"]
    assert rows[0]["cost_micros"] > 0  # priced at 5/20 USD per 1M tokens


async def test_upstream_close_code_reaches_the_caller(
    rt_gateway: LiveGateway, fake_realtime: FakeRealtime
) -> None:
    name, secret = await rt_gateway.new_key()
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(rt_gateway), headers=headers) as ws:
        await recv_json(ws)
        await ws.send_str('{"type":"test.close","code":4000}')
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == 4000
    assert ws.close_code == 4000
    rows = await wait_rows(rt_gateway, name)
    assert len(rows) == 1 and "4000" in (rows[0]["error"] or "")


async def test_caller_disconnect_closes_the_upstream(
    rt_gateway: LiveGateway, fake_realtime: FakeRealtime
) -> None:
    _, secret = await rt_gateway.new_key()
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(ws_url(rt_gateway), headers=headers)
        await recv_json(ws)
        session = fake_realtime.sessions[-1]
        await ws.close(code=1000)
        await asyncio.wait_for(session.ended.wait(), 5)
        assert session.closed_by_client and session.close_code in (1000, 1001)
        # A hard drop (no close frame) ends the upstream session too.
        ws = await s.ws_connect(ws_url(rt_gateway), headers=headers)
        await recv_json(ws)
        session = fake_realtime.sessions[-1]
        conn = ws._response.connection
        assert conn is not None and conn.transport is not None
        conn.transport.abort()
        await asyncio.wait_for(session.ended.wait(), 5)
        assert session.closed_by_client and session.close_code in (1000, 1001)


@pytest.mark.parametrize("how", ["close", "drop"])
async def test_an_answer_running_when_the_caller_leaves_is_cancelled_and_billed(
    rt_gateway: LiveGateway, fake_realtime: FakeRealtime, how: str
) -> None:
    name, secret = await rt_gateway.new_key()
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(ws_url(rt_gateway), headers={"Authorization": f"Bearer {secret}"})
        await recv_json(ws)
        session = fake_realtime.sessions[-1]
        await ws.send_str('{"type":"response.create","response":{"instructions":"slow"}}')
        assert (await recv_json(ws))["type"] == "response.created"
        assert (await recv_json(ws))["type"] == "response.output_text.delta"
        if how == "close":
            await ws.close(code=1000)
        else:
            conn = ws._response.connection
            assert conn is not None and conn.transport is not None
            conn.transport.abort()
        await asyncio.wait_for(session.ended.wait(), 5)
    assert session.frames[-1] == '{"type":"response.cancel"}'  # the gateway cancelled the answer
    rows = await wait_rows(rt_gateway, name)
    assert len(rows) == 1
    partial = fake_realtime.partial_usage
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (
        partial["input_tokens"], partial["output_tokens"]
    )  # fmt: skip
    assert rows[0]["cost_micros"] > 0


async def test_azure_channels_use_the_deployment_url_and_api_key(
    rt_gateway: LiveGateway, fake_realtime: FakeRealtime
) -> None:
    name, secret = await rt_gateway.new_key()
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(
            ws_url(rt_gateway, "azure-realtime"), headers={"Authorization": f"Bearer {secret}"}
        ) as ws,
    ):
        created = await recv_json(ws)
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "azure-realtime"  # the caller's name, not the deployment
        assert (await one_response(ws))[-1]["type"] == "response.done"
    session = fake_realtime.sessions[-1]
    assert session.model == "my-realtime-deployment"
    handshake = fake_realtime.requests[-1]
    assert handshake.path == "/openai/realtime"
    assert handshake.query == {"api-version": "2025-04-01-preview", "deployment": "my-realtime-deployment"}
    assert handshake.headers["api-key"] == fake_realtime.api_key and "authorization" not in handshake.headers
    rows = await wait_rows(rt_gateway, name)
    assert (rows[0]["channel"], rows[0]["status"], rows[0]["prompt_tokens"]) == ("rt-azure", 200, 40)


async def test_bad_key_is_401_before_upgrade(rt_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession() as s:
        for kwargs in (
            {"headers": {"Authorization": "Bearer sk-nope-0123456789"}},
            {"protocols": ("realtime", "openai-insecure-api-key.sk-nope-0123456789")},
            {},
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await s.ws_connect(ws_url(rt_gateway), **kwargs)
            assert info.value.status == 401
        async with s.get(
            ws_url(rt_gateway).replace("ws://", "http://"),
            headers={"Authorization": "Bearer sk-nope-0123456789"},
        ) as resp:
            assert resp.status == 401
            body = await resp.json()
            assert body["error"]["type"] == "invalid_request_error" or "message" in body["error"]


async def test_unknown_model_is_404_before_upgrade(rt_gateway: LiveGateway) -> None:
    _, secret = await rt_gateway.new_key()
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession() as s:
        for model in ("no-such-model", "echo-only"):  # unknown; served only by a non-realtime channel
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await s.ws_connect(ws_url(rt_gateway, model), headers=headers)
            assert info.value.status == 404
        async with s.get(
            ws_url(rt_gateway, "no-such-model").replace("ws://", "http://"), headers=headers
        ) as resp:
            assert resp.status == 404
            body = await resp.json()
            assert body["error"]["code"] == "model_not_found"


async def test_openai_sdk_realtime_client(rt_gateway: LiveGateway, fake_realtime: FakeRealtime) -> None:
    pytest.importorskip("websockets")
    name, secret = await rt_gateway.new_key()
    client = rt_gateway.client(secret)
    async with client.realtime.connect(model=MODEL) as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.send({"type": "response.create"})
        kinds = []
        async for event in conn:
            kinds.append(event.type)
            if event.type == "response.done":
                break
    assert kinds == ["response.created", *["response.output_text.delta"] * len(DELTAS), "response.done"]
    rows = await wait_rows(rt_gateway, name)
    assert len(rows) == 1 and rows[0]["completion_tokens"] == fake_realtime.usage["output_tokens"]


async def test_unreachable_upstream_fails_over_or_is_503(rt_gateway: LiveGateway) -> None:
    name, secret = await rt_gateway.new_key()
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(ws_url(rt_gateway, "rt-failover"), headers=headers) as ws:
            assert (await recv_json(ws))["type"] == "session.created"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(ws_url(rt_gateway, "rt-dead-only"), headers=headers)
        assert info.value.status == 503
    rows = await wait_rows(rt_gateway, name, 2)
    assert [(r["channel"], r["attempts"], r["status"]) for r in rows] == [
        ("rt-backup", 2, 200),
        ("rt-dead", 1, 503),
    ]
