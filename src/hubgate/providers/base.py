"""The seam between the relay and upstreams: build a request, send it, read the answer.

A provider knows one upstream kind (URL layout, auth headers, the wire format it
speaks). A transport sends an `UpstreamRequest` and returns an `UpstreamResponse`;
the HTTP transport is the real one, the echo channel answers in-process.
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


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a multipart/form-data body; `value` is shared, never copied."""

    name: str
    value: bytes | bytearray
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
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


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...


class UpstreamConnectError(Exception):
    """The upstream could not be reached (refused, reset, DNS): safe to try elsewhere."""


class UpstreamInvalid(Exception):
    """The upstream answered 200 with a body or stream that is not valid for its API."""


class UpstreamReadTimeout(Exception):
    """The upstream accepted the request but did not answer in time."""


class Provider(ABC):
    """One upstream kind. Subclasses are stateless; channels carry the data."""

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
