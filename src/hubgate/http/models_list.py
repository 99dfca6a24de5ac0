"""The model list in Gemini's shape, shared by the OpenAI and Gemini routes
(an OpenAI `/v1/models` call with a Gemini key answers Gemini's list)."""

from __future__ import annotations

from typing import Any

from hubgate.gateway import Gateway
from hubgate.storage.keys import KeyRecord


def gemini_model(name: str, owner: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "baseModelId": name,
        "version": "hubgate",
        "displayName": name,
        "description": f"{name} served by hubgate ({owner} channel)",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


def gemini_model_list(gw: Gateway, key: KeyRecord) -> dict[str, Any]:
    return {"models": [gemini_model(m, ch.type) for m, ch in gw.channels.models() if key.allows(m)]}
