"""OpenAI and every server that speaks its API (vLLM, Ollama, DeepSeek, Qwen, ...)."""

from __future__ import annotations

from urllib.parse import quote

from hubgate.providers.base import (
    GENERATE_FAMILIES,
    MEDIA_ENDPOINTS,
    MEDIA_FAMILIES,
    VIDEO_ENDPOINTS,
    Endpoint,
    Family,
    Provider,
    UpstreamRequest,
)
from hubgate.providers.channel import Channel


def generate_path(channel: Channel, endpoint: Endpoint) -> str:
    """The path of an endpoint; GENERATE is chat/completions or responses."""
    if endpoint is Endpoint.GENERATE:
        return "responses" if channel.api == "responses" else Endpoint.CHAT.value
    return endpoint.value  # chat/completions, embeddings, responses/compact, images/..., audio/..., videos


def websocket_base(channel: Channel) -> str:
    """The channel's base URL as a WebSocket URL (http->ws, https->wss)."""
    base = channel.base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :]
    return base


class OpenAIProvider(Provider):
    """`{base_url}/chat/completions` with a Bearer key; base_url ends in /v1."""

    channel_type = "openai"
    families = (
        GENERATE_FAMILIES
        | MEDIA_FAMILIES
        | {Family.COMPLETIONS, Family.EMBEDDINGS, Family.VIDEOS, Family.REALTIME}
    )
    responses_api = True
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

    def realtime_target(self, channel: Channel, upstream_model: str, key: str) -> tuple[str, dict[str, str]]:
        url = f"{websocket_base(channel)}/realtime?model={quote(upstream_model, safe='')}"
        return url, ({"Authorization": f"Bearer {key}"} if key else {})
