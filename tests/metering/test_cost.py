"""cost_micros: each API's usage semantics, exact rounding, clamping, multipliers.

Every expected value is worked out by hand in the comment beside it, in
"micro-dollars before rounding" (tokens x USD per 1M tokens).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from hubgate.formats import hub
from hubgate.metering.cost import cost_micros
from hubgate.metering.price import Price, Tier
from hubgate.metering.prices import BUILTIN_PRICES

D = Decimal

# Published prices, spelled out here so the arithmetic below does not move when the
# built-in table is updated (test_builtin_prices_match_the_worked_examples ties them).
GPT_4O_MINI = Price(input=D("0.15"), output=D("0.60"), cached_input=D("0.075"))
O4_MINI = Price(input=D("1.10"), output=D("4.40"), cached_input=D("0.275"))
HAIKU_4_5 = Price(
    input=D("1"), output=D("5"), cached_input=D("0.10"), cache_write=D("1.25"), cache_write_1h=D("2")
)
SONNET_4_5 = Price(
    input=D("3"),
    output=D("15"),
    cached_input=D("0.30"),
    cache_write=D("3.75"),
    cache_write_1h=D("6"),
    tiers=(
        Tier(
            200_000,
            Price(
                input=D("6"),
                output=D("22.50"),
                cached_input=D("0.60"),
                cache_write=D("7.50"),
                cache_write_1h=D("12"),
            ),
        ),
    ),
)
GEMINI_25_FLASH = Price(input=D("0.30"), output=D("2.50"), cached_input=D("0.03"))
GEMINI_25_PRO = Price(
    input=D("1.25"),
    output=D("10"),
    cached_input=D("0.125"),
    tiers=(Tier(200_000, Price(input=D("2.50"), output=D("15"), cached_input=D("0.25"))),),
)
QWEN_PLUS = Price(input=D("0.40"), output=D("1.20"), cached_input=D("0.08"), output_thinking=D("4.00"))


def test_builtin_prices_match_the_worked_examples() -> None:
    assert BUILTIN_PRICES["gpt-4o-mini"] == GPT_4O_MINI
    assert BUILTIN_PRICES["o4-mini"] == O4_MINI
    assert BUILTIN_PRICES["claude-haiku-4-5"] == HAIKU_4_5
    assert BUILTIN_PRICES["claude-sonnet-4-5"] == SONNET_4_5
    assert BUILTIN_PRICES["gemini-2.5-flash"] == GEMINI_25_FLASH
    assert BUILTIN_PRICES["gemini-2.5-pro"] == GEMINI_25_PRO
    assert replace(BUILTIN_PRICES["qwen-plus"], cache_write=None, tiers=()) == QWEN_PLUS


CASES = [
    pytest.param(
        # OpenAI chat: usage {prompt_tokens: 1234, completion_tokens: 567,
        # prompt_tokens_details: {cached_tokens: 1024}}; prompt_tokens includes the cached.
        hub.Usage(prompt_tokens=1234, completion_tokens=567, cached_tokens=1024),
        GPT_4O_MINI,
        0,
        # 210 x 0.15 + 1024 x 0.075 + 567 x 0.60 = 31.5 + 76.8 + 340.2 = 448.5 -> 449
        449,
        id="openai-cached-prompt",
    ),
    pytest.param(
        # OpenAI reasoning model: completion_tokens 2000 includes 1500 reasoning tokens.
        hub.Usage(prompt_tokens=5000, completion_tokens=2000, cached_tokens=3072, reasoning_tokens=1500),
        O4_MINI,
        0,
        # 1928 x 1.10 + 3072 x 0.275 + 2000 x 4.40 = 2120.8 + 844.8 + 8800 = 11765.6 -> 11766
        11766,
        id="openai-reasoning",
    ),
    pytest.param(
        # Anthropic: usage {input_tokens: 1001, cache_read_input_tokens: 20003,
        # cache_creation_input_tokens: 5002 (ephemeral_5m 3001, ephemeral_1h 2001),
        # output_tokens: 777}; the codec adds reads and writes into prompt_tokens.
        hub.Usage(prompt_tokens=26006, completion_tokens=777, cached_tokens=20003, cache_write_tokens=5002),
        HAIKU_4_5,
        2001,
        # 1001 x 1 + 20003 x 0.10 + 3001 x 1.25 + 2001 x 2 + 777 x 5
        # = 1001 + 2000.3 + 3751.25 + 4002 + 3885 = 14639.55 -> 14640
        14640,
        id="anthropic-read-5m-1h",
    ),
    pytest.param(
        # The same without the TTL split: every write is priced as a 5-minute write.
        hub.Usage(prompt_tokens=26006, completion_tokens=777, cached_tokens=20003, cache_write_tokens=5002),
        HAIKU_4_5,
        0,
        # 1001 + 2000.3 + 5002 x 1.25 + 3885 = 1001 + 2000.3 + 6252.5 + 3885 = 13138.8 -> 13139
        13139,
        id="anthropic-5m-only",
    ),
    pytest.param(
        # Anthropic Sonnet 4.5 past 200K prompt tokens: the long-context rates apply.
        hub.Usage(prompt_tokens=210_000, completion_tokens=1000, cached_tokens=60_000),
        SONNET_4_5,
        0,
        # 150000 x 6 + 60000 x 0.60 + 1000 x 22.50 = 900000 + 36000 + 22500 = 958500
        958_500,
        id="anthropic-long-context",
    ),
    pytest.param(
        # Exactly 200K is still the base tier.
        hub.Usage(prompt_tokens=200_000, completion_tokens=1000, cached_tokens=60_000),
        SONNET_4_5,
        0,
        # 140000 x 3 + 60000 x 0.30 + 1000 x 15 = 420000 + 18000 + 15000 = 453000
        453_000,
        id="anthropic-at-threshold",
    ),
    pytest.param(
        # Gemini: usageMetadata {promptTokenCount: 10001, cachedContentTokenCount: 6000,
        # candidatesTokenCount: 300, thoughtsTokenCount: 1200}; the codec adds the
        # thoughts to completion_tokens; promptTokenCount already includes the cache.
        hub.Usage(prompt_tokens=10_001, completion_tokens=1500, cached_tokens=6000, reasoning_tokens=1200),
        GEMINI_25_FLASH,
        0,
        # 4001 x 0.30 + 6000 x 0.03 + 1500 x 2.50 = 1200.3 + 180 + 3750 = 5130.3 -> 5130
        5130,
        id="gemini-cached-thoughts",
    ),
    pytest.param(
        # Gemini 2.5 Pro with a 250K-token prompt: the >200K tier.
        hub.Usage(
            prompt_tokens=250_000, completion_tokens=2000, cached_tokens=100_000, reasoning_tokens=1500
        ),
        GEMINI_25_PRO,
        0,
        # 150000 x 2.50 + 100000 x 0.25 + 2000 x 15 = 375000 + 25000 + 30000 = 430000
        430_000,
        id="gemini-long-context",
    ),
    pytest.param(
        # Qwen thinking mode: reasoning reported, so all output is at the thinking rate.
        hub.Usage(prompt_tokens=1000, completion_tokens=500, reasoning_tokens=300),
        QWEN_PLUS,
        0,
        # 1000 x 0.40 + 500 x 4.00 = 400 + 2000 = 2400
        2400,
        id="qwen-thinking",
    ),
    pytest.param(
        hub.Usage(prompt_tokens=1000, completion_tokens=500),
        QWEN_PLUS,
        0,
        # 1000 x 0.40 + 500 x 1.20 = 400 + 600 = 1000
        1000,
        id="qwen-non-thinking",
    ),
]


@pytest.mark.parametrize(("usage", "price", "writes_1h", "expected"), CASES)
def test_cost_per_api_semantics(usage: hub.Usage, price: Price, writes_1h: int, expected: int) -> None:
    cost = cost_micros(usage, price, cache_write_1h_tokens=writes_1h)
    assert cost == expected
    assert type(cost) is int


def test_rounds_half_up_where_python_round_would_go_to_even() -> None:
    usage = hub.Usage(prompt_tokens=30)
    # 30 x 0.15 = 4.5 micro-dollars; round(4.5) == 4 in Python, half-up gives 5.
    assert cost_micros(usage, GPT_4O_MINI) == 5


def test_rounds_once_at_the_end_not_per_component() -> None:
    usage = hub.Usage(prompt_tokens=9, cached_tokens=6)
    # 3 x 0.15 + 6 x 0.075 = 0.45 + 0.45 = 0.9 -> 1 (rounding each part would give 0)
    assert cost_micros(usage, GPT_4O_MINI) == 1


def test_multiplier_applies_before_the_single_rounding() -> None:
    usage = hub.Usage(prompt_tokens=1234, completion_tokens=567, cached_tokens=1024)
    # 448.5 x 1.5 = 672.75 -> 673 (rounding first would give 449 x 1.5 = 673.5 -> 674)
    assert cost_micros(usage, GPT_4O_MINI, multiplier=D("1.5")) == 673
    assert cost_micros(usage, GPT_4O_MINI, multiplier=D("0.5")) == 224  # 224.25
    assert cost_micros(usage, GPT_4O_MINI, multiplier=D(0)) == 0


@pytest.mark.parametrize("bad", [D(-1), D("NaN"), D("Infinity")])
def test_multiplier_must_be_finite_and_not_negative(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="multiplier"):
        cost_micros(hub.Usage(prompt_tokens=1), GPT_4O_MINI, multiplier=bad)


def test_per_request_price_is_charged_once_with_the_multiplier() -> None:
    price = Price(input=D("1"), per_request=D("0.04"))
    assert cost_micros(hub.Usage(), price) == 40_000
    # 1000 x 1 = 1000, + 40000, x 2
    assert cost_micros(hub.Usage(prompt_tokens=1000), price, multiplier=D(2)) == 82_000


def test_unknown_cache_prices_fall_back_to_input() -> None:
    price = Price(input=D("2"), output=D("8"))
    usage = hub.Usage(prompt_tokens=1000, cached_tokens=400, cache_write_tokens=100, completion_tokens=10)
    # every prompt token at 2 (no discount, no surcharge): 2000 + 10 x 8 = 2080
    assert cost_micros(usage, price, cache_write_1h_tokens=50) == 2080


def test_one_hour_writes_default_to_the_five_minute_rate() -> None:
    price = Price(input=D("1"), cache_write=D("1.25"))
    usage = hub.Usage(prompt_tokens=100, cache_write_tokens=100)
    assert cost_micros(usage, price, cache_write_1h_tokens=40) == 125


@pytest.mark.parametrize(
    ("usage", "writes_1h", "expected"),
    [
        # cache reads larger than the prompt: clamped to the prompt, all at the read rate
        (hub.Usage(prompt_tokens=100, cached_tokens=150), 0, 10),  # 100 x 0.10
        # reads + writes larger than the prompt: writes clamped to what is left
        (hub.Usage(prompt_tokens=100, cached_tokens=60, cache_write_tokens=90), 0, 56),  # 6 + 40 x 1.25
        # more 1-hour writes than writes: clamped to the writes
        (hub.Usage(prompt_tokens=100, cache_write_tokens=10), 50, 110),  # 90 x 1 + 10 x 2
        # negative counts (a broken upstream) bill nothing for that part
        (hub.Usage(prompt_tokens=-5, completion_tokens=-7, cached_tokens=-3, cache_write_tokens=-2), -1, 0),
        (hub.Usage(prompt_tokens=100, cached_tokens=-50, completion_tokens=2), -9, 110),  # 100 + 2 x 5
    ],
)
def test_inconsistent_usage_is_clamped_never_negative(
    usage: hub.Usage, writes_1h: int, expected: int
) -> None:
    assert cost_micros(usage, HAIKU_4_5, cache_write_1h_tokens=writes_1h) == expected


def test_large_counts_stay_exact() -> None:
    usage = hub.Usage(prompt_tokens=10**15 + 1, completion_tokens=3)
    # (10^15 + 1) x 0.15 + 3 x 0.60 = 150000000000000.15 + 1.8 -> 150000000000001.95 -> ...02
    assert cost_micros(usage, GPT_4O_MINI) == 150_000_000_000_002
