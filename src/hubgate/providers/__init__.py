"""Upstream kinds by channel `type`; `registry.REGISTRY` lists them."""

from __future__ import annotations

from hubgate.providers import registry
from hubgate.providers.base import Provider


def provider_for(channel_type: str) -> Provider:
    return registry.REGISTRY.provider(channel_type)
