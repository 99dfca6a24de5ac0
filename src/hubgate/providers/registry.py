"""Every upstream kind hubgate knows, by channel `type`.

Adding a provider is one folder `providers/<name>/` whose `Provider` subclass declares its
facts (channel type, default API version, families, URL and auth building) plus one line
in `REGISTRY` below. Configuration is checked against the registry where it is loaded
(`hubgate.settings` knows providers only through its `ChannelKinds` protocol).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from hubgate.providers.anthropic import AnthropicProvider
from hubgate.providers.azure import AzureProvider
from hubgate.providers.base import FAMILY_ENDPOINTS, Family, Provider
from hubgate.providers.cohere import CohereProvider
from hubgate.providers.echo import EchoProvider
from hubgate.providers.gemini import GeminiProvider
from hubgate.providers.jina import JinaProvider
from hubgate.providers.openai import OpenAIProvider
from hubgate.providers.openai.compatible import OpenAICompatibleProvider
from hubgate.settings import (
    CHANNEL_KINDS,
    ChannelSettings,
    ConfigError,
    Settings,
    load_settings,
    parse_settings,
)


def declaration_problems(provider: Provider) -> list[str]:
    """What is wrong with a provider's declaration (empty when it is sound)."""
    name = provider.channel_type or type(provider).__name__
    problems = [] if provider.channel_type else [f"{name}: no channel_type"]
    for family, endpoints in FAMILY_ENDPOINTS.items():
        built = sorted(endpoints & provider.endpoints)
        declared = family in provider.families
        if declared != bool(built):
            what = "declares" if declared else "does not declare"
            problems.append(f"{name}: {what} {family.value!r} but builds {built}")
    serves_realtime = type(provider).realtime_target is not Provider.realtime_target
    if (Family.REALTIME in provider.families) != serves_realtime:
        problems.append(f"{name}: the realtime family and realtime_target disagree")
    return problems


@dataclass(frozen=True, slots=True)
class Registry:
    """The providers by channel type, in declaration order (error messages list them in it)."""

    providers: tuple[Provider, ...]
    _by_type: Mapping[str, Provider] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = [p for provider in self.providers for p in declaration_problems(provider)]
        by_type = {p.channel_type: p for p in self.providers}
        if len(by_type) != len(self.providers):
            problems.append("two providers declare the same channel_type")
        if problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "_by_type", MappingProxyType(by_type))

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_type)

    def get(self, channel_type: str) -> Provider | None:
        return self._by_type.get(channel_type)

    def provider(self, channel_type: str) -> Provider:
        """The provider of a (validated) channel type; KeyError for an unknown one."""
        return self._by_type[channel_type]

    def serving(self, family: Family) -> tuple[str, ...]:
        """The channel types whose providers serve `family`."""
        return tuple(name for name, p in self._by_type.items() if family in p.families)

    def with_provider(self, provider: Provider) -> Registry:
        """This registry plus one provider (used to prove a new folder needs only one line)."""
        return Registry((*self.providers, provider))


REGISTRY = Registry(
    (
        OpenAIProvider(),
        OpenAICompatibleProvider(),  # OpenAI plus rerank
        AzureProvider(),
        AnthropicProvider(),
        GeminiProvider(),
        EchoProvider(),
        CohereProvider(),
        JinaProvider(),
    )
)


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """`hubgate.settings.load_settings` with channels checked against the registry."""
    return load_settings(path, env, kinds=REGISTRY)


def parse(data: object, env: Mapping[str, str] | None = None, source: str = "<config>") -> Settings:
    """`hubgate.settings.parse_settings` with channels checked against the registry."""
    return parse_settings(data, env, source, kinds=REGISTRY)


def channel(data: Mapping[str, Any]) -> ChannelSettings:
    """One channel's settings checked against the registry; raises pydantic's ValidationError."""
    return ChannelSettings.model_validate(data, context={CHANNEL_KINDS: REGISTRY})


def check(settings: Settings) -> Settings:
    """`settings` with every channel checked against the registry (default API versions filled);
    for settings built without it. Raises ConfigError."""
    channels, problems = [], []
    for i, ch in enumerate(settings.channels):
        try:
            channels.append(channel(ch.model_dump()))
        except ValidationError as exc:
            problems += [
                f"channels[{i}].{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            ]
    if problems:
        raise ConfigError(problems)
    return settings.model_copy(update={"channels": tuple(channels)})
