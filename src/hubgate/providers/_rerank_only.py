"""The shared base of upstreams that serve only rerank (Cohere, Jina)."""

from __future__ import annotations

import orjson

from hubgate.providers.base import Endpoint, Family, Provider, UpstreamRequest
from hubgate.providers.channel import Channel


class RerankOnlyProvider(Provider):
    """`{base_url}{path}` with a Bearer key; every request is a rerank request."""

    families = frozenset({Family.RERANK})
    endpoints = frozenset({Endpoint.RERANK})
    path = ""

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
        return self.request(channel, f"{channel.base_url}{self.path}", auth, body, False, key)

    def test_body(self, channel: Channel, endpoint: Endpoint, upstream_model: str) -> bytes:
        return orjson.dumps({"model": upstream_model, "query": "ping", "documents": ["ping"], "top_n": 1})
