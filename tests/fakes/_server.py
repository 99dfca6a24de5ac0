"""Plumbing shared by the fake upstreams: the server lifecycle, request recording, stream bookkeeping.

A fake subclasses :class:`FakeServer` (or :class:`StreamingFakeServer`, which also counts the streams
a client hung up on), adds its routes in :meth:`FakeServer.routes` and answers unknown paths in
``_not_found``; ``async with Fake() as fake`` then serves it on 127.0.0.1 (a free port) until exit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

__all__ = [
    "PARSED",
    "FakeServer",
    "Recorded",
    "Reject",
    "StreamingFakeServer",
    "json_response",
    "malformed_body",
    "sse_response",
]

PARSED: web.RequestKey[tuple[bool, Any]] = web.RequestKey("fake_parsed", tuple)
"""Set on each request the recording middleware saw: (body empty or JSON, the parsed body or None)."""


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any  # parsed body, or None when empty / not JSON
    body: bytes  # raw body


class Reject(Exception):
    """Raised inside a handler to answer with an error response (the recording middleware sends it)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def malformed_body(message: str) -> dict[str, Any]:
    """A 400 body every vendor's error reader understands (OpenAI's, Anthropic's and Gemini's keys)."""
    error = {"type": "invalid_request_error", "message": message, "code": 400, "status": "INVALID_ARGUMENT"}
    return {"type": "error", "error": error}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def sse_response(status: int = 200) -> web.StreamResponse:
    """An unprepared ``text/event-stream`` response."""
    return web.StreamResponse(
        status=status,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )


class FakeServer:
    """An aiohttp app on 127.0.0.1, run as an async context manager.

    On entry ``port``, ``root_url`` (``http://127.0.0.1:<port>``) and ``base_url`` (``root_url`` +
    :attr:`base_path`) are set. With :attr:`record_all` every request is read, parsed (``request[PARSED]``)
    and appended to ``requests`` by a middleware that also turns a raised :class:`Reject` into its
    response; without it, handlers record what they want with :meth:`_read`.
    """

    base_path = "/v1"
    record_all = True
    client_max_size = 64 * 1024 * 1024

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        # Off by default, so a fake's own bug fails the test that hit it. The fuzz test turns it on:
        # a body the fake's checks never imagined then gets the 400 a real vendor would send, and
        # the exception is kept here (a translated body that crashes a fake still deserves a look).
        self.crash_is_400 = False
        self.crashes: list[str] = []
        self.base_url = ""
        self.root_url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes and hooks to ``app`` (a catch-all to ``_not_found`` comes after them)."""
        raise NotImplementedError

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    # -- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application(
            middlewares=[self._record] if self.record_all else [], client_max_size=self.client_max_size
        )
        self.routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}{self.base_path}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget recorded requests."""
        self.requests.clear()

    # -- recording -------------------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> tuple[bool, Any]:
        """Read and record ``request``: (body empty or JSON, the parsed body or None)."""
        raw = await request.read()
        parsed: tuple[bool, Any] = (True, None)
        if raw:
            try:
                parsed = (True, orjson.loads(raw))
            except orjson.JSONDecodeError:
                parsed = (False, None)
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=parsed[1],
                body=raw,
            )
        )
        return parsed

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        request[PARSED] = await self._read(request)
        try:
            response: web.StreamResponse = await handler(request)
        except Reject as rejected:
            return rejected.response
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            if not self.crash_is_400:
                raise
            self.crashes.append(f"{request.path}: {type(exc).__name__}: {exc}")
            message = f"The request could not be read: {type(exc).__name__}."
            return json_response(malformed_body(message), status=400)
        return response


class StreamingFakeServer(FakeServer):
    """A :class:`FakeServer` that counts streams sent in full and streams the client hung up on."""

    def __init__(self) -> None:
        super().__init__()
        self.stream_disconnects = 0
        self.stream_completed = 0
        self._disconnects_seen = 0
        self._disconnect_event = asyncio.Event()

    def reset(self) -> None:
        """Forget recorded requests and zero the counters."""
        super().reset()
        self.stream_disconnects = 0
        self.stream_completed = 0
        self._disconnects_seen = 0
        self._disconnect_event.clear()

    async def wait_for_disconnect(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109 (public API)
        """True once a streaming client disconnect is observed (False on timeout).

        Each call consumes one disconnect: a disconnect that happened before the call counts, so there
        is no race between the test hanging up and starting to wait.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.stream_disconnects <= self._disconnects_seen:
            self._disconnect_event.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnect_event.wait(), remaining)
        self._disconnects_seen += 1
        return True

    def _note_disconnect(self) -> None:
        self.stream_disconnects += 1
        self._disconnect_event.set()

    async def _send_stream(
        self, request: web.Request, response: web.StreamResponse, write: Callable[[], Awaitable[None]]
    ) -> web.StreamResponse:
        """Prepare ``response``, let ``write`` send the body, then end it and count it completed.

        A client that hangs up is noted as a disconnect (the cancellation goes on; a reset ends the
        stream quietly).
        """
        try:
            await response.prepare(request)
            await write()
            await response.write_eof()
        except asyncio.CancelledError:
            self._note_disconnect()
            raise
        except ConnectionResetError:
            self._note_disconnect()
            return response
        self.stream_completed += 1
        return response
