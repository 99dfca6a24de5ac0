"""The call model the whole relay builds on: one caller request (`Call`), one try of
it on one channel (`Attempt`), and the metering hook (`meter`). Every other relay
module imports this one; it imports none of them.

Format-specific details live on subclasses, not on the shared `Call`: a Gemini
caller's URL-borne model and stream framing on `GeminiCall`, a multipart upload's
parts on `media.MediaCall`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubgate.formats import hub, policy
from hubgate.formats import rerank as rr
from hubgate.formats.registry import WireFormat, codec
from hubgate.metering.usage import DeliveredText
from hubgate.providers.base import Endpoint, UpstreamResponse
from hubgate.providers.channel import Channel
from hubgate.storage.usage import UsageRow

CLIENT_CLOSED = 499  # the caller hung up before the answer was complete


@dataclass(frozen=True, slots=True)
class RerankCall:
    """What a rerank caller sent: its shape and the body as the hub request."""

    caller: rr.Shape
    request: rr.Request


@dataclass
class Call:
    """One caller request, checked and ready to go to any channel."""

    fmt: WireFormat  # what the caller speaks (OpenAI chat for completions/embeddings too)
    endpoint: Endpoint  # CHAT, COMPLETIONS, EMBEDDINGS for OpenAI routes; GENERATE otherwise
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool = True  # OpenAI chat callers see the usage chunk only if they asked
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
    rerank: RerankCall | None = None  # RERANK: the caller's shape and request
    # Answers a successful upstream response itself (a video task is stored under our id).
    answer_with: Callable[[Attempt, UpstreamResponse, UsageRow], Awaitable[web.StreamResponse]] | None = None
    # The request's end-of-answer step (set by `relay`): streams await it before their final frame.
    finish: Callable[[], Awaitable[None]] | None = None
    # The bytes `body` was parsed from, when it is their unchanged parse: a text request's
    # hold is bounded by their length without walking the body (metering/hold.prompt_bound).
    raw: bytes | None = field(default=None, repr=False)

    async def finished(self) -> None:
        """Charge and journal the answer now (before its last bytes); idempotent."""
        if self.finish is not None:
            await self.finish()

    def encoder_options(self) -> dict[str, Any]:
        """What the caller's encoder needs beyond the model (Responses echoes the request)."""
        if self.fmt is not WireFormat.OPENAI_RESPONSES:
            return {}
        return {**self.encode_extras, "request": self.hub_request()}

    def event_stream(self) -> bool:
        """Whether the caller takes a stream as server-sent events (Gemini may ask for a JSON array)."""
        return True

    def decodable_body(self) -> dict[str, Any]:
        """The body as the caller's codec decodes it."""
        return self.body

    def forwarded_body(self, upstream_model: str) -> dict[str, Any]:
        """The body for an upstream of the caller's own format: only the model changed."""
        payload = dict(self.body)
        payload["model"] = upstream_model
        if self.stream and self.fmt is WireFormat.OPENAI_CHAT and not self.include_usage:
            # Meter streams even when the caller did not ask for usage: ask upstream
            # and drop the extra chunk before it reaches the caller.
            payload["stream_options"] = {**(self.body.get("stream_options") or {}), "include_usage": True}
        return payload

    def hub_request(self) -> hub.Request:
        """The body decoded to the hub (once, and only when some channel needs it)."""
        if self._hub is None and self.hub_override is not None:
            self._hub = self.hub_override
        if self._hub is None:
            self._hub = codec(self.fmt).decode_request(self.decodable_body())
        return self._hub


@dataclass
class GeminiCall(Call):
    """A Gemini caller: the model and the stream flag are in the URL, not the body."""

    sse: bool = True  # alt=sse, or the JSON-array stream
    embed_single: bool = False  # embedContent (carried as a batch of one)

    def event_stream(self) -> bool:
        return self.sse

    def decodable_body(self) -> dict[str, Any]:
        return dict(self.body, model=self.model, stream=self.stream)

    def forwarded_body(self, upstream_model: str) -> dict[str, Any]:
        return dict(self.body)  # the upstream model goes in the URL


@dataclass
class Attempt:
    """One try of a call on one channel with one of its keys."""

    channel: Channel
    wire: WireFormat  # what the channel speaks
    upstream_model: str
    translated: bool  # decided once per attempt (strategy.choose)
    secret: str


def public_name(call: Call, attempt: Attempt) -> str | None:
    """The name the caller asked for, when a passed-through answer must be renamed to it
    (a `model_map`, a `vendor/` or `channel/` prefix); None when the upstream's name is
    the caller's, and the answer's bytes pass untouched."""
    return None if call.model == attempt.upstream_model else call.model


def meter(row: UsageRow, usage: hub.Usage | None) -> None:
    """Copy an answer's reported usage onto the usage row."""
    if usage is not None:
        row.prompt_tokens = usage.prompt_tokens
        row.completion_tokens = usage.completion_tokens
        row.cached_tokens = usage.cached_tokens
        row.cache_write_tokens = usage.cache_write_tokens
        row.cache_write_1h_tokens = usage.cache_write_1h_tokens
        row.reasoning_tokens = usage.reasoning_tokens


def drop_headers(call: Call) -> dict[str, str]:
    """`x-hubgate-dropped` when the translated request left something out (SPEC §4)."""
    return {policy.HEADER: policy.header_value(call.dropped)} if call.dropped else {}
