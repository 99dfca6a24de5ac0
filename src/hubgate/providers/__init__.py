"""Upstream kinds by channel `type`."""

from __future__ import annotations

from hubgate.providers.anthropic import AnthropicProvider
from hubgate.providers.azure import AzureProvider
from hubgate.providers.base import Provider
from hubgate.providers.echo import EchoProvider
from hubgate.providers.gemini import GeminiProvider
from hubgate.providers.openai import OpenAIProvider

PROVIDERS: dict[str, Provider] = {
    "openai": OpenAIProvider(),
    "openai-compatible": OpenAIProvider(),
    "azure": AzureProvider(),
    "anthropic": AnthropicProvider(),
    "gemini": GeminiProvider(),
    "echo": EchoProvider(),
}


def provider_for(channel_type: str) -> Provider:
    return PROVIDERS[channel_type]
