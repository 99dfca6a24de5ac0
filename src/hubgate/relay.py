"""The hot path: authenticate, check, pick a channel, forward, stream back, meter.

Same-format traffic (OpenAI caller, OpenAI-speaking upstream) is forwarded with only
the model name changed; the answer goes back byte for byte, a stream event by event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from hubgate.auth import extract_key
from hubgate.errors import (
    BadGateway,
    GatewayError,
    NotFound,
    PermissionDenied,
    Unavailable,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from hubgate.formats import openai as oa
from hubgate.formats.hub import Usage
from hubgate.gateway import MAX_ATTEMPTS, Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.http.sse import EventSplitter
from hubgate.providers import provider_for
from hubgate.providers.base import (
    Endpoint,
    UpstreamConnectError,
    UpstreamReadTimeout,
    UpstreamResponse,
)
from hubgate.routing.channels import Route
from hubgate.storage.keys import KeyRecord
from hubgate.storage.usage import UsageRow

REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_CLOSED = 499  # the caller hung up before the answer was complete

CHECKS: dict[Endpoint, Callable[[dict[str, Any]], oa.RequestInfo]] = {
    Endpoint.CHAT: oa.check_chat,
    Endpoint.COMPLETIONS: oa.check_completions,
    Endpoint.EMBEDDINGS: oa.check_embeddings,
}


async def authenticate(gw: Gateway, request: web.Request) -> KeyRecord:
    return await gw.keys.authenticate(extract_key(request.headers, request.query))


def route_for(gw: Gateway, key: KeyRecord, requested: str) -> Route:
    """The channels for a requested model, after the key's allow-list."""
    route = gw.channels.resolve(requested)
    if not (key.allows(requested) or (route is not None and key.allows(route.model))):
        raise PermissionDenied(f"This API key is not allowed to use model '{requested}'.", param="model")
    if route is None:
        raise NotFound(
            f"The model '{requested}' does not exist or no channel serves it.",
            param="model",
            code="model_not_found",
        )
    return route


async def relay(gw: Gateway, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    started = time.perf_counter()
    row = UsageRow(request_id=request[REQUEST_ID], endpoint=endpoint.name.lower(), status=0, stream=False)
    try:
        key = await authenticate(gw, request)
        row.key_id, row.key_name = key.id, key.name
        body = parse_object(await read_body(request, gw.max_body_bytes))
        if endpoint is Endpoint.EMBEDDINGS and "model" in request.match_info:
            body["model"] = request.match_info["model"]
        info = CHECKS[endpoint](body)
        row.model, row.stream = info.model, info.stream
        route = route_for(gw, key, info.model)
        return await _forward(gw, request, endpoint, body, info, route, row, started)
    except GatewayError as err:
        row.status = err.status
        row.error = err.message[:500]
        raise
    except asyncio.CancelledError:
        row.status = CLIENT_CLOSED
        row.error = "client closed the connection"
        raise
    finally:
        row.latency_ms = int((time.perf_counter() - started) * 1000)
        if row.key_id is not None:  # unauthenticated noise is not metered
            gw.usage.record(row)


async def _forward(
    gw: Gateway,
    request: web.Request,
    endpoint: Endpoint,
    body: dict[str, Any],
    info: oa.RequestInfo,
    route: Route,
    row: UsageRow,
    started: float,
) -> web.StreamResponse:
    # Meter streams even when the caller did not ask for usage: ask for it
    # upstream and drop the extra chunk before it reaches the caller.
    strip_usage = info.stream and endpoint is not Endpoint.EMBEDDINGS and not info.include_usage
    failure: GatewayError | None = None
    candidates = route.channels[:MAX_ATTEMPTS]
    for attempt, channel in enumerate(candidates, 1):
        row.attempts = attempt
        last = attempt == len(candidates)
        provider = provider_for(channel.type)
        upstream_model = channel.upstream_model(route.model)
        payload = dict(body, model=upstream_model)
        if strip_usage:
            payload["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        upstream_req = provider.build(channel, endpoint, upstream_model, orjson.dumps(payload), info.stream)
        row.channel, row.upstream_model = channel.name, upstream_model
        resp: UpstreamResponse | None = None
        try:
            resp = await provider.transport(gw.http).send(upstream_req)
            if resp.status >= 400:
                err = await upstream_error(resp, upstream_req.secret)
                if _retryable(resp.status) and not last:
                    failure = err
                    continue
                raise err
            if info.stream and resp.headers.get("content-type", "").startswith("text/event-stream"):
                return await _stream_back(request, resp, row, strip_usage, started)
            return await _json_back(resp, row)
        except UpstreamConnectError as exc:
            failure = Unavailable(f"The upstream for model '{info.model}' could not be reached: {exc}")
        except UpstreamReadTimeout as exc:
            failure = UpstreamTimeout(f"The upstream for model '{info.model}' did not answer in time: {exc}")
            if resp is not None:
                resp.close()
            raise failure from exc
    assert failure is not None
    raise failure


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


async def upstream_error(resp: UpstreamResponse, secret: str) -> UpstreamHTTPError:
    """The upstream's error, status and message kept, its key scrubbed."""
    raw = await resp.read()
    message, etype, code, param = "", None, None, None
    try:
        err = orjson.loads(raw).get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or "")
            etype = err.get("type") if isinstance(err.get("type"), str) else None
            code = str(err["code"]) if err.get("code") is not None else None
            param = err.get("param") if isinstance(err.get("param"), str) else None
        elif isinstance(err, str):
            message = err
    except (orjson.JSONDecodeError, AttributeError):
        message = raw[:300].decode(errors="replace").strip()
    if not message:
        message = f"The upstream answered with HTTP {resp.status}."
    if secret:
        message = message.replace(secret, "***")
    return UpstreamHTTPError(
        resp.status,
        message,
        openai_type=etype,
        code=code,
        param=param,
        retry_after=resp.headers.get("retry-after"),
    )


def _meter(row: UsageRow, usage: Usage | None) -> None:
    if usage is not None:
        row.prompt_tokens = usage.prompt_tokens
        row.completion_tokens = usage.completion_tokens
        row.cached_tokens = usage.cached_tokens


async def _json_back(resp: UpstreamResponse, row: UsageRow) -> web.Response:
    raw = await resp.read()
    try:
        _, usage = oa.usage_from_body(raw)
    except ValueError as exc:
        raise BadGateway("The upstream answered with a body that is not valid JSON.") from exc
    _meter(row, usage)
    row.status = 200
    return web.Response(body=raw, status=200, content_type="application/json")


async def _stream_back(
    request: web.Request,
    resp: UpstreamResponse,
    row: UsageRow,
    strip_usage: bool,
    started: float,
) -> web.StreamResponse:
    out = web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-request-id": request[REQUEST_ID],
        },
    )
    splitter = EventSplitter()
    done = False
    try:
        try:
            async for chunk in resp.iter_chunks():
                events = splitter.feed(chunk)
                if not events:
                    continue
                outgoing = []
                for event in events:
                    found = oa.chunk_usage(event)
                    if found is not None:
                        _meter(row, found.usage)
                        if strip_usage and found.usage_only:
                            continue
                    if strip_usage:
                        event = oa.drop_null_usage(event)
                    outgoing.append(event)
                if not outgoing:
                    continue
                if not out.prepared:
                    await out.prepare(request)
                    row.ttfb_ms = int((time.perf_counter() - started) * 1000)
                await out.write(b"".join(outgoing) if len(outgoing) > 1 else outgoing[0])
            tail = splitter.flush()
            if not out.prepared:
                await out.prepare(request)
            if tail.strip():
                await out.write(tail)
            row.status = 200
        except (UpstreamConnectError, UpstreamReadTimeout) as exc:
            if not out.prepared:
                raise  # nothing sent yet: the caller gets a plain error (or the next channel)
            timed_out = isinstance(exc, UpstreamReadTimeout)
            row.status = 504 if timed_out else 502
            row.error = f"upstream stream broke: {exc}"[:500]
            message = "The upstream stream was interrupted" + (" (timeout)." if timed_out else ".")
            await out.write(oa.error_event(message))
        done = True
        await out.write_eof()
    except ConnectionResetError:
        row.status = CLIENT_CLOSED
        row.error = "client closed the connection"
    finally:
        if done:
            resp.release()
        else:
            resp.close()  # drop the upstream connection so it stops generating
    return out
