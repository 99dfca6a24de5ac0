"""A fake OpenAI chat upstream that only streams, slowly: a role chunk, `chunks` content
chunks `interval_s` apart, the finish chunk, the usage chunk and `data: [DONE]`, then it
keeps the connection open `linger_s` before ending the body (as a busy upstream may).

For crash and ordering tests: what a gateway must have done by the time its caller sees
`[DONE]` cannot wait for the upstream's end of body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web

from tests.conftest import free_port


def _chunk(model: str, choices: list[dict[str, Any]], **extra: Any) -> bytes:
    obj = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": int(time.time()),
           "model": model, "choices": choices, **extra}  # fmt: skip
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _delta(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _chunk(model, [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])


@asynccontextmanager
async def slow_stream_upstream(
    *, chunks: int = 8, interval_s: float = 0.1, linger_s: float = 0.0
) -> AsyncIterator[str]:
    """Serve the fake on a free port; yields its base URL (…/v1)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        model = (await request.json())["model"]
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(_delta(model, {"role": "assistant", "content": ""}))
        for i in range(chunks):
            await asyncio.sleep(interval_s)
            await resp.write(_delta(model, {"content": f"word{i} "}))
        usage = {"prompt_tokens": 9, "completion_tokens": chunks, "total_tokens": 9 + chunks}
        await resp.write(_delta(model, {}, "stop") + _chunk(model, [], usage=usage) + b"data: [DONE]\n\n")
        await asyncio.sleep(linger_s)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()
