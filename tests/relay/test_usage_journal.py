"""The usage journal in a running gateway: an answer's record is in the journal before the
caller sees the answer end (OpenAI's `[DONE]`, Anthropic's `message_stop`, a JSON body),
and an answer whose usage is estimated is journaled provisionally first, then replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hubgate.storage.journal import records
from hubgate.storage.usage import PROVISIONAL
from tests.conftest import LiveGateway, free_port, gateway_config, live_gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.slow_stream import slow_stream_upstream

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def gw(database_url: str, fake_openai: FakeOpenAI, tmp_path: Path) -> AsyncIterator[LiveGateway]:
    """The shared test config plus `lingering`: an upstream that keeps its stream open for
    a second after `[DONE]`, so what happens at the upstream's end of body comes too late."""
    config = gateway_config(fake_openai, database_url, free_port())
    async with slow_stream_upstream(chunks=2, interval_s=0.01, linger_s=1.0) as slow:
        config["channels"].append(
            {
                "name": "lingering",
                "type": "openai",
                "base_url": slow,
                "api_key": "sk-x",
                "models": ["lingering"],
            }
        )
        config.update(usage_journal_dir=str(tmp_path / "journal"), usage_flush_interval_s=60)
        async with live_gateway(config, fake_openai) as live:
            yield live


def journaled(gw: LiveGateway) -> list[tuple[str, Any]]:
    """Every record in this gateway's segments, in order: (kind, row)."""
    journal = gw.state.usage.journal
    assert journal is not None
    out: list[tuple[str, Any]] = []
    for path in journal.segments:
        out += records(path.read_bytes())
    return out


async def _until(http: aiohttp.ClientSession, url: str, secret: str, body: dict[str, Any], end: bytes) -> str:
    """Read a stream until `end` shows up; return the request id (the rest stays unread)."""
    async with http.post(
        url, headers={"Authorization": f"Bearer {secret}", "x-api-key": secret}, json=body
    ) as resp:
        assert resp.status == 200, await resp.text()
        seen = b""
        async for chunk in resp.content.iter_any():
            seen += chunk
            if end in seen:
                return resp.headers["x-request-id"]
    raise AssertionError(f"{end!r} never came: {seen[-300:]!r}")


# The lingering upstream's stream, asked for in both caller formats, and the frame that ends it.
ENDINGS = pytest.mark.parametrize(
    ("path", "body", "end"),
    [
        (
            "/v1/chat/completions",
            {"model": "lingering", "stream": True, "messages": HELLO},
            b"data: [DONE]",
        ),
        (
            "/v1/messages",
            {"model": "lingering", "stream": True, "max_tokens": 32, "messages": HELLO},
            b"event: message_stop",
        ),
    ],
    ids=["openai-passthrough", "anthropic-translated"],
)


@ENDINGS
async def test_the_record_is_journaled_before_the_caller_sees_the_end(
    gw: LiveGateway, path: str, body: dict[str, Any], end: bytes
) -> None:
    _, secret = await gw.new_key()
    async with aiohttp.ClientSession() as http:
        request_id = await _until(http, gw.url + path, secret, body, end)
        # The caller has just seen the final frame; nothing else ran in between.
        mine = [(kind, row) for kind, row in journaled(gw) if row.request_id == request_id]
    assert [(kind, row.status) for kind, row in mine] == [("f", 200)]
    assert mine[0][1].prompt_tokens > 0 and mine[0][1].completion_tokens > 0


async def test_a_json_answer_is_journaled_before_its_body(gw: LiveGateway) -> None:
    _, secret = await gw.new_key()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            json={"model": "gpt-4o-mini", "messages": HELLO},
        ) as resp,
    ):
        request_id = resp.headers["x-request-id"]
        assert [row.status for _, row in journaled(gw) if row.request_id == request_id] == [200]
        await resp.read()


async def test_an_estimated_answer_is_journaled_provisionally_then_replaced(gw: LiveGateway) -> None:
    """No usage from the upstream: a priced rough record before [DONE], the counted one after."""
    name, secret = await gw.new_key()
    body = {"model": "no-usage", "stream": True, "messages": HELLO}
    async with aiohttp.ClientSession() as http:
        request_id = await _until(http, f"{gw.url}/v1/chat/completions", secret, body, b"data: [DONE]")
        first = [(kind, row) for kind, row in journaled(gw) if row.request_id == request_id]
    assert [kind for kind, _ in first] == [PROVISIONAL]
    assert first[0][1].estimated and first[0][1].completion_tokens > 0
    for _ in range(100):
        if len([1 for _, row in journaled(gw) if row.request_id == request_id]) == 2:
            break
        await asyncio.sleep(0.02)
    kinds = [kind for kind, row in journaled(gw) if row.request_id == request_id]
    assert kinds == [PROVISIONAL, "f"]
    (row,) = await gw.usage_rows(name)  # one row in the database: the estimated one
    assert row["estimated"] and row["request_id"] == request_id and row["completion_tokens"] > 0


@ENDINGS
async def test_the_last_event_does_not_wait_for_the_upstreams_end_of_body(
    gw: LiveGateway, path: str, body: dict[str, Any], end: bytes
) -> None:
    """The answer ends at the upstream's last event, sent with the end of the body in one
    write; an upstream that keeps its body open after that (this one, for a second) is not
    waited for."""
    _, secret = await gw.new_key()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        started = loop.time()
        await _until(http, gw.url + path, secret, body, end)
        took = loop.time() - started
    assert took < 0.8, f"the final event came after {took:.2f} s: it waited for the upstream's end"
