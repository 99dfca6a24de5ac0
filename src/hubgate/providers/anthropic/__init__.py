"""Anthropic: `{base_url}/v1/messages`, `x-api-key` and `anthropic-version` headers."""

from __future__ import annotations

from hubgate.formats.registry import WireFormat
from hubgate.providers.base import GENERATE_FAMILIES, Endpoint, Provider, UpstreamRequest
from hubgate.providers.channel import Channel

DEFAULT_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    channel_type = "anthropic"
    families = GENERATE_FAMILIES
    default_api_version = DEFAULT_VERSION  # the `anthropic-version` header
    endpoints = frozenset({Endpoint.GENERATE, Endpoint.COUNT_TOKENS})

    def wire_format(self, channel: Channel) -> WireFormat:
        return WireFormat.ANTHROPIC

    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest:
        path = "/v1/messages/count_tokens" if endpoint is Endpoint.COUNT_TOKENS else "/v1/messages"
        auth = {"x-api-key": key, "anthropic-version": channel.api_version or DEFAULT_VERSION}
        return self.request(channel, channel.base_url + path, auth, body, stream, key)

    def test_body(self, channel: Channel, endpoint: Endpoint, upstream_model: str) -> bytes:
        import orjson

        return orjson.dumps(
            {"model": upstream_model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}
        )
