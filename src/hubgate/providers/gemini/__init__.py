"""Google Gemini (Generative Language API): `models/{model}:generateContent`, `x-goog-api-key`."""

from __future__ import annotations

from urllib.parse import quote

from hubgate.formats.registry import WireFormat
from hubgate.providers.base import GENERATE_FAMILIES, Endpoint, Family, Provider, UpstreamRequest
from hubgate.providers.channel import Channel

DEFAULT_VERSION = "v1beta"


class GeminiProvider(Provider):
    channel_type = "gemini"
    families = GENERATE_FAMILIES | {Family.EMBEDDINGS}
    default_api_version = DEFAULT_VERSION  # the path's version
    endpoints = frozenset({Endpoint.GENERATE, Endpoint.COUNT_TOKENS, Endpoint.EMBEDDINGS})

    def wire_format(self, channel: Channel) -> WireFormat:
        return WireFormat.GEMINI

    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest:
        model = quote(upstream_model.removeprefix("models/"), safe="")
        if endpoint is Endpoint.COUNT_TOKENS:
            action = "countTokens"
        elif endpoint is Endpoint.EMBEDDINGS:
            action = "batchEmbedContents"
        else:
            action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{channel.base_url}/{channel.api_version or DEFAULT_VERSION}/models/{model}:{action}"
        return self.request(channel, url, {"x-goog-api-key": key}, body, stream, key)

    def test_body(self, channel: Channel, endpoint: Endpoint, upstream_model: str) -> bytes:
        import orjson

        return orjson.dumps(
            {
                "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
                "generationConfig": {"maxOutputTokens": 1},
            }
        )
