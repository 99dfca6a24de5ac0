"""A fault-injecting fake OpenAI upstream: chat completions (JSON and SSE) that break on purpose.

Used by the failover / timeout / billing tests: a hubgate channel points at :class:`FakeFaulty`
and the requested ``model`` (after the channel's ``model_map``) picks the fault. Anything after
a ``~`` is a free tag, ignored for the behaviour but counted apart in :attr:`FakeFaulty.hits`
(``status-500~a`` and ``status-500~b`` fail alike; each has its own counter and health target).

* ``ok``: a normal answer with usage (streamed: role chunk, word chunks, finish chunk, the usage
  chunk when ``stream_options.include_usage`` is set, ``[DONE]``).
* ``first-byte-<ms>``: sleeps ``ms`` before the status line, then answers like ``ok``.
* ``stall-after-<n>``: streamed, sends the headers and ``n`` content chunks, then goes silent
  (``n`` may be 0: headers only). Not streamed: the headers and half of the JSON body, then silence.
* ``drip-<ms>``: streamed, one content chunk every ``ms`` without end (capped at :data:`DRIP_CAP_S`,
  after which it finishes normally). Not streamed: one space (valid leading JSON whitespace)
  every ``ms``, same cap.
* ``reset-before``: reads the request, then resets the connection (RST) without any response.
* ``reset-during-<n>``: streamed, the headers and ``n`` content chunks, then a reset. Not
  streamed: the headers and half of the JSON body, then a reset.
* ``status-<code>`` / ``status-<code>-retry-<s>``: an OpenAI-shaped error with that status
  (message :func:`error_message`), with ``retry-after: <s>`` in the second form.
* ``bad-json``: 200 ``application/json`` whose body is truncated JSON (streamed or not).
* ``bad-sse``: 200 ``text/event-stream``: two good chunks, a line that is not SSE, a ``data:``
  that is not JSON, and the end of the body without ``data: [DONE]`` (streamed or not).
* anything else: 404 ``model_not_found``.

Every request is recorded (:attr:`FakeFaulty.requests`) and counted per model (:attr:`hits`);
a streamed or slow answer the client hung up on is counted in :attr:`disconnects`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from ._server import FakeServer, json_response, sse_response

__all__ = [
    "DRIP_CAP_S",
    "FAULTY_API_KEY",
    "PROMPT_TOKENS",
    "REPLY",
    "FakeFaulty",
    "Fault",
    "chunk_text",
    "error_message",
    "parse_fault",
]

JSONDict = dict[str, Any]

FAULTY_API_KEY = "sk-faulty-upstream-test"
REPLY = "All good from the faulty fake."
PROMPT_TOKENS = 9  # reported by `ok` for any prompt
HANG_S = 60.0  # "forever": a stalled or reset handler waits this long unless the client goes away
DRIP_CAP_S = 30.0  # a drip ends on its own after this long (so a missing cap cannot hang a test forever)
RESET_GRACE_S = 0.05  # lets the client read what was sent before the reset

_FAULT = re.compile(
    r"(?P<kind>ok|bad-json|bad-sse|reset-before)"
    r"|(?P<timed>first-byte|stall-after|drip|reset-during)-(?P<n>\d+)"
    r"|status-(?P<status>\d{3})(?:-retry-(?P<retry>\d+))?"
)

_ERRORS: dict[int, tuple[str, str, str | None, str | None]] = {
    # status: (message, type, code, param)
    400: (
        "Invalid 'messages[0].content': the faulty fake refuses this request.",
        "invalid_request_error",
        "invalid_value",
        "messages",
    ),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key", None),
    422: (
        "Unprocessable entity: the faulty fake cannot process this body.",
        "invalid_request_error",
        None,
        None,
    ),
    429: ("Rate limit reached for requests (faulty fake).", "requests", "rate_limit_exceeded", None),
    500: (
        "The server had an error while processing your request. Sorry about that! (faulty fake)",
        "server_error",
        None,
        None,
    ),
    502: ("Bad gateway (faulty fake).", "server_error", None, None),
    503: (
        "The engine is currently overloaded, please try again later. (faulty fake)",
        "server_error",
        None,
        None,
    ),
}


def error_message(status: int) -> str:
    """The message of the OpenAI-shaped error a ``status-<status>`` model answers with."""
    known = _ERRORS.get(status)
    return known[0] if known is not None else f"The faulty fake answered with HTTP {status}."


def chunk_text(i: int) -> str:
    """The content of the i-th (0-based) content chunk of a faulty stream."""
    return f"w{i} "


@dataclass(frozen=True)
class Fault:
    """What a model name asks for: ``kind`` plus its number (ms or chunk count) and Retry-After."""

    kind: str
    n: int = 0
    retry_after: int | None = None


def parse_fault(model: str) -> Fault | None:
    """The fault a model name selects (the ``~tag`` ignored), or None for an unknown name."""
    match = _FAULT.fullmatch(model.split("~", 1)[0])
    if match is None:
        return None
    if match["kind"]:
        return Fault(match["kind"])
    if match["timed"]:
        return Fault(match["timed"], int(match["n"]))
    retry = match["retry"]
    return Fault("status", int(match["status"]), int(retry) if retry is not None else None)


def _error(status: int, retry_after: int | None = None) -> web.Response:
    message, type_, code, param = _ERRORS.get(status, (error_message(status), "server_error", None, None))
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_response(body, status, headers)


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), not a polite FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FakeFaulty(FakeServer):
    """The fault-injecting upstream on 127.0.0.1, run as an async context manager.

    Only chat requests are recorded (by the handler itself; there is no recording middleware), and
    the request body size limit is aiohttp's default.
    """

    record_all = False
    client_max_size = 1024**2

    def __init__(self, api_key: str = FAULTY_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.hits: Counter[str] = Counter()  # chat requests per model name (tag included)
        self.disconnects: Counter[str] = Counter()  # the client hung up on a slow or endless answer
        self.completed: Counter[str] = Counter()  # answers sent in full

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    def reset(self) -> None:
        """Forget recorded requests and zero every counter."""
        super().reset()
        self.hits.clear()
        self.disconnects.clear()
        self.completed.clear()

    async def wait_for_disconnect(self, model: str, count: int = 1, timeout: float = 3.0) -> bool:  # noqa: ASYNC109
        """True once the client has hung up on ``model``'s answers ``count`` times (False on timeout)."""
        deadline = time.monotonic() + timeout
        while self.disconnects[model] < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- the endpoint ----------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        _, body = await self._read(request)
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.api_key}":
            return _error(401)
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error(400)
        model: str = body["model"]
        self.hits[model] += 1
        fault = parse_fault(model)
        if fault is None:
            return json_response(
                {
                    "error": {
                        "message": f"The model `{model}` does not exist or you do not have access to it.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                },
                404,
            )
        stream = body.get("stream") is True
        include_usage = stream and bool((body.get("stream_options") or {}).get("include_usage"))
        try:
            return await self._answer(request, fault, model, stream, include_usage)
        except (asyncio.CancelledError, ConnectionResetError):
            if not fault.kind.startswith("reset-"):  # a reset is our own doing, not the client's
                self.disconnects[model] += 1
            raise

    async def _answer(
        self, request: web.Request, fault: Fault, model: str, stream: bool, include_usage: bool
    ) -> web.StreamResponse:
        kind, n = fault.kind, fault.n
        if kind == "status":
            return _error(n, fault.retry_after)
        if kind == "reset-before":
            _reset(request)
            return await self._hang()
        if kind == "bad-json":
            return web.Response(
                body=orjson.dumps(self._completion(model))[:60], status=200, content_type="application/json"
            )
        if kind == "bad-sse":
            return await self._bad_sse(request, model)
        if kind == "first-byte":
            await asyncio.sleep(n / 1000)
            kind = "ok"
        if kind == "ok":
            if not stream:
                self.completed[model] += 1
                return json_response(self._completion(model))
            return await self._ok_stream(request, model, include_usage)
        if not stream:
            return await self._broken_json(request, fault, model)
        return await self._broken_stream(request, fault, model)

    async def _hang(self) -> web.StreamResponse:
        await asyncio.sleep(HANG_S)  # cancelled as soon as aiohttp sees the connection gone
        return web.Response(status=204)

    # -- bodies ----------------------------------------------------------------------------------------

    def _usage(self) -> JSONDict:
        completion = len(REPLY.split())
        return {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": completion,
            "total_tokens": PROMPT_TOKENS + completion,
        }

    def _completion(self, model: str) -> JSONDict:
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(),
        }

    @staticmethod
    def _chunk(
        ident: str, model: str, delta: JSONDict, finish: str | None = None, *, choices: bool = True
    ) -> bytes:
        chunk: JSONDict = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            if choices
            else [],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    @staticmethod
    def _content(ident: str, model: str, i: int) -> bytes:
        delta: JSONDict = {"content": chunk_text(i)}
        if i == 0:
            delta = {"role": "assistant", **delta}
        return FakeFaulty._chunk(ident, model, delta)

    async def _ok_stream(self, request: web.Request, model: str, include_usage: bool) -> web.StreamResponse:
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        out = sse_response()
        await out.prepare(request)
        await out.write(self._chunk(ident, model, {"role": "assistant", "content": ""}))
        for word in re.findall(r"\S+\s*", REPLY):
            await out.write(self._chunk(ident, model, {"content": word}))
        await out.write(self._chunk(ident, model, {}, "stop"))
        if include_usage:
            usage = orjson.loads(self._chunk(ident, model, {}, choices=False)[6:])
            usage["usage"] = self._usage()
            await out.write(b"data: " + orjson.dumps(usage) + b"\n\n")
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        self.completed[model] += 1
        return out

    async def _broken_stream(self, request: web.Request, fault: Fault, model: str) -> web.StreamResponse:
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        out = sse_response()
        await out.prepare(request)
        if fault.kind == "drip":
            started = time.monotonic()
            i = 0
            while time.monotonic() - started < DRIP_CAP_S:
                await out.write(self._content(ident, model, i))
                i += 1
                await asyncio.sleep(fault.n / 1000)
            await out.write(self._chunk(ident, model, {}, "stop") + b"data: [DONE]\n\n")
            await out.write_eof()
            self.completed[model] += 1
            return out
        for i in range(fault.n):
            await out.write(self._content(ident, model, i))
        if fault.kind == "reset-during":
            await asyncio.sleep(RESET_GRACE_S)
            _reset(request)
        return await self._hang()  # stall-after: silence until the client gives up

    async def _broken_json(self, request: web.Request, fault: Fault, model: str) -> web.StreamResponse:
        """Not streamed: the headers, then part of the body, then silence, drip or reset."""
        out = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await out.prepare(request)
        if fault.kind == "drip":
            started = time.monotonic()
            while time.monotonic() - started < DRIP_CAP_S:
                await out.write(b" ")
                await asyncio.sleep(fault.n / 1000)
            await out.write(orjson.dumps(self._completion(model)))
            await out.write_eof()
            self.completed[model] += 1
            return out
        whole = orjson.dumps(self._completion(model))
        await out.write(whole[: len(whole) // 2])
        if fault.kind == "reset-during":
            await asyncio.sleep(RESET_GRACE_S)
            _reset(request)
        return await self._hang()

    async def _bad_sse(self, request: web.Request, model: str) -> web.StreamResponse:
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        out = sse_response()
        await out.prepare(request)
        await out.write(self._content(ident, model, 0) + self._content(ident, model, 1))
        # The good chunks reach the caller first: the fault is after the first byte. Read together
        # with the bad line, nothing would have been sent and the relay would rightly fail over to
        # the next channel instead. (Written here, they are read before this sleep ends even on a
        # stalled loop; the channel's idle timer must be long enough not to race it.)
        await asyncio.sleep(0.15)
        await out.write(b"this line is not server-sent events at all\n\n")
        await out.write(b'data: {"id": "' + ident.encode() + b'", "choices": [{"delta": {"content": "bro\n\n')
        await out.write_eof()  # and no data: [DONE]
        self.completed[model] += 1
        return out

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "error": {
                    "message": f"Invalid URL ({request.method} {request.path})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            404,
        )
