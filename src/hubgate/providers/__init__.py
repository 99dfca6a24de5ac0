"""Upstream kinds by channel `type`."""

from __future__ import annotations

from hubgate.providers.anthropic import AnthropicProvider
from hubgate.providers.azure import AzureProvider
from hubgate.providers.base import Provider
from hubgate.providers.cohere import CohereProvider
from hubgate.providers.echo import EchoProvider
from hubgate.providers.gemini import GeminiProvider
from hubgate.providers.jina import JinaProvider
from hubgate.providers.openai import OpenAIProvider
from hubgate.providers.openai.compatible import OpenAICompatibleProvider

PROVIDERS: dict[str, Provider] = {
    "openai": OpenAIProvider(),
    "openai-compatible": OpenAICompatibleProvider(),  # OpenAI plus rerank
    "azure": AzureProvider(),
    "anthropic": AnthropicProvider(),
    "gemini": GeminiProvider(),
    "echo": EchoProvider(),
    "cohere": CohereProvider(),
    "jina": JinaProvider(),
}


def provider_for(channel_type: str) -> Provider:
    return PROVIDERS[channel_type]
