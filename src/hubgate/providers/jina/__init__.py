"""Jina AI: `POST {base_url}/v1/rerank` (base_url `https://api.jina.ai`), Bearer key.

Answers carry `usage.total_tokens`, billed as prompt tokens.
"""

from __future__ import annotations

from hubgate.formats.rerank import Shape
from hubgate.providers._rerank_only import RerankOnlyProvider


class JinaProvider(RerankOnlyProvider):
    channel_type = "jina"
    rerank_shape = Shape.V1
    path = "/v1/rerank"
