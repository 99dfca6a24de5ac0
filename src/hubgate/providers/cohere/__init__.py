"""Cohere: `POST {base_url}/v2/rerank` (base_url `https://api.cohere.com`), Bearer key.

Answers carry `meta.billed_units.search_units`, which the gateway bills per unit.
"""

from __future__ import annotations

from hubgate.formats.rerank import Shape
from hubgate.providers._rerank_only import RerankOnlyProvider


class CohereProvider(RerankOnlyProvider):
    channel_type = "cohere"
    rerank_shape = Shape.COHERE_V2
    path = "/v2/rerank"
