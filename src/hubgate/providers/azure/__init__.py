"""Azure OpenAI: deployment URLs, `api-version` query and the `api-key` header."""

from __future__ import annotations

from urllib.parse import quote

from hubgate.providers.base import MEDIA_ENDPOINTS, Endpoint, Provider, UpstreamRequest
from hubgate.providers.channel import Channel
from hubgate.providers.openai import generate_path

DEFAULT_API_VERSION = "2024-10-21"


class AzureProvider(Provider):
    """base_url is the resource endpoint (`https://NAME.openai.azure.com`); the
    upstream model name (after model_map) is the deployment name."""

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
