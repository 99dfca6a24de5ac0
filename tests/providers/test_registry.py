"""The provider registry: each provider's declaration, config checked against it, one line to add one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from hubgate.providers import provider_for, registry
from hubgate.providers.base import (
    GENERATE_FAMILIES,
    Endpoint,
    Family,
    Provider,
    Transport,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.providers.channel import Channel
from hubgate.providers.echo import EchoResponse
from hubgate.providers.openai import OpenAIProvider
from hubgate.settings import ConfigError, parse_settings
from tests.conftest import live_gateway

F = Family
GEN = {F.CHAT, F.RESPONSES, F.MESSAGES, F.GEMINI}
MEDIA = {F.IMAGES, F.AUDIO, F.MODERATIONS}
# type: (families, default api_version, needs base_url, `api: responses` allowed)
BUILTIN: dict[str, tuple[set[Family], str | None, bool, bool]] = {
    "openai": (GEN | MEDIA | {F.COMPLETIONS, F.EMBEDDINGS, F.VIDEOS, F.REALTIME}, None, True, True),
    "openai-compatible": (
        GEN | MEDIA | {F.COMPLETIONS, F.EMBEDDINGS, F.VIDEOS, F.REALTIME, F.RERANK},
        None,
        True,
        True,
    ),
    "azure": (GEN | MEDIA | {F.COMPLETIONS, F.EMBEDDINGS, F.REALTIME}, "2024-10-21", True, True),
    "anthropic": (GEN, "2023-06-01", True, False),
    "gemini": (GEN | {F.EMBEDDINGS}, "v1beta", True, False),
    "echo": (GEN | {F.COMPLETIONS, F.EMBEDDINGS}, None, False, False),
    "cohere": ({F.RERANK}, None, True, False),
    "jina": ({F.RERANK}, None, True, False),
}


def test_each_builtin_provider_declares_its_facts() -> None:
    assert registry.REGISTRY.names() == tuple(BUILTIN)
    for name, (families, version, needs_base_url, responses_api) in BUILTIN.items():
        p = provider_for(name)
        assert p.channel_type == name
        assert (set(p.families), p.default_api_version) == (families, version), name
        assert (p.needs_base_url, p.responses_api) == (needs_base_url, responses_api), name
        assert registry.declaration_problems(p) == []
    assert registry.REGISTRY.serving(F.REALTIME) == ("openai", "openai-compatible", "azure")
    assert registry.REGISTRY.serving(F.RERANK) == ("openai-compatible", "cohere", "jina")
    with pytest.raises(KeyError):
        provider_for("carrier-pigeon")


def test_a_declaration_that_disagrees_with_the_endpoints_is_refused() -> None:
    class Sloppy(OpenAIProvider):
        channel_type = "sloppy"
        families = frozenset(GENERATE_FAMILIES | {Family.RERANK})  # but builds no rerank, and no media

    with pytest.raises(ValueError, match="sloppy: declares 'rerank'") as info:
        registry.REGISTRY.with_provider(Sloppy())
    assert "does not declare 'images'" in str(info.value)
    with pytest.raises(ValueError, match="same channel_type"):
        registry.REGISTRY.with_provider(OpenAIProvider())


def _channel(kind: str, base_url: str = "https://r.example.com/", api_version: str | None = None) -> Channel:
    data = {"name": "c", "type": kind, "base_url": base_url, "models": ["m"], "api_version": api_version}
    return Channel.from_settings(registry.channel(data))


def test_realtime_targets_are_the_providers() -> None:
    url, auth = provider_for("openai").realtime_target(_channel("openai", "http://h:1/v1"), "gpt rt", "sk")
    assert (url, auth) == ("ws://h:1/v1/realtime?model=gpt%20rt", {"Authorization": "Bearer sk"})
    url, auth = provider_for("azure").realtime_target(_channel("azure"), "dep/1", "k")
    assert url == "wss://r.example.com/openai/realtime?api-version=2024-10-21&deployment=dep%2F1"
    assert auth == {"api-key": "k"}
    unversioned = replace(_channel("azure", "https://x"), api_version=None)  # built without the registry
    url, auth = provider_for("azure").realtime_target(unversioned, "d", "")
    assert url == "wss://x/openai/realtime?api-version=2024-10-01-preview&deployment=d" and auth == {}
    with pytest.raises(NotImplementedError, match="'anthropic' does not serve realtime"):
        provider_for("anthropic").realtime_target(_channel("anthropic"), "claude", "k")


# --- adding a provider: what `providers/acme/__init__.py` plus one registry line would hold ---


class _AcmeTransport:
    """Acme's upstream, in-process: answers a chat completion naming the URL it was sent to."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        model = orjson.loads(request.body)["model"]
        message = {"role": "assistant", "content": request.url}
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        body = {"id": "chatcmpl-acme", "object": "chat.completion", "created": 1, "model": model}
        return EchoResponse(200, orjson.dumps({**body, "choices": [choice], "usage": usage}))


class AcmeProvider(Provider):
    channel_type = "acme"
    families = frozenset(GENERATE_FAMILIES)
    default_api_version = "2026-12-01"
    endpoints = frozenset({Endpoint.CHAT, Endpoint.GENERATE})

    def build(
        self, channel: Channel, endpoint: Endpoint, upstream_model: str, body: bytes, stream: bool, key: str
    ) -> UpstreamRequest:
        url = f"{channel.base_url}/{channel.api_version}/chat"
        return self.request(channel, url, {"acme-key": key}, body, stream, key)

    def transport(self, http: Transport) -> Transport:
        return _AcmeTransport()


ACME = {"name": "acme", "type": "acme", "base_url": "https://acme.test", "api_key": "a", "models": ["acme-1"]}


def test_a_new_provider_is_checked_by_the_registry_it_is_in() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"channels": [ACME]}, env={}, kinds=registry.REGISTRY)
    assert info.value.errors[0].startswith("channels[0].type: unknown channel type 'acme'; expected one of:")
    extended = registry.REGISTRY.with_provider(AcmeProvider())
    (channel,) = parse_settings({"channels": [ACME]}, env={}, kinds=extended).channels
    assert channel.api_version == "2026-12-01"
    bad = {**ACME, "api": "responses"}
    with pytest.raises(ConfigError, match="'responses' only applies to channels of type openai, "):
        parse_settings({"channels": [bad]}, env={}, kinds=extended)


async def test_a_new_provider_is_one_line_in_the_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(registry, "REGISTRY", registry.REGISTRY.with_provider(AcmeProvider()))
    secret = "sk-test-acme-0123456789abcdef"
    config: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hubgate.db'}",
        "usage_flush_interval_s": 0.05,
        "channels": [ACME],
        "keys": [{"name": "k", "key": secret}],
    }
    async with live_gateway(config, None) as gw, gw.client(secret) as client:
        resp = await client.chat.completions.create(
            model="acme-1", messages=[{"role": "user", "content": "hi"}]
        )
    assert resp.choices[0].message.content == "https://acme.test/2026-12-01/chat"
    assert resp.usage is not None and resp.usage.total_tokens == 5
