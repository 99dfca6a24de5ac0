"""The built-in price table, name lookup and overrides, config conversion."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from decimal import Decimal

import pytest

from hubgate.metering.price import Price, Tier
from hubgate.metering.prices import (
    BUILTIN_PRICES,
    PRICE_SOURCES,
    PRICES_SOURCE_DATE,
    candidate_names,
    lookup,
    price_from_settings,
)
from hubgate.settings import PriceSettings

D = Decimal


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4-1106-preview", "gpt-4-1106-preview"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("google/gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite-preview-09-2025", "gemini-2.5-flash-lite"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-3-pro-preview", "gemini-3-pro"),
        ("deepseek/deepseek-chat", "deepseek-chat"),
        ("qwen-plus-latest", "qwen-plus"),
        ("qwen3-max-2025-09-23", "qwen3-max"),
        ("kimi-k2-0905-preview", "kimi-k2"),
        ("kimi-k2-turbo-preview", "kimi-k2-turbo"),
        ("moonshotai/kimi-k2.5", "kimi-k2.5"),
        ("z-ai/glm-4.6", "glm-4.6"),
        ("MiniMax-M2", "minimax-m2"),
        ("x-ai/grok-4-0709", "grok-4"),
        ("grok-3-mini-latest", "grok-3-mini"),
        ("grok-code-fast-1", "grok-code-fast-1"),
        ("text-embedding-3-small", "text-embedding-3-small"),
    ],
)
def test_lookup_normalises_dated_and_prefixed_names(model: str, key: str) -> None:
    assert lookup(model, {}) is BUILTIN_PRICES[key]


def test_an_exact_dated_entry_beats_its_normalised_name() -> None:
    assert lookup("gpt-4o-2024-05-13", {}) == Price(input=D("5.00"), output=D("15.00"))
    assert lookup("gpt-4o-2024-05-13", {}) != lookup("gpt-4o", {})


@pytest.mark.parametrize("model", ["no-such-model", "gpt-4o-search-preview", "o3-pro", "claude", "", "gpt"])
def test_unknown_models_are_not_guessed_from_a_prefix(model: str) -> None:
    assert lookup(model, {}) is None


def test_overrides_win_over_the_builtin_table() -> None:
    mine = Price(input=D("1"), output=D("2"))
    assert lookup("gpt-4o", {"gpt-4o": mine}) is mine
    # an override of the base name prices its dated snapshots and prefixed forms too
    assert lookup("openai/gpt-4o-2024-08-06", {"gpt-4o": mine}) is mine
    # even where the built-in table has an exact entry for the snapshot
    assert lookup("gpt-4o-2024-05-13", {"gpt-4o": mine}) is mine
    # override keys may carry a prefix or capitals
    assert lookup("gpt-4o", {"openai/GPT-4o": mine}) is mine
    # an exact override beats a normalised one
    exact = Price(input=D("3"))
    assert lookup("gpt-4o-2024-08-06", {"gpt-4o": mine, "gpt-4o-2024-08-06": exact}) is exact
    # other models still use the built-in table
    assert lookup("gpt-4.1", {"gpt-4o": mine}) is BUILTIN_PRICES["gpt-4.1"]
    # and a model only the operator prices is found
    assert lookup("my-local-llama", {"my-local-llama": mine}) is mine


def test_candidate_names_go_from_specific_to_general() -> None:
    assert candidate_names("OpenAI/GPT-4o-2024-08-06") == [
        "OpenAI/GPT-4o-2024-08-06",
        "gpt-4o-2024-08-06",
        "gpt-4o",
    ]
    assert candidate_names("anthropic/claude-sonnet-4.5-20250929") == [
        "anthropic/claude-sonnet-4.5-20250929",
        "claude-sonnet-4.5-20250929",
        "claude-sonnet-4.5",
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5",
    ]


def test_price_from_settings() -> None:
    full = PriceSettings(
        input=D("2"), output=D("8"), cached_input=D("0.5"), cache_write=D("2.5"), per_request=D("0.01")
    )
    assert price_from_settings(full) == Price(
        input=D("2"), output=D("8"), cached_input=D("0.5"), cache_write=D("2.5"), per_request=D("0.01")
    )
    bare = price_from_settings(PriceSettings(input=D("2")))
    assert bare == Price(input=D("2"))
    assert (bare.cached_input_rate, bare.cache_write_rate, bare.cache_write_1h_rate) == (D(2), D(2), D(2))
    assert bare.per_request == 0


def test_price_rejects_floats_negative_or_non_finite_amounts_and_bad_tiers() -> None:
    with pytest.raises(ValueError, match="input"):
        Price(input=D(-1))
    with pytest.raises(ValueError, match="cached_input"):
        Price(input=D(1), cached_input=D("NaN"))
    with pytest.raises(TypeError, match="Decimal"):
        Price(input=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tiers"):
        Price(input=D(1), tiers=(Tier(200, Price(input=D(2))), Tier(100, Price(input=D(3)))))
    with pytest.raises(ValueError, match="tiers"):
        Price(input=D(1), tiers=(Tier(100, Price(input=D(2), tiers=(Tier(5, Price(input=D(1))),))),))


def test_tiers_pick_the_highest_threshold_exceeded() -> None:
    small, mid, big = Price(input=D(1)), Price(input=D(2)), Price(input=D(3))
    price = Price(input=D(1), tiers=(Tier(32_000, mid), Tier(128_000, big)))
    assert price.for_prompt(32_000) is price
    assert price.for_prompt(32_001) is mid
    assert price.for_prompt(128_001) is big
    assert small.for_prompt(10**9) is small


# ------------------------------------------------------------------ the table itself


def test_table_keys_are_lowercase_base_names_that_look_up_to_themselves() -> None:
    for key, price in BUILTIN_PRICES.items():
        assert key == key.lower()
        assert lookup(key, {}) is price, key


def _rates(price: Price) -> list[Decimal]:
    return [
        price.input,
        price.cached_input_rate,
        price.cache_write_rate,
        price.cache_write_1h_rate,
        price.output_rate(reasoned=False),
        price.output_rate(reasoned=True),
        price.per_request,
    ]


def test_long_context_tiers_never_get_cheaper() -> None:
    # (so cost stays monotone in prompt tokens across a tier boundary)
    for key, price in BUILTIN_PRICES.items():
        previous = price
        for tier in price.tiers:
            assert all(a >= b for a, b in zip(_rates(tier.price), _rates(previous), strict=True)), key
            previous = tier.price


def test_cached_reads_never_cost_more_than_input() -> None:
    for key, price in BUILTIN_PRICES.items():
        for p in (price, *(t.price for t in price.tiers)):
            assert p.cached_input_rate <= p.input, key


@pytest.mark.parametrize(
    "key", [k for k in BUILTIN_PRICES if k.startswith("claude-") and k != "claude-3-haiku"]
)
def test_anthropic_cache_multipliers(key: str) -> None:
    for p in (BUILTIN_PRICES[key], *(t.price for t in BUILTIN_PRICES[key].tiers)):
        assert p.cache_write == p.input * D("1.25")
        assert p.cache_write_1h == p.input * 2
        assert p.cached_input == p.input * D("0.1")


@pytest.mark.parametrize(
    ("key", "input", "cached", "output"),
    [
        # spot checks against the providers' published pages
        ("gpt-4.1", "2.00", "0.50", "8.00"),  # 25% cached
        ("gpt-4o", "2.50", "1.25", "10.00"),  # 50% cached
        ("gpt-5", "1.25", "0.125", "10.00"),  # 10% cached
        ("gpt-5-nano", "0.05", "0.005", "0.40"),
        ("claude-opus-4-1", "15", "1.50", "75"),
        ("claude-3-haiku", "0.25", "0.03", "1.25"),
        ("gemini-2.5-flash-lite", "0.10", "0.01", "0.40"),
        ("deepseek-reasoner", "0.28", "0.028", "0.42"),
        ("qwen-max", "1.60", "0.32", "6.40"),
        ("kimi-k2", "0.60", "0.15", "2.50"),
        ("glm-4.5-air", "0.20", "0.03", "1.10"),
        ("minimax-m2", "0.30", "0.03", "1.20"),
        ("grok-3-mini", "0.30", "0.075", "0.50"),
    ],
)
def test_published_prices(key: str, input: str, cached: str, output: str) -> None:
    price = BUILTIN_PRICES[key]
    assert (price.input, price.cached_input_rate, price.output) == (D(input), D(cached), D(output))


def test_every_provider_has_entries_and_a_source() -> None:
    prefixes = {
        "openai": ("gpt-", "o1", "o3", "o4", "text-embedding-"),
        "anthropic": ("claude-",),
        "google": ("gemini-",),
        "deepseek": ("deepseek-",),
        "qwen": ("qwen",),
        "moonshot": ("kimi-",),
        "zhipu": ("glm-",),
        "minimax": ("minimax-",),
        "xai": ("grok-",),
    }
    assert set(PRICE_SOURCES) == set(prefixes)
    for provider, starts in prefixes.items():
        assert any(k.startswith(starts) for k in BUILTIN_PRICES), provider
    assert isinstance(PRICES_SOURCE_DATE, date)


def test_all_amounts_are_decimals() -> None:
    for price in BUILTIN_PRICES.values():
        for f in fields(price):
            if f.name == "rates":  # the same amounts as integers, derived (price.Rates)
                continue
            value = getattr(price, f.name)
            assert value is None or isinstance(value, Decimal | tuple)
