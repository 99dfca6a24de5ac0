"""The hot path: authenticate, check, pick a channel, try it, fail over, meter.

Each attempt chooses once whether it passes the call through or translates it
(strategy.py); the steps after that follow the choice. A stream goes back through
streaming.py, a JSON answer through strategy.json_back, a media or video answer
through its family's module; finish.py charges and journals the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from aiohttp import web

from hubgate.access.auth import extract_key
from hubgate.access.network import client_ip
from hubgate.errors import BadGateway, GatewayError, NotFound, PermissionDenied, Unavailable, UpstreamTimeout
from hubgate.gateway import CLIENT_IP, RATE_HEADERS, REQUEST_ID, Gateway
from hubgate.providers import provider_for
from hubgate.providers.base import (
    MEDIA_ENDPOINTS,
    Endpoint,
    UpstreamConnectError,
    UpstreamInvalid,
    UpstreamReadTimeout,
    UpstreamResponse,
)
from hubgate.providers.channel import Channel
from hubgate.relay import holds, media
from hubgate.relay.call import CLIENT_CLOSED, Attempt, Call
from hubgate.relay.finish import Finish
from hubgate.relay.strategy import PASSED_THROUGH, Strategy, choose, json_back, upstream_body
from hubgate.relay.upstream import for_caller, outcome, seconds, upstream_error
from hubgate.routing.channels import Route
from hubgate.routing.health import Outcome
from hubgate.storage.keys import KeyRecord
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.relay")


async def authenticate(gw: Gateway, request: web.Request) -> KeyRecord:
    key = await gw.keys.authenticate(extract_key(request.headers, request.query))
    check_address(gw, request, key)
    return key


def check_address(gw: Gateway, request: web.Request, key: KeyRecord) -> None:
    """403 when the key has allowed ranges and the caller's address is outside them (the
    address is only read for such a key)."""
    if key.allowed_ips is not None and not key.admits_ip(
        request.get(CLIENT_IP) or client_ip(request, gw.trusted_proxies)
    ):
        raise PermissionDenied("This API key may not be used from this address.", code="ip_not_allowed")


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


Prepare = Callable[[KeyRecord], Awaitable[Call]]
Authenticate = Callable[[Gateway, web.Request], Awaitable[KeyRecord]]


async def relay(
    gw: Gateway, request: web.Request, endpoint_name: str, prepare: Prepare, auth: Authenticate = authenticate
) -> web.StreamResponse:
    """Run one metered exchange; `prepare` reads and checks the body into a `Call`.

    `auth` finds the caller's key: from the request's credentials, or (the console's
    playground) from the signed-in session."""
    started = time.perf_counter()
    row = UsageRow(request_id=request[REQUEST_ID], endpoint=endpoint_name, status=0, stream=False)
    # Charge, record, journal: run by a stream just before its final frame, else here at the end.
    finish = Finish(gw, row, started)
    try:
        key = finish.key = await auth(gw, request)
        row.key_id, row.key_name = key.id, key.name
        finish.account = await gw.billing.admit(key)
        limiter = gw.limiter
        if limiter.limits(key).any:  # its own limits, or the defaults
            admission = finish.admission = (
                limiter.admit_now(key) if limiter.store.local else await limiter.admit(key)
            )
            request[RATE_HEADERS] = admission.headers
        call = finish.call = await prepare(key)
        call.finish = finish
        row.model, row.stream = call.model, call.stream
        route = route_for(gw, key, call.model)
        await holds.place(gw, call, route, key, finish.account, row)  # its maximum cost, or 402
        return await _dispatch(gw, request, call, route, row, started)
    except GatewayError as err:
        row.status = err.status
        row.error = err.message[:500]
        raise
    except asyncio.CancelledError:
        row.status = CLIENT_CLOSED
        row.error = "client closed the connection"
        raise
    finally:
        done = finish.call
        if done is not None and done.dropped_to is not None and done.dropped:
            gw.metrics.translation_dropped(done.fmt.value, done.dropped_to.value, done.dropped)
        try:
            await finish()
        finally:
            if done is not None:
                # Call and Finish refer to each other: left so, every request was garbage
                # only the cyclic GC could free (8 objects and the row), and its collections
                # ran more often and longer, on the event loop. finish() ran: call.finished()
                # has nothing left to do.
                done.finish = None


def _eligible(call: Call, channel: Channel) -> bool:
    provider = provider_for(channel.type)
    if call.endpoint is Endpoint.RERANK or Endpoint.GENERATE not in provider.endpoints:
        return call.endpoint in provider.endpoints  # rerank-only channels serve nothing else
    if call.endpoint is Endpoint.COUNT_TOKENS:
        # Counting is the upstream's own tokenizer: only a channel of the caller's format can.
        return call.endpoint in provider.endpoints and provider.wire_format(channel) is call.fmt
    if call.endpoint in (Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS) or call.endpoint in PASSED_THROUGH:
        return call.endpoint in provider.endpoints
    return True


class _Retry(NamedTuple):
    """An attempt that failed in a way another try may fix."""

    failure: GatewayError
    next_channel: bool  # False: the same channel again, with its next key


async def _dispatch(
    gw: Gateway, request: web.Request, call: Call, route: Route, row: UsageRow, started: float
) -> web.StreamResponse:
    """Channels in priority/weight order, each at most once, skipping what is cooling
    down; at most max_attempts tries. A key the upstream refused (auth, balance) is
    set aside and the same channel is tried again with its next key."""
    eligible = [c for c in route.channels if _eligible(call, c)]
    if not eligible:
        if call.fallback is not None:
            return await call.fallback()
        raise NotFound(f"No channel serves '{call.model}' for this endpoint.", param="model")
    failure: GatewayError | None = None
    attempts = 0
    position = 0
    while position < len(eligible) and attempts < gw.settings.max_attempts:
        channel = eligible[position]
        upstream_model = channel.upstream_model(route.model)
        secret = gw.health.pick(channel.name, channel.keys_in_turn(), upstream_model)
        if secret is None:
            position += 1
            continue
        attempts += 1
        row.attempts = attempts
        last = attempts >= gw.settings.max_attempts
        tried = await _attempt(gw, request, call, channel, upstream_model, secret, row, started, last)
        if not isinstance(tried, _Retry):
            return tried
        failure = tried.failure
        if tried.next_channel:
            position += 1
    if failure is None:
        raise Unavailable(
            f"Every channel for model '{call.model}' is cooling down or disabled after upstream failures; "
            "retry shortly."
        )
    raise for_caller(failure, call)


async def _attempt(
    gw: Gateway,
    request: web.Request,
    call: Call,
    channel: Channel,
    upstream_model: str,
    secret: str,
    row: UsageRow,
    started: float,
    last: bool,
) -> web.StreamResponse | _Retry:
    """One try on one channel with one key: its answer, or what to try next."""
    provider = provider_for(channel.type)
    wire = provider.wire_format(channel)
    strategy = choose(call, wire)  # pass through or translate: decided here, once
    attempt = Attempt(channel, wire, upstream_model, strategy.translated, secret)
    body = upstream_body(call, attempt, strategy)
    upstream_req = provider.build(channel, strategy.endpoint(call), upstream_model, body, call.stream, secret)
    if call.endpoint in PASSED_THROUGH:  # multipart uploads, binary answers
        upstream_req = media.upstream_request(call, attempt, upstream_req)
    row.channel, row.upstream_model = channel.name, upstream_model
    resp: UpstreamResponse | None = None
    # Health is judged on the whole answer, not its headers: a stream or body that
    # breaks after a 200 counts as a failure too. A caller's hang-up counts for nothing.
    verdict: Outcome | None = None
    try:
        resp = await provider.transport(gw.http).send(upstream_req)
        if resp.status >= 400:
            err = await upstream_error(resp, attempt)
            verdict = outcome(resp.status, err)
            if verdict is not None:
                gw.health.record(channel.name, secret, upstream_model, verdict, seconds(err.retry_after))
            if verdict is not None and not last:
                return _Retry(err, verdict is not Outcome.AUTH or not gw.health.enabled)
            raise for_caller(err, call)
        answer, verdict = await _answer(request, call, attempt, strategy, resp, row, started)
        return answer
    except UpstreamConnectError as exc:
        verdict = Outcome.FAILED
        # The detail names internal addresses: for the operator's log, not for callers.
        log.warning("channel %s unreachable for model %s: %s", channel.name, call.model, exc)
        return _Retry(Unavailable(f"The upstream for model '{call.model}' could not be reached."), True)
    except UpstreamReadTimeout as exc:
        if resp is not None:
            resp.close()
        verdict = Outcome.FAILED
        detail = str(exc) or "timed out"
        return _Retry(
            UpstreamTimeout(f"The upstream for model '{call.model}' did not answer in time ({detail})."), True
        )
    except UpstreamInvalid as exc:  # a 200 whose body or stream was not valid for its API
        verdict = Outcome.FAILED
        return _Retry(
            BadGateway(f"The upstream for model '{call.model}' answered with an invalid {exc}."), True
        )
    finally:
        if verdict is None:
            gw.health.release(channel.name, secret, upstream_model)
        elif resp is None or resp.status < 400:
            gw.health.record(channel.name, secret, upstream_model, verdict)


async def _answer(
    request: web.Request,
    call: Call,
    attempt: Attempt,
    strategy: Strategy,
    resp: UpstreamResponse,
    row: UsageRow,
    started: float,
) -> tuple[web.StreamResponse, Outcome | None]:
    """A successful upstream answer relayed to the caller, and how it counts for health."""
    if call.answer_with is not None:
        return await call.answer_with(attempt, resp, row), Outcome.OK
    if call.endpoint in MEDIA_ENDPOINTS:
        answer = await media.answer(request, call, attempt, resp, row, started)
        return answer, Outcome.FAILED if row.status in (502, 504) else Outcome.OK
    if call.stream and resp.headers.get("content-type", "").startswith("text/event-stream"):
        answer = await strategy.stream(request, call, attempt, resp, row, started)
        if row.status in (502, 504):  # the stream broke after it started
            return answer, Outcome.FAILED
        return answer, Outcome.OK if row.status == 200 else None
    return await json_back(call, attempt, strategy, resp, row), Outcome.OK
