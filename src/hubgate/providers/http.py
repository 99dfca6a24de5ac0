"""The real transport: one shared aiohttp session, pooled keep-alive connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp.payload import BytesPayload, Payload

from hubgate.providers.base import (
    FormPart,
    UpstreamConnectError,
    UpstreamReadTimeout,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.providers.channel import Timeouts


class HttpResponse(UpstreamResponse):
    def __init__(self, resp: aiohttp.ClientResponse, deadline: float | None = None) -> None:
        self._resp = resp
        self._deadline = deadline  # a stream's total cap (monotonic clock)
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except TimeoutError as exc:
            raise UpstreamReadTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(str(exc) or type(exc).__name__) from exc
        finally:
            self._resp.release()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        deadline = self._deadline
        try:
            async for chunk in self._resp.content.iter_any():
                if deadline is not None and time.monotonic() > deadline:
                    raise UpstreamReadTimeout("the stream ran past its total time limit")
                yield chunk
        except TimeoutError as exc:
            raise UpstreamReadTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self._resp.close()

    def at_eof(self) -> bool:
        return self._resp.content.at_eof()

    def release(self) -> None:
        self._resp.release()


class _BufferPayload(BytesPayload):
    """An upload already in memory, written as it is: no copy, and none of
    BytesPayload's warning about large bodies (the gateway bounds them by max_body_mb)."""

    def __init__(self, part: FormPart) -> None:
        content_type = part.content_type or (None if part.filename else "text/plain; charset=utf-8")
        Payload.__init__(self, part.value, content_type=content_type, filename=part.filename)
        self._size = len(part.value)
        if part.filename is None:
            self.set_content_disposition("form-data", name=part.name)
        else:
            self.set_content_disposition("form-data", name=part.name, filename=part.filename)


def multipart_body(parts: tuple[FormPart, ...]) -> aiohttp.MultipartWriter:
    """A multipart/form-data body over the parts' buffers; rebuilt for each attempt."""
    writer = aiohttp.MultipartWriter("form-data")
    for part in parts:
        writer.append_payload(_BufferPayload(part))
    return writer


class HttpTransport:
    def __init__(self, *, limit: int = 1000) -> None:
        self._connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            json_serialize=lambda _: "",  # never used: bodies are sent as bytes
            skip_auto_headers=("User-Agent",),
        )
        # aiohttp's timeout per (channel timeouts, stream), and whether the wait for the
        # answer's start needs a timer of its own: built once, not per request.
        self._client_timeouts: dict[tuple[Timeouts, bool], tuple[aiohttp.ClientTimeout, bool]] = {}

    def _client_timeout(self, limits: Timeouts, stream: bool) -> tuple[aiohttp.ClientTimeout, bool]:
        """aiohttp's read timeout also runs from the request's end to the status line: a
        non-streamed answer's is `first_byte_s` (its body must then not stall as long
        either; `total_s` bounds it all), a stream's `idle_s`, which bounds the wait for
        its start too unless `first_byte_s` is shorter (then an asyncio timer, per request)."""
        found = self._client_timeouts.get((limits, stream))
        if found is None:
            timeout = aiohttp.ClientTimeout(
                total=None if stream else limits.total_s,
                sock_connect=limits.connect_s,
                sock_read=limits.idle_s if stream else limits.first_byte_s,
            )
            guard = stream and limits.first_byte_s < limits.idle_s
            found = self._client_timeouts[limits, stream] = (timeout, guard)
        return found

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        limits = request.timeouts
        timeout, guard = self._client_timeout(limits, request.stream)
        try:
            data = request.body if request.form is None else multipart_body(request.form)
            if guard:
                async with asyncio.timeout(limits.first_byte_s):  # until the status line and headers
                    resp = await self._request(request, data, timeout)
            else:
                resp = await self._request(request, data, timeout)
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamConnectError(f"connect timed out: {exc}") from exc
        except TimeoutError as exc:
            raise UpstreamReadTimeout(f"no answer within {limits.first_byte_s:g} s") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            raise UpstreamConnectError(str(exc) or type(exc).__name__) from exc
        deadline = time.monotonic() + limits.stream_s if request.stream else None
        return HttpResponse(resp, deadline)

    def _request(
        self, request: UpstreamRequest, data: Any, timeout: aiohttp.ClientTimeout
    ) -> Any:  # aiohttp's request context manager, awaitable for the response
        return self._session.request(
            request.method,
            request.url,
            data=data if data or request.method == "POST" else None,  # GET, DELETE: no body
            headers=dict(request.headers),
            timeout=timeout,
        )

    async def close(self) -> None:
        await self._session.close()
        await asyncio.sleep(0)
