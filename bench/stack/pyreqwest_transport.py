"""hubgate's upstream transport on pyreqwest (Rust reqwest/hyper), for bench/stack_ab.py only.

The same interface as `hubgate.providers.http.HttpTransport` (send() -> an UpstreamResponse
with status, headers, read(), iter_chunks(), close(), release()) and the same timeouts:
  connect_s     the client's connect timeout
  first_byte_s  asyncio.timeout around sending until the status line and headers
  total_s       a non-streamed answer's whole time (the request's own timeout)
  idle_s        a stream's silence between two reads (the client's read timeout)
  stream_s      a stream's whole time (checked per chunk, as HttpTransport does)
pyreqwest sets connect and read timeouts per client, not per request, so there is one
pooled keep-alive client per (connect_s, idle_s or none): streams use a client with a read
timeout, plain answers one without (aiohttp's sock_read is set for streams only, too).
Streams are read with streamed_read_buffer_limit 0, so each chunk goes on as it arrives.

A multipart body (`request.form`: audio uploads, image edits) falls back to the aiohttp
transport. Not a product dependency: the bench installs pyreqwest into its own venv.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import ConnectTimeoutError, PyreqwestError, RequestTimeoutError

from hubgate.providers.base import (
    UpstreamConnectError,
    UpstreamReadTimeout,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.providers.channel import Timeouts
from hubgate.providers.http import HttpTransport

SENT = [0]  # requests sent through pyreqwest in this process (the harness's check reads it)


def _mapped(exc: PyreqwestError) -> Exception:
    """pyreqwest's error as hubgate's: a timeout reading is a read timeout, the rest a connect error."""
    if isinstance(exc, RequestTimeoutError) and not isinstance(exc, ConnectTimeoutError):
        return UpstreamReadTimeout(str(exc) or type(exc).__name__)
    return UpstreamConnectError(str(exc) or type(exc).__name__)


class PyreqwestResponse(UpstreamResponse):
    def __init__(self, resp: Any, deadline: float | None) -> None:
        self._resp = resp
        self._deadline = deadline
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        try:
            body: bytes = (await self._resp.bytes()).to_bytes()  # a plain answer: read in send()
            return body
        except PyreqwestError as exc:
            raise _mapped(exc) from exc

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        deadline = self._deadline
        reader = self._resp.body_reader
        try:
            while (chunk := await reader.read_chunk()) is not None:
                if deadline is not None and time.monotonic() > deadline:
                    raise UpstreamReadTimeout("the stream ran past its total time limit")
                yield chunk.to_bytes()
        except PyreqwestError as exc:
            raise _mapped(exc) from exc

    def close(self) -> None:
        # Dropping the response drops its body: an unfinished one takes its connection along
        # (hyper never reuses a connection with unread bytes), a finished one went back to the pool.
        self._resp = _CLOSED

    def release(self) -> None:
        self.close()


class _Closed:
    """What a closed response reads from: nothing."""

    status = 0
    headers: Mapping[str, str] = {}

    async def bytes(self) -> Any:
        raise UpstreamConnectError("the response was closed")

    @property
    def body_reader(self) -> Any:
        raise UpstreamConnectError("the response was closed")


_CLOSED = _Closed()


class PyreqwestTransport:
    """hubgate's Transport on pyreqwest clients; multipart uploads go through aiohttp."""

    def __init__(self, *, limit: int = 1000) -> None:
        self._limit = limit
        self._clients: dict[tuple[float, float | None], Client] = {}
        self._fallback = HttpTransport(limit=limit)
        for stream in (False, True):  # building one takes ~20 ms (~100 ms the first): not on a request
            self._client(Timeouts(), stream)

    def _client(self, limits: Timeouts, stream: bool) -> Client:
        key = (limits.connect_s, limits.idle_s if stream else None)
        client = self._clients.get(key)
        if client is None:
            builder = (
                ClientBuilder()
                .max_connections(self._limit)
                .connect_timeout(timedelta(seconds=limits.connect_s))
                .pool_max_idle_per_host(self._limit)
            )
            if stream:
                builder = builder.read_timeout(timedelta(seconds=limits.idle_s))
            client = self._clients[key] = builder.build()
        return client

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if request.form is not None:
            return await self._fallback.send(request)
        SENT[0] += 1
        limits = request.timeouts
        builder = self._client(limits, request.stream).request(request.method, request.url)
        builder = builder.headers(dict(request.headers))
        if request.body or request.method == "POST":  # GET, DELETE: no body
            builder = builder.body_bytes(request.body)
        try:
            async with asyncio.timeout(limits.first_byte_s):  # until the status line and headers
                if request.stream:
                    # Its context exit only closes the body, which close() does by dropping it.
                    streamed = builder.streamed_read_buffer_limit(0).build_streamed()
                    resp = await streamed.__aenter__()
                else:  # read whole in Rust: the first_byte_s wait covers the body too
                    resp = await builder.timeout(timedelta(seconds=limits.total_s)).build().send()
        except TimeoutError as exc:
            if isinstance(exc, ConnectTimeoutError):
                raise UpstreamConnectError(f"connect timed out: {exc}") from exc
            if isinstance(exc, PyreqwestError):
                raise _mapped(exc) from exc
            raise UpstreamReadTimeout(f"no answer within {limits.first_byte_s:g} s") from exc
        except PyreqwestError as exc:
            raise _mapped(exc) from exc
        deadline = time.monotonic() + limits.stream_s if request.stream else None
        return PyreqwestResponse(resp, deadline)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._fallback.close()
