"""`GET /v1/realtime?model=...`: the OpenAI Realtime API, a WebSocket proxied to an
OpenAI-family upstream frame by frame (text and binary, no added buffering).

The caller authenticates before the upgrade, by `Authorization: Bearer` (or any place
`extract_key` reads) or by the `openai-insecure-api-key.<KEY>` subprotocol browsers use;
errors (401, 404, ...) are answered as OpenAI error JSON before any upgrade. The upstream
socket is opened first, so a channel that cannot be reached is skipped for the next one.
Usage comes from the upstream's `response.done` events, summed into one usage row per
session and billed when the session ends; one response's maximum cost is held from the
handshake until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from hubgate.access.auth import extract_key
from hubgate.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    Unavailable,
    UpstreamHTTPError,
)
from hubgate.formats.names import Rename
from hubgate.gateway import GATEWAY, REQUEST_ID, Gateway
from hubgate.metering.hold import Ceiling
from hubgate.providers import provider_for
from hubgate.providers.base import Family
from hubgate.providers.channel import Channel
from hubgate.relay.call import CLIENT_CLOSED
from hubgate.relay.dispatch import check_address, route_for
from hubgate.relay.finish import Finish
from hubgate.routing.health import Outcome
from hubgate.storage.keys import KeyRecord
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.realtime")

ENDPOINT = "realtime"
KEY_PROTOCOL = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"
MAX_FRAME = 16 * 1024 * 1024
DRAIN_S = 5.0  # how long a left caller's running answers get to report their usage
_RESERVED = frozenset({1005, 1006, 1015})  # close codes that may not be sent in a frame


def _offered_protocols(request: web.Request) -> list[str]:
    raw = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def _caller_secret(request: web.Request, protocols: list[str]) -> str | None:
    secret = extract_key(request.headers, request.query)
    if secret:
        return secret
    for proto in protocols:
        if proto.startswith(KEY_PROTOCOL) and len(proto) > len(KEY_PROTOCOL):
            return proto[len(KEY_PROTOCOL) :]
    return None


async def _authenticate(gw: Gateway, request: web.Request, secret: str | None) -> KeyRecord:
    key = await gw.keys.authenticate(secret)
    check_address(gw, request, key)
    return key


def upstream_headers(
    channel: Channel, auth: dict[str, str], request: web.Request, protocols: list[str]
) -> dict[str, str]:
    """The provider's auth headers, the caller's beta opt-in and the channel's own headers."""
    headers = dict(auth)
    beta = request.headers.get("OpenAI-Beta")
    if beta:
        headers["OpenAI-Beta"] = beta
    elif BETA_PROTOCOL in protocols:
        headers["OpenAI-Beta"] = "realtime=v1"
    headers.update(channel.headers)
    return headers


def _handshake_outcome(status: int) -> Outcome | None:
    if status in (401, 402, 403):
        return Outcome.AUTH
    if status == 429:
        return Outcome.THROTTLED
    if status >= 500:
        return Outcome.FAILED
    return None


class _Meter:
    """Sums the usage of every `response.done` the upstream sends, and counts the responses
    still running (`response.created` without its `response.done` yet)."""

    def __init__(self, row: UsageRow) -> None:
        self.row = row
        self.running = 0

    def feed(self, text: str) -> None:
        if "response.done" not in text and "response.created" not in text:  # most frames are deltas
            return
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "response.created":
            self.running += 1
            return
        if kind != "response.done":
            return
        self.running = max(0, self.running - 1)
        response = event.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        if not isinstance(usage, dict):
            return
        details = usage.get("input_token_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else 0
        self.row.prompt_tokens += _int(usage.get("input_tokens"))
        self.row.completion_tokens += _int(usage.get("output_tokens"))
        self.row.cached_tokens += _int(cached)


async def _drain(upstream: aiohttp.ClientWebSocketResponse, meter: _Meter) -> None:
    """Cancel the running answers and read the upstream until each has its `response.done`."""
    with contextlib.suppress(Exception):
        await upstream.send_str('{"type":"response.cancel"}')
        async with asyncio.timeout(DRAIN_S):
            while meter.running:
                msg = await upstream.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    if msg.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR,
                    ):
                        return
                    continue
                meter.feed(msg.data)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


async def realtime(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    started = time.perf_counter()
    row = UsageRow(request_id=request[REQUEST_ID], endpoint=ENDPOINT, status=0, stream=True)
    finish = Finish(gw, row, started)  # charge, record (journal first), metrics, limiter
    try:
        protocols = _offered_protocols(request)
        key = finish.key = await _authenticate(gw, request, _caller_secret(request, protocols))
        row.key_id, row.key_name = key.id, key.name
        finish.account = await gw.billing.admit(key)
        if gw.limiter.limits(key).any:  # its own limits, or the defaults
            finish.admission = await gw.limiter.admit(key)
        model = request.query.get("model")
        if not model:
            raise InvalidRequest("Missing required parameter: 'model'.", param="model")
        row.model = model
        route = route_for(gw, key, model)
        channels = [c for c in route.channels if Family.REALTIME in provider_for(c.type).families]
        if not channels:
            raise NotFound(f"No channel serves '{model}' for the realtime API.", param="model")
        # Held: one response at the model's maximum output; the session settles what it used.
        one_response = gw.billing.hold_size(Ceiling(0, None), key, finish.account, route.model, model)
        await gw.billing.place(row.request_id, key, finish.account, one_response)
        if not web.WebSocketResponse().can_prepare(request).ok:
            raise InvalidRequest("This endpoint expects a WebSocket upgrade request.")
        # No total limit (a session lasts as long as the caller wants); the handshake is bounded.
        handshake = aiohttp.ClientTimeout(
            total=None,
            connect=max(c.timeouts.connect_s for c in channels),
            sock_read=max(c.timeouts.first_byte_s for c in channels),
        )
        async with aiohttp.ClientSession(timeout=handshake) as session:
            upstream = await _connect(gw, session, request, protocols, route.model, channels, row)
            row.ttfb_ms = int((time.perf_counter() - started) * 1000)
            async with upstream:
                return await _serve(request, upstream, protocols, row)
    except GatewayError as err:
        row.status = err.status
        row.error = err.message[:500]
        raise
    except asyncio.CancelledError:
        if row.status == 0:
            row.status = CLIENT_CLOSED
            row.error = "client closed the connection"
        raise
    finally:
        await finish()


async def _connect(
    gw: Gateway,
    session: aiohttp.ClientSession,
    request: web.Request,
    protocols: list[str],
    model: str,
    channels: list[Channel],
    row: UsageRow,
) -> aiohttp.ClientWebSocketResponse:
    """The upstream socket: channels in order, each with its first usable key."""
    failure: GatewayError | None = None
    for channel in channels[: max(1, gw.settings.max_attempts)]:
        upstream_model = channel.upstream_model(model)
        secret = gw.health.pick(channel.name, channel.keys_in_turn(), upstream_model)
        if secret is None:
            continue
        row.attempts += 1
        row.channel, row.upstream_model = channel.name, upstream_model
        verdict: Outcome | None = None
        url, auth = provider_for(channel.type).realtime_target(channel, upstream_model, secret)
        try:
            ws = await session.ws_connect(
                url,
                headers=upstream_headers(channel, auth, request, protocols),
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                max_msg_size=MAX_FRAME,
                autoping=True,
            )
            verdict = Outcome.OK
            return ws
        except aiohttp.WSServerHandshakeError as exc:
            verdict = _handshake_outcome(exc.status)
            message = f"The realtime upstream refused the connection (HTTP {exc.status})."
            failure = UpstreamHTTPError(exc.status, message) if exc.status >= 400 else Unavailable(message)
            if verdict is None:
                raise failure from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            verdict = Outcome.FAILED
            failure = Unavailable(
                f"The realtime upstream for model '{model}' could not be reached: {type(exc).__name__}"
            )
        finally:
            if verdict is None:
                gw.health.release(channel.name, secret, upstream_model)
            else:
                gw.health.record(channel.name, secret, upstream_model, verdict)
    raise failure or Unavailable(
        f"Every channel for model '{model}' is cooling down or disabled after upstream failures; "
        "retry shortly."
    )


def _session_rename(row: UsageRow) -> Rename | None:
    """The caller's model name in `session.created` / `session.updated`, never the upstream's
    (a channel's model_map, an Azure deployment); None (nothing to do) when the names agree."""
    if row.upstream_model and row.upstream_model != row.model:
        return Rename(b'"model"', b'"session"', orjson.dumps(row.model))
    return None


async def _serve(
    request: web.Request,
    upstream: aiohttp.ClientWebSocketResponse,
    protocols: list[str],
    row: UsageRow,
) -> web.WebSocketResponse:
    caller = web.WebSocketResponse(
        protocols=("realtime",) if "realtime" in protocols else (),
        max_msg_size=MAX_FRAME,
        autoping=True,
    )
    await caller.prepare(request)
    row.status = 200
    meter = _Meter(row)

    rename = _session_rename(row)

    async def down() -> None:  # upstream -> caller
        async for msg in upstream:
            if msg.type is aiohttp.WSMsgType.TEXT:
                meter.feed(msg.data)
                text = msg.data
                if rename is not None and '"model"' in text:
                    text = rename.apply(text.encode()).decode()
                await caller.send_str(text)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await caller.send_bytes(msg.data)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                break

    async def up() -> None:  # caller -> upstream
        async for msg in caller:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await upstream.send_str(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await upstream.send_bytes(msg.data)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                break

    down_task = asyncio.create_task(down())
    up_task = asyncio.create_task(up())
    try:
        done, _ = await asyncio.wait((down_task, up_task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (down_task, up_task):
            if not task.done():
                task.cancel()
        await asyncio.gather(down_task, up_task, return_exceptions=True)
        if not upstream.closed and meter.running:
            # The caller left mid-answer: the upstream bills what it generated, so cancel
            # the answer and meter the usage its `response.done` reports (bounded wait).
            drain = asyncio.create_task(_drain(upstream, meter))
            try:
                await asyncio.shield(drain)
            except asyncio.CancelledError:
                await asyncio.gather(drain, return_exceptions=True)
                raise
        if not upstream.closed:  # the caller left (or we are cancelled): end the upstream session
            code = caller.close_code if caller.close_code in (1000, 1001) else 1001
            with contextlib.suppress(Exception):
                await upstream.close(code=code)
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, (ConnectionError, aiohttp.ClientError)):
            log.warning("realtime relay for request %s ended by %r", row.request_id, exc)
    if down_task in done and not caller.closed:  # the upstream ended: same close code to the caller
        received = upstream.close_code
        code = received if received is not None and received not in _RESERVED else 1000
        if received in (None, 1006):
            code = 1011
        if code not in (1000, 1001):
            row.error = f"upstream closed the session with code {upstream.close_code}"
        with contextlib.suppress(Exception):
            await caller.close(code=code)
    elif not caller.closed:
        with contextlib.suppress(Exception):
            await caller.close()
    return caller
