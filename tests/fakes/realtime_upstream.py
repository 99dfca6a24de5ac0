"""A fake OpenAI Realtime upstream: `GET /v1/realtime?model=...` as a WebSocket.

On connect it sends `session.created`; on `response.create` it answers `response.created`, a few
`response.output_text.delta` events and `response.done` with :attr:`FakeRealtime.usage`. A binary
frame is echoed back as binary. `{"type": "test.close", "code": 4000}` makes it close with that code.
A `response.create` whose `response.instructions` is "slow" sends one delta and then waits: a
`response.cancel` ends it with a `cancelled` `response.done` carrying :attr:`FakeRealtime.partial_usage`.
Every frame it received is kept in ``frames`` (per session in ``sessions``); the handshake is in
``requests`` (headers, query).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tests.fakes._server import FakeServer

API_KEY = "sk-fake-realtime-upstream"
DELTAS = ("Hel", "lo", " there")


@dataclass
class Session:
    model: str
    frames: list[str | bytes] = field(default_factory=list)  # what the client sent, in order
    close_code: int | None = None  # how the session ended (the client's or ours)
    closed_by_client: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class FakeRealtime(FakeServer):
    api_key = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[Session] = []
        self.usage: dict[str, Any] = {
            "total_tokens": 57,
            "input_tokens": 40,
            "output_tokens": 17,
            "input_token_details": {"cached_tokens": 8, "text_tokens": 40, "audio_tokens": 0},
            "output_token_details": {"text_tokens": 17, "audio_tokens": 0},
        }
        self.partial_usage: dict[str, Any] = {"total_tokens": 43, "input_tokens": 40, "output_tokens": 3}

    def reset(self) -> None:
        super().reset()
        self.sessions.clear()

    def routes(self, app: web.Application) -> None:
        app.router.add_get(f"{self.base_path}/realtime", self._realtime)
        app.router.add_get("/openai/realtime", self._azure_realtime)

    async def _azure_realtime(self, request: web.Request) -> web.StreamResponse:
        """Azure OpenAI's form: `/openai/realtime?api-version=...&deployment=...`, `api-key` header."""
        if request.headers.get("api-key") != self.api_key:
            return web.json_response({"error": {"code": "401", "message": "Access denied"}}, status=401)
        if not request.query.get("api-version") or not request.query.get("deployment"):
            return web.json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404)
        return await self._session(request, request.query["deployment"])

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                {"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401
            )
        return await self._session(request, request.query.get("model", ""))

    async def _session(self, request: web.Request, model: str) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("realtime",))
        await ws.prepare(request)
        session = Session(model=model)
        self.sessions.append(session)
        n = 0
        slow: str | None = None  # the id of a response waiting for response.cancel
        try:
            await self._send(ws, {"type": "session.created", "session": {"model": session.model}})
            async for msg in ws:
                if msg.type is WSMsgType.BINARY:
                    session.frames.append(msg.data)
                    await ws.send_bytes(msg.data)
                    continue
                if msg.type is not WSMsgType.TEXT:
                    continue
                session.frames.append(msg.data)
                event = orjson.loads(msg.data)
                kind = event.get("type")
                if kind == "test.close":
                    session.close_code = int(event.get("code", 1000))
                    await ws.close(code=session.close_code, message=b"test close")
                    break
                if kind == "response.cancel" and slow is not None:
                    done = {"id": slow, "status": "cancelled", "usage": self.partial_usage}
                    await self._send(ws, {"type": "response.done", "response": done})
                    slow = None
                    continue
                if kind == "response.create":
                    n += 1
                    rid = f"resp_{n}"
                    await self._send(ws, {"type": "response.created", "response": {"id": rid}})
                    if (event.get("response") or {}).get("instructions") == "slow":
                        await self._send(ws, {"type": "response.output_text.delta", "response_id": rid,
                                              "delta": DELTAS[0]})  # fmt: skip
                        slow = rid
                        continue
                    for delta in DELTAS:
                        await self._send(ws, {"type": "response.output_text.delta", "response_id": rid,
                                              "delta": delta})  # fmt: skip
                    done = {"id": rid, "status": "completed", "usage": self.usage}
                    await self._send(ws, {"type": "response.done", "response": done})
            else:
                session.closed_by_client = True
                session.close_code = ws.close_code
        finally:
            if session.close_code is None:
                session.closed_by_client = True
                session.close_code = ws.close_code
            session.ended.set()
        return ws

    @staticmethod
    async def _send(ws: web.WebSocketResponse, event: dict[str, Any]) -> None:
        await ws.send_str(orjson.dumps(event).decode())
