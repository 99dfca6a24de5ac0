"""The seam between the relay and upstreams: build a request, send it, read the answer.

A provider knows one upstream kind and declares its facts on its class: the channel
`type` that selects it, its default API version, the families it serves, its URL and
auth building (HTTP and realtime) and its quirks. A transport sends an `UpstreamRequest`
and returns an `UpstreamResponse`; the HTTP transport is the real one, the echo channel
answers in-process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hubgate.formats.registry import WireFormat
from hubgate.formats.rerank import Shape as RerankShape
from hubgate.providers.channel import Channel, Timeouts


class Endpoint(StrEnum):
    """What the caller asked for. GENERATE is "a model answer in the provider's own
    wire format" (chat/completions, responses, messages or generateContent)."""

    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    GENERATE = "generate"
    COUNT_TOKENS = "count_tokens"
    COMPACT = "responses/compact"  # Responses-API channels compact natively
    RERANK = "rerank"  # Cohere / Jina rerank; only providers that declare it
    # The OpenAI media family: passed through to OpenAI-format channels only.
    MODERATIONS = "moderations"
    IMAGES_GENERATIONS = "images/generations"
    IMAGES_EDITS = "images/edits"
    IMAGES_VARIATIONS = "images/variations"
    AUDIO_SPEECH = "audio/speech"
    AUDIO_TRANSCRIPTIONS = "audio/transcriptions"
    AUDIO_TRANSLATIONS = "audio/translations"
    # Video tasks: `POST {base}/videos` creates one; its id's sub-paths poll, download, delete.
    VIDEOS = "videos"


MEDIA_ENDPOINTS = frozenset(
    {
        Endpoint.MODERATIONS,
        Endpoint.IMAGES_GENERATIONS,
        Endpoint.IMAGES_EDITS,
        Endpoint.IMAGES_VARIATIONS,
        Endpoint.AUDIO_SPEECH,
        Endpoint.AUDIO_TRANSCRIPTIONS,
        Endpoint.AUDIO_TRANSLATIONS,
    }
)


VIDEO_ENDPOINTS = frozenset({Endpoint.VIDEOS})


class Family(StrEnum):
    """A kind of caller request a provider's channels can answer (directly or translated)."""

    CHAT = "chat"  # OpenAI chat/completions
    COMPLETIONS = "completions"  # OpenAI legacy completions
    RESPONSES = "responses"  # OpenAI Responses
    MESSAGES = "messages"  # Anthropic Messages
    GEMINI = "gemini"  # Gemini generateContent
    EMBEDDINGS = "embeddings"
    IMAGES = "images"
    AUDIO = "audio"
    MODERATIONS = "moderations"
    VIDEOS = "videos"
    RERANK = "rerank"
    REALTIME = "realtime"  # the Realtime WebSocket


# The endpoints behind each family but realtime (a socket, not an endpoint): a provider's
# declared families and its endpoints must agree (the registry checks it).
FAMILY_ENDPOINTS: dict[Family, frozenset[Endpoint]] = {
    Family.CHAT: frozenset({Endpoint.GENERATE}),
    Family.RESPONSES: frozenset({Endpoint.GENERATE}),
    Family.MESSAGES: frozenset({Endpoint.GENERATE}),
    Family.GEMINI: frozenset({Endpoint.GENERATE}),
    Family.COMPLETIONS: frozenset({Endpoint.COMPLETIONS}),
    Family.EMBEDDINGS: frozenset({Endpoint.EMBEDDINGS}),
    Family.IMAGES: frozenset(
        {Endpoint.IMAGES_GENERATIONS, Endpoint.IMAGES_EDITS, Endpoint.IMAGES_VARIATIONS}
    ),
    Family.AUDIO: frozenset(
        {Endpoint.AUDIO_SPEECH, Endpoint.AUDIO_TRANSCRIPTIONS, Endpoint.AUDIO_TRANSLATIONS}
    ),
    Family.MODERATIONS: frozenset({Endpoint.MODERATIONS}),
    Family.VIDEOS: VIDEO_ENDPOINTS,
    Family.RERANK: frozenset({Endpoint.RERANK}),
}
GENERATE_FAMILIES = frozenset({Family.CHAT, Family.RESPONSES, Family.MESSAGES, Family.GEMINI})
MEDIA_FAMILIES = frozenset({Family.IMAGES, Family.AUDIO, Family.MODERATIONS})


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a multipart/form-data body; `value` is shared, never copied."""

    name: str
    value: bytes | bytearray
    filename: str | None = None
    content_type: str | None = None


@dataclass(slots=True, unsafe_hash=True)  # not frozen: made per attempt, a frozen __init__ costs 2x
class UpstreamRequest:
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeouts: Timeouts
    stream: bool
    secret: str  # the upstream key, kept so errors can be scrubbed of it
    form: tuple[FormPart, ...] | None = None  # when set: sent as multipart/form-data, not `body`
    method: str = "POST"  # GET and DELETE for video tasks


class UpstreamResponse(ABC):
    status: int
    headers: Mapping[str, str]

    @abstractmethod
    async def read(self) -> bytes: ...

    @abstractmethod
    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    @abstractmethod
    def close(self) -> None:
        """Abort: the upstream connection is dropped so the upstream stops working."""

    def release(self) -> None:
        """The body was read to the end; the connection may be reused."""
        self.close()

    def at_eof(self) -> bool:
        """The whole body has arrived and been handed out: iterating further ends at once
        (so the caller's last write can also end its answer)."""
        return False


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...


class UpstreamConnectError(Exception):
    """The upstream could not be reached (refused, reset, DNS): safe to try elsewhere."""


class UpstreamInvalid(Exception):
    """The upstream answered 200 with a body or stream that is not valid for its API."""


class UpstreamReadTimeout(Exception):
    """The upstream accepted the request but did not answer in time."""


class Provider(ABC):
    """One upstream kind. Subclasses are stateless; channels carry the data.

    The class attributes are the provider's declaration, read by the registry, by config
    validation (through `hubgate.settings.ChannelKinds`) and by the realtime socket.
    """

    channel_type: str = ""  # the channel `type` that selects this provider
    families: frozenset[Family] = frozenset()
    default_api_version: str | None = None  # filled into channels; None: `api_version` does not apply
    needs_base_url: bool = True
    responses_api: bool = False  # channels may set `api: responses`
    endpoints: frozenset[Endpoint] = frozenset(
        {Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS, Endpoint.GENERATE}
    )
    rerank_shape: RerankShape = RerankShape.V1  # what RERANK speaks: Jina / Cohere v1 unless overridden

    def wire_format(self, channel: Channel) -> WireFormat:
        """The format this channel's GENERATE endpoint speaks."""
        return WireFormat.OPENAI_RESPONSES if channel.api == "responses" else WireFormat.OPENAI_CHAT

    @abstractmethod
    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest: ...

    @staticmethod
    def request(
        channel: Channel, url: str, auth: Mapping[str, str], body: bytes, stream: bool, key: str
    ) -> UpstreamRequest:
        """A JSON POST with the provider's auth headers and the channel's extra headers."""
        headers = {"content-type": "application/json", **auth, **channel.headers}
        if stream:
            headers["accept"] = "text/event-stream"
        return UpstreamRequest(
            url=url, headers=headers, body=body, timeouts=channel.timeouts, stream=stream, secret=key
        )

    def realtime_target(self, channel: Channel, upstream_model: str, key: str) -> tuple[str, dict[str, str]]:
        """The upstream's Realtime WebSocket URL and auth headers (providers serving REALTIME)."""
        raise NotImplementedError(f"channel type {self.channel_type!r} does not serve realtime")

    def transport(self, http: Transport) -> Transport:
        """The transport this provider's requests travel on (HTTP unless overridden)."""
        return http

    def test_body(self, channel: Channel, endpoint: Endpoint, upstream_model: str) -> bytes:
        """A tiny request used by `hubgate channels test`."""
        import orjson

        if endpoint is Endpoint.EMBEDDINGS:
            return orjson.dumps({"model": upstream_model, "input": "ping"})
        if self.wire_format(channel) is WireFormat.OPENAI_RESPONSES:
            return orjson.dumps({"model": upstream_model, "input": "ping", "max_output_tokens": 16})
        return orjson.dumps(
            {"model": upstream_model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        )
