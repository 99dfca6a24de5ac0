"""OpenAI and every server that speaks its API (vLLM, Ollama, DeepSeek, Qwen, ...)."""

from __future__ import annotations

from hubgate.providers.base import MEDIA_ENDPOINTS, VIDEO_ENDPOINTS, Endpoint, Provider, UpstreamRequest
from hubgate.providers.channel import Channel


def generate_path(channel: Channel, endpoint: Endpoint) -> str:
    """The path of an endpoint; GENERATE is chat/completions or responses."""
    if endpoint is Endpoint.GENERATE:
        return "responses" if channel.api == "responses" else Endpoint.CHAT.value
    return endpoint.value  # chat/completions, embeddings, responses/compact, images/..., audio/..., videos


class OpenAIProvider(Provider):
    """`{base_url}/chat/completions` with a Bearer key; base_url ends in /v1."""

    endpoints = Provider.endpoints | MEDIA_ENDPOINTS | VIDEO_ENDPOINTS

    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest:
        auth = {"authorization": f"Bearer {key}"} if key else {}
        url = f"{channel.base_url}/{generate_path(channel, endpoint)}"
        return self.request(channel, url, auth, body, stream, key)
