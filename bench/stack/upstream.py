"""A tiny aiohttp upstream for bench/stack_ab.py's checks (not for load): an OpenAI-style
stream whose events come apart in time, and one that dies halfway.

  POST .../v1/chat/completions   "stream": true -> 6 events 50 ms apart then [DONE];
                                 model "cut"  -> 3 of them, then the connection is dropped
                                 (no last chunk); otherwise a JSON answer.
  GET /stats                     streams whose caller left early, and the last request's
                                 Accept-Encoding (which client sent it)
  python bench/stack/upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web

GAP_S = 0.05
STATS = web.AppKey("stats", dict)


def event(i: int, model: str) -> bytes:
    chunk = {
        "id": "chatcmpl-stack",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app[STATS]["accept_encoding"] = request.headers.get("Accept-Encoding", "")
    model = body.get("model", "m")
    if not body.get("stream"):
        answer = {
            "id": "chatcmpl-stack",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }
        return web.json_response(answer)
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    count = 3 if model.startswith("cut") else 6
    try:
        for i in range(count):
            await out.write(event(i, model))
            await asyncio.sleep(GAP_S)
    except ConnectionError:  # aiohttp's ClientConnectionResetError: the gateway hung up
        request.app[STATS]["left_early"] += 1
        return out
    if model.startswith("cut"):
        assert request.transport is not None
        request.transport.abort()  # dies mid-stream: no terminating chunk
        return out
    await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS])


def main() -> None:
    app = web.Application()
    app[STATS] = {"left_early": 0, "accept_encoding": ""}
    app.router.add_get("/stats", stats)
    app.router.add_post("/{tail:.*}", chat)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
