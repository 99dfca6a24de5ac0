"""Model prices: the built-in table, name lookup with overrides, config conversion.

Prices are USD per 1M tokens as exact Decimals (`per_request` is USD per call).
Operators override or extend the built-in table (`price_table.py`, dated by
`PRICES_SOURCE_DATE`) under `pricing:` in the config and through the admin API;
an override always wins over a built-in entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from hubgate.metering.price import ZERO, Price, Tier
from hubgate.metering.price_table import (
    BUILTIN_PRICES,
    DEFAULT_MAX_OUTPUT_TOKENS,
    MAX_OUTPUT_TOKENS,
    PRICE_SOURCES,
    PRICES_SOURCE_DATE,
)
from hubgate.settings import PriceSettings

__all__ = [
    "BUILTIN_PRICES",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "PRICES_SOURCE_DATE",
    "PRICE_SOURCES",
    "Price",
    "Tier",
    "base_name",
    "candidate_names",
    "lookup",
    "lookup_video",
    "max_output_tokens",
    "price_from_settings",
]

_NO_OVERRIDES: Mapping[str, Price] = MappingProxyType({})


def price_from_settings(p: PriceSettings) -> Price:
    """A `pricing:` entry from the config (or the admin API) as a Price."""
    return Price(
        input=p.input,
        output=p.output,
        cached_input=p.cached_input,
        cache_write=p.cache_write,
        per_request=p.per_request if p.per_request is not None else ZERO,
    )


# Suffixes that name a snapshot of the same model: dates (-2024-08-06, -20250514,
# -0613, -09-2025, -05-20), revisions (-001) and moving aliases (-latest, -preview).
_SNAPSHOT_SUFFIX = re.compile(
    r"-(?:latest|preview|exp|\d{4}-\d{2}-\d{2}|\d{8}|\d{2}-\d{4}|\d{2}-\d{2}|\d{4}|\d{3})$"
)


def base_name(model: str) -> str:
    """`model` lowercased, without a `provider/` or `models/` prefix or an `@version`."""
    return model.strip().lower().rsplit("/", 1)[-1].split("@", 1)[0]


def candidate_names(model: str) -> list[str]:
    """Names to try for `model`, most specific first: as given; its base name; that
    with snapshot suffixes stripped one at a time; then dotted versions dashed
    (`claude-sonnet-4.5` -> `claude-sonnet-4-5`)."""
    name = base_name(model)
    stripped = [name]
    while (match := _SNAPSHOT_SUFFIX.search(name)) is not None and match.start() > 0:
        name = name[: match.start()]
        stripped.append(name)
    stripped += [n.replace(".", "-") for n in stripped if "." in n]
    names = [model]
    for n in stripped:
        if n not in names:
            names.append(n)
    return names


def _find(names: list[str], table: Mapping[str, Price]) -> Price | None:
    for name in names:
        if name in table:
            return table[name]
    folded: dict[str, Price] = {}
    for key, price in table.items():
        folded.setdefault(base_name(key), price)
    for name in names:
        if (found := folded.get(base_name(name))) is not None:
            return found
    return None


def lookup(model: str, overrides: Mapping[str, Price] = _NO_OVERRIDES) -> Price | None:
    """The price of `model`, or None if unknown. Every name for it (exact first, then
    normalised: see `candidate_names`) is tried in `overrides` before the built-in
    table, so an operator's `gpt-4o` also prices `openai/gpt-4o-2024-08-06`."""
    names = candidate_names(model)
    if overrides and (price := _find(names, overrides)) is not None:
        return price
    # Built-in keys are lowercase base names, which candidate_names already yields.
    return next((BUILTIN_PRICES[n] for n in names if n in BUILTIN_PRICES), None)


def lookup_video(
    model: str, size: str | None, overrides: Mapping[str, Price] = _NO_OVERRIDES
) -> Price | None:
    """The price of one second of `model`'s video at `size` (`per_request` is USD per second).
    An entry named `model:size` (`sora-2-pro:1792x1024`) wins over the model's own entry, so a
    model priced by resolution needs one entry per size that differs from its base price."""
    if size:
        for name in candidate_names(model):
            if (price := lookup(f"{name}:{size}", overrides)) is not None:
                return price
    return lookup(model, overrides)


def max_output_tokens(model: str) -> int | None:
    """The most output tokens `model` can answer with (the built-in table), or None if unknown."""
    return next((MAX_OUTPUT_TOKENS[n] for n in candidate_names(model) if n in MAX_OUTPUT_TOKENS), None)
