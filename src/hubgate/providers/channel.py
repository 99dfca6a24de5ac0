"""A channel: one configured upstream of some provider kind (its address, keys, models,
limits). Plain data the providers build requests from and routing orders."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from hubgate.settings import ChannelSettings


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-channel time limits. `total_s` bounds a whole non-streamed answer;
    `stream_s` a whole stream; `first_byte_s` the wait for the answer to start;
    `idle_s` the silence between two reads of a stream."""

    connect_s: float = 10.0
    first_byte_s: float = 300.0
    idle_s: float = 120.0
    total_s: float = 600.0
    stream_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    type: str
    base_url: str
    api_keys: tuple[str, ...]
    models: frozenset[str]
    model_map: Mapping[str, str]
    priority: int = 0
    weight: int = 1
    timeout_s: float = 600.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    headers: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None
    api: str = "chat"  # openai family: "responses" when GENERATE goes to /responses
    _turn: itertools.count[int] = field(default_factory=itertools.count, compare=False, repr=False)

    @classmethod
    def from_settings(cls, s: ChannelSettings) -> Channel:
        return cls(
            name=s.name,
            type=s.type,
            base_url=s.base_url or "",
            api_keys=s.upstream_keys,
            models=frozenset(s.models),
            model_map=dict(s.model_map),
            priority=s.priority,
            weight=s.weight,
            timeout_s=s.timeout_s,
            timeouts=Timeouts(
                connect_s=min(s.connect_timeout_s, s.timeout_s),
                first_byte_s=min(s.first_byte_timeout_s or s.timeout_s, s.timeout_s),
                idle_s=min(s.idle_timeout_s or s.timeout_s, s.timeout_s),
                total_s=s.timeout_s,
                stream_s=s.stream_timeout_s,
            ),
            headers=dict(s.headers),
            api_version=s.api_version,
            api=s.api,
        )

    def upstream_model(self, public: str) -> str:
        return self.model_map.get(public, public)

    def next_key(self) -> str:
        """Upstream keys are used in turn."""
        if not self.api_keys:
            return ""
        return self.api_keys[next(self._turn) % len(self.api_keys)]

    def keys_in_turn(self) -> list[str]:
        """Every upstream key, starting with the one whose turn it is (then the
        fallbacks when that one is set aside); [""] for keyless channels."""
        if not self.api_keys:
            return [""]
        start = next(self._turn) % len(self.api_keys)
        return [*self.api_keys[start:], *self.api_keys[:start]]
