"""`openai-compatible`: OpenAI's API plus what self-hosted servers add to it.

vLLM and Xinference serve a Jina-shaped `POST {base_url}/rerank` (base_url ends in
/v1), which plain OpenAI and Azure do not.
"""

from __future__ import annotations

from hubgate.formats.rerank import Shape
from hubgate.providers.base import Endpoint, Family
from hubgate.providers.openai import OpenAIProvider


class OpenAICompatibleProvider(OpenAIProvider):
    channel_type = "openai-compatible"
    families = OpenAIProvider.families | {Family.RERANK}
    endpoints = OpenAIProvider.endpoints | {Endpoint.RERANK}
    rerank_shape = Shape.V1  # `{base_url}/rerank`: the path is the endpoint's value
