"""OpenAI and every server that speaks its API (vLLM, Ollama, DeepSeek, Qwen, ...)."""

from __future__ import annotations

from hubgate.providers.base import Endpoint, Provider, UpstreamRequest
from hubgate.routing.channels import Channel


def generate_path(channel: Channel, endpoint: Endpoint) -> str:
    """The path of an endpoint; GENERATE is chat/completions or responses."""
    if endpoint is Endpoint.GENERATE:
        return "responses" if channel.api == "responses" else Endpoint.CHAT.value
    return endpoint.value  # chat/completions, completions, embeddings, responses/compact


class OpenAIProvider(Provider):
    """`{base_url}/chat/completions` with a Bearer key; base_url ends in /v1."""

    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest:
        headers = {"content-type": "application/json", **channel.headers}
        if key:
            headers["authorization"] = f"Bearer {key}"
        if stream:
            headers["accept"] = "text/event-stream"
        return UpstreamRequest(
            url=f"{channel.base_url}/{generate_path(channel, endpoint)}",
            headers=headers,
            body=body,
            timeouts=channel.timeouts,
            stream=stream,
            secret=key,
        )
