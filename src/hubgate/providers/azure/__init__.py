"""Azure OpenAI: deployment URLs, `api-version` query and the `api-key` header."""

from __future__ import annotations

from urllib.parse import quote

from hubgate.providers.base import (
    GENERATE_FAMILIES,
    MEDIA_ENDPOINTS,
    MEDIA_FAMILIES,
    Endpoint,
    Family,
    Provider,
    UpstreamRequest,
)
from hubgate.providers.channel import Channel
from hubgate.providers.openai import generate_path, websocket_base

DEFAULT_API_VERSION = "2024-10-21"
REALTIME_API_VERSION = "2024-10-01-preview"  # when a channel has no api_version of its own


class AzureProvider(Provider):
    """base_url is the resource endpoint (`https://NAME.openai.azure.com`); the
    upstream model name (after model_map) is the deployment name."""

    channel_type = "azure"
    families = GENERATE_FAMILIES | MEDIA_FAMILIES | {Family.COMPLETIONS, Family.EMBEDDINGS, Family.REALTIME}
    default_api_version = DEFAULT_API_VERSION  # the `api-version` query
    responses_api = True
    endpoints = Provider.endpoints | MEDIA_ENDPOINTS

    def build(
        self,
        channel: Channel,
        endpoint: Endpoint,
        upstream_model: str,
        body: bytes,
        stream: bool,
        key: str,
    ) -> UpstreamRequest:
        version = channel.api_version or DEFAULT_API_VERSION
        url = (
            f"{channel.base_url}/openai/deployments/{quote(upstream_model, safe='')}/"
            f"{generate_path(channel, endpoint)}?api-version={quote(version, safe='')}"
        )
        return self.request(channel, url, {"api-key": key}, body, stream, key)

    def realtime_target(self, channel: Channel, upstream_model: str, key: str) -> tuple[str, dict[str, str]]:
        version = quote(channel.api_version or REALTIME_API_VERSION, safe="")
        deployment = quote(upstream_model, safe="")
        url = f"{websocket_base(channel)}/openai/realtime?api-version={version}&deployment={deployment}"
        return url, ({"api-key": key} if key else {})
