"""The hot path: authenticate, check, pick a channel, forward or translate, meter.

When caller and upstream speak the same format the body goes upstream with only
the model name changed and the answer comes back byte for byte (a stream event by
event). Otherwise the caller's codec decodes the body to the hub request, the
upstream's codec encodes it, and the answer is translated back, a stream through
a decoder/encoder pair, event by event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from hubgate import relay_embeddings, relay_rerank
from hubgate.auth import extract_key
from hubgate.errors import (
    BadGateway,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unavailable,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from hubgate.finish import Finish
from hubgate.formats import hub, policy, sealed
from hubgate.formats import openai as oa
from hubgate.formats.registry import WireFormat, codec
from hubgate.gateway import Gateway
from hubgate.http.client_ip import client_ip
from hubgate.http.state import CLIENT_IP, RATE_HEADERS, REQUEST_ID
from hubgate.metering.usage import DeliveredText
from hubgate.providers import provider_for
from hubgate.providers.base import (
    MEDIA_ENDPOINTS,
    VIDEO_ENDPOINTS,
    Endpoint,
    UpstreamConnectError,
    UpstreamInvalid,
    UpstreamReadTimeout,
    UpstreamResponse,
)
from hubgate.routing.channels import Channel, Route
from hubgate.routing.health import Outcome
from hubgate.storage.keys import KeyRecord
from hubgate.storage.usage import UsageRow

CLIENT_CLOSED = 499  # the caller hung up before the answer was complete
log = logging.getLogger("hubgate.relay")


@dataclass
class Call:
    """One caller request, checked and ready to go to any channel."""

    fmt: WireFormat  # what the caller speaks (OpenAI chat for completions/embeddings too)
    endpoint: Endpoint  # CHAT, COMPLETIONS, EMBEDDINGS for OpenAI routes; GENERATE otherwise
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool = True  # OpenAI chat callers see the usage chunk only if they asked
    gemini_sse: bool = True  # Gemini callers: alt=sse, or the JSON-array stream
    model_in_body: bool = True  # Gemini bodies carry no model (it is in the URL)
    gemini_embed_single: bool = False  # embedContent (carried as a batch of one)
    # Called with the caller-format final answer (Responses callers store it).
    on_complete: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    # Answers when no channel can take the call (count_tokens estimates locally).
    fallback: Callable[[], Awaitable[web.StreamResponse]] | None = None
    # Extra keyword arguments for the caller codec's encoder (Responses echo fields).
    encode_extras: dict[str, Any] = field(default_factory=dict)
    # Compaction on a channel that cannot compact: the hub request actually sent, and
    # how its answer becomes the caller's.
    hub_override: hub.Request | None = None
    answer_override: Callable[[hub.Response], dict[str, Any]] | None = None
    # For estimating usage when the upstream reports none: whether an upstream
    # answered at all, what reached the caller, and (OpenAI fast path) the raw events.
    reached: bool = False
    delivered: DeliveredText = field(default_factory=DeliveredText)
    raw_events: list[bytes] = field(default_factory=list)
    _hub: hub.Request | None = field(default=None, repr=False)
    # What the last translated attempt dropped (x-hubgate-dropped), and for which upstream format.
    dropped: tuple[hub.Drop, ...] = ()
    dropped_to: WireFormat | None = None
    rerank: relay_rerank.RerankCall | None = None  # RERANK: the caller's shape and request
    # Answers a successful upstream response itself (a video task is stored under our id).
    answer_with: Callable[[Attempt, UpstreamResponse, UsageRow], Awaitable[web.StreamResponse]] | None = None
    # The request's end-of-answer step (set by `relay`): streams await it before their final frame.
    finish: Callable[[], Awaitable[None]] | None = None

    async def finished(self) -> None:
        """Charge and journal the answer now (before its last bytes); idempotent."""
        if self.finish is not None:
            await self.finish()

    def encoder_options(self) -> dict[str, Any]:
        """What the caller's encoder needs beyond the model (Responses echoes the request)."""
        if self.fmt is not WireFormat.OPENAI_RESPONSES:
            return {}
        return {**self.encode_extras, "request": self.hub_request()}

    def hub_request(self) -> hub.Request:
        """The body decoded to the hub (once, and only when some channel needs it)."""
        if self._hub is None and self.hub_override is not None:
            self._hub = self.hub_override
        if self._hub is None:
            # Gemini bodies carry neither model nor stream: both come from the URL.
            body = self.body if self.model_in_body else dict(self.body, model=self.model, stream=self.stream)
            self._hub = codec(self.fmt).decode_request(body)
        return self._hub


@dataclass
class Attempt:
    channel: Channel
    wire: WireFormat
    upstream_model: str
    translated: bool
    secret: str


async def authenticate(gw: Gateway, request: web.Request) -> KeyRecord:
    key = await gw.keys.authenticate(extract_key(request.headers, request.query))
    if not key.admits_ip(request.get(CLIENT_IP) or client_ip(request, gw.trusted_proxies)):
        raise PermissionDenied("This API key may not be used from this address.", code="ip_not_allowed")
    return key


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
        if key.rpm is not None or key.tpm is not None or key.max_concurrency is not None:
            admission = finish.admission = await gw.limiter.admit(key)
            request[RATE_HEADERS] = admission.headers
        call = finish.call = await prepare(key)
        call.finish = finish
        row.model, row.stream = call.model, call.stream
        route = route_for(gw, key, call.model)
        from hubgate import relay_holds  # (it builds on this module's Call)

        await relay_holds.place(gw, call, route, key, finish.account, row)  # its maximum cost, or 402
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
        await finish()


def _eligible(call: Call, channel: Channel) -> bool:
    provider = provider_for(channel.type)
    if call.endpoint is Endpoint.RERANK or Endpoint.GENERATE not in provider.endpoints:
        return call.endpoint in provider.endpoints  # rerank-only channels serve nothing else
    if call.endpoint is Endpoint.COUNT_TOKENS:
        # Counting is the upstream's own tokenizer: only a channel of the caller's format can.
        return call.endpoint in provider.endpoints and provider.wire_format(channel) is call.fmt
    if call.endpoint in (Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS) or call.endpoint in _PASSED_THROUGH:
        return call.endpoint in provider.endpoints
    return True


def _upstream_body(call: Call, attempt: Attempt) -> bytes:
    call.dropped, call.dropped_to = (), None  # this attempt's, not an earlier channel's
    try:
        return _serialize_upstream_body(call, attempt)
    except orjson.JSONEncodeError as exc:  # orjson writes at most 255 levels (it reads 1024)
        log.info("request body not serializable for upstream: %s", exc)
        raise InvalidRequest(
            "The request body cannot be forwarded: it is nested too deeply or holds a number out of range."
        ) from exc


def _serialize_upstream_body(call: Call, attempt: Attempt) -> bytes:
    if call.endpoint is Endpoint.RERANK:
        return relay_rerank.upstream_body(call, attempt)
    if call.endpoint is Endpoint.EMBEDDINGS:
        return relay_embeddings.upstream_body(call, attempt)
    if attempt.translated:
        req = sealed.restore(call.hub_request(), attempt.wire)
        drops: list[hub.Drop] = []
        body = codec(attempt.wire).encode_request(req, attempt.upstream_model, drops=drops)
        call.dropped, call.dropped_to = (*req.dropped, *drops), attempt.wire
        return orjson.dumps(body)
    payload = dict(call.body)
    if call.model_in_body:
        payload["model"] = attempt.upstream_model
    if call.stream and call.fmt is WireFormat.OPENAI_CHAT and not call.include_usage:
        # Meter streams even when the caller did not ask for usage: ask upstream
        # and drop the extra chunk before it reaches the caller.
        payload["stream_options"] = {**(call.body.get("stream_options") or {}), "include_usage": True}
    return orjson.dumps(payload)


def _same_format(call: Call, wire: WireFormat) -> bool:
    """Whether the body can pass through unchanged (but for the model) to this wire."""
    if call.endpoint is Endpoint.EMBEDDINGS:
        return relay_embeddings.family(wire) == relay_embeddings.family(call.fmt)
    if call.endpoint is Endpoint.COMPACT:
        return wire is WireFormat.OPENAI_RESPONSES
    if call.endpoint in (Endpoint.COMPLETIONS, Endpoint.COUNT_TOKENS) or call.endpoint in _PASSED_THROUGH:
        return True
    return wire is call.fmt and (call.fmt is not WireFormat.GEMINI or call.gemini_sse or not call.stream)


async def _dispatch(
    gw: Gateway, request: web.Request, call: Call, route: Route, row: UsageRow, started: float
) -> web.StreamResponse:
    from hubgate import relay_media, streaming

    failure: GatewayError | None = None
    eligible = [c for c in route.channels if _eligible(call, c)]
    if not eligible:
        if call.fallback is not None:
            return await call.fallback()
        raise NotFound(f"No channel serves '{call.model}' for this endpoint.", param="model")
    # Channels in priority/weight order, each at most once, skipping what is cooling
    # down; at most max_attempts tries. A key the upstream refused (auth, balance) is
    # set aside and the same channel is tried again with its next key.
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
        provider = provider_for(channel.type)
        wire = provider.wire_format(channel)
        same = _same_format(call, wire)
        endpoint = Endpoint.GENERATE if not same and call.endpoint in _GENERATING else call.endpoint
        attempt = Attempt(channel, wire, upstream_model, not same, secret)
        body = _upstream_body(call, attempt)
        upstream_req = provider.build(channel, endpoint, upstream_model, body, call.stream, secret)
        if call.endpoint in _PASSED_THROUGH:  # multipart uploads, binary answers
            upstream_req = relay_media.upstream_request(call, attempt, upstream_req)
        row.channel, row.upstream_model = channel.name, upstream_model
        resp: UpstreamResponse | None = None
        # Health is judged on the whole answer, not its headers: a stream or body that
        # breaks after a 200 counts as a failure too. A caller's hang-up counts for nothing.
        verdict: Outcome | None = None
        try:
            resp = await provider.transport(gw.http).send(upstream_req)
            if resp.status >= 400:
                err = await upstream_error(resp, attempt)
                verdict = _outcome(resp.status, err)
                if verdict is not None:
                    gw.health.record(channel.name, secret, upstream_model, verdict, _seconds(err.retry_after))
                if verdict is not None and attempts < gw.settings.max_attempts:
                    failure = err
                    if verdict is not Outcome.AUTH or not gw.health.enabled:
                        position += 1
                    continue
                raise _for_caller(err, call)
            if call.answer_with is not None:
                answer = await call.answer_with(attempt, resp, row)
                verdict = Outcome.OK
                return answer
            if call.endpoint in MEDIA_ENDPOINTS:
                answer = await relay_media.answer(request, call, resp, row, started)
                verdict = Outcome.FAILED if row.status in (502, 504) else Outcome.OK
                return answer
            is_sse = resp.headers.get("content-type", "").startswith("text/event-stream")
            if call.stream and is_sse:
                if not attempt.translated and call.fmt is WireFormat.OPENAI_CHAT:
                    answer = await streaming.passthrough_openai(request, call, resp, row, started)
                else:
                    answer = await streaming.relay_stream(request, call, attempt, resp, row, started)
                if row.status in (502, 504):  # the stream broke after it started
                    verdict = Outcome.FAILED
                elif row.status == 200:
                    verdict = Outcome.OK
                return answer
            answer = await _json_back(call, attempt, resp, row)
            verdict = Outcome.OK
            return answer
        except UpstreamConnectError as exc:
            position += 1
            verdict = Outcome.FAILED
            # The detail names internal addresses: for the operator's log, not for callers.
            log.warning("channel %s unreachable for model %s: %s", channel.name, call.model, exc)
            failure = Unavailable(f"The upstream for model '{call.model}' could not be reached.")
        except UpstreamReadTimeout as exc:
            if resp is not None:
                resp.close()
            position += 1
            verdict = Outcome.FAILED
            detail = str(exc) or "timed out"
            failure = UpstreamTimeout(
                f"The upstream for model '{call.model}' did not answer in time ({detail})."
            )
        except UpstreamInvalid as exc:  # a 200 whose body or stream was not valid for its API
            position += 1
            verdict = Outcome.FAILED
            failure = BadGateway(f"The upstream for model '{call.model}' answered with an invalid {exc}.")
        finally:
            if verdict is None:
                gw.health.release(channel.name, secret, upstream_model)
            elif resp is None or resp.status < 400:
                gw.health.record(channel.name, secret, upstream_model, verdict)
    if failure is None:
        raise Unavailable(
            f"Every channel for model '{call.model}' is cooling down or disabled after upstream failures; "
            "retry shortly."
        )
    raise _for_caller(failure, call)


def _for_caller(err: GatewayError, call: Call) -> GatewayError:
    """An upstream that refused the gateway's own credentials (401/403, or no balance left)
    is the operator's problem, not the caller's: 503, never the 401/402/403 that would
    tell the caller their key or budget is at fault (SPEC §5)."""
    if isinstance(err, UpstreamHTTPError) and _outcome(err.status, err) is Outcome.AUTH:
        return Unavailable(
            f"The upstream for model '{call.model}' refused this gateway's credentials "
            f"(HTTP {err.status}: {err.message[:300]})",
            code="upstream_auth_failed",
        )
    return err


def _outcome(status: int, err: UpstreamHTTPError) -> Outcome | None:
    """How an upstream error counts for health; None: the request itself was bad (no retry)."""
    if status in (401, 402, 403) or err.code == "insufficient_quota":
        return Outcome.AUTH
    if status == 429:
        return Outcome.THROTTLED
    if status >= 500:
        return Outcome.FAILED
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_GENERATING = (Endpoint.CHAT, Endpoint.GENERATE, Endpoint.COMPACT)
_PASSED_THROUGH = MEDIA_ENDPOINTS | VIDEO_ENDPOINTS  # OpenAI-format channels only, bodies as they are


async def upstream_error(resp: UpstreamResponse, attempt: Attempt) -> UpstreamHTTPError:
    """The upstream's error, status and message kept, its key scrubbed."""
    raw = await resp.read()
    etype: str | None = None
    code: str | None = None
    param: str | None = None
    if attempt.wire is WireFormat.OPENAI_CHAT:
        message, etype, code, param = _openai_error_fields(raw)
    else:
        try:
            message = codec(attempt.wire).decode_error(resp.status, raw)
        except Exception:
            message = raw[:300].decode(errors="replace").strip()
    if not message:
        message = f"The upstream answered with HTTP {resp.status}."
    if attempt.secret:
        message = message.replace(attempt.secret, "***")
    return UpstreamHTTPError(
        resp.status,
        message,
        openai_type=etype,
        code=code,
        param=param,
        retry_after=resp.headers.get("retry-after"),
    )


def _openai_error_fields(raw: bytes) -> tuple[str, str | None, str | None, str | None]:
    try:
        err = orjson.loads(raw).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return raw[:300].decode(errors="replace").strip(), None, None, None
    if isinstance(err, str):
        return err, None, None, None
    if not isinstance(err, dict):
        return "", None, None, None
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    code = str(err["code"]) if err.get("code") is not None else None
    param = err.get("param") if isinstance(err.get("param"), str) else None
    return str(err.get("message") or ""), etype, code, param


def meter(row: UsageRow, usage: hub.Usage | None) -> None:
    if usage is not None:
        row.prompt_tokens = usage.prompt_tokens
        row.completion_tokens = usage.completion_tokens
        row.cached_tokens = usage.cached_tokens
        row.cache_write_tokens = usage.cache_write_tokens
        row.cache_write_1h_tokens = usage.cache_write_1h_tokens
        row.reasoning_tokens = usage.reasoning_tokens


async def _json_back(call: Call, attempt: Attempt, resp: UpstreamResponse, row: UsageRow) -> web.Response:
    """The upstream's JSON answer for the caller. A body that is not valid for the
    upstream's API raises UpstreamInvalid: nothing was sent, so the next channel may try."""
    raw = await resp.read()
    try:
        obj = orjson.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        if call.endpoint is Endpoint.COUNT_TOKENS:
            pass  # nothing generated, nothing to meter
        elif call.endpoint is Endpoint.COMPACT and not attempt.translated:
            meter(row, _responses_usage(obj.get("usage")))
        elif call.endpoint is Endpoint.RERANK:
            answer_obj = relay_rerank.answer(call, attempt, obj, row)
            if answer_obj is not obj:  # translated: otherwise the bytes pass as they are
                obj, raw = answer_obj, orjson.dumps(answer_obj)
        elif call.endpoint is Endpoint.EMBEDDINGS:
            answer_obj, usage = relay_embeddings.answer(call, attempt, obj)
            meter(row, usage)
            if answer_obj is not obj:  # translated or unwrapped: otherwise the bytes pass as they are
                obj, raw = answer_obj, orjson.dumps(answer_obj)
        elif attempt.wire is WireFormat.OPENAI_CHAT and not attempt.translated:
            meter(row, oa.parse_usage(obj.get("usage")))
            if row.prompt_tokens == row.completion_tokens == 0 and call.endpoint is Endpoint.CHAT:
                call.delivered.add_response(codec(WireFormat.OPENAI_CHAT).decode_response(obj))
        else:
            answer = codec(attempt.wire).decode_response(obj)
            meter(row, answer.usage)
            call.delivered.add_response(answer)
            if attempt.translated:
                answer = sealed.seal_response(answer, attempt.wire, call.fmt)
            if attempt.translated and call.answer_override is not None:
                obj = call.answer_override(answer)
                raw = orjson.dumps(obj)
            elif attempt.translated:
                obj = codec(call.fmt).encode_response(answer, call.model, **call.encoder_options())
                raw = orjson.dumps(obj)
    except (ValueError, KeyError, TypeError, AttributeError, BadGateway) as exc:
        raise UpstreamInvalid("JSON body") from exc
    call.reached = True
    if call.on_complete is not None:
        await call.on_complete(obj)  # may fill in state fields (Responses' store, previous id)
        raw = orjson.dumps(obj)
    row.status = 200
    return web.Response(body=raw, status=200, content_type="application/json", headers=drop_headers(call))


def drop_headers(call: Call) -> dict[str, str]:
    """`x-hubgate-dropped` when the translated request left something out (SPEC §4)."""
    return {policy.HEADER: policy.header_value(call.dropped)} if call.dropped else {}


def _responses_usage(usage: Any) -> hub.Usage | None:
    """A Responses-API usage object (compaction answers are not response objects)."""
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details") or {}
    return hub.Usage(
        prompt_tokens=int(usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )
