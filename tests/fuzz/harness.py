"""A hubgate in front of in-process upstreams, driven on a private event loop, that judges
each answer: 2xx, or a 4xx in the caller's error shape; never a 5xx, a stream that dies or
turns into an error, or an error logged by the gateway's own code."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import ClientPayloadError, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hubgate.app import create_app
from hubgate.gateway import GATEWAY, Gateway
from hubgate.observability.logging import current_request_id
from hubgate.settings import parse_settings
from hubgate.storage.tables import usage_logs
from tests.conftest import small_pools
from tests.fakes._server import FakeServer
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.openai_video import API_KEY as VIDEO_KEY
from tests.fakes.openai_video import FakeVideos
from tests.fakes.rerank_upstream import API_KEY as RERANK_KEY
from tests.fakes.rerank_upstream import FakeRerank
from tests.fakes.responses_upstream import FakeResponses
from tests.fuzz.routes import PREVIOUS, Route, Shape, responses_input

KEY = "sk-test-fuzz-0123456789abcdef"


_FORMAT = logging.Formatter()


class _Collect(logging.Handler):
    """Errors logged by the gateway (and by aiohttp's server for a handler that raised)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("hubgate", "aiohttp")):
            record.hubgate_request_id = current_request_id()  # the request being served, if any
            self.records.append(record)


@dataclass
class Upstreams:
    media: FakeOpenAI
    videos: FakeVideos
    rerank: FakeRerank
    anthropic: FakeAnthropic
    gemini: FakeGemini
    responses: FakeResponses


def config(database_url: str, up: Upstreams) -> dict[str, Any]:
    media, videos, rerank = up.media, up.videos, up.rerank
    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.2,
        "cooldown_after_failures": 0,  # hostile bodies fail upstream on purpose, many times
        "video_poll_interval_s": 3600,
        "max_body_mb": 2,
        "channels": [
            {"name": "echo", "type": "echo", "models": ["echo-1", "echo-embed"]},
            {"name": "claude", "type": "anthropic", "base_url": up.anthropic.base_url,
             "api_key": up.anthropic.api_key, "models": ["fz-claude"],
             "model_map": {"fz-claude": "claude-sonnet-4-5"}},
            {"name": "gemini", "type": "gemini", "base_url": up.gemini.base_url, "api_key": up.gemini.api_key,
             "models": ["fz-gemini", "fz-gemini-embed"],
             "model_map": {"fz-gemini": "gemini-2.5-flash", "fz-gemini-embed": "gemini-embedding-001"}},
            {"name": "responses", "type": "openai", "api": "responses", "base_url": up.responses.base_url,
             "api_key": up.responses.api_key, "models": ["fz-resp"], "model_map": {"fz-resp": "gpt-5-mini"}},
            {"name": "media", "type": "openai", "base_url": media.base_url, "api_key": media.api_key,
             "models": ["dall-e-3", "gpt-image-1", "tts-1", "omni-moderation-latest"]},
            {"name": "videos", "type": "openai", "base_url": videos.base_url, "api_key": VIDEO_KEY,
             "models": ["sora-2"]},
            {"name": "rr-cohere", "type": "cohere", "base_url": rerank.root_url, "api_key": RERANK_KEY,
             "models": ["rr-cohere"], "model_map": {"rr-cohere": "rerank-v3.5"}},
            {"name": "rr-jina", "type": "jina", "base_url": rerank.root_url, "api_key": RERANK_KEY,
             "models": ["rr-jina"], "model_map": {"rr-jina": "jina-reranker-v2-base-multilingual"}},
        ],
        "keys": [{"name": "fuzz", "key": KEY}],
        "pricing": {"dall-e-3": {"input": 0, "per_request": "0.04"}, "tts-1": {"input": 15}},
    }  # fmt: skip


def headers_for(shape: Shape) -> dict[str, str]:
    auth = {Shape.OPENAI: {"Authorization": f"Bearer {KEY}"}, Shape.ANTHROPIC: {"x-api-key": KEY},
            Shape.GEMINI: {"x-goog-api-key": KEY}}[shape]  # fmt: skip
    return {**auth, "Content-Type": "application/json"}


def error_shape_problem(shape: Shape, status: int, raw: bytes) -> str | None:
    """What is wrong with a 4xx body for this caller family, or None."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "error body is not JSON"
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return "error body has no error object"
    err = body["error"]
    if not isinstance(err.get("message"), str) or not err["message"]:
        return "error has no message"
    if shape is Shape.ANTHROPIC and (body.get("type") != "error" or not isinstance(err.get("type"), str)):
        return "not Anthropic's error shape"
    if shape is Shape.GEMINI and (err.get("code") != status or not isinstance(err.get("status"), str)):
        return "not Gemini's error shape"
    if shape is Shape.OPENAI and not isinstance(err.get("type"), str):
        return "not OpenAI's error shape"
    return None


def _stream_items(raw: bytes, sse: bool) -> list[Any]:
    """The JSON payloads of a stream: SSE data lines, or the items of Gemini's JSON array."""
    if not sse:
        items = orjson.loads(raw)
        return items if isinstance(items, list) else [items]
    out = []
    for line in raw.splitlines():
        if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
            out.append(orjson.loads(line[5:]))
    return out


def stream_problem(raw: bytes, sse: bool) -> str | None:
    """A 200 stream from an in-process upstream has no reason to carry an error event."""
    try:
        items = _stream_items(raw, sse)
    except orjson.JSONDecodeError as exc:
        return f"a 200 stream that is not valid ({exc}): {raw[:600]!r}"
    for item in items:
        if isinstance(item, dict) and (
            item.get("type") in ("error", "response.failed") or isinstance(item.get("error"), dict)
        ):
            return f"an error inside a 200 stream: {orjson.dumps(item)[:800]!r}"
    return None


@dataclass
class Harness:
    client: TestClient[web.Request, web.Application]
    stack: AsyncExitStack
    logs: _Collect
    fakes: tuple[FakeServer, ...]
    previous_id: bytes = b""
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def gateway(self) -> Gateway:
        return self.client.app[GATEWAY]  # type: ignore[index]

    @classmethod
    async def start(cls, database_url: str) -> Harness:
        stack = AsyncExitStack()
        up = Upstreams(
            media=await stack.enter_async_context(FakeOpenAI()),
            videos=await stack.enter_async_context(FakeVideos()),
            rerank=await stack.enter_async_context(FakeRerank()),
            anthropic=await stack.enter_async_context(FakeAnthropic()),
            gemini=await stack.enter_async_context(FakeGemini()),
            responses=await stack.enter_async_context(FakeResponses()),
        )
        up.media.media.speech_chunk_delay_s = 0  # speech is streamed at once
        fakes = (up.media, up.videos, up.rerank, up.anthropic, up.gemini, up.responses)
        for fake in fakes:
            fake.crash_is_400 = True  # a vendor answers 400 to what it cannot read
        settings = small_pools(parse_settings(config(database_url, up), env={}))
        client: TestClient[web.Request, web.Application] = TestClient(TestServer(create_app(settings)))
        await stack.enter_async_context(client)
        logs = _Collect()
        logging.getLogger().addHandler(logs)
        stack.callback(logging.getLogger().removeHandler, logs)
        harness = cls(client, stack, logs, fakes)
        harness.previous_id = await harness._store_a_response()
        return harness

    async def _store_a_response(self) -> bytes:
        """A stored Responses answer (with tool calls and results in its history), to continue from."""
        body = {"model": "echo-1", "input": responses_input(), "instructions": "Be brief.", "store": True}
        async with self.client.post("/v1/responses", json=body, headers=headers_for(Shape.OPENAI)) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["id"]).encode()

    async def settle(self) -> None:
        """Wait for the book-keeping of finished requests (usage estimates, limits)."""
        while self.gateway.background:
            await asyncio.gather(*self.gateway.background, return_exceptions=True)

    async def send_all(self, route: Route, requests: list[tuple[str, bytes]]) -> list[str | None]:
        """Send the requests at once; for each, what went wrong, or None. Errors logged while
        they ran are laid at the door of the request they were logged for (its request id)."""
        answers = await asyncio.gather(*(self._send(route, path, raw) for path, raw in requests))
        await self.settle()
        logged: dict[str | None, list[str]] = {}
        for record in self.logs.records:
            text = f"{record.name}: {record.getMessage()}\n"
            if record.exc_info:
                text += _FORMAT.formatException(record.exc_info)
            logged.setdefault(getattr(record, "hubgate_request_id", None), []).append(text)
        self.logs.records.clear()
        problems: list[str | None] = []
        for request_id, status, problem in answers:
            lines = logged.pop(request_id, [])
            if lines:
                problem = f"{problem or f'HTTP {status}'}; logged: {'; '.join(lines)[-3000:]}"
            problems.append(problem)
        if logged:  # logged outside any request this batch sent: blame them all
            text = "; ".join(line for lines in logged.values() for line in lines)[-3000:]
            problems = [f"{p or 'HTTP 2xx/4xx'}; logged meanwhile: {text}" for p in problems]
        return problems

    async def _send(self, route: Route, path: str, raw: bytes) -> tuple[str | None, int, str | None]:
        """One request: (its request id, its status, what is wrong with the answer or None)."""
        self.sent += 1
        raw = raw.replace(PREVIOUS.encode(), self.previous_id)
        async with self.client.post(path, data=raw, headers=headers_for(route.shape)) as resp:
            status = resp.status
            request_id = resp.headers.get("x-request-id")
            kind = resp.headers.get("content-type", "")
            try:
                body = await resp.read()
            except ClientPayloadError as exc:
                return request_id, status, f"HTTP {status}: the answer broke off mid-way ({exc})"
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500 or status < 200 or 300 <= status < 400:
            return request_id, status, f"HTTP {status}: {body[:600]!r}"
        if status >= 400:
            shape_problem = error_shape_problem(route.shape, status, body)
            return request_id, status, shape_problem and f"HTTP {status}, {shape_problem}: {body[:600]!r}"
        if "event-stream" in kind or (":streamGenerateContent" in path and "json" in kind):
            return request_id, status, stream_problem(body, sse="event-stream" in kind)
        return request_id, status, None

    async def usage_rows(self) -> int:
        """Usage rows written so far, after flushing what is queued."""
        await self.settle()
        await self.gateway.usage.flush()
        async with self.gateway.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(usage_logs))).scalar_one())

    async def close(self) -> None:
        await self.stack.aclose()
