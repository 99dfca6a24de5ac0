"""Runtime channels and the table that orders candidates for a model."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hubgate.providers.channel import Channel


@dataclass(frozen=True, slots=True)
class Route:
    """Where a requested model name leads: the public model and its candidate channels."""

    model: str
    channels: tuple[Channel, ...]


class ChannelTable:
    """Immutable index of enabled channels by public model name."""

    def __init__(self, channels: Iterable[Channel], rng: random.Random | None = None) -> None:
        self._by_name = {c.name: c for c in channels}
        by_model: dict[str, list[Channel]] = {}
        for ch in self._by_name.values():
            for model in ch.models:
                by_model.setdefault(model, []).append(ch)
        self._by_model = {m: tuple(chs) for m, chs in by_model.items()}
        self._rng = rng or random.Random()
        self._aliases: Mapping[str, str] = {}

    def with_aliases(self, aliases: Mapping[str, str]) -> ChannelTable:
        """The same channels, with the catalogue's `vendor/model` names (see `resolve`)."""
        table = copy.copy(self)
        table._aliases = aliases
        return table

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(self._by_name.values())

    def channel(self, name: str) -> Channel | None:
        return self._by_name.get(name)

    def models(self) -> list[tuple[str, Channel]]:
        """Every public model with the first channel that serves it."""
        return sorted((m, chs[0]) for m, chs in self._by_model.items())

    def resolve(self, requested: str) -> Route | None:
        """Map a requested name to candidates; `channel/model` pins one channel and a
        catalogue name `vendor/model` leads to every channel serving `model`.

        A name that is itself a served model wins over both, so upstream names with
        slashes (`meta-llama/Llama-3-8B`) keep working; a channel pin wins over a vendor
        name when that channel serves the model (a channel named `openai` serving
        `gpt-4.1` pins `openai/gpt-4.1` to itself, as before the catalogue).
        """
        chs = self._by_model.get(requested)
        if chs is not None:
            return Route(requested, self._order(chs))
        name, sep, model = requested.partition("/")
        if sep:
            ch = self._by_name.get(name)
            if ch is not None and model in ch.models:
                return Route(model, (ch,))
            target = self._aliases.get(requested)
            if target is not None and (chs := self._by_model.get(target)) is not None:
                return Route(target, self._order(chs))
        return None

    def _order(self, chs: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if len(chs) == 1:
            return chs
        # Higher priority first; within a tier, a weighted random order
        # (Efraimidis-Spirakis keys), so the first pick follows the weights and
        # the rest are the fallbacks. Weight 0 channels only serve as fallbacks.
        rnd = self._rng.random

        def key(ch: Channel) -> tuple[int, float]:
            w = ch.weight
            return (-ch.priority, -(rnd() ** (1.0 / w)) if w > 0 else 1.0)

        return tuple(sorted(chs, key=key))
