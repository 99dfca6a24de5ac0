"""The cost of one request in integer micro-dollars, from hub usage and a Price.

hub.Usage already speaks one convention whatever the upstream (see formats/hub.py):
`prompt_tokens` counts everything read, cache reads (`cached_tokens`) and writes
(`cache_write_tokens`) included; `completion_tokens` includes reasoning. So the
Anthropic codec's input_tokens + cache_read + cache_creation, OpenAI's
prompt_tokens with cached_tokens, and Gemini's promptTokenCount with
cachedContentTokenCount (and thoughtsTokenCount added to the output) all price here
the same way.

The sum is exact rational arithmetic on the prices' Decimals (integer numerators and
denominators, no decimal context), rounded half-up once, at the end, to whole
micro-dollars. Inconsistent counts are clamped, never turned into a negative cost.
"""

from __future__ import annotations

import math
from decimal import Decimal

from hubgate.formats import hub
from hubgate.metering.price import Price
from hubgate.settings import ratio_to_micros

ONE = Decimal(1)


def _clamp(value: int, upper: int) -> int:
    return min(max(value, 0), max(upper, 0))


def cost_micros(
    usage: hub.Usage,
    price: Price,
    *,
    multiplier: Decimal = ONE,
    cache_write_1h_tokens: int = 0,
) -> int:
    """What `usage` costs at `price` times `multiplier` (a key's or group's factor).

    `cache_write_1h_tokens` is the part of `usage.cache_write_tokens` written with
    Anthropic's 1-hour TTL (its `cache_creation.ephemeral_1h_input_tokens`); the
    rest are priced as 5-minute writes. Cache reads and writes are taken as parts
    of `prompt_tokens` and clamped into it if the upstream's numbers disagree.
    """
    if not (multiplier.is_finite() and multiplier >= 0):
        raise ValueError(f"price multiplier must be a finite number >= 0, not {multiplier}")
    prompt = max(usage.prompt_tokens, 0)
    cached = _clamp(usage.cached_tokens, prompt)
    writes = _clamp(usage.cache_write_tokens, prompt - cached)
    writes_1h = _clamp(cache_write_1h_tokens, writes)
    uncached = prompt - cached - writes
    completion = max(usage.completion_tokens, 0)

    rate = price.for_prompt(prompt)
    # Rates are USD per million tokens, so tokens x rate is micro-dollars; per_request is USD.
    terms = (
        (uncached, rate.input),
        (cached, rate.cached_input_rate),
        (writes - writes_1h, rate.cache_write_rate),
        (writes_1h, rate.cache_write_1h_rate),
        (completion, rate.output_rate(reasoned=usage.reasoning_tokens > 0)),
    )
    numerator, denominator = rate.per_request.as_integer_ratio()
    numerator *= 1_000_000
    for tokens, per_million in terms:
        if tokens:
            n, d = per_million.as_integer_ratio()
            common = math.lcm(denominator, d)
            numerator = numerator * (common // denominator) + tokens * n * (common // d)
            denominator = common
    if multiplier != ONE:
        n, d = multiplier.as_integer_ratio()
        numerator, denominator = numerator * n, denominator * d
    return ratio_to_micros(numerator, denominator * 1_000_000)  # micro-dollars -> USD
